"""Stripe's wire format as the stand-in reads it: a recorded request, the form encoding
(`metadata[k]=v`, `expand[0]=x`) back to nested data, and Stripe's error answers."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from liventix.testing.stripe.objects import StripeRefusal

Answer = tuple[int, dict[str, Any], dict[str, str]]
"""A route's answer: status, JSON body and extra headers."""


@dataclass(frozen=True)
class Recorded:
    """One request as the stand-in received it."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    form: dict[str, str]
    body: bytes

    def header(self, name: str) -> str | None:
        """A header's value by case-insensitive name."""
        return self.headers.get(name.lower())


def unflatten(pairs: list[tuple[str, str]]) -> dict[str, Any]:
    """Stripe's form encoding back to nested data: `metadata[k]=v`, `expand[0]=x`."""
    out: dict[str, Any] = {}
    for key, value in pairs:
        parts = key.replace("]", "").split("[")
        node = out
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = value
    return out


def as_list(value: Any) -> list[str]:
    """`expand[0]=a&expand[1]=b` (or `expand[]=a`, key "") as a list."""
    if value is None:
        return []
    if isinstance(value, dict):
        return [str(v) for _, v in sorted(value.items())]
    return [str(value)]


def missing(kind: str, object_id: str) -> StripeRefusal:
    """Stripe's 404 `resource_missing`."""
    return StripeRefusal(f"No such {kind}: '{object_id}'", code="resource_missing", status=404)


def required(params: dict[str, Any], *names: str) -> None:
    """Stripe's 400 `parameter_missing` for the first of `names` not given."""
    for name in names:
        if not params.get(name):
            raise StripeRefusal(f"Missing required param: {name}.", code="parameter_missing")

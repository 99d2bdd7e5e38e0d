"""The stand-in's event log and Stripe's list of it: every event the account builds is kept
(in the order built, with its `created`), and `GET /v1/events` answers from it as Stripe's
list does: a list object (`object`, `data`, `has_more`, `url`), newest first (`created`,
then the later built first), `limit` 1 to 100 (default 10), `starting_after` /
`ending_before` an event's id (an unknown one is 404 `resource_missing`), `created` as a
Unix time or `created[gte|gt|lte|lt]`, `type` (a `*` matches any run of characters, as
`payment_intent.*`) and `types[]` (at most 20; not with `type`)."""

from __future__ import annotations

import copy
import fnmatch
from typing import Any

from liventix.testing.stripe.objects import StripeObject, StripeRefusal
from liventix.testing.stripe.wire import as_list, missing

MAX_TYPES = 20


def _int(params: dict[str, Any], name: str, value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        raise StripeRefusal(
            f"Invalid integer: {value}",
            code="parameter_invalid_integer",
        ) from None


def _created_filter(params: dict[str, Any]) -> list[tuple[str, int]]:
    created = params.get("created")
    if created is None:
        return []
    if not isinstance(created, dict):
        return [("eq", _int(params, "created", created))]
    bounds = []
    for op, value in created.items():
        if op not in ("gte", "gt", "lte", "lt"):
            raise StripeRefusal(
                f"Received unknown parameter: created[{op}]", code="parameter_unknown"
            )
        bounds.append((op, _int(params, f"created[{op}]", value)))
    return bounds


def _created(event: StripeObject) -> int:
    """An event's `created` in whole seconds (0 for a malformed one a test logged without
    a number: it lists last)."""
    created = event.get("created")
    return int(created) if isinstance(created, int | float) else 0


def _within(created: int, bounds: list[tuple[str, int]]) -> bool:
    tests = {
        "eq": created.__eq__,
        "gte": created.__ge__,
        "gt": created.__gt__,
        "lte": created.__le__,
        "lt": created.__lt__,
    }
    return all(tests[op](value) for op, value in bounds)


def _type_filter(params: dict[str, Any]) -> list[str] | None:
    one = params.get("type")
    many = as_list(params.get("types")) if "types" in params else None
    if one is not None and many is not None:
        raise StripeRefusal("You may only specify one of these parameters: type, types.")
    if many is not None and len(many) > MAX_TYPES:
        raise StripeRefusal(
            f"You may only specify up to {MAX_TYPES} types.", code="parameter_invalid"
        )
    return [str(one)] if one is not None else many


def list_events(log: list[StripeObject], params: dict[str, Any]) -> StripeObject:
    """The page of `log` (oldest built first) that `GET /v1/events` answers for `params`."""
    limit = _int(params, "limit", params.get("limit", 10))
    if not 1 <= limit <= 100:
        raise StripeRefusal(
            "This value must be greater than or equal to 1 and less than or equal to 100.",
            code="parameter_invalid_integer",
        )
    after, before = params.get("starting_after"), params.get("ending_before")
    if after is not None and before is not None:
        raise StripeRefusal(
            "You may only specify one of these parameters: ending_before, starting_after."
        )
    bounds = _created_filter(params)
    types = _type_filter(params)
    # Newest first: by created, then the later built first (Stripe's order for one second).
    ordered = sorted(enumerate(log), key=lambda p: (-_created(p[1]), -p[0]))
    rank = {id(e): i for i, (_, e) in enumerate(ordered)}
    found = {}
    for name, cursor in (("starting_after", after), ("ending_before", before)):
        if cursor is None:
            continue
        at = next((rank[id(e)] for _, e in ordered if e.get("id") == cursor), None)
        if at is None:
            raise missing("event", str(cursor))
        found[name] = at
    matching = [
        e
        for _, e in ordered
        if _within(_created(e), bounds)
        and (types is None or any(fnmatch.fnmatchcase(str(e.get("type")), t) for t in types))
    ]
    if "starting_after" in found:
        rest = [e for e in matching if rank[id(e)] > found["starting_after"]]
        page, has_more = rest[:limit], len(rest) > limit
    elif "ending_before" in found:
        newer = [e for e in matching if rank[id(e)] < found["ending_before"]]
        page, has_more = newer[-limit:], len(newer) > limit
    else:
        page, has_more = matching[:limit], len(matching) > limit
    return {
        "object": "list",
        "data": copy.deepcopy(page),
        "has_more": has_more,
        "url": "/v1/events",
    }

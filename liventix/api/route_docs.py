"""What the OpenAPI document says of every authenticated route: the bearer key and the
`Idempotency-Key` header (documented only: the route checks both itself, before anything
runs), the problem responses each route lists, and the operationIds. Re-exported by
`liventix.api.routing`, where the slices take them from."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Header, Security
from fastapi.routing import APIRoute
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from liventix.api.idempotency import IDEMPOTENCY_HEADER, IDEMPOTENCY_KEY_PATTERN
from liventix.api.schemas import Problem
from liventix.api.unit_of_work import documentation_only

bearer = HTTPBearer(
    auto_error=False,
    scheme_name="ApiKey",
    bearerFormat="lvx_<prefix>_<secret>",
    description="An organization's API key, or the platform's (`liventix keys create`).",
)


@documentation_only
async def _documented_bearer(
    credentials: Annotated[HTTPAuthorizationCredentials | None, Security(bearer)],
) -> None:
    """Documents the bearer key; the route checks it before anything runs."""


@documentation_only
async def _documented_idempotency_key(
    idempotency_key: Annotated[
        str,
        Header(
            alias=IDEMPOTENCY_HEADER,
            pattern=IDEMPOTENCY_KEY_PATTERN,
            description=(
                "Required on every POST. The same key with the same request replays the first "
                "answer (`Idempotency-Replayed: true`); with another request it is 409."
            ),
        ),
    ],
) -> None:
    """Documents the header; the route checks it before anything runs."""


WRITE = [Depends(_documented_idempotency_key)]

_TEXT = {
    400: "Malformed request, or no valid Idempotency-Key",
    401: "Missing, unknown or revoked API key",
    403: "Only the platform's key may do this",
    404: "No such resource visible to this key",
    409: "Conflicts with the resource's state, or an Idempotency-Key reused",
    422: "Invalid request (the problem names the field) or refused by a business rule",
    502: "Stripe failed",
    503: "The database is unavailable",
}


def problem_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """Problem responses for these statuses (their media type is set when the OpenAPI
    document is built: application/problem+json)."""
    return {s: {"model": Problem, "description": _TEXT.get(s, "Problem")} for s in statuses}


READ_PROBLEMS = (401, 404, 422, 503)
WRITE_PROBLEMS = (400, 401, 404, 409, 422, 503)


_AREA_NAMES = {"stripe_webhook": "stripe"}


def operation_id(route: APIRoute) -> str:
    """A route's operationId, `<area>.<handler>` (`ledger.post_entry`, `stripe.webhook`): the
    area is the slice (`liventix.api.<slice>.<any module>`), and a leading `<area>_` of the
    handler's name is dropped. Stable while the handler keeps its name and slice (the generated
    clients name their methods after it; `tests/api/test_conventions_docs.py` lists them)."""
    parts = str(getattr(route.endpoint, "__module__", "")).split(".")
    if len(parts) >= 4 and parts[:2] == ["liventix", "api"]:
        area = parts[2]
    else:
        area = parts[-2] if len(parts) >= 2 and parts[-1] == "routes" else parts[-1]
    area = _AREA_NAMES.get(area, area)
    name = route.name
    if name.startswith(f"{area}_"):
        name = name[len(area) + 1 :]
    return f"{area}.{name}"

"""Building blocks of the API's routers: authenticated routers whose routes are units of work,
the documented `Idempotency-Key` header of writes, and the problem responses each documents.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Security
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from liventix.api.models import Problem
from liventix.api.unit_of_work import (
    IDEMPOTENCY_HEADER,
    IDEMPOTENCY_KEY_PATTERN,
    UnitOfWorkRoute,
    documentation_only,
)

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
    """Documents the bearer key; the unit of work checks it before anything runs."""


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
    """Documents the header; the unit of work checks it before anything runs."""


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


def authenticated_router(tags: Sequence[str], *, writes: bool = True) -> APIRouter:
    """A router under /v1 whose routes need an API key and run as units of work."""
    statuses = WRITE_PROBLEMS if writes else READ_PROBLEMS
    return APIRouter(
        prefix="/v1",
        tags=list(tags),
        route_class=UnitOfWorkRoute,
        dependencies=[Depends(_documented_bearer)],
        responses=problem_responses(*statuses),
    )

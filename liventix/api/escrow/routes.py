"""Escrows over HTTP: read one, its audit trail, list them; the platform asks for the release
of every escrow that has become due (the worker does the same on its schedule)."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import Query

import escrow
from liventix.api.escrow import read_side, views
from liventix.api.escrow import schemas as m
from liventix.api.pages import DEFAULT_LIMIT, Limit, StartingAfter, keyset, page_of, uuid_cursor
from liventix.api.routing import WRITE, authenticated_router, problem_responses
from liventix.api.unit_of_work import Uow

router = authenticated_router(["escrow"])


@router.get("/escrows")
def list_escrows(
    uow: Uow,
    event_id: Annotated[str | None, Query(max_length=200, description="Only this event's")] = None,
    starting_after: StartingAfter = None,
    limit: Limit = DEFAULT_LIMIT,
) -> m.EscrowList:
    """The escrows this key can see, oldest first."""
    with uow:
        cursor = uuid_cursor(starting_after)
        after = None if cursor is None else keyset(read_side.escrow_position(uow.conn, cursor))
        rows = read_side.list_escrows(uow.conn, uow.org_id, event_id, after, limit + 1)
        found, more = page_of(rows, limit)
        return m.EscrowList(data=[views.escrow_(x) for x in found], has_more=more)


@router.get("/escrows/{escrow_id:uuid}")
def get_escrow(escrow_id: uuid.UUID, uow: Uow) -> m.EscrowResponse:
    """One escrow: what was captured, refunded, charged back, is held and was released."""
    with uow:
        return views.escrow_(escrow.get_escrow(uow.conn, escrow_id))


@router.get("/escrows/{escrow_id:uuid}/transitions")
def escrow_transitions(escrow_id: uuid.UUID, uow: Uow) -> m.EscrowTransitionList:
    """The escrow's audit trail, oldest first."""
    with uow:
        escrow.get_escrow(uow.conn, escrow_id)
        return m.EscrowTransitionList(
            data=[
                m.EscrowTransitionResponse(**row) for row in escrow.transitions(uow.conn, escrow_id)
            ],
            has_more=False,
        )


@router.post(
    "/escrows/release-due",
    dependencies=WRITE,
    openapi_extra={"x-platform-only": True},
    responses=problem_responses(403),
)
def release_due(
    uow: Uow, limit: Annotated[int, Query(ge=1, le=1000, description="Escrows per call")] = 100
) -> m.ReleaseDueResponse:
    """End events, end hold periods and release the escrows that are due (platform key)."""
    with uow:
        steps = escrow.release_due(uow.conn, limit)
        return uow.commit(
            m.ReleaseDueResponse(steps=[m.ReleaseStep(escrow_id=i, state=s) for i, s in steps])
        )

"""A page of escrows, as escrow's values.

The declared read side (issue 15): read-only SELECTs on escrow's table
for the API's views, on the request's connection under its role, so row-level security
bounds what they return; an organization's also filter by its id (the index's prefix, and a
second belt). Nothing here writes."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import Connection, text

import escrow
from liventix.api.pages import org_filter, page_filter

_ESCROW_COLUMNS = (
    "id, org_id, event_id, currency, state, event_ends_at, ended_at, hold_until, open_disputes,"
    " captured, refunded, charged_back, held, released, version"
)


def escrow_position(conn: Connection, escrow_id: uuid.UUID) -> tuple[datetime, uuid.UUID] | None:
    """The keyset position of a visible escrow (None if the caller sees none)."""
    row = conn.execute(
        text("SELECT created_at, id FROM payments.escrows WHERE id = :id"), {"id": escrow_id}
    ).first()
    return None if row is None else (row.created_at, row.id)


def list_escrows(
    conn: Connection,
    org_id: uuid.UUID | None,
    event_id: str | None,
    after: tuple[datetime, uuid.UUID] | None,
    limit: int,
) -> list[escrow.Escrow]:
    """Up to `limit` escrows, oldest first, optionally of one event, after the keyset."""
    page_sql, params = page_filter("x", after)
    org_sql, org_params = org_filter("x", org_id)
    event_sql = ""
    if event_id is not None:
        event_sql = " AND x.event_id = :event"
        params["event"] = event_id
    rows = conn.execute(
        text(f"""SELECT {_ESCROW_COLUMNS} FROM payments.escrows x
                  WHERE true {org_sql} {event_sql} {page_sql}
                  ORDER BY x.created_at, x.id LIMIT :limit"""),
        {**params, **org_params, "limit": limit},
    ).all()
    return [escrow.Escrow(**r._asdict()) for r in rows]

"""A page of escrows, as escrow's values.

The declared read side (issue 15): read-only SELECTs on escrow's table
for the API's views, on the request's connection under its role, so row-level security
bounds what they return; an organization's also filter by its id (the index's prefix, and a
second belt). Nothing here writes."""

from __future__ import annotations

import uuid

from sqlalchemy import Connection, text

import escrow
from liventix.api.pages import decode_cursor, encode_cursor, org_filter, page_filter

_ESCROW_COLUMNS = (
    "id, org_id, event_id, currency, state, event_ends_at, ended_at, hold_until, open_disputes,"
    " captured, refunded, charged_back, held, released, version"
)


def list_escrows(
    conn: Connection,
    org_id: uuid.UUID | None,
    event_id: str | None,
    after: str | None,
    limit: int,
) -> tuple[list[escrow.Escrow], str | None]:
    """A page of escrows, oldest first, optionally of one event, and the next cursor."""
    page_sql, params = page_filter("x", decode_cursor(after))
    org_sql, org_params = org_filter("x", org_id)
    event_sql = ""
    if event_id is not None:
        event_sql = " AND x.event_id = :event"
        params["event"] = event_id
    rows = conn.execute(
        text(f"""SELECT {_ESCROW_COLUMNS}, created_at FROM payments.escrows x
                  WHERE true {org_sql} {event_sql} {page_sql}
                  ORDER BY x.created_at, x.id LIMIT :limit"""),
        {**params, **org_params, "limit": limit},
    ).all()
    found = [
        escrow.Escrow(**{k: v for k, v in r._asdict().items() if k != "created_at"}) for r in rows
    ]
    cursor = encode_cursor(rows[-1].created_at, rows[-1].id) if len(rows) == limit else None
    return found, cursor

"""Outbox deliveries and their attempts.

The declared read side (issue 15): read-only SELECTs on the outbox's tables
for the API's views, on the request's connection under its role, so row-level security
bounds what they return; an organization's also filter by its id (the index's prefix, and a
second belt). Nothing here writes."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, text

import outbox


@dataclass(frozen=True)
class Delivery:
    """A delivery as the API shows it."""

    id: int
    message_id: uuid.UUID
    type: str
    channel: str
    endpoint_id: uuid.UUID | None
    status: str
    attempts: int
    next_attempt_at: datetime
    last_error: str | None
    created_at: datetime
    finished_at: datetime | None


_DELIVERY = """SELECT d.id, d.message_id, m.type, d.channel, d.endpoint_id, d.status,
                      d.attempts, d.next_attempt_at, d.last_error, d.created_at, d.finished_at
                 FROM messaging.deliveries d JOIN messaging.messages m ON m.id = d.message_id"""


def get_delivery(conn: Connection, delivery_id: int) -> Delivery:
    """The delivery; DeliveryNotFound if it is not visible."""
    row = conn.execute(text(f"{_DELIVERY} WHERE d.id = :id"), {"id": delivery_id}).first()
    if row is None:
        raise outbox.DeliveryNotFound(delivery_id=delivery_id)
    return Delivery(**row._asdict())


def list_deliveries(
    conn: Connection,
    org_id: uuid.UUID | None,
    *,
    endpoint_id: uuid.UUID | None,
    status: str | None,
    after: int | None,
    limit: int,
) -> list[Delivery]:
    """Up to `limit` deliveries, newest first, after (below) the id `after`."""
    where = ["true"]
    params: dict[str, Any] = {"limit": limit}
    if org_id is not None:
        where.append("d.org_id = :org")
        params["org"] = org_id
    if endpoint_id is not None:
        where.append("d.endpoint_id = :endpoint")
        params["endpoint"] = endpoint_id
    if status is not None:
        where.append("d.status = :status")
        params["status"] = status
    if after is not None:
        where.append("d.id < :after")
        params["after"] = after
    rows = conn.execute(
        text(f"{_DELIVERY} WHERE {' AND '.join(where)} ORDER BY d.id DESC LIMIT :limit"), params
    ).all()
    return [Delivery(**r._asdict()) for r in rows]


@dataclass(frozen=True)
class Attempt:
    """One try of a delivery."""

    attempt: int
    started_at: datetime
    duration_ms: int
    status_code: int | None
    response_body: str | None
    error: str | None
    succeeded: bool


def attempts_of(conn: Connection, delivery_id: int) -> list[Attempt]:
    """The delivery's attempts, first first (the delivery must be visible)."""
    get_delivery(conn, delivery_id)
    rows = conn.execute(
        text("""SELECT attempt, started_at, duration_ms, status_code, response_body, error,
                       succeeded
                  FROM messaging.attempts WHERE delivery_id = :id ORDER BY attempt, id"""),
        {"id": delivery_id},
    ).all()
    return [Attempt(**r._asdict()) for r in rows]

"""An event with its ticket types, one ticket, a ticket type's currency.

The declared read side (issue 15): read-only SELECTs on ticketing's tables
for the API's views, on the request's connection under its role, so row-level security
bounds what they return; an organization's also filter by its id (the index's prefix, and a
second belt). Nothing here writes."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, text

import pgdriver
import ticketing_fsm as tk


@dataclass(frozen=True)
class TicketType:
    """A ticket type and its counters."""

    id: uuid.UUID
    event_id: uuid.UUID
    name: str
    price: int
    currency: str
    capacity: int
    held: int
    sold: int
    sales_start: datetime
    sales_end: datetime


@dataclass(frozen=True)
class Event:
    """An event and its ticket types."""

    id: uuid.UUID
    org_id: uuid.UUID
    name: str
    currency: str
    starts_at: datetime
    ends_at: datetime
    cancelled_at: datetime | None
    ticket_types: tuple[TicketType, ...]


# The event and its ticket types in one statement (one round trip): a row per ticket type,
# or one row of NULL type columns for an event without any.
_EVENT = """
    SELECT e.id, e.org_id, e.name, e.currency, e.starts_at, e.ends_at, e.cancelled_at,
           t.id AS type_id, t.name AS type_name, t.price, t.currency AS type_currency,
           t.capacity, t.held, t.sold, t.sales_start, t.sales_end
      FROM ticketing.events e
      LEFT JOIN ticketing.ticket_types t ON t.event_id = e.id
     WHERE e.id = %(id)s
     ORDER BY t.sales_start, t.id"""


def get_event(conn: Connection, event_id: uuid.UUID) -> Event:
    """The event and its ticket types; EventNotFound if it is not visible."""
    rows = pgdriver.fetch(conn, _EVENT, {"id": event_id})
    if not rows:
        raise tk.EventNotFound(event_id=str(event_id))
    e = rows[0]
    return Event(
        id=e.id,
        org_id=e.org_id,
        name=e.name,
        currency=e.currency,
        starts_at=e.starts_at,
        ends_at=e.ends_at,
        cancelled_at=e.cancelled_at,
        ticket_types=tuple(
            TicketType(
                id=r.type_id,
                event_id=e.id,
                name=r.type_name,
                price=r.price,
                currency=r.type_currency,
                capacity=r.capacity,
                held=r.held,
                sold=r.sold,
                sales_start=r.sales_start,
                sales_end=r.sales_end,
            )
            for r in rows
            if r.type_id is not None
        ),
    )


_TICKET_COLUMNS = (
    "id, order_id, org_id, event_id, ticket_type_id, status, code, holder_email, price, "
    "replaces, checked_in_at, checked_in_by, version"
)


def get_ticket(conn: Connection, ticket_id: uuid.UUID) -> tk.Ticket:
    """The ticket; TicketNotFound if it is not visible."""
    row = conn.execute(
        text(f"SELECT {_TICKET_COLUMNS} FROM ticketing.tickets WHERE id = :id"), {"id": ticket_id}
    ).first()
    if row is None:
        raise tk.TicketNotFound(ticket=str(ticket_id))
    return tk.Ticket(**row._asdict())


def ticket_currency(conn: Connection, ticket_type_id: uuid.UUID) -> str:
    """The currency of a ticket type."""
    currency: str = conn.execute(
        text("SELECT currency FROM ticketing.ticket_types WHERE id = :id"), {"id": ticket_type_id}
    ).scalar_one()
    return currency

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


def get_event(conn: Connection, event_id: uuid.UUID) -> Event:
    """The event and its ticket types; EventNotFound if it is not visible."""
    row = conn.execute(
        text("""SELECT id, org_id, name, currency, starts_at, ends_at, cancelled_at
                  FROM ticketing.events WHERE id = :id"""),
        {"id": event_id},
    ).first()
    if row is None:
        raise tk.EventNotFound(event_id=str(event_id))
    types = conn.execute(
        text("""SELECT id, event_id, name, price, currency, capacity, held, sold, sales_start,
                       sales_end
                  FROM ticketing.ticket_types WHERE event_id = :id ORDER BY sales_start, id"""),
        {"id": event_id},
    ).all()
    return Event(**row._asdict(), ticket_types=tuple(TicketType(**t._asdict()) for t in types))


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

"""Events, ticket types and what happens to tickets after they are issued: transfer to a new
holder, check-in at the door, and the event's cancellation (unpaid orders released, paid
ones refunded). Each takes the caller's connection and never commits.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import Connection

import outbox
from ticketing_fsm import store
from ticketing_fsm.errors import AlreadyCheckedIn, EventNotFound, InvalidRequest, TicketNotFound
from ticketing_fsm.lifecycle import get_order, move, new_ticket_code, publish_ticket, release
from ticketing_fsm.machines import TicketMachine
from ticketing_fsm.models import Ticket
from ticketing_fsm.refunds import refund_tickets


def create_event(
    conn: Connection,
    org_id: uuid.UUID,
    *,
    name: str,
    currency: str,
    starts_at: datetime,
    ends_at: datetime,
) -> uuid.UUID:
    """Create an event of the organization."""
    return store.orders.insert_event(
        conn, org_id, name=name, currency=currency, starts_at=starts_at, ends_at=ends_at
    )


def add_ticket_type(
    conn: Connection,
    org_id: uuid.UUID,
    event_id: uuid.UUID,
    *,
    name: str,
    price: int,
    capacity: int,
    sales_start: datetime,
    sales_end: datetime,
) -> uuid.UUID:
    """Add a ticket type (price in minor units of the event's currency) to an event."""
    if type(price) is not int or price <= 0 or type(capacity) is not int or capacity <= 0:
        raise InvalidRequest(reason="price and capacity are positive integers")
    currency = store.orders.event_currency(conn, org_id, event_id)
    if currency is None:
        raise EventNotFound(event_id=str(event_id))
    return store.orders.insert_ticket_type(
        conn,
        {
            "event": event_id,
            "org": org_id,
            "name": name,
            "price": price,
            "currency": currency,
            "capacity": capacity,
            "start": sales_start,
            "end": sales_end,
        },
    )


def _lock_ticket(conn: Connection, org_id: uuid.UUID, by: str, value: object) -> Ticket:
    found = store.tickets.lock_ticket(conn, org_id, by, value)
    if found is None:
        raise TicketNotFound(ticket=str(value))
    return found


def transfer_ticket(
    conn: Connection, org_id: uuid.UUID, ticket_id: uuid.UUID, new_holder: str, *, cause: str
) -> Ticket:
    """Give an issued ticket to a new holder: the old code is void, a new ticket is issued."""
    if "@" not in new_holder:
        raise InvalidRequest(reason="the new holder needs an e-mail address")
    # The order first, then the ticket: the order every other path (refund, dispute,
    # cancellation) locks in, so a transfer racing them waits instead of deadlocking.
    order_id = store.tickets.order_of_ticket(conn, org_id, ticket_id)
    if order_id is None:
        raise TicketNotFound(ticket=str(ticket_id))
    get_order(conn, order_id, lock=True)
    old = _lock_ticket(conn, org_id, "id", ticket_id)
    move(conn, "ticket", old, TicketMachine, "transfer_away", cause=cause)
    new = store.tickets.insert_issued(conn, old, new_holder, new_ticket_code())
    store.orders.audit(
        conn,
        new.org_id,
        "ticket",
        new.id,
        moved=("held", "issued", "issue"),
        cause=f"transfer of {old.id}",
    )
    publish_ticket(
        conn,
        new,
        "ticket.transferred",
        "issued",
        [outbox.Email(to=new_holder, subject="A ticket for you", body=f"Your code is {new.code}.")],
    )
    return new


def check_in(conn: Connection, org_id: uuid.UUID, code: str, scanner: str) -> Ticket:
    """Check a ticket in at the door, once; a second scan says who scanned it and when."""
    ticket = _lock_ticket(conn, org_id, "code", code)
    if ticket.status == "checked_in":
        raise AlreadyCheckedIn(
            ticket_id=str(ticket.id),
            checked_in_at=str(ticket.checked_in_at),
            checked_in_by=str(ticket.checked_in_by),
        )
    move(
        conn,
        "ticket",
        ticket,
        TicketMachine,
        "check_in",
        cause=f"scanned by {scanner}",
        changes={"checked_in_by": scanner, "checked_in_at": store.orders.now(conn)},
    )
    publish_ticket(conn, ticket, "ticket.checked_in", "checked_in")
    return _lock_ticket(conn, org_id, "id", ticket.id)


def cancel_event(conn: Connection, org_id: uuid.UUID, event_id: uuid.UUID) -> int:
    """Cancel an event: sales stop, unpaid orders are cancelled, every paid order refunded.
    Returns how many orders were refunded."""
    if not store.orders.cancel_event(conn, org_id, event_id):
        raise EventNotFound(event_id=str(event_id))
    refunded = 0
    for o in store.orders.orders_of_event(conn, event_id):
        if o.status == "awaiting_payment":
            order = get_order(conn, o.id, lock=True)
            release(conn, order, "event cancelled", "event cancelled", cancel_intent=True)
        elif o.status in ("paid", "partially_refunded", "disputed"):
            refund_tickets(
                conn,
                org_id,
                o.id,
                None,
                idempotency_key=f"event-cancelled:{o.id}",
                reason="event cancelled",
            )
            refunded += 1
    return refunded

"""From ticketing's values to the tickets slice's response models."""

from __future__ import annotations

import ticketing_fsm as tk
from liventix.api.schemas import amount
from liventix.api.tickets import read_side
from liventix.api.tickets import schemas as m


def ticket_type(t: read_side.TicketType) -> m.TicketTypeResponse:
    """A ticket type response."""
    return m.TicketTypeResponse(
        id=t.id,
        event_id=t.event_id,
        name=t.name,
        price=amount(t.price, t.currency),
        capacity=t.capacity,
        held=t.held,
        sold=t.sold,
        available=t.capacity - t.held - t.sold,
        sales_start=t.sales_start,
        sales_end=t.sales_end,
    )


def event(e: read_side.Event) -> m.EventResponse:
    """An event response."""
    return m.EventResponse(
        id=e.id,
        org_id=e.org_id,
        name=e.name,
        currency=e.currency,
        starts_at=e.starts_at,
        ends_at=e.ends_at,
        cancelled_at=e.cancelled_at,
        ticket_types=[ticket_type(t) for t in e.ticket_types],
    )


def ticket(t: tk.Ticket, currency: str) -> m.TicketResponse:
    """A ticket response."""
    return m.TicketResponse(
        id=t.id,
        order_id=t.order_id,
        org_id=t.org_id,
        event_id=t.event_id,
        ticket_type_id=t.ticket_type_id,
        status=t.status,
        code=t.code,
        holder_email=t.holder_email,
        price=amount(t.price, currency),
        replaces=t.replaces,
        checked_in_at=t.checked_in_at,
        checked_in_by=t.checked_in_by,
    )


def order(o: tk.Order, tickets: list[tk.Ticket]) -> m.OrderResponse:
    """An order response with its tickets."""
    c = o.currency
    return m.OrderResponse(
        id=o.id,
        org_id=o.org_id,
        event_id=o.event_id,
        buyer_email=o.buyer_email,
        status=o.status,
        amount=amount(o.amount, c),
        paid=amount(o.paid, c),
        refunded=amount(o.refunded, c),
        payment_intent_id=o.payment_intent_id,
        hold_expires_at=o.hold_expires_at,
        cancel_reason=o.cancel_reason,
        tickets=[ticket(t, c) for t in tickets],
    )


def checkout(c: tk.Checkout) -> m.CheckoutResponse:
    """A checkout response."""
    return m.CheckoutResponse(
        order_id=c.order_id,
        total=amount(c.amount, c.currency),
        payment_intent_id=c.payment_intent_id,
        client_secret=c.client_secret,
        hold_expires_at=c.hold_expires_at,
    )

"""What ticketing tells the outside world: its outbox message types and their payloads."""

from __future__ import annotations

from pydantic import BaseModel

import outbox


class OrderEvent(BaseModel):
    """`order.paid`, `order.cancelled`, `order.refunded`: an order's state and amounts."""

    order_id: str
    event_id: str
    status: str
    amount: int
    refunded: int
    currency: str


class TicketEvent(BaseModel):
    """`ticket.issued`, `ticket.transferred`, `ticket.checked_in`, `ticket.refunded`, ..."""

    ticket_id: str
    order_id: str
    event_id: str
    status: str
    holder_email: str
    code: str


class RefundRequested(BaseModel):
    """`stripe.refund.requested`: the task that asks Stripe to refund part of a payment."""

    refund_id: str
    order_id: str
    payment_intent_id: str
    amount: int
    currency: str
    reason: str


for _name in ("order.paid", "order.cancelled", "order.refunded", "order.disputed"):
    outbox.register_message_type(_name, OrderEvent)
for _name in (
    "ticket.issued",
    "ticket.transferred",
    "ticket.checked_in",
    "ticket.refunded",
    "ticket.cancelled",
    "ticket.invalidated",
):
    outbox.register_message_type(_name, TicketEvent)
outbox.register_message_type("stripe.refund.requested", RefundRequested)

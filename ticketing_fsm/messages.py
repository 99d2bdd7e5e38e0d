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


class IntentCancelRequested(BaseModel):
    """`stripe.payment_intent.cancel.requested`: the task that asks Stripe to cancel the
    PaymentIntent of an order released unpaid. An intent never recorded on its order is found
    again by its creation request (`intent_*`, the same key and parameters)."""

    order_id: str
    payment_intent_id: str | None
    intent_amount: int
    intent_currency: str
    intent_metadata: dict[str, str]
    intent_idempotency_key: str
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
outbox.register_message_type("stripe.payment_intent.cancel.requested", IntentCancelRequested)

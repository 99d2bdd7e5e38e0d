"""What ticketing tells the outside world: its outbox message types and their payloads."""

from __future__ import annotations

import functools

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


# The e-mail that gives a ticket's holder its code, sent with `ticket.issued`. The one text
# both ways of issuing write: Python's publishing (`ticket_mail`) and the payment's statement
# (`store.paying.PAY_AFTER_CAPTURE`), which is given the subject and the body's two parts
# around the code as parameters (`ticket_mail_parts`).
TICKET_MAIL_SUBJECT = "Your ticket"
TICKET_MAIL_BODY = "Your ticket code is {code}. Show it at the door."


@functools.cache
def ticket_mail_parts() -> tuple[str, str, str]:
    """The ticket e-mail's subject, and its body's text before and after the code (checked
    once, at the first call: the payment statement's module calls it at import)."""
    before, code, after = TICKET_MAIL_BODY.partition("{code}")
    if not code or "{code}" in after:
        raise ValueError("the ticket e-mail's body names the code once")
    # The statement writes the subject unchecked: `outbox.Email` refuses it here as on
    # Python's way (a line break).
    outbox.Email(to="holder@example.com", subject=TICKET_MAIL_SUBJECT, body=before + after)
    return TICKET_MAIL_SUBJECT, before, after


def ticket_mail(holder_email: str, code: str) -> outbox.Email:
    """The e-mail that gives a ticket's holder its code (`outbox.Email` checks the address)."""
    subject, before, after = ticket_mail_parts()
    return outbox.Email(to=holder_email, subject=subject, body=f"{before}{code}{after}")


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
    PaymentIntent of an order released unpaid, or of one whose hold expired (the sweeper asks
    first: the order's seats are released once Stripe says the intent is canceled). An intent
    never recorded on its order is found again by its creation request (`intent_*`, the same
    key and parameters)."""

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

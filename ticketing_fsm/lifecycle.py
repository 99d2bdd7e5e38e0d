"""What every ticketing use case shares: reading an order (with escrow's amounts) and its
tickets, moving a row through its machine (compare-and-set plus an audit row), the outbox
messages about orders and tickets, releasing an unpaid order's hold and asking Stripe to
cancel its PaymentIntent.
"""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import Connection
from statemachine import StateMachine

import outbox
from ticketing_fsm import decisions, store
from ticketing_fsm.decisions import IntentRequest
from ticketing_fsm.errors import InvalidTransition, OrderNotFound
from ticketing_fsm.machines import OrderMachine, TicketMachine
from ticketing_fsm.messages import IntentCancelRequested, OrderEvent, TicketEvent
from ticketing_fsm.models import Order, Ticket


def new_ticket_code() -> str:
    """A ticket's code: unguessable, URL-safe."""
    return secrets.token_urlsafe(12)


def get_order(conn: Connection, order_id: uuid.UUID, *, lock: bool = False) -> Order:
    """The order, with the amounts paid and refunded as the ledger's escrow booked them."""
    found = store.orders.order(conn, order_id, lock=lock)
    if found is None:
        raise OrderNotFound(order_id=str(order_id))
    return found


def tickets_of(conn: Connection, order_id: uuid.UUID, *, lock: bool = False) -> list[Ticket]:
    """The order's tickets (void ones included), oldest first."""
    return store.tickets.tickets_of(conn, order_id, lock=lock)


def move(
    conn: Connection,
    subject: str,
    row: Ticket | Order,
    machine: type[StateMachine],
    event: str,
    *,
    cause: str | None,
    changes: Mapping[str, Any] | None = None,
    facts: Mapping[str, Any] | None = None,
) -> str:
    """Run `event` through the machine; persist as compare-and-set plus an audit row. A lost
    race (the row no longer as read) is InvalidTransition."""
    to = decisions.target(subject, row, machine, event, facts)
    if not store.orders.move(conn, subject, row, to, event, cause=cause, changes=changes):
        raise InvalidTransition(
            subject=subject, subject_id=str(row.id), state=row.status, event=event
        )
    return to


# -- messages -------------------------------------------------------------------------------


def order_note(
    order: Order,
    kind: str,
    *,
    emails: Sequence[outbox.Email] = (),
    dedup_key: str | None = None,
) -> outbox.Message:
    """The `kind` message about the order as given."""
    return outbox.Message(
        type=kind,
        payload=OrderEvent(
            order_id=str(order.id),
            event_id=str(order.event_id),
            status=order.status,
            amount=order.amount,
            refunded=order.refunded,
            currency=order.currency,
        ),
        aggregate_type="order",
        aggregate_id=str(order.id),
        org_id=order.org_id,
        emails=emails,
        dedup_key=dedup_key,
    )


def ticket_note(
    ticket: Ticket, kind: str, status: str, emails: Sequence[outbox.Email] = ()
) -> outbox.Message:
    """The `kind` message about the ticket, now `status`."""
    return outbox.Message(
        type=kind,
        payload=TicketEvent(
            ticket_id=str(ticket.id),
            order_id=str(ticket.order_id),
            event_id=str(ticket.event_id),
            status=status,
            holder_email=ticket.holder_email,
            code=ticket.code,
        ),
        aggregate_type="ticket",
        aggregate_id=str(ticket.id),
        org_id=ticket.org_id,
        emails=emails,
    )


def publish_order(conn: Connection, order_id: uuid.UUID, kind: str) -> None:
    """The `kind` message about the order as it is now."""
    outbox.publish_many(conn, [order_note(get_order(conn, order_id), kind)])


def publish_ticket(
    conn: Connection, ticket: Ticket, kind: str, status: str, emails: Sequence[outbox.Email] = ()
) -> None:
    """The `kind` message about the ticket, now `status`."""
    outbox.publish_many(conn, [ticket_note(ticket, kind, status, emails)])


def publish_intent_cancel(
    conn: Connection,
    *,
    order_id: uuid.UUID,
    org_id: uuid.UUID,
    payment_intent_id: str | None,
    intent: IntentRequest,
    reason: str,
) -> None:
    """Ask Stripe, through an outbox task on the caller's transaction, to cancel an order's
    PaymentIntent; one never recorded (`payment_intent_id` None) is found again by `intent`,
    its creation request."""
    outbox.publish(
        conn,
        type="stripe.payment_intent.cancel.requested",
        payload=IntentCancelRequested(
            order_id=str(order_id),
            payment_intent_id=payment_intent_id,
            intent_amount=intent.amount,
            intent_currency=intent.currency,
            intent_metadata=intent.metadata,
            intent_idempotency_key=intent.idempotency_key,
            reason=reason,
        ),
        aggregate_type="order",
        aggregate_id=str(order_id),
        org_id=org_id,
        task=True,
    )


# -- an unpaid order's hold released --------------------------------------------------------


def release(
    conn: Connection, order: Order, reason: str, cause: str, *, cancel_intent: bool = False
) -> None:
    """Cancel the unpaid order and release its held tickets' seats; `cancel_intent`: ask
    Stripe to cancel its PaymentIntent too, so the buyer cannot pay for seats not held."""
    move(
        conn, "order", order, OrderMachine, "cancel", cause=cause, changes={"cancel_reason": reason}
    )
    released = []
    for t in tickets_of(conn, order.id, lock=True):
        if t.status == "held":
            move(conn, "ticket", t, TicketMachine, "release", cause=cause)
            released.append(t)
    store.tickets.release_seats(conn, decisions.seats_by_type(released))
    publish_order(conn, order.id, "order.cancelled")
    if cancel_intent:
        _cancel_intent(conn, order, reason)


def request_cancel(conn: Connection, order: Order, reason: str) -> bool:
    """Ask Stripe (an outbox task, once) to cancel the unpaid order's PaymentIntent, keeping
    its seats held: they are released when Stripe says the intent is canceled (the task, or
    `payment_intent.canceled`), never while a payment made in time may still be on its way.
    False if it was asked already (nothing written)."""
    if not store.orders.mark_cancel_requested(conn, order.id):
        return False
    _cancel_intent(conn, order, reason)
    return True


def ask_cancel_again(conn: Connection, order: Order, reason: str) -> bool:
    """Ask Stripe again (a new outbox task, so a new idempotency key and a fresh answer) to
    cancel the PaymentIntent of an order whose cancellation was asked before, keeping its
    seats held. False if the order no longer awaits its payment (nothing written)."""
    if not store.orders.mark_asked_again(conn, order.id):
        return False
    _cancel_intent(conn, order, reason)
    return True


def _cancel_intent(conn: Connection, order: Order, reason: str) -> None:
    """Ask Stripe (an outbox task) to cancel the unpaid order's PaymentIntent; an intent never
    recorded is found by its request."""
    facts = store.orders.intent_facts(conn, order.id)
    publish_intent_cancel(
        conn,
        order_id=order.id,
        org_id=order.org_id,
        payment_intent_id=order.payment_intent_id,
        intent=decisions.intent_request(
            org_id=order.org_id,
            event_id=order.event_id,
            event_ends_at=facts.ends_at,
            order_id=order.id,
            idempotency_key=facts.idempotency_key,
            amount=order.amount,
            currency=order.currency,
        ),
        reason=reason,
    )

"""Refunds and disputes: the platform's refunds of tickets (Stripe asked through an outbox
task, escrow books them when Stripe confirms), and a paid order brought to what its payment's
facts imply, whatever order Stripe's events about refunds and disputes came in.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy import Connection

import escrow
import outbox
from ticketing_fsm import decisions, store
from ticketing_fsm.errors import IdempotencyConflict, OrderNotFound
from ticketing_fsm.lifecycle import (
    get_order,
    move,
    order_note,
    publish_order,
    publish_ticket,
    tickets_of,
)
from ticketing_fsm.machines import OrderMachine, TicketMachine
from ticketing_fsm.messages import RefundRequested
from ticketing_fsm.models import Order, Ticket


def request_refund(
    conn: Connection,
    order: Order,
    amount: int,
    reason: str,
    *,
    key: str,
    request_hash: str | None = None,
) -> uuid.UUID:
    """Store the refund and ask Stripe for it (an outbox task on the caller's transaction)."""
    assert order.payment_intent_id is not None
    refund_id = store.orders.insert_refund(
        conn,
        {
            "org": order.org_id,
            "order": order.id,
            "amount": amount,
            "reason": reason,
            "key": key,
            "hash": request_hash or decisions.refund_hash(order.id, None, reason),
        },
    )
    outbox.publish(
        conn,
        type="stripe.refund.requested",
        payload=RefundRequested(
            refund_id=str(refund_id),
            order_id=str(order.id),
            payment_intent_id=order.payment_intent_id,
            amount=amount,
            currency=order.currency,
            reason=reason,
        ),
        aggregate_type="order",
        aggregate_id=str(order.id),
        org_id=order.org_id,
        task=True,
    )
    return refund_id


def refund_tickets(
    conn: Connection,
    org_id: uuid.UUID,
    order_id: uuid.UUID,
    ticket_ids: Sequence[uuid.UUID] | None,
    *,
    idempotency_key: str,
    reason: str = "requested by the buyer",
) -> uuid.UUID:
    """Refund some of an order's tickets (None: all still valid). The tickets are refunded at
    once; Stripe is asked for the refund (an outbox task) and escrow books it when Stripe
    confirms. A retry under the same key returns the same refund; the same key for another
    refund is an IdempotencyConflict."""
    digest = decisions.refund_hash(order_id, ticket_ids, reason)
    existing = store.orders.refund_by_key(conn, org_id, idempotency_key)
    if existing is not None:
        if existing.request_hash != digest:
            raise IdempotencyConflict(idempotency_key=idempotency_key)
        found: uuid.UUID = existing.id
        return found
    order = get_order(conn, order_id, lock=True)
    if order.org_id != org_id:
        raise OrderNotFound(order_id=str(order_id))
    chosen, event = decisions.refund_choice(
        order, tickets_of(conn, order.id, lock=True), ticket_ids
    )
    move(conn, "order", order, OrderMachine, event, cause=reason)
    _refund(conn, chosen, reason)
    amount = sum(t.price for t in chosen)
    refund_id = request_refund(
        conn, order, amount, reason, key=idempotency_key, request_hash=digest
    )
    publish_order(conn, order.id, "order.refunded")
    return refund_id


def _refund(conn: Connection, tickets: Sequence[Ticket], cause: str) -> None:
    """Refund these valid tickets: each moves and is announced, their seats are free again."""
    for t in tickets:
        move(conn, "ticket", t, TicketMachine, "refund", cause=cause)
        publish_ticket(conn, t, "ticket.refunded", "refunded")
    store.tickets.unsell_seats(conn, decisions.seats_by_type(tickets))


def settle_order(conn: Connection, order_id: uuid.UUID, *, cause: str) -> str:
    """Bring a paid order to the state its payment's facts imply, whatever order Stripe's
    events came in: the facts are escrow's (what was captured and refunded, what the
    payment's disputes came to) and ticketing's own (the refunds the platform asked for).

    - a dispute lost: the order is refunded and its valid tickets invalidated;
    - a dispute open: the order is disputed;
    - otherwise a disputed order is back: paid, or partially refunded if money went back;
    - refunds nobody asked of the platform (Stripe's Dashboard, another integration): a
      full refund refunds the order and voids its valid tickets, a partial one leaves them
      valid and the order partially refunded; the organizer is told by webhook and e-mail.

    Returns the order's status. Orders not yet paid, or cancelled, are left alone."""
    order = get_order(conn, order_id, lock=True)
    if order.payment_intent_id is None or order.status in ("awaiting_payment", "cancelled"):
        return order.status
    outcome = escrow.dispute_outcome(conn, order.payment_intent_id)
    if decisions.disputes(outcome, order.status):
        move(conn, "order", order, OrderMachine, "dispute", cause=cause)
        publish_order(conn, order.id, "order.disputed")
        order = get_order(conn, order_id, lock=True)
    if outcome == "lost" and order.status == "disputed":
        _lose_dispute(conn, order, cause)
        return "refunded"
    if outcome != "open" and order.status == "disputed":
        facts = decisions.dispute_won_facts(order, tickets_of(conn, order.id))
        move(conn, "order", order, OrderMachine, "dispute_won", cause=cause, facts=facts)
        order = get_order(conn, order_id, lock=True)
    if order.status in ("paid", "partially_refunded"):
        _refunded_elsewhere(conn, order, cause)
        order = get_order(conn, order_id)
    return order.status


def _lose_dispute(conn: Connection, order: Order, cause: str) -> None:
    """The chargeback is lost: the order is refunded, its valid tickets invalidated."""
    move(conn, "order", order, OrderMachine, "dispute_lost", cause=cause)
    lost = [t for t in tickets_of(conn, order.id, lock=True) if t.status in decisions.VALID]
    for t in lost:
        move(conn, "ticket", t, TicketMachine, "invalidate", cause=cause)
        publish_ticket(conn, t, "ticket.invalidated", "invalidated")
    store.tickets.unsell_seats(conn, decisions.seats_by_type(lost))


def _refunded_elsewhere(conn: Connection, order: Order, cause: str) -> None:
    """Refunds made outside the platform reach the order: the money refunded beyond what
    the platform asked for (its own refunds moved the order when asked)."""
    found = decisions.refunded_elsewhere(order, store.orders.refunds_asked(conn, order.id))
    if found is None:
        return
    if found.event is not None:
        move(conn, "order", order, OrderMachine, found.event, cause=cause)
    if found.full:
        valid = [t for t in tickets_of(conn, order.id, lock=True) if t.status in decisions.VALID]
        _refund(conn, valid, cause)
    fresh = get_order(conn, order.id)
    policy = escrow.get_policy(conn, order.org_id)
    emails = (
        [
            outbox.Email(
                to=policy.payout_email,
                subject="A refund was made outside Liventix",
                body=decisions.elsewhere_notice(fresh, found.full),
            )
        ]
        if policy.payout_email
        else []
    )
    # Told once per amount refunded, however often and in whatever order Stripe's events
    # about it arrive.
    key = f"order.refunded-elsewhere:{fresh.id}:{fresh.refunded}"
    outbox.publish_many(conn, [order_note(fresh, "order.refunded", emails=emails, dedup_key=key)])


def dispute_opened(conn: Connection, order_id: uuid.UUID, *, cause: str) -> bool:
    """A chargeback was opened on the order's payment (escrow has recorded it): the order
    follows what the payment's disputes come to. True if the order is now disputed."""
    return settle_order(conn, order_id, cause=cause) == "disputed"


def dispute_closed(conn: Connection, order_id: uuid.UUID, won: bool, *, cause: str) -> bool:
    """A chargeback closed (escrow has recorded it): the order follows what the payment's
    disputes come to; won, the order is back; lost, its tickets are invalidated. True if
    the order left `disputed`."""
    del won  # the outcome is escrow's fact, not this event's
    return settle_order(conn, order_id, cause=cause) != "disputed"

"""Ticketing's handlers for Stripe's events: escrow's, plus what the order and its tickets do.

A PaymentIntent's success is booked by escrow and, in the same transaction, issues the
order's tickets (or refunds a late payment); its failure or cancellation releases the hold.
Refunds (whoever made them) and disputes are booked by escrow, then the order is settled
from the facts (`service.settle_order`), not from which event came last: any order of
arrival, with any duplicates, ends in the same order and ticket states. Every other event
is escrow's alone.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

from sqlalchemy import Connection

import escrow
import outbox
from ticketing_fsm import service

Handler = Callable[[Connection, outbox.InboxEvent], None]


def _order(
    conn: Connection, event: outbox.InboxEvent, payment_intent: str | None
) -> uuid.UUID | None:
    """The order a Stripe object concerns, found by its PaymentIntent (or, for a dispute
    naming only the charge, by the payment escrow booked for that charge). Metadata is not
    trusted for it: a foreign value there must not stop the event."""
    obj = event.payload["data"]["object"]
    if payment_intent is None:
        charge = obj.get("charge")
        charge_id = charge.get("id") if isinstance(charge, dict) else charge
        if isinstance(charge_id, str):
            payment_intent = escrow.payment_id_for_charge(conn, charge_id)
    return service.order_for_payment(conn, payment_intent) if payment_intent else None


def _payment_intent_of(obj: dict[str, object]) -> str | None:
    pi = obj.get("payment_intent")
    if isinstance(pi, dict):
        found = pi.get("id")
        return found if isinstance(found, str) else None
    return pi if isinstance(pi, str) else None


def _one_step(handler: outbox.AnyInboxHandler) -> Handler:
    if isinstance(handler, outbox.InboxTwoStepHandler):
        raise TypeError("expected a one-step handler")
    return handler


def handlers(reader: escrow.StripeReader) -> dict[str, outbox.AnyInboxHandler]:
    """Escrow's handlers, with the payment and dispute events extended for orders. The
    payment's success asks Stripe for its fee first (escrow's prepare, no transaction open),
    then books it and issues the order's tickets in one transaction."""
    base = escrow.stripe_handlers(reader)
    captured = base["payment_intent.succeeded"]
    if not isinstance(captured, outbox.InboxTwoStepHandler):
        raise TypeError("escrow's payment_intent.succeeded handler should be two steps")
    capture: outbox.InboxTwoStepHandler[Any] = captured

    def succeeded(conn: Connection, event: outbox.InboxEvent, facts: Any) -> None:
        capture.handle(conn, event, facts)
        intent = event.payload["data"]["object"]
        metadata = intent.get("metadata")
        amount = intent.get("amount")
        # The order the intent is recorded on or, for an intent the checkout never recorded
        # (it died, or the hold expired, between Stripe's answer and the record), the order
        # its metadata names, if still waiting for exactly it.
        service.payment_succeeded_for_intent(
            conn,
            intent["id"],
            cause=event.event_id,
            metadata=metadata if isinstance(metadata, dict) else None,
            amount=amount if type(amount) is int else None,
        )

    def failed(conn: Connection, event: outbox.InboxEvent) -> None:
        order = _order(conn, event, event.payload["data"]["object"]["id"])
        if order is not None:
            service.payment_failed(conn, order, cause=event.event_id)

    def settle(conn: Connection, event: outbox.InboxEvent) -> None:
        """The order of the event's payment follows its facts (escrow's, just booked)."""
        obj = event.payload["data"]["object"]
        order = _order(conn, event, _payment_intent_of(obj))
        if order is not None:
            service.settle_order(conn, order, cause=event.event_id)

    def then_settle(booked: Handler) -> Handler:
        def handle(conn: Connection, event: outbox.InboxEvent) -> None:
            booked(conn, event)
            settle(conn, event)

        return handle

    charge_refunded = base["charge.refunded"]
    if not isinstance(charge_refunded, outbox.InboxTwoStepHandler):
        raise TypeError("escrow's charge.refunded handler should be two steps")
    refunds_of: outbox.InboxTwoStepHandler[Any] = charge_refunded

    def refunded(conn: Connection, event: outbox.InboxEvent, facts: Any) -> None:
        refunds_of.handle(conn, event, facts)
        settle(conn, event)

    refund_changed = _one_step(base["refund.updated"])
    return {
        **base,
        "payment_intent.succeeded": outbox.InboxTwoStepHandler(
            prepare=capture.prepare, handle=succeeded
        ),
        "payment_intent.payment_failed": failed,
        "payment_intent.canceled": failed,
        # Every refund reaches the order, whoever made it (the platform, Stripe's Dashboard,
        # another integration): escrow books it, then the order follows the facts.
        "refund.created": then_settle(refund_changed),
        "refund.updated": then_settle(refund_changed),
        "refund.failed": then_settle(_one_step(base["refund.failed"])),
        "charge.refunded": outbox.InboxTwoStepHandler(prepare=refunds_of.prepare, handle=refunded),
        # Disputes: escrow records the dispute (a closed one as opened too), then the order
        # follows what the payment's disputes come to, so any order of arrival ends alike.
        "charge.dispute.created": then_settle(_one_step(base["charge.dispute.created"])),
        "charge.dispute.closed": then_settle(_one_step(base["charge.dispute.closed"])),
    }


def register(reader: escrow.StripeReader, into: outbox.InboxHandlers | None = None) -> None:
    """Register every Stripe handler (escrow's and ticketing's) in the inbox."""
    for event_type, handler in handlers(reader).items():
        if into is None:
            outbox.register_handler("stripe", event_type, handler, replace=True)
        else:
            into.register("stripe", event_type, handler, replace=True)

"""Ticketing's handlers for Stripe's events: escrow books each event, then ticketing follows up
in the same transaction.

Ticketing does not pick escrow's handlers apart: for each event type it names only its own
follow-up (`_follow_ups`), and every one is composed the same way with escrow's handler for
that type, whatever its shape (a two-step handler keeps its `prepare`, run with no
transaction open). Event types escrow does not handle get ticketing's follow-up alone.

A PaymentIntent's success (booked by escrow) issues the order's tickets (or refunds a late
payment: one made after its hold, by when the buyer paid (the earlier of the event's `created`
and its charge's: a bank debit's start) and not by when the worker got to it, or one for an
order whose seats went back on sale); its cancellation releases the hold.
A declined card (`payment_intent.payment_failed`) releases nothing: the intent still takes a
payment, the buyer may pay it with another card until the hold expires, and a payment that
then succeeds issues the tickets whichever of the two events is handled first. Refunds
(whoever made them) and disputes are booked by escrow, then the order is settled from the
facts (`refunds.settle_order`), not from which event came last: any order of arrival, with
any duplicates, ends in the same order and ticket states. Every other event is escrow's
alone.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, Row

import escrow
import outbox
from ticketing_fsm.decisions import META_EVENT, META_ORG
from ticketing_fsm.errors import TicketingError
from ticketing_fsm.outcomes import (
    order_for_payment,
    pay_for_intent,
    payment_failed,
    payment_succeeded_for_intent,
)
from ticketing_fsm.refunds import settle_order
from ticketing_fsm.store import orders

FollowUp = Callable[[Connection, outbox.InboxEvent], None]


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
    return order_for_payment(conn, payment_intent) if payment_intent else None


def _payment_intent_of(obj: dict[str, object]) -> str | None:
    pi = obj.get("payment_intent")
    if isinstance(pi, dict):
        found = pi.get("id")
        return found if isinstance(found, str) else None
    return pi if isinstance(pi, str) else None


def _succeeded(conn: Connection, event: outbox.InboxEvent) -> None:
    """The order the intent is recorded on or, for an intent the checkout never recorded (it
    died, or the hold expired, between Stripe's answer and the record), the order its
    metadata names, if still waiting for exactly it: its tickets are issued."""
    intent = event.payload["data"]["object"]
    metadata = intent.get("metadata")
    amount = intent.get("amount")
    payment_succeeded_for_intent(
        conn,
        intent["id"],
        cause=event.event_id,
        org_id=_placed_org(event),
        metadata=metadata if isinstance(metadata, dict) else None,
        amount=amount if type(amount) is int else None,
        paid_at=_paid_at(event),
    )


def _paid_at(event: outbox.InboxEvent) -> datetime | None:
    """When the buyer paid, as Stripe says: the event's `created` (Unix seconds, in the body
    its signature covers), against which the order's hold is judged, however late the event
    is handled (a backlog, Stripe's retries); None if it carries none PostgreSQL can read
    (judged when handled, as before)."""
    created = event.payload.get("created")
    if type(created) is not int:
        return None
    try:
        return datetime.fromtimestamp(created, UTC)
    except (OverflowError, OSError, ValueError):
        return None


def _placed_org(event: outbox.InboxEvent) -> uuid.UUID | None:
    """The organization the inbox placed the event with (its metadata's), which pins the
    order's lookup by its PaymentIntent; None for an event naming none (the nil uuid)."""
    org = event.org_id
    return None if org is None or org == uuid.UUID(int=0) else org


def _canceled(conn: Connection, event: outbox.InboxEvent) -> None:
    """The PaymentIntent was cancelled (it can take no payment any more): its order's hold is
    released."""
    order = _order(conn, event, event.payload["data"]["object"]["id"])
    if order is not None:
        payment_failed(conn, order, cause=event.event_id)


def _declined(conn: Connection, event: outbox.InboxEvent) -> None:
    """A card was declined: the intent still takes a payment (Stripe puts it back to
    `requires_payment_method`), so the order keeps its hold until it expires or the intent is
    cancelled, and a payment that then succeeds issues its tickets, whichever event comes
    first. Handled, on purpose doing nothing (an inbox operator sees it handled, not
    ignored)."""


def _settle(conn: Connection, event: outbox.InboxEvent) -> None:
    """The order of the event's payment follows its facts (escrow's, just booked)."""
    order = _order(conn, event, _payment_intent_of(event.payload["data"]["object"]))
    if order is not None:
        settle_order(conn, order, cause=event.event_id)


def _follow_ups() -> dict[str, FollowUp]:
    """What ticketing does after escrow has booked each event type."""
    return {
        "payment_intent.succeeded": _succeeded,
        # A declined card releases nothing (`_declined`): releasing it made a declined card
        # followed by a good one end refunded, and the same two events handled the other way
        # round end paid (promise 9).
        "payment_intent.payment_failed": _declined,
        "payment_intent.canceled": _canceled,
        # Every refund reaches the order, whoever made it (the platform, Stripe's Dashboard,
        # another integration): escrow books it, then the order follows the facts.
        "refund.created": _settle,
        "refund.updated": _settle,
        "refund.failed": _settle,
        "charge.refunded": _settle,
        # Disputes: escrow records the dispute (a closed one as opened too), then the order
        # follows what the payment's disputes come to, so any order of arrival ends alike.
        "charge.dispute.created": _settle,
        "charge.dispute.closed": _settle,
    }


def _then(booked: outbox.AnyInboxHandler | None, follow: FollowUp) -> outbox.AnyInboxHandler:
    """Escrow's handler (None: escrow has none), then ticketing's follow-up, in one
    transaction; a two-step handler keeps its prepare."""
    if booked is None:
        return follow
    if isinstance(booked, outbox.InboxTwoStepHandler):
        two: outbox.InboxTwoStepHandler[Any] = booked

        def handle(conn: Connection, event: outbox.InboxEvent, facts: Any) -> None:
            two.handle(conn, event, facts)
            follow(conn, event)

        return outbox.InboxTwoStepHandler(prepare=two.prepare, handle=handle, look=two.look)
    one: FollowUp = booked

    def handle_one(conn: Connection, event: outbox.InboxEvent) -> None:
        one(conn, event)
        follow(conn, event)

    return handle_one


class PaymentNotBooked(TicketingError):
    """A PaymentIntent recorded on one of our orders succeeded, but Stripe was not asked for
    its fee: its metadata carries no Liventix key at all (edited at Stripe) and it was not
    yet recorded on the order when the event was looked at (`_paid`'s look). The event
    fails once; its retry's prepare asks Stripe (escrow asks for every retried payment's
    fee), and the payment is booked. No ticket is issued for a payment escrow did not book."""

    payment_intent_id: str
    order_id: str


class PaymentEventNotTheOrganizations(TicketingError, outbox.PermanentFailure):
    """A PaymentIntent no order of ours has names in its metadata one of our events and an
    organization that event is not of: booked nowhere, and no retry changes that (the
    event ends dead at its first attempt)."""

    payment_intent_id: str
    org_id: str
    event_id: str


def _order_paid_by(
    conn: Connection,
    intent_id: str,
    placed: uuid.UUID | None,
    metadata: dict[str, Any] | None,
    amount: int | None,
) -> Row[Any] | None:
    """The order this PaymentIntent pays for, with its organization, event and end: the one
    it is recorded on (in the organization the event was placed with first, then in any),
    else the one its metadata's order claims (`order_for_payment`: still waiting for an
    intent of exactly this amount, in the organization the metadata names); None if none."""
    # The owner runs the inbox's handlers (row-level security does not apply to it): neither
    # look-up reads more than `store.orders.order_for_intent` already did.
    if placed is not None:
        row = orders.paid_by(conn, intent_id, placed)
        if row is not None:
            return row
    row = orders.paid_by(conn, intent_id)
    if row is None and order_for_payment(conn, intent_id, metadata, amount) is not None:
        row = orders.paid_by(conn, intent_id)
    return row


def _look_for_its_order(conn: Connection, event: outbox.InboxEvent) -> outbox.InboxEvent:
    """The payment's look, on the claim's transaction, before the prepare (no network).

    A payment whose metadata lost every Liventix key (edited at Stripe): whether its
    intent is recorded on one of our orders (one short read, by the intent alone), noted
    for the prepare (`escrow.HINT_PAYMENT_IS_OURS`: escrow's prepare asks Stripe for a
    payment's fee when its metadata carries a key of `escrow.META_PREFIX`, on a retry, or
    when this hint is set). A payment with Liventix keys: refused here if it names another
    organization's event (`_refuse_another_organizations_event`), before Stripe is asked."""
    intent = event.payload["data"]["object"]
    metadata = intent.get("metadata")
    if isinstance(metadata, dict) and any(str(k).startswith(escrow.META_PREFIX) for k in metadata):
        _refuse_another_organizations_event(conn, str(intent["id"]), metadata)
        return event  # escrow's prepare asks Stripe for it anyway
    if orders.order_for_intent(conn, str(intent["id"])) is None:
        return event
    return replace(event, hints={**event.hints, escrow.HINT_PAYMENT_IS_OURS: True})


def _refuse_another_organizations_event(
    conn: Connection, intent_id: str, metadata: dict[str, Any]
) -> None:
    """Raise `PaymentEventNotTheOrganizations` (permanent: the event ends dead at its first
    attempt, Stripe never asked for the fee) for a payment whose metadata names an
    organization and one of ticketing's events that is not that organization's (or an
    organization that does not exist), no order of ours having its intent: the refusal
    `_booked_as_its_metadata_reads` makes, made before the prepare, by the same comparison
    (`_its_organizations_event`). The usual payment (the organization's own event) reads one
    row, pinned to that organization; only another reads the event by its id alone, then the
    order by the intent."""
    try:
        org = uuid.UUID(str(metadata[META_ORG]))
        event_id = uuid.UUID(str(metadata[META_EVENT]))
    except (KeyError, ValueError):
        return  # escrow books nothing, or the event is none of ticketing's
    if orders.event_currency(conn, org, event_id) is not None:
        return  # the organization's own event
    _its_organizations_event(conn, intent_id, org, event_id, unless_ordered=True)


def _its_organizations_event(
    conn: Connection,
    intent_id: str,
    org: uuid.UUID,
    event_id: uuid.UUID,
    *,
    unless_ordered: bool = False,
) -> Row[Any] | None:
    """Ticketing's event `event_id` as recorded, when it is `org`'s; None when it is none of
    ticketing's (an event id escrow alone keeps). Raises `PaymentEventNotTheOrganizations`
    (permanent) when it is another organization's (or `org` does not exist): the one
    comparison of a payment's organization with its event's, for the look and the handle.
    `unless_ordered` (the look's): no refusal (None) when an order of ours has the intent,
    whose handle books it with the order's organization and event; read on a mismatch only."""
    ours = orders.event_of(conn, event_id)
    if ours is None or ours.org_id == org:
        return ours
    if unless_ordered and orders.order_for_intent(conn, intent_id) is not None:
        return None
    raise PaymentEventNotTheOrganizations(
        payment_intent_id=intent_id, org_id=str(org), event_id=str(event_id)
    )


def _paid(booked: outbox.AnyInboxHandler | None) -> outbox.AnyInboxHandler:
    """`payment_intent.succeeded`: escrow's prepare (Stripe's fee, no transaction open), then
    the payment booked and the order's tickets issued together (`pay_for_intent`: escrow's
    capture and ticketing's pay-and-issue in one statement in the usual case), rather than
    escrow's handle then ticketing's follow-up one after the other.

    The payment of an order of ours is booked with the organization, event and end of the
    order it is recorded on (or its metadata's order claims), wherever the inbox placed the
    event: the metadata is edited at will at Stripe, and the organization it names (which
    places the event) may be another one, in the form the database reads or in one it does
    not (braces, 'urn:uuid:', bare hex, none: placed with the nil uuid). The metadata is read
    only for a payment no order of ours has: booked as escrow reads it (uuid.UUID()), else
    not at all. Tickets are issued only for a payment escrow books (`PaymentNotBooked`).

    A payment whose metadata lost every Liventix key is looked up by its intent before the
    prepare (`_look_for_its_order`, on the claim's transaction): recorded on one of our
    orders, escrow's prepare is told so and asks Stripe for its fee, so it is booked at its
    first attempt. A payment no order of ours has, naming another organization's event, is
    refused by the same look, before Stripe is asked, and ends dead at once."""
    if not isinstance(booked, outbox.InboxTwoStepHandler):
        return _then(booked, _succeeded)
    two: outbox.InboxTwoStepHandler[Any] = booked

    def handle(conn: Connection, event: outbox.InboxEvent, facts: Any) -> None:
        intent = event.payload["data"]["object"]
        metadata = intent.get("metadata")
        metadata = metadata if isinstance(metadata, dict) else None
        amount = intent.get("amount")
        amount = amount if type(amount) is int else None
        order = _order_paid_by(conn, intent["id"], _placed_org(event), metadata, amount)
        payment = (
            _booked_with_its_order(event, order, facts)
            if order is not None
            else _booked_as_its_metadata_reads(conn, event, facts)
        )
        if payment is None:  # no order of ours, nothing escrow books: nothing to do
            return
        pay_for_intent(
            conn,
            payment,
            cause=event.event_id,
            metadata=metadata,
            amount=amount,
            paid_at=_paid_at(event),
            # The charge's own moment (read from Stripe with the platform's key by the
            # prepare): a bank debit started within the hold and succeeding days after it
            # was paid in time (issue 11); a card's is its success, as the event's.
            charged_at=None if facts is None else facts.created,
        )

    return outbox.InboxTwoStepHandler(prepare=two.prepare, handle=handle, look=_look_for_its_order)


def _booked_with_its_order(
    event: outbox.InboxEvent, order: Row[Any], facts: escrow.ChargeFacts | None
) -> escrow.CapturedPayment:
    """The payment as escrow books it for the order it pays for: the order's organization,
    event and the event's end. Raises PaymentNotBooked if Stripe was not asked for its fee
    (its retry asks)."""
    if facts is None:
        intent_id = str(event.payload["data"]["object"]["id"])
        raise PaymentNotBooked(payment_intent_id=intent_id, order_id=str(order.id))
    return escrow.captured_payment_of(
        event, facts, org_id=order.org_id, event_id=str(order.event_id), event_ends_at=order.ends_at
    )


def _booked_as_its_metadata_reads(
    conn: Connection, event: outbox.InboxEvent, facts: escrow.ChargeFacts | None
) -> escrow.CapturedPayment | None:
    """A payment no order of ours has, as escrow reads its metadata (its organization parsed
    by uuid.UUID(), which takes forms the database does not: a payment its organization
    must still hold); None if escrow books nothing (not a ticket payment, or its metadata
    names no organization uuid.UUID() reads).

    When the event it names is one of ticketing's (its id read by uuid.UUID() too), it must
    be the named organization's: the payment is then booked with the event as ticketing
    recorded it (its id's usual form, its end), as an order's is. Another organization's
    event (or an organization that does not exist) is refused, typed
    (`PaymentEventNotTheOrganizations`, permanent): nothing is booked, not in the named
    organization's books against another's event nor in the event's organization's on the
    metadata's word; the event ends dead at its first attempt for an operator. The look
    refuses it before the prepare (`_refuse_another_organizations_event`); this check stays
    as the handle's own word, on its own transaction. An event id
    that is none of ticketing's is escrow's alone (escrow keeps an organization's events by
    any id): booked as the metadata reads."""
    try:
        payment = escrow.captured_payment(event, facts)
    except ValueError:
        return None
    if payment is None or facts is None:  # facts: never None for a payment escrow books
        return payment
    try:
        event_id = uuid.UUID(payment.event_id)
    except ValueError:
        return payment  # not one of ticketing's events
    ours = _its_organizations_event(conn, payment.payment_id, payment.org_id, event_id)
    if ours is None:
        return payment
    return escrow.captured_payment_of(
        event, facts, org_id=payment.org_id, event_id=str(event_id), event_ends_at=ours.ends_at
    )


def handlers(reader: escrow.StripeReader) -> dict[str, outbox.AnyInboxHandler]:
    """Escrow's handlers, each followed by ticketing's follow-up for its type. The payment's
    success asks Stripe for its fee first (escrow's prepare, no transaction open), then books
    it and issues the order's tickets in one transaction (`_paid`)."""
    base = escrow.stripe_handlers(reader)
    combined = dict(base)
    for event_type, follow in _follow_ups().items():
        combined[event_type] = _then(base.get(event_type), follow)
    combined["payment_intent.succeeded"] = _paid(base.get("payment_intent.succeeded"))
    return combined


def register(reader: escrow.StripeReader, into: outbox.InboxHandlers | None = None) -> None:
    """Register every Stripe handler (escrow's and ticketing's) in the inbox."""
    for event_type, handler in handlers(reader).items():
        if into is None:
            outbox.register_handler("stripe", event_type, handler, replace=True)
        else:
            into.register("stripe", event_type, handler, replace=True)

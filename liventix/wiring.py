"""Wiring the packages together at the application's edge: Stripe's event handlers in the
inbox, the Stripe tasks in the outbox (transfers, transfer reversals, refunds, PaymentIntent
cancellations) with their retry policies (an API call's, not a webhook's), and the periodic
step in the worker (the hold sweeper, escrow release, sealing)."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Sequence
from datetime import timedelta
from typing import Any

import sqlalchemy as sa
import stripe
from pydantic import BaseModel

import escrow
import ledger
import outbox
import ticketing_fsm
from liventix.stripe_gateway import StripeGateway

_log = logging.getLogger(__name__)

SEAL_EVERY = timedelta(minutes=1)

# The Stripe tasks' retries (the outbox's default, Svix's 5 s, 5 min, 30 min, 2 h, 5 h, 10 h,
# 10 h, suits a customer's webhook endpoint, not an API call): a Stripe blip of seconds or
# minutes is over after the first waits, so they are short, then grow (a longer outage is not
# hammered); every later wait is 30 minutes. The whole schedule, at the jitter's longest
# (+20 %), stays inside a day: Stripe keeps an idempotency key for 24 hours, and every retry
# must still be answered under the task's key (the message id) with the first result, never
# do the work twice (Svix's schedule took ~28 h nominal, ~33 h at its longest).
_STRIPE_EARLY = (2.0, 5.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0)
STRIPE_CALL_RETRY = outbox.RetryPolicy(schedule=_STRIPE_EARLY + (1800.0,) * 36, jitter=0.2)
"""Transfers, transfer reversals, refunds: 2 s, 5 s, 15 s, 30 s, 1 min, 2 min, 5 min, 10 min
(19 min in all), then every 30 min; dead after 45 attempts, ~18 h after the first (22 h at
the jitter's longest)."""

# The cancel task holds an expired hold's seats until Stripe answers (cancel first): during an
# on-sale each minute of it keeps seats off sale. Every minute for the first quarter hour, so
# a Stripe outage of a few minutes delays the release by about the outage (a minute more at
# most); the whole minute-by-minute part (15 min, 18 at the jitter's longest) well inside the
# sweeper's grace (`ticketing_fsm.CANCEL_GRACE`, 30 min), which releases an unanswered order
# and asks again with a new task; then every 5 min to past the grace, then as the other tasks.
STRIPE_CANCEL_RETRY = outbox.RetryPolicy(
    schedule=(2.0, 5.0, 10.0, 20.0, 30.0) + (60.0,) * 14 + (300.0,) * 3 + (1800.0,) * 35,
    jitter=0.2,
)
"""The cancel task: 2 s, 5 s, 10 s, 20 s, 30 s, then every minute to ~15 min, every 5 min to
~30 min, then every 30 min; dead after 58 attempts, ~18 h after the first (22 h at the
jitter's longest)."""


class TransferRequestMismatch(Exception, outbox.PermanentFailure):
    """A `stripe.transfer.requested` task's payload is not a transfer escrow asked for under
    its message id (no such request, or another escrow, organization, event, amount,
    currency or charge): nothing is asked of Stripe. Permanent: the request and its message
    were committed together, so no retry finds them agreeing (the delivery is dead at once).
    Names the fields that disagree."""

    def __init__(self, message_id: str, fields: Sequence[str] = ()) -> None:
        self.message_id = message_id
        self.fields = tuple(fields)
        detail = f" ({', '.join(self.fields)} differ)" if self.fields else ""
        super().__init__(f"{message_id}{detail}")


class TransferDestinationChanged(Exception):
    """A `stripe.transfer.requested` task's payload names another destination than the
    organizer's terms name now (the organizer connected another Stripe account, or one
    where none was, since the release asked for it): nothing is asked of Stripe. Not
    permanent: the destination is read from the terms as they are, not recorded with the
    request, so the task keeps its policy's retries (the terms may be set back) and then
    ends dead, as before, for an operator to look at."""

    def __init__(self, message_id: str, asked: str | None, now: str | None) -> None:
        self.message_id = message_id
        self.asked = asked
        self.now = now
        super().__init__(f"{message_id}: asked for {asked!r}, the terms name {now!r}")


def _differing(payload: BaseModel, recorded: BaseModel) -> list[str]:
    """The fields in which a task's payload and what was recorded (one model) differ."""
    return [
        name
        for name in type(recorded).model_fields
        if getattr(payload, name) != getattr(recorded, name)
    ]


def recorded_transfer(
    conn: sa.Connection, message_id: str, request: escrow.TransferRequested
) -> escrow.TransferRequested:
    """The transfer escrow recorded under the task's message id (its request), as the task's
    payload should say it: the amount and the charge from the request, the organization and
    currency from its escrow, the destination from the organizer's terms. Raises
    TransferRequestMismatch when escrow asked for no such transfer."""
    try:
        request_id = uuid.UUID(message_id)
        escrow_id = uuid.UUID(request.escrow_id)
    except ValueError:
        raise TransferRequestMismatch(message_id) from None
    asked = escrow.transfer_request(conn, escrow_id, request_id)
    if asked is None:
        raise TransferRequestMismatch(message_id)
    held = escrow.get_escrow(conn, asked.escrow_id)
    return escrow.TransferRequested(
        escrow_id=str(held.id),
        org_id=str(held.org_id),
        event_id=held.event_id,
        amount=asked.amount,
        currency=held.currency,
        destination=escrow.get_policy(conn, held.org_id).connected_account,
        source_transaction=asked.source_transaction,
    )


def transfer_task(engine: sa.Engine, gateway: StripeGateway) -> outbox.Task:
    """The `stripe.transfer.requested` task: ask Stripe for the transfer (idempotent by the
    message id), then book it at once, naming the request it answers (the message id), so
    it settles exactly what that request pays; Stripe's `transfer.created` event finds it
    booked. What it asks is escrow's record of the request (`recorded_transfer`), read in
    a short transaction before the call; a payload that disagrees asks nothing."""

    def run(message_id: str, payload: dict[str, Any]) -> None:
        request = escrow.TransferRequested.model_validate(payload)
        with engine.begin() as conn:
            recorded = recorded_transfer(conn, message_id, request)
        if request != recorded:
            fields = _differing(request, recorded)
            if fields == ["destination"]:
                raise TransferDestinationChanged(
                    message_id, request.destination, recorded.destination
                )
            raise TransferRequestMismatch(message_id, fields)
        transfer_id, amount = gateway.create_transfer(recorded, idempotency_key=message_id)
        with engine.begin() as conn:
            escrow.transfer_created(
                conn,
                transfer_id,
                uuid.UUID(request.escrow_id),
                amount,
                cause=f"task {message_id}",
                request_id=uuid.UUID(message_id),
                source_transaction=request.source_transaction,
            )

    return run


def transfer_reversal_task(engine: sa.Engine, gateway: StripeGateway) -> outbox.Task:
    """The `stripe.transfer_reversal.requested` task: confirm what is still owed in a short
    transaction (a debt settled meanwhile, by a reversal made in Stripe's Dashboard say, is
    not asked twice), ask Stripe to reverse that part of the transfer (idempotent by the
    message id; no transaction open meanwhile), then book the reversal in a short
    transaction; Stripe's `transfer.reversed` event finds it booked."""

    def run(message_id: str, payload: dict[str, Any]) -> None:
        request = escrow.TransferReversalRequested.model_validate(payload)
        with engine.begin() as conn:
            amount = escrow.confirm_reversal(conn, request)
        if amount == 0:
            return
        request = request.model_copy(update={"amount": amount})
        reversal_id, amount = gateway.create_transfer_reversal(request, idempotency_key=message_id)
        with engine.begin() as conn:
            escrow.transfer_reversed(
                conn,
                reversal_id,
                request.transfer_id,
                amount,
                cause=f"task {message_id}",
                request_id=request.request_id,
            )

    return run


class TaskPayloadMismatch(Exception, outbox.PermanentFailure):
    """A `stripe.refund.requested` or `stripe.payment_intent.cancel.requested` task's payload
    is not what ticketing recorded (no such refund, another amount, order or PaymentIntent, a
    PaymentIntent another organization's escrow captured, or an order still awaiting its
    payment): nothing is asked of Stripe. Permanent: what ticketing recorded and the task's
    message were committed together, so no retry finds them agreeing (dead at once). Names
    the fields that disagree, where a recorded request was found."""

    def __init__(self, message_id: str, fields: Sequence[str] = ()) -> None:
        self.message_id = message_id
        self.fields = tuple(fields)
        detail = f" ({', '.join(self.fields)} differ)" if self.fields else ""
        super().__init__(f"{message_id}{detail}")


def _published_for(conn: sa.Connection, message_id: str, org_id: uuid.UUID) -> bool:
    """Whether the task's message was published for this organization (or by the platform):
    another organization copying a recorded refund or cancellation into a message of its own
    asks nothing."""
    try:
        found, publisher = outbox.message_org(conn, uuid.UUID(message_id))
    except ValueError:
        return False
    return found and publisher in (None, org_id)


def recorded_refund(
    conn: sa.Connection, message_id: str, request: ticketing_fsm.RefundRequested
) -> ticketing_fsm.RefundRequested:
    """The refund ticketing recorded under the payload's refund id, as the task's payload
    should say it: its order, amount and reason from the refund row, the PaymentIntent and
    currency from its order, which must be of the refund's organization, as must the escrow
    that captured the payment. Raises TaskPayloadMismatch when nothing agrees."""
    try:
        refund_id = uuid.UUID(request.refund_id)
    except ValueError:
        raise TaskPayloadMismatch(message_id) from None
    asked = ticketing_fsm.refund_request(conn, refund_id)
    if asked is None or not _published_for(conn, message_id, asked.org_id):
        raise TaskPayloadMismatch(message_id)
    order = ticketing_fsm.get_order(conn, asked.order_id)
    if (
        order.org_id != asked.org_id
        or order.payment_intent_id is None
        or escrow.payment_org(conn, order.payment_intent_id) != asked.org_id
    ):
        raise TaskPayloadMismatch(message_id)
    return ticketing_fsm.RefundRequested(
        refund_id=str(asked.id),
        order_id=str(order.id),
        payment_intent_id=order.payment_intent_id,
        amount=int(asked.amount),
        currency=order.currency,
        reason=asked.reason,
    )


def refund_task(engine: sa.Engine, gateway: StripeGateway) -> outbox.Task:
    """The `stripe.refund.requested` task: ask Stripe for the refund (idempotent by the
    message id); escrow books it when Stripe's refund events arrive. What it asks is
    ticketing's record of the refund (`recorded_refund`), read in a short transaction
    before the call; a payload that disagrees asks nothing."""

    def run(message_id: str, payload: dict[str, Any]) -> None:
        request = ticketing_fsm.RefundRequested.model_validate(payload)
        with engine.begin() as conn:
            recorded = recorded_refund(conn, message_id, request)
        if request != recorded:
            raise TaskPayloadMismatch(message_id, _differing(request, recorded))
        gateway.create_refund(
            recorded.payment_intent_id,
            recorded.amount,
            {"liventix_order_id": recorded.order_id, "liventix_refund_id": recorded.refund_id},
            idempotency_key=message_id,
        )

    return run


# The order states in which its payment succeeded (every state but awaiting its payment and
# cancelled unpaid): nothing of its own intent to cancel.
_PAID = frozenset(ticketing_fsm.ORDER_STATES) - {"awaiting_payment", "cancelled"}


def check_cancel(
    conn: sa.Connection, message_id: str, request: ticketing_fsm.IntentCancelRequested
) -> bool:
    """Whether to ask Stripe for the cancellation; raise TaskPayloadMismatch unless it is one
    ticketing could have asked: the order exists; the creation request is the order's own (its
    amount, currency, metadata and checkout key, so an intent found again by it is this
    order's); the PaymentIntent named, if any, was captured by no other organization's escrow
    and is recorded on no other order; and the order's own PaymentIntent is cancelled only
    once the order was released or the sweeper asked for it (its hold expired: the order
    still awaits its payment, keeping its seats until Stripe answers); a stray second intent
    may be cancelled meanwhile. False (nothing to ask, no error): the order's own intent, the
    order paid since it was asked (a payment made within its hold, handled after the sweep:
    Stripe would refuse, the intent succeeded)."""
    try:
        order_id = uuid.UUID(request.order_id)
    except ValueError:
        raise TaskPayloadMismatch(message_id) from None
    try:
        order = ticketing_fsm.get_order(conn, order_id)
    except ticketing_fsm.OrderNotFound:
        raise TaskPayloadMismatch(message_id) from None
    if not _published_for(conn, message_id, order.org_id):
        raise TaskPayloadMismatch(message_id)
    meta = request.intent_metadata
    prefix = f"checkout:{order.org_id}:"
    if (
        request.intent_amount != order.amount
        or request.intent_currency != order.currency
        or meta.get(ticketing_fsm.META_ORG) != str(order.org_id)
        or meta.get(ticketing_fsm.META_ORDER) != str(order.id)
        or meta.get(ticketing_fsm.META_EVENT) != str(order.event_id)
        or not request.intent_idempotency_key.startswith(prefix)
    ):
        raise TaskPayloadMismatch(message_id)
    intent_id = request.payment_intent_id
    if intent_id is None or intent_id == order.payment_intent_id:
        if order.status in _PAID:
            return False
        if (
            order.status == "awaiting_payment"
            and ticketing_fsm.cancel_requested_at(conn, order.id) is None
        ):
            raise TaskPayloadMismatch(message_id)
        return True
    owner = escrow.payment_org(conn, intent_id)
    if (owner is not None and owner != order.org_id) or ticketing_fsm.order_for_intent(
        conn, intent_id
    ) not in (None, order.id):
        raise TaskPayloadMismatch(message_id)
    return True


def _found_again(
    gateway: StripeGateway, request: ticketing_fsm.IntentCancelRequested
) -> str | None:
    """The PaymentIntent of the order's creation request (Stripe answers the same key and
    parameters with the same intent, making it if the checkout never reached Stripe); None
    when Stripe made the key's intent for other parameters (a hold lost, then held again with
    another body or price: the checkout answered 409): no intent of these parameters exists,
    and that one was never recorded nor given out, so nothing can pay for the order."""
    try:
        return gateway.create_payment_intent(
            request.intent_amount,
            request.intent_currency,
            request.intent_metadata,
            idempotency_key=request.intent_idempotency_key,
        ).payment_intent_id
    except stripe.IdempotencyError:
        return None


def cancel_intent_task(engine: sa.Engine, gateway: StripeGateway) -> outbox.Task:
    """The `stripe.payment_intent.cancel.requested` task: cancel the PaymentIntent of an
    order released unpaid, or of one whose hold expired (the sweeper asks first and releases
    on the fact). An intent the checkout never recorded is found again by its creation
    request (Stripe answers the same key and parameters with the same intent). The payload
    is checked against ticketing's order (`check_cancel`) in a short transaction before any
    call; one that disagrees asks nothing. Then, with no transaction open, Stripe is asked
    (idempotent by the message id):

    - canceled (now, or before: Stripe answers `payment_intent_unexpected_state` with the
      intent): in a short transaction the order's seats are released if it still awaits its
      payment (`ticketing_fsm.intent_canceled`, "hold expired"); `payment_intent.canceled`,
      handled before or after, finds them released;
    - succeeded or processing (the buyer paid first): the refusal is noted on the order in a
      short transaction (`ticketing_fsm.intent_refused`), its seats held; the payment's own
      event decides (paid within the hold: the tickets are issued; after it: refunded in
      full), and the sweeper's grace never releases such an order (processing: asked again);
    - Stripe unreachable or failing: the task fails and the outbox retries it on
      `STRIPE_CANCEL_RETRY` (2 s, 5 s, 10 s, 20 s, 30 s, then every minute for a quarter
      hour): the seats stay held, and are released on the retry that hears `canceled`, about
      when Stripe is back; unanswered, until the sweeper's grace (counted from the ask),
      which releases them and asks Stripe again (a new task)."""

    def run(message_id: str, payload: dict[str, Any]) -> None:
        request = ticketing_fsm.IntentCancelRequested.model_validate(payload)
        with engine.begin() as conn:
            if not check_cancel(conn, message_id, request):
                return
        intent_id = request.payment_intent_id
        if intent_id is None:
            intent_id = _found_again(gateway, request)
        if intent_id is not None:
            status = gateway.cancel_payment_intent(intent_id, idempotency_key=message_id)
            if status != "canceled":
                # Paid (or being paid) first: the payment's own event decides; noted on the
                # order so that the sweeper's grace does not release it meanwhile.
                _log.info("PaymentIntent %s not cancelled: %s", intent_id, status)
                with engine.begin() as conn:
                    ticketing_fsm.intent_refused(
                        conn, uuid.UUID(request.order_id), intent_id, status
                    )
                return
        with engine.begin() as conn:
            ticketing_fsm.intent_canceled(
                conn, uuid.UUID(request.order_id), intent_id, cause=f"task {message_id}"
            )

    return run


def wire(
    engine: sa.Engine, gateway: StripeGateway, handlers: outbox.InboxHandlers | None = None
) -> None:
    """Register the Stripe handlers (escrow's and ticketing's) and the Stripe tasks, each with
    its retry policy (`STRIPE_CALL_RETRY`, the cancel task's `STRIPE_CANCEL_RETRY`)."""
    ticketing_fsm.register_stripe_handlers(gateway, handlers)
    outbox.register_task(
        "stripe.transfer.requested",
        transfer_task(engine, gateway),
        replace=True,
        retry=STRIPE_CALL_RETRY,
    )
    outbox.register_task(
        "stripe.transfer_reversal.requested",
        transfer_reversal_task(engine, gateway),
        replace=True,
        retry=STRIPE_CALL_RETRY,
    )
    outbox.register_task(
        "stripe.refund.requested",
        refund_task(engine, gateway),
        replace=True,
        retry=STRIPE_CALL_RETRY,
    )
    outbox.register_task(
        "stripe.payment_intent.cancel.requested",
        cancel_intent_task(engine, gateway),
        replace=True,
        retry=STRIPE_CANCEL_RETRY,
    )


def periodic_step(
    engine: sa.Engine, *, cancel_grace: timedelta = ticketing_fsm.CANCEL_GRACE
) -> Callable[[], object]:
    """The worker's periodic step, each part its own transaction: sweep the ticket holds
    that expired (Stripe asked to cancel their PaymentIntents; those Stripe never answered
    `cancel_grace` after the ask released and asked again; those it said `processing` asked
    again), release the ledger holds that expired, roll
    up high-volume accounts, release due escrows, seal the ledger's new entries into
    checkpoints."""

    def step() -> object:
        with engine.begin() as conn:
            orders = ticketing_fsm.expire_holds(conn, grace=cancel_grace)
        with engine.begin() as conn:
            holds = ledger.expire_holds(conn)
        with engine.begin() as conn:
            ledger.roll_up(conn)
        with engine.begin() as conn:
            released = escrow.release_due(conn)
        try:
            with engine.begin() as conn:
                # Seal what was posted since the last checkpoint, a minute after it at the
                # earliest (issue 16 item 1): bounded, so one step never holds a long
                # transaction; busy when another worker seals.
                ledger.seal(conn, limit=50_000, min_interval=SEAL_EVERY)
        except ledger.PermissionDenied as error:
            # A deployment whose owner may not see every session (pg_read_all_stats): the
            # rest of the step still runs; `liventix ledger seal` says the same.
            _log.warning("the ledger's sealer cannot run: %s", error)
        return orders, holds, released

    return step

"""Escrow's decisions (pure: no I/O): which transition an event makes, where a refund or a
lost dispute is charged, what a capture books, what a release transfers, which step a due
escrow takes, what a payout's event posts. The use cases read the facts, ask these, and
write what they answer; `recipes` says what each booking posts."""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from statemachine.exceptions import TransitionNotAllowed

from escrow import recipes
from escrow.errors import InvalidTransition, RefundExceedsPayment
from escrow.machine import HOLDING_STATES, EscrowMachine
from escrow.models import CapturedPayment, Escrow, Policy

# -- the machine ---------------------------------------------------------------------------


class _Model:
    """The machine's view of an escrow: its state field and the guards' facts."""

    def __init__(self, state: str, open_disputes: int, nothing_held: bool, ended: bool) -> None:
        self.state = state
        self.open_disputes = open_disputes
        self.nothing_held = nothing_held
        self.ended = ended

    @property
    def no_open_dispute(self) -> bool:
        return self.open_disputes == 0

    @property
    def other_disputes_open(self) -> bool:
        return self.open_disputes > 0

    @property
    def event_not_ended(self) -> bool:
        return self.open_disputes == 0 and not self.ended

    @property
    def event_has_ended(self) -> bool:
        return self.open_disputes == 0 and self.ended


@functools.lru_cache(maxsize=256)
def decide(
    state: str, event: str, open_disputes: bool, nothing_held: bool, ended: bool
) -> str | None:
    """Where `event` takes an escrow in `state` with these facts, by the machine (None: not
    allowed). The machine is pure and its guards read only these facts, so each answer is
    asked once and remembered: building a machine costs more than the rest of a capture."""
    model = _Model(state, 1 if open_disputes else 0, nothing_held, ended)
    try:
        EscrowMachine(model=model, state_field="state").send(event)
    except TransitionNotAllowed:
        return None
    return str(model.state)


def target(escrow: Escrow, event: str, changes: Mapping[str, Any]) -> str:
    """The state `event` takes the escrow to, with `changes` applied, or InvalidTransition."""
    open_disputes = int(changes.get("open_disputes", escrow.open_disputes))
    held = int(changes.get("held", escrow.held))
    ended = (changes.get("ended_at") or escrow.ended_at) is not None
    found = decide(escrow.state, event, open_disputes > 0, held <= 0, ended)
    if found is None:
        raise InvalidTransition(escrow_id=str(escrow.id), state=escrow.state, event=event)
    return found


def capture_target(escrow: Escrow) -> str | None:
    """Where the machine's capture takes the escrow (None: it does not allow one)."""
    return decide(
        escrow.state,
        "capture",
        escrow.open_disputes > 0,
        escrow.held <= 0,
        escrow.ended_at is not None,
    )


# -- payments ------------------------------------------------------------------------------


def policy_of(
    platform_fee_bps: int | None,
    platform_fee_fixed: int | None,
    bears_stripe_fees: bool | None,
    refund_platform_fee: bool | None,
) -> Policy:
    """The terms a capture reads (the defaults when the organizer set none)."""
    if platform_fee_bps is None:
        return Policy()
    return Policy(
        platform_fee_bps=platform_fee_bps,
        platform_fee_fixed=int(platform_fee_fixed or 0),
        bears_stripe_fees=bool(bears_stripe_fees),
        refund_platform_fee=bool(refund_platform_fee),
    )


@dataclass(frozen=True)
class CaptureBooking:
    """What a capture books: the platform's fee, the organizer's share, the entry's legs."""

    fee: int
    share: int
    legs: tuple[recipes.Leg, ...]


def capture_booking(
    payment: CapturedPayment, policy: Policy, to: recipes.Credited = "escrow"
) -> CaptureBooking:
    """The fee, the share and the legs of a payment's capture under the organizer's terms,
    credited to the event's escrow (or, past release, to the organizer's payable)."""
    return capture_booking_for(
        payment.event_id,
        payment.currency,
        gross=payment.gross,
        stripe_fee=payment.stripe_fee,
        policy=policy,
        to=to,
    )


@functools.lru_cache(maxsize=1024, typed=True)
def capture_booking_for(
    event_id: str,
    currency: str,
    *,
    gross: int,
    stripe_fee: int,
    policy: Policy,
    to: recipes.Credited = "escrow",
) -> CaptureBooking:
    """`capture_booking` from the payment's event, currency and amounts: pure, so each
    distinct booking is made once and remembered (frozen values; an on-sale's payments share
    a few prices). Typed: 5000 and 5000.0 are not one key (the float is refused, every
    time)."""
    fee = recipes.platform_fee(gross, policy.platform_fee_bps, policy.platform_fee_fixed)
    legs = recipes.capture(
        event_id,
        currency,
        gross=gross,
        platform=fee,
        stripe=stripe_fee,
        bears_stripe_fees=policy.bears_stripe_fees,
        to=to,
    )
    share = recipes.organizer_share(gross, fee, stripe_fee, policy.bears_stripe_fees)
    return CaptureBooking(fee=fee, share=share, legs=legs)


CaptureKind = Literal["after_release", "after_cancel", "machine"]


def capture_kind(state: str) -> CaptureKind:
    """How a capture is booked into an escrow in `state`: past release (to the payable, with
    a transfer of its own), after cancellation (counted, no machine event), or the machine's
    capture."""
    if state in ("release_requested", "released"):
        return "after_release"
    if state == "cancelled":
        return "after_cancel"
    return "machine"


# -- refunds and lost disputes ------------------------------------------------------------


def charged_to(state: str) -> recipes.Target:
    """Where a refund or a lost dispute is charged: the escrow while it holds the event's
    money (or was cancelled), otherwise the organizer's receivable."""
    return "escrow" if state in HOLDING_STATES | {"cancelled"} else "receivable"


def check_refund(payment_id: str, gross: int, refunded: int, amount: int, *, failed: bool) -> None:
    """RefundExceedsPayment if a new refund would take more than is left of the payment. A
    refund first seen as failed moves nothing net (its refund and its return are both
    booked), so it is not held against what is left."""
    if not failed and refunded + amount > gross:
        raise RefundExceedsPayment(
            payment_id=payment_id, paid=gross, refunded=refunded, requested=amount
        )


RefundMove = Literal["none", "after_cancel", "machine"]


def new_refund_move(state: str, target: recipes.Target, *, failed: bool) -> RefundMove:
    """What a new refund does to the escrow's counters: nothing (failed already: booked with
    its return; or charged to the receivable), counted on a cancelled escrow, or the
    machine's refund."""
    if failed or target != "escrow":
        return "none"
    return "after_cancel" if state == "cancelled" else "machine"


def failed_refund_returns_to_payable(charged_to_: str, state: str) -> bool:
    """A refund charged to the escrow that failed after the escrow was released: the money
    is the organizer's again, on its payable (else it returns where it was taken from)."""
    return charged_to_ == "escrow" and state not in HOLDING_STATES | {"cancelled"}


def dispute_outcome(statuses: Iterable[str]) -> str | None:
    """What a payment's disputes come to: 'lost' if one was lost, else 'open' if one is
    open, else 'won', None if it has none."""
    found = set(statuses)
    for outcome in ("lost", "open", "won"):
        if outcome in found:
            return outcome
    return None


# -- release -------------------------------------------------------------------------------


def released_amount(held: int) -> int:
    """What a release moves to the organizer's payable (a shortfall releases nothing)."""
    return max(held, 0)


def netted(owed: int, amount: int) -> int:
    """What the organizer owes (and no reversal was asked for) netted against a release of
    `amount`: the transfer is that much smaller."""
    return min(owed, amount) if owed > 0 else 0


ReleaseStep = Literal["event_ended", "hold_elapsed", "request_release"]


def release_step(escrow: Escrow, now: datetime) -> ReleaseStep | None:
    """The next step of a due escrow at `now` (the database's): its event ends, its hold
    ends, it is released; None when it has gone as far as it can."""
    if escrow.state == "collecting" and now >= escrow.event_ends_at:
        return "event_ended"
    if (
        escrow.state == "holding"
        and escrow.hold_until is not None
        and now >= escrow.hold_until
        and escrow.open_disputes == 0
    ):
        return "hold_elapsed"
    if escrow.state == "releasable":
        return "request_release"
    return None


def reversal_take(room: int, owed: int, asked: int) -> int:
    """What to ask back of a transfer with `room` left when `owed` is owed and `asked` was
    asked of the transfers before it (nothing if not positive)."""
    return min(room, owed - asked)


def reversal_to_send(amount: int, owed: int, others_pending: int) -> int:
    """What a reversal asked for `amount` asks of Stripe when its task sends it: no more
    than the organizer still owes less what its other requests not yet booked ask
    (nothing if not positive: the debt was settled meanwhile, the request is dropped)."""
    return max(0, min(amount, owed - others_pending))


# -- payouts -------------------------------------------------------------------------------


@dataclass(frozen=True)
class PayoutMoves:
    """What a payout's event books: the payout paid, its failure's return, and its flags."""

    post_paid: bool
    post_failed: bool
    paid: bool
    failed: bool


def payout_moves(was_paid: bool, was_failed: bool, *, paid: bool) -> PayoutMoves | None:
    """In any order, a paid payout moves the money to the bank and a failed one that was
    paid brings it back; None when the event is nothing new."""
    if (paid and was_paid) or (not paid and was_failed):
        return None
    now_paid = was_paid or paid
    now_failed = was_failed or not paid
    return PayoutMoves(
        post_paid=paid, post_failed=now_paid and now_failed, paid=now_paid, failed=now_failed
    )

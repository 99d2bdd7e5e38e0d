"""Escrow's decisions without a database (`escrow.decisions`): which transition an event
makes and with which facts, what a capture books, where a refund or a lost dispute is
charged, what a release nets, which step a due escrow takes, what a payout's event posts.
Each expectation is written out, not computed by the function under test."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

import escrow
from escrow import decisions
from escrow.recipes import Leg

T0 = datetime(2026, 6, 1, 20, 0, tzinfo=UTC)


def _escrow(state: str = "collecting", **changes: object) -> escrow.Escrow:
    base = escrow.Escrow(
        id=uuid.UUID(int=1),
        org_id=uuid.UUID(int=2),
        event_id="ev1",
        currency="USD",
        state=state,
        event_ends_at=T0,
        ended_at=None,
        hold_until=None,
        open_disputes=0,
        captured=10_000,
        refunded=0,
        charged_back=0,
        held=9_500,
        released=0,
        version=1,
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def _payment(gross: int = 10_000, stripe_fee: int = 320) -> escrow.CapturedPayment:
    return escrow.CapturedPayment(
        payment_id="pi_1",
        org_id=uuid.UUID(int=2),
        event_id="ev1",
        currency="USD",
        gross=gross,
        stripe_fee=stripe_fee,
        event_ends_at=T0,
    )


def _legs(legs: tuple[Leg, ...]) -> list[tuple[str, str, str, int]]:
    return [(leg.owner, leg.code, leg.side, leg.amount) for leg in legs]


# -- the machine ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("state", "event", "facts", "expected"),  # facts: (open disputes, nothing held, ended)
    [
        ("collecting", "capture", (False, False, False), "collecting"),
        ("frozen", "capture", (True, False, False), "frozen"),
        ("released", "capture", (False, False, True), None),
        ("cancelled", "capture", (False, True, True), None),
        ("collecting", "event_ended", (False, False, False), "holding"),
        ("holding", "hold_elapsed", (False, False, True), "releasable"),
        ("holding", "hold_elapsed", (True, False, True), None),
        ("frozen", "dispute_closed", (True, False, False), "frozen"),
        ("frozen", "dispute_closed", (False, False, False), "collecting"),
        ("frozen", "dispute_closed", (False, False, True), "holding"),
        ("releasable", "request_release", (False, False, True), "release_requested"),
        ("release_requested", "transfer_paid", (False, True, True), "released"),
        ("holding", "cancel", (False, True, True), "cancelled"),
        ("holding", "cancel", (False, False, True), None),
        ("released", "refund", (False, True, True), None),
    ],
)
def test_the_machine_decides_each_event_from_the_facts(
    state: str, event: str, facts: tuple[bool, bool, bool], expected: str | None
) -> None:
    assert decisions.decide(state, event, *facts) == expected


def test_a_transition_is_judged_with_the_changes_it_makes() -> None:
    frozen = _escrow("frozen", open_disputes=1, ended_at=T0)
    # The last dispute closes: with the change, none is open and the event has ended.
    assert decisions.target(frozen, "dispute_closed", {"open_disputes": 0}) == "holding"
    assert decisions.target(frozen, "dispute_closed", {}) == "frozen"
    # Cancellation needs nothing held once the shortfall moved out.
    assert decisions.target(_escrow(held=-200), "cancel", {"held": 0}) == "cancelled"
    with pytest.raises(escrow.InvalidTransition) as refused:
        decisions.target(_escrow(held=1), "cancel", {})
    assert (refused.value.escrow_id, refused.value.state, refused.value.event) == (
        str(uuid.UUID(int=1)),
        "collecting",
        "cancel",
    )
    assert decisions.capture_target(_escrow("releasable", ended_at=T0)) == "releasable"
    assert decisions.capture_target(_escrow("release_requested")) is None


# -- payments ------------------------------------------------------------------------------


def test_a_capture_books_the_fee_and_the_share_the_terms_give() -> None:
    platform_bears = decisions.capture_booking(_payment(), escrow.Policy())
    assert (platform_bears.fee, platform_bears.share) == (500, 9_500)
    assert _legs(platform_bears.legs) == [
        ("platform", "stripe_balance:usd", "debit", 9_680),
        ("platform", "stripe_fees:usd", "debit", 320),
        ("organizer", "escrow:ev1:usd", "credit", 9_500),
        ("platform", "platform_fees:usd", "credit", 500),
    ]
    terms = escrow.Policy(platform_fee_bps=250, platform_fee_fixed=30, bears_stripe_fees=True)
    organizer_bears = decisions.capture_booking(_payment(), terms, to="payable")
    assert (organizer_bears.fee, organizer_bears.share) == (280, 9_400)
    assert _legs(organizer_bears.legs) == [
        ("platform", "stripe_balance:usd", "debit", 9_680),
        ("organizer", "payable:usd", "credit", 9_400),
        ("platform", "platform_fees:usd", "credit", 280),
    ]


def test_terms_never_set_are_the_defaults() -> None:
    assert decisions.policy_of(None, None, None, None) == escrow.Policy()
    assert decisions.policy_of(100, 5, True, False) == escrow.Policy(
        platform_fee_bps=100,
        platform_fee_fixed=5,
        bears_stripe_fees=True,
        refund_platform_fee=False,
    )


@pytest.mark.parametrize(
    ("state", "kind", "charged"),
    [
        ("collecting", "machine", "escrow"),
        ("holding", "machine", "escrow"),
        ("releasable", "machine", "escrow"),
        ("frozen", "machine", "escrow"),
        ("release_requested", "after_release", "receivable"),
        ("released", "after_release", "receivable"),
        ("cancelled", "after_cancel", "escrow"),
    ],
)
def test_each_state_says_how_a_capture_is_booked_and_where_a_refund_is_charged(
    state: str, kind: str, charged: str
) -> None:
    assert decisions.capture_kind(state) == kind
    assert decisions.charged_to(state) == charged


def test_every_state_of_the_machine_is_covered_above() -> None:
    assert set(escrow.STATES) == {
        "collecting",
        "holding",
        "releasable",
        "frozen",
        "release_requested",
        "released",
        "cancelled",
    }


# -- refunds and disputes ------------------------------------------------------------------


def test_a_refund_beyond_the_payment_is_refused_unless_it_arrives_failed() -> None:
    decisions.check_refund("pi_1", 10_000, 6_000, 4_000, failed=False)  # exactly what is left
    decisions.check_refund("pi_1", 10_000, 6_000, 9_000, failed=True)  # moves nothing net
    with pytest.raises(escrow.RefundExceedsPayment) as refused:
        decisions.check_refund("pi_1", 10_000, 6_000, 4_001, failed=False)
    assert (
        refused.value.payment_id,
        refused.value.paid,
        refused.value.refunded,
        refused.value.requested,
    ) == ("pi_1", 10_000, 6_000, 4_001)


@pytest.mark.parametrize(
    ("state", "target", "failed", "move"),
    [
        ("collecting", "escrow", False, "machine"),
        ("frozen", "escrow", False, "machine"),
        ("cancelled", "escrow", False, "after_cancel"),
        ("collecting", "escrow", True, "none"),
        ("cancelled", "escrow", True, "none"),
        ("released", "receivable", False, "none"),
    ],
)
def test_what_a_new_refund_does_to_the_escrow(
    state: str, target: escrow.recipes.Target, failed: bool, move: str
) -> None:
    assert decisions.new_refund_move(state, target, failed=failed) == move


@pytest.mark.parametrize(
    ("charged", "state", "to_payable"),
    [
        ("escrow", "collecting", False),
        ("escrow", "cancelled", False),
        ("escrow", "release_requested", True),
        ("escrow", "released", True),
        ("receivable", "released", False),
    ],
)
def test_a_failed_refund_returns_to_the_payable_only_if_the_escrow_was_released_since(
    charged: str, state: str, to_payable: bool
) -> None:
    assert decisions.failed_refund_returns_to_payable(charged, state) is to_payable


@pytest.mark.parametrize(
    ("statuses", "outcome"),
    [
        ([], None),
        (["won"], "won"),
        (["won", "open"], "open"),
        (["open", "lost", "won"], "lost"),
    ],
)
def test_a_payments_disputes_come_to_the_worst_of_them(
    statuses: list[str], outcome: str | None
) -> None:
    assert decisions.dispute_outcome(statuses) == outcome


# -- release -------------------------------------------------------------------------------


def test_a_release_nets_what_is_owed_up_to_what_it_releases() -> None:
    assert [decisions.released_amount(h) for h in (9_500, 0, -300)] == [9_500, 0, 0]
    assert decisions.netted(owed=0, amount=9_500) == 0
    assert decisions.netted(owed=-50, amount=9_500) == 0
    assert decisions.netted(owed=700, amount=9_500) == 700
    assert decisions.netted(owed=12_000, amount=9_500) == 9_500
    assert decisions.reversal_take(room=300, owed=1_000, asked=0) == 300
    assert decisions.reversal_take(room=5_000, owed=1_000, asked=300) == 700
    assert decisions.reversal_take(room=0, owed=1_000, asked=300) == 0


def test_a_due_escrow_steps_through_end_hold_and_release() -> None:
    before, after = T0 - timedelta(seconds=1), T0 + timedelta(seconds=1)
    assert decisions.release_step(_escrow("collecting"), before) is None
    assert decisions.release_step(_escrow("collecting"), T0) == "event_ended"
    holding = _escrow("holding", ended_at=T0, hold_until=T0)
    assert decisions.release_step(holding, before) is None
    assert decisions.release_step(holding, after) == "hold_elapsed"
    assert decisions.release_step(replace(holding, open_disputes=1), after) is None
    assert decisions.release_step(replace(holding, hold_until=None), after) is None
    assert decisions.release_step(_escrow("releasable"), before) == "request_release"
    for state in ("frozen", "release_requested", "released", "cancelled"):
        assert decisions.release_step(_escrow(state, hold_until=T0), after) is None


# -- payouts -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("was_paid", "was_failed", "paid", "expected"),
    [
        (False, False, True, (True, False, True, False)),
        (False, False, False, (False, False, False, True)),
        (True, False, True, None),
        (True, False, False, (False, True, True, True)),
        (False, True, True, (True, True, True, True)),
        (False, True, False, None),
        (True, True, True, None),
        (True, True, False, None),
    ],
)
def test_a_payouts_events_in_any_order_post_it_paid_and_returned_once(
    was_paid: bool,
    was_failed: bool,
    paid: bool,
    expected: tuple[bool, bool, bool, bool] | None,
) -> None:
    moves = decisions.payout_moves(was_paid, was_failed, paid=paid)
    if expected is None:
        assert moves is None
    else:
        assert moves == decisions.PayoutMoves(*expected)

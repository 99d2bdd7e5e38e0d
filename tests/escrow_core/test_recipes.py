"""A worked example per posting recipe, with exact amounts, checked line by line in the ledger
(account code, side, amount); and the escrow machine: invalid transitions are typed errors
naming the state and the event, every transition leaves an audit row, and no transition
leaves a final state.

The organizer's default terms: the platform takes 5 % (500 bps), the platform bears Stripe's
fee, the platform fee is returned on refunds. A 100.00 USD sale with a 3.20 Stripe fee is the
running example: 9,680 reach the Stripe balance, 500 are the platform's fee, 9,500 are held.
"""

from __future__ import annotations

import dataclasses
import itertools
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from statemachine.exceptions import TransitionNotAllowed

import escrow
import ledger
from liventix.testing.rollback import RolledBack, Transactions
from tests.escrow_core.support import (
    PLATFORM,
    Line,
    audit,
    captured,
    entries_count,
    entry_lines,
    escrow_of,
    liability,
    lines_by_ref,
    net_by_code,
    new_organizer,
    past,
    release,
    release_entry,
    row,
)

ESCROW = "escrow:ev1:usd"
STRIPE_BALANCE = "stripe_balance:usd"
PLATFORM_FEES = "platform_fees:usd"
STRIPE_FEES = "stripe_fees:usd"
DISPUTE_FEES = "dispute_fees:usd"
DISPUTED = "disputed_funds:usd"
PAYABLE = "payable:usd"
RECEIVABLE = "receivable:usd"
BANK = "bank:usd"

NOW_RELEASABLE = escrow.Policy(
    hold_period=timedelta(0), connected_account="acct_organizer", payout_email="pay@jazz.example"
)


def lines(*items: Line) -> list[Line]:
    """Expected lines, in the order `entry_lines` gives them."""
    return sorted(items)


@dataclass(frozen=True)
class Sale:
    """An organizer with one captured payment in its event's escrow."""

    org: uuid.UUID
    payment: escrow.CapturedPayment
    escrow_id: uuid.UUID


def sell(
    db: Transactions,
    policy: escrow.Policy | None = None,
    *,
    gross: int = 10_000,
    stripe_fee: int = 320,
    ended: bool = False,
) -> Sale:
    """Register an organizer with `policy` and capture one payment (committed)."""
    with db.begin() as conn:
        org = new_organizer(conn, policy)
        payment = captured(org, gross=gross, stripe_fee=stripe_fee, ends=past() if ended else None)
        assert escrow.capture_payment(conn, payment, cause="evt_capture")
        return Sale(org, payment, escrow_of(conn, payment).id)


def state(db: Transactions, escrow_id: uuid.UUID) -> escrow.Escrow:
    """The escrow as committed."""
    with db.connect() as conn:
        return escrow.get_escrow(conn, escrow_id)


def assert_escrow_matches_ledger(conn: sa.Connection, escrow_id: uuid.UUID) -> None:
    """The escrow's `held` is its account's balance; the books balance."""
    e = escrow.get_escrow(conn, escrow_id)
    assert escrow.ledger_escrow_balance(conn, e) == e.held
    assert ledger.trial_balance(conn, e.org_id).balanced
    assert ledger.trial_balance(conn).balanced


def released_sale(db: Transactions, policy: escrow.Policy = NOW_RELEASABLE) -> Sale:
    """A sale whose event is over and whose escrow has been released (transfer pending)."""
    sale = sell(db, policy, ended=True)
    with db.begin() as conn:
        assert release(conn, sale.escrow_id).state == "release_requested"
    return sale


# -- capture -------------------------------------------------------------------------------


def test_capture_platform_bears_stripe_fee(db: RolledBack) -> None:
    sale = sell(db)
    with db.connect() as conn:
        assert lines_by_ref(conn, sale.org, sale.payment.balance_transaction_id or "") == lines(
            (STRIPE_BALANCE, "debit", 9_680),
            (STRIPE_FEES, "debit", 320),
            (ESCROW, "credit", 9_500),
            (PLATFORM_FEES, "credit", 500),
        )
        e = escrow.get_escrow(conn, sale.escrow_id)
        assert (e.state, e.captured, e.held, e.refunded, e.released) == (
            "collecting",
            10_000,
            9_500,
            0,
            0,
        )
        paid = row(
            conn,
            "SELECT gross, platform_fee, stripe_fee, bears_stripe_fees FROM payments.card_payments"
            " WHERE id = :id",
            id=sale.payment.payment_id,
        )
        assert tuple(paid) == (10_000, 500, 320, False)
        assert_escrow_matches_ledger(conn, sale.escrow_id)


def test_capture_organizer_bears_fees_with_a_fixed_platform_fee(db: RolledBack) -> None:
    # 2.5 % of 43.21 is 1.08025, rounded down to 1.08, plus 0.99 fixed: 2.07.
    policy = escrow.Policy(platform_fee_bps=250, platform_fee_fixed=99, bears_stripe_fees=True)
    sale = sell(db, policy, gross=4_321, stripe_fee=155)
    with db.connect() as conn:
        assert lines_by_ref(conn, sale.org, sale.payment.balance_transaction_id or "") == lines(
            (STRIPE_BALANCE, "debit", 4_166),
            (ESCROW, "credit", 3_959),
            (PLATFORM_FEES, "credit", 207),
        )
        e = escrow.get_escrow(conn, sale.escrow_id)
        assert (e.captured, e.held) == (4_321, 3_959)
        assert STRIPE_FEES not in net_by_code(conn, sale.org)
        assert_escrow_matches_ledger(conn, sale.escrow_id)


def test_capture_twice_books_once(db: RolledBack) -> None:
    sale = sell(db)
    with db.begin() as conn:
        before = entries_count(conn, sale.org)
        assert not escrow.capture_payment(conn, sale.payment, cause="evt_again")
        assert entries_count(conn, sale.org) == before
        assert escrow.get_escrow(conn, sale.escrow_id).captured == 10_000


# -- refunds -------------------------------------------------------------------------------


def test_partial_refund_returns_the_platform_fee_proportionally_rounded_down(
    db: RolledBack,
) -> None:
    sale = sell(db)
    with db.begin() as conn:
        # 500 * 3,333 / 10,000 = 166.65: 166 of the platform's fee comes back.
        assert escrow.refund_payment(
            conn, "re_a", sale.payment.payment_id, 3_333, failed=False, cause="evt_r"
        )
    with db.connect() as conn:
        assert lines_by_ref(conn, sale.org, "re_a") == lines(
            (ESCROW, "debit", 3_167),
            (PLATFORM_FEES, "debit", 166),
            (STRIPE_BALANCE, "credit", 3_333),
        )
        e = escrow.get_escrow(conn, sale.escrow_id)
        assert (e.state, e.refunded, e.held) == ("collecting", 3_333, 6_333)
        refund = row(
            conn,
            "SELECT amount, fee_back, charged_to FROM payments.card_refunds WHERE id = 're_a'",
        )
        assert tuple(refund) == (3_333, 166, "escrow")
        assert audit(conn, sale.escrow_id)[-1] == ("collecting", "collecting", "refund")
        assert_escrow_matches_ledger(conn, sale.escrow_id)


def test_partial_refund_keeping_the_platform_fee(db: RolledBack) -> None:
    sale = sell(db, escrow.Policy(refund_platform_fee=False))
    with db.begin() as conn:
        escrow.refund_payment(conn, "re_k", sale.payment.payment_id, 3_333, failed=False, cause="e")
    with db.connect() as conn:
        assert lines_by_ref(conn, sale.org, "re_k") == lines(
            (ESCROW, "debit", 3_333), (STRIPE_BALANCE, "credit", 3_333)
        )
        e = escrow.get_escrow(conn, sale.escrow_id)
        assert (e.refunded, e.held) == (3_333, 6_167)
        assert net_by_code(conn, sale.org)[PLATFORM_FEES] == -500
        assert_escrow_matches_ledger(conn, sale.escrow_id)


@pytest.mark.parametrize(
    "parts",
    [(10_000,), (2_500, 2_500, 5_000), (3_333, 6_667), (6_667, 3_333)],
    ids=["one-full", "quarters", "thirds", "thirds-reversed"],
)
def test_partial_refunds_summing_to_a_full_refund(db: RolledBack, parts: tuple[int, ...]) -> None:
    """However a payment is refunded in full, the buyer gets everything back and Stripe keeps
    its fee. Each refund returns its own share of the platform's fee, rounded down, so any
    order of refunds gives the same entries; what the rounding kept (under a cent per refund)
    is the organizer's to bear: the escrow owes it, and closing the cancelled event's escrow
    moves it to the organizer's receivable."""
    sale = sell(db)
    with db.begin() as conn:
        for i, amount in enumerate(parts):
            escrow.refund_payment(
                conn, f"re_{i}", sale.payment.payment_id, amount, failed=False, cause=f"e{i}"
            )
    with db.connect() as conn:
        # Each refund's own share of the fee is proportional, rounded down.
        for i, amount in enumerate(parts):
            fee_back = 500 * amount // 10_000
            assert (PLATFORM_FEES, "debit", fee_back) in lines_by_ref(conn, sale.org, f"re_{i}")
            assert (STRIPE_BALANCE, "credit", amount) in lines_by_ref(conn, sale.org, f"re_{i}")
        e = escrow.get_escrow(conn, sale.escrow_id)
        assert e.refunded == 10_000
        residue = 500 - sum(500 * amount // 10_000 for amount in parts)
        assert residue == (1 if len(parts) == 2 else 0)
        expected = {STRIPE_BALANCE: -320, STRIPE_FEES: 320}
        if residue:
            expected |= {PLATFORM_FEES: -residue, ESCROW: residue}
        assert net_by_code(conn, sale.org) == expected
        assert e.held == -residue
        assert escrow.ledger_escrow_balance(conn, e) == -residue
        assert_escrow_matches_ledger(conn, sale.escrow_id)
    with db.begin() as conn:
        with pytest.raises(escrow.RefundExceedsPayment) as exc:
            escrow.refund_payment(
                conn, "re_more", sale.payment.payment_id, 1, failed=False, cause="x"
            )
        assert (exc.value.paid, exc.value.refunded, exc.value.requested) == (10_000, 10_000, 1)
    with db.begin() as conn:
        # Everything was refunded: the cancelled event's escrow can close.
        closed = escrow.cancel_event(conn, sale.escrow_id)
        assert (closed.state, closed.held) == ("cancelled", 0)
        net = net_by_code(conn, sale.org)
        assert net.get(ESCROW, 0) == 0
        assert net.get(RECEIVABLE, 0) == residue


def test_refund_after_release_is_charged_to_the_receivable(db: RolledBack) -> None:
    sale = released_sale(db)
    with db.begin() as conn:
        escrow.refund_payment(
            conn, "re_late", sale.payment.payment_id, 2_000, failed=False, cause="e"
        )
    with db.connect() as conn:
        assert lines_by_ref(conn, sale.org, "re_late") == lines(
            (RECEIVABLE, "debit", 1_900),
            (PLATFORM_FEES, "debit", 100),
            (STRIPE_BALANCE, "credit", 2_000),
        )
        e = escrow.get_escrow(conn, sale.escrow_id)
        assert (e.state, e.held, e.released, e.refunded) == ("release_requested", 0, 9_500, 0)
        assert (
            row(
                conn, "SELECT charged_to FROM payments.card_refunds WHERE id = 're_late'"
            ).charged_to
            == "receivable"
        )
        assert "refund" not in [event for _, _, event in audit(conn, sale.escrow_id)]
        assert_escrow_matches_ledger(conn, sale.escrow_id)


def test_failed_refund_is_reversed_and_the_escrow_holds_it_again(db: RolledBack) -> None:
    sale = sell(db)
    with db.begin() as conn:
        escrow.refund_payment(conn, "re_f", sale.payment.payment_id, 3_333, failed=False, cause="a")
        assert escrow.refund_payment(
            conn, "re_f", sale.payment.payment_id, 3_333, failed=True, cause="b"
        )
        assert not escrow.refund_payment(
            conn, "re_f", sale.payment.payment_id, 3_333, failed=True, cause="c"
        )
    with db.connect() as conn:
        reversal = row(
            conn,
            "SELECT id FROM payments.entries WHERE reverses_entry_id = :e",
            e=row(conn, "SELECT entry_id FROM payments.card_refunds WHERE id = 're_f'").entry_id,
        ).id
        assert entry_lines(conn, reversal) == lines(
            (ESCROW, "credit", 3_167),
            (PLATFORM_FEES, "credit", 166),
            (STRIPE_BALANCE, "debit", 3_333),
        )
        e = escrow.get_escrow(conn, sale.escrow_id)
        assert (e.refunded, e.held) == (0, 9_500)
        assert_escrow_matches_ledger(conn, sale.escrow_id)


def test_a_refund_failing_after_release_leaves_nothing_in_the_released_escrow(
    db: RolledBack,
) -> None:
    """A refund charged to the escrow before release, failing after it: the money comes back
    to the organizer (not into an escrow that will never be released again)."""
    sale = sell(db, NOW_RELEASABLE, ended=True)
    with db.begin() as conn:
        escrow.refund_payment(conn, "re_1", sale.payment.payment_id, 2_000, failed=False, cause="r")
        assert release(conn, sale.escrow_id).released == 7_600
        escrow.transfer_created(conn, "tr_1", sale.escrow_id, 7_600, cause="t")
        assert escrow.get_escrow(conn, sale.escrow_id).state == "released"
    with db.begin() as conn:
        escrow.refund_payment(conn, "re_1", sale.payment.payment_id, 2_000, failed=True, cause="f")
    with db.connect() as conn:
        e = escrow.get_escrow(conn, sale.escrow_id)
        assert_escrow_matches_ledger(conn, sale.escrow_id)
        net = net_by_code(conn, sale.org)
        # What the organizer is owed, net of what it owes: the 1,900 the failed refund had
        # taken is the organizer's again.
        assert -net.get(PAYABLE, 0) - net.get(RECEIVABLE, 0) == 1_900
        # A released escrow holds nothing: nothing would ever release it again.
        assert (e.state, e.held) == ("released", 0)
        assert escrow.ledger_escrow_balance(conn, e) == 0


# -- disputes ------------------------------------------------------------------------------


def withdraw(db: Transactions, sale: Sale, dispute: str = "dp_1") -> None:
    """Open a 40.00 dispute and have Stripe withdraw it with a 15.00 dispute fee."""
    with db.begin() as conn:
        escrow.open_dispute(conn, dispute, sale.payment.payment_id, 4_000, cause="evt_open")
        assert escrow.dispute_funds_withdrawn(
            conn, dispute, sale.payment.payment_id, 4_000, 1_500, cause="evt_withdrawn"
        )


def test_dispute_funds_withdrawn_with_the_dispute_fee(db: RolledBack) -> None:
    sale = sell(db)
    withdraw(db, sale)
    with db.connect() as conn:
        assert lines_by_ref(conn, sale.org, "dp_1:withdrawn") == lines(
            (DISPUTED, "debit", 4_000),
            (DISPUTE_FEES, "debit", 1_500),
            (STRIPE_BALANCE, "credit", 5_500),
        )
        e = escrow.get_escrow(conn, sale.escrow_id)
        assert (e.state, e.open_disputes, e.held) == ("frozen", 1, 9_500)
        assert_escrow_matches_ledger(conn, sale.escrow_id)
    with db.begin() as conn:
        assert not escrow.dispute_funds_withdrawn(
            conn, "dp_1", sale.payment.payment_id, 4_000, 1_500, cause="evt_again"
        )


def test_dispute_reinstated_when_won(db: RolledBack) -> None:
    sale = sell(db)
    withdraw(db, sale)
    with db.begin() as conn:
        assert escrow.dispute_funds_reinstated(
            conn, "dp_1", sale.payment.payment_id, 4_000, 1_500, cause="evt_reinstated"
        )
        assert escrow.close_dispute(
            conn, "dp_1", sale.payment.payment_id, 4_000, won=True, cause="evt_closed"
        )
    with db.connect() as conn:
        assert lines_by_ref(conn, sale.org, "dp_1:reinstated") == lines(
            (STRIPE_BALANCE, "debit", 5_500),
            (DISPUTED, "credit", 4_000),
            (DISPUTE_FEES, "credit", 1_500),
        )
        e = escrow.get_escrow(conn, sale.escrow_id)
        assert (e.state, e.open_disputes, e.held, e.charged_back) == ("collecting", 0, 9_500, 0)
        net = net_by_code(conn, sale.org)
        assert DISPUTED not in net
        assert DISPUTE_FEES not in net
        assert audit(conn, sale.escrow_id)[-2:] == [
            ("collecting", "frozen", "dispute_opened"),
            ("frozen", "collecting", "dispute_closed"),
        ]
        assert_escrow_matches_ledger(conn, sale.escrow_id)


def test_dispute_lost_while_the_escrow_holds_the_money(db: RolledBack) -> None:
    sale = sell(db, NOW_RELEASABLE)
    with db.begin() as conn:
        escrow.end_event(conn, sale.escrow_id)
    withdraw(db, sale)
    with db.begin() as conn:
        assert escrow.close_dispute(
            conn, "dp_1", sale.payment.payment_id, 4_000, won=False, cause="evt_lost"
        )
    with db.connect() as conn:
        assert lines_by_ref(conn, sale.org, "dp_1:lost") == lines(
            (ESCROW, "debit", 4_000), (DISPUTED, "credit", 4_000)
        )
        e = escrow.get_escrow(conn, sale.escrow_id)
        assert (e.state, e.open_disputes, e.held, e.charged_back) == ("holding", 0, 5_500, 4_000)
        closed = escrow.transitions(conn, sale.escrow_id)[-1]
        assert (closed["from_state"], closed["to_state"], closed["event"]) == (
            "frozen",
            "holding",
            "dispute_closed",
        )
        assert closed["entry_id"] == entry_by_lost(conn, sale)
        assert_escrow_matches_ledger(conn, sale.escrow_id)


def entry_by_lost(conn: sa.Connection, sale: Sale) -> uuid.UUID:
    """The entry of the lost dispute dp_1."""
    found: uuid.UUID = row(
        conn,
        "SELECT id FROM payments.entries WHERE org_id = :org AND external_ref = 'dp_1:lost'",
        org=sale.org,
    ).id
    return found


def test_dispute_lost_after_release_is_charged_to_the_receivable(db: RolledBack) -> None:
    sale = released_sale(db)
    withdraw(db, sale)
    with db.begin() as conn:
        # Released: the dispute does not freeze anything.
        assert escrow.get_escrow(conn, sale.escrow_id).state == "release_requested"
        escrow.close_dispute(conn, "dp_1", sale.payment.payment_id, 4_000, won=False, cause="l")
    with db.connect() as conn:
        assert lines_by_ref(conn, sale.org, "dp_1:lost") == lines(
            (RECEIVABLE, "debit", 4_000), (DISPUTED, "credit", 4_000)
        )
        e = escrow.get_escrow(conn, sale.escrow_id)
        assert (e.state, e.held, e.charged_back, e.released) == ("release_requested", 0, 0, 9_500)
        assert_escrow_matches_ledger(conn, sale.escrow_id)


# -- release, transfer, reversal, payouts ----------------------------------------------------


def messages(conn: sa.Connection, escrow_id: uuid.UUID, type: str) -> list[Any]:
    """The outbox messages of a type about an escrow, with their deliveries' channels."""
    return list(
        conn.execute(
            sa.text("""SELECT m.id, m.payload,
                              array(SELECT d.channel::text FROM messaging.deliveries d
                                     WHERE d.message_id = m.id ORDER BY d.channel) AS channels
                         FROM messaging.messages m
                        WHERE m.aggregate_id = :id AND m.type = :type ORDER BY m.created_at"""),
            {"id": str(escrow_id), "type": type},
        ).all()
    )


def test_release_of_a_positive_balance(db: RolledBack) -> None:
    sale = sell(db, NOW_RELEASABLE, ended=True)
    with db.begin() as conn:
        escrow.refund_payment(conn, "re_1", sale.payment.payment_id, 2_000, failed=False, cause="r")
        steps = escrow.release_due(conn)
        assert [s for e, s in steps if e == sale.escrow_id] == [
            "holding",
            "releasable",
            "release_requested",
        ]
    with db.connect() as conn:
        entry = release_entry(conn, sale.escrow_id)
        assert entry is not None
        assert entry_lines(conn, entry) == lines(
            (ESCROW, "debit", 7_600), (PAYABLE, "credit", 7_600)
        )
        e = escrow.get_escrow(conn, sale.escrow_id)
        assert (e.state, e.held, e.released) == ("release_requested", 0, 7_600)
        assert liability(conn, sale.org, PAYABLE) == 7_600
        (released,) = messages(conn, sale.escrow_id, "escrow.released")
        assert released.payload["amount"] == 7_600
        assert released.channels == ["email"]  # no webhook endpoint registered
        (transfer,) = messages(conn, sale.escrow_id, "stripe.transfer.requested")
        assert transfer.channels == ["task"]
        assert (transfer.payload["amount"], transfer.payload["destination"]) == (
            7_600,
            "acct_organizer",
        )
        assert_escrow_matches_ledger(conn, sale.escrow_id)


def test_release_of_a_negative_balance_makes_a_receivable(db: RolledBack) -> None:
    policy = escrow.Policy(hold_period=timedelta(0), refund_platform_fee=False)
    sale = sell(db, policy, ended=True)
    with db.begin() as conn:
        escrow.refund_payment(
            conn, "re_all", sale.payment.payment_id, 10_000, failed=False, cause="r"
        )
        assert escrow.get_escrow(conn, sale.escrow_id).held == -500
        assert release(conn, sale.escrow_id).state == "released"  # nothing to transfer
    with db.connect() as conn:
        entry = release_entry(conn, sale.escrow_id)
        assert entry is not None
        assert entry_lines(conn, entry) == lines(
            (RECEIVABLE, "debit", 500), (ESCROW, "credit", 500)
        )
        e = escrow.get_escrow(conn, sale.escrow_id)
        assert (e.held, e.released) == (0, 0)
        assert net_by_code(conn, sale.org)[RECEIVABLE] == 500
        assert messages(conn, sale.escrow_id, "stripe.transfer.requested") == []
        (released,) = messages(conn, sale.escrow_id, "escrow.released")
        assert released.payload["amount"] == 0
        assert audit(conn, sale.escrow_id)[-1] == ("release_requested", "released", "transfer_paid")
        assert_escrow_matches_ledger(conn, sale.escrow_id)


def test_transfer_pays_the_payable_and_releases_the_escrow(db: RolledBack) -> None:
    sale = released_sale(db)
    with db.begin() as conn:
        assert escrow.transfer_created(conn, "tr_1", sale.escrow_id, 9_500, cause="evt_tr")
        assert not escrow.transfer_created(conn, "tr_1", sale.escrow_id, 9_500, cause="evt_tr2")
    with db.connect() as conn:
        assert lines_by_ref(conn, sale.org, "tr_1") == lines(
            (PAYABLE, "debit", 9_500), (STRIPE_BALANCE, "credit", 9_500)
        )
        e = escrow.get_escrow(conn, sale.escrow_id)
        assert (e.state, e.held, e.released) == ("released", 0, 9_500)
        assert liability(conn, sale.org, PAYABLE) == 0
        assert audit(conn, sale.escrow_id)[-1] == ("release_requested", "released", "transfer_paid")
        assert_escrow_matches_ledger(conn, sale.escrow_id)


def test_transfer_reversal_settles_the_receivable(db: RolledBack) -> None:
    sale = released_sale(db)
    with db.begin() as conn, pytest.raises(escrow.NotYetApplicable):
        escrow.transfer_reversed(conn, "trr_1", "tr_1", 1_900, cause="too early")
    with db.begin() as conn:
        escrow.transfer_created(conn, "tr_1", sale.escrow_id, 9_500, cause="t")
        escrow.refund_payment(conn, "re_1", sale.payment.payment_id, 2_000, failed=False, cause="r")
        assert escrow.transfer_reversed(conn, "trr_1", "tr_1", 1_900, cause="evt_rev")
        assert not escrow.transfer_reversed(conn, "trr_1", "tr_1", 1_900, cause="evt_rev2")
    with db.connect() as conn:
        assert lines_by_ref(conn, sale.org, "trr_1") == lines(
            (STRIPE_BALANCE, "debit", 1_900), (RECEIVABLE, "credit", 1_900)
        )
        assert RECEIVABLE not in net_by_code(conn, sale.org)
        reversed_ = row(conn, "SELECT reversed FROM payments.organizer_transfers WHERE id = 'tr_1'")
        assert reversed_.reversed == 1_900
        assert_escrow_matches_ledger(conn, sale.escrow_id)


def test_payout_paid_then_failed(db: RolledBack) -> None:
    with db.begin() as conn:
        new_organizer(conn)
        assert escrow.payout(conn, "po_1", "USD", 50_000, paid=True, cause="evt_paid")
        assert not escrow.payout(conn, "po_1", "USD", 50_000, paid=True, cause="evt_paid2")
    with db.connect() as conn:
        assert lines_by_ref(conn, PLATFORM, "po_1:paid") == lines(
            (BANK, "debit", 50_000), (STRIPE_BALANCE, "credit", 50_000)
        )
    with db.begin() as conn:
        assert escrow.payout(conn, "po_1", "USD", 50_000, paid=False, cause="evt_failed")
        assert not escrow.payout(conn, "po_1", "USD", 50_000, paid=False, cause="evt_failed2")
    with db.connect() as conn:
        assert lines_by_ref(conn, PLATFORM, "po_1:failed") == lines(
            (STRIPE_BALANCE, "debit", 50_000), (BANK, "credit", 50_000)
        )
        assert net_by_code(conn, PLATFORM) == {}
        assert ledger.trial_balance(conn, PLATFORM).balanced


def test_payout_failed_before_it_was_paid_moves_nothing(db: RolledBack) -> None:
    with db.begin() as conn:
        new_organizer(conn)
        escrow.payout(conn, "po_2", "USD", 7_000, paid=False, cause="evt_failed")
        assert entries_count(conn, PLATFORM) == 0
        # Then the (earlier) paid event arrives: paid and returned, in that order.
        escrow.payout(conn, "po_2", "USD", 7_000, paid=True, cause="evt_paid")
        assert lines_by_ref(conn, PLATFORM, "po_2:paid") == lines(
            (BANK, "debit", 7_000), (STRIPE_BALANCE, "credit", 7_000)
        )
        assert lines_by_ref(conn, PLATFORM, "po_2:failed") == lines(
            (STRIPE_BALANCE, "debit", 7_000), (BANK, "credit", 7_000)
        )


# -- the machine ---------------------------------------------------------------------------

Refused = Callable[[sa.Connection, Sale], object]


def _late_capture(conn: sa.Connection, sale: Sale) -> object:
    late = captured(
        sale.org, gross=1_000, stripe_fee=59, event_id=sale.payment.event_id, ends=past()
    )
    return escrow.capture_payment(conn, late, cause="late")


@dataclass(frozen=True)
class Invalid:
    """An event the escrow's state refuses: where from, what, and what the error names."""

    start: str
    action: str
    call: Refused
    event: str

    def __str__(self) -> str:
        return f"{self.start}-{self.action}"


INVALID = [
    Invalid(
        "collecting",
        "release",
        lambda c, s: escrow.request_release(c, s.escrow_id),
        "request_release",
    ),
    Invalid(
        "collecting",
        "cancel-while-holding-money",
        lambda c, s: escrow.cancel_event(c, s.escrow_id),
        "cancel",
    ),
    Invalid("holding", "end-twice", lambda c, s: escrow.end_event(c, s.escrow_id), "event_ended"),
    Invalid(
        "frozen", "release", lambda c, s: escrow.request_release(c, s.escrow_id), "request_release"
    ),
    Invalid(
        "release_requested",
        "release-again",
        lambda c, s: escrow.request_release(c, s.escrow_id),
        "request_release",
    ),
    Invalid("released", "end", lambda c, s: escrow.end_event(c, s.escrow_id), "event_ended"),
    Invalid("released", "cancel", lambda c, s: escrow.cancel_event(c, s.escrow_id), "cancel"),
    Invalid(
        "released",
        "release",
        lambda c, s: escrow.request_release(c, s.escrow_id),
        "request_release",
    ),
]


def sale_in(db: Transactions, wanted: str) -> Sale:
    """A sale whose escrow is in state `wanted`."""
    if wanted == "collecting":
        return sell(db)
    if wanted == "holding":
        sale = sell(db, ended=True)
        with db.begin() as conn:
            escrow.end_event(conn, sale.escrow_id)
        return sale
    if wanted == "frozen":
        sale = sell(db)
        with db.begin() as conn:
            escrow.open_dispute(
                conn, f"dp_{sale.org.hex}", sale.payment.payment_id, 1_000, cause="d"
            )
        return sale
    sale = released_sale(db)
    if wanted == "released":
        with db.begin() as conn:
            escrow.transfer_created(conn, f"tr_{sale.org.hex}", sale.escrow_id, 9_500, cause="t")
    return sale


@pytest.mark.parametrize("case", INVALID, ids=str)
def test_invalid_transition_is_a_typed_error_and_leaves_no_trace(
    db: RolledBack, case: Invalid
) -> None:
    sale = sale_in(db, case.start)
    before = state(db, sale.escrow_id)
    assert before.state == case.start
    with db.connect() as conn:
        trail = audit(conn, sale.escrow_id)
        entries = entries_count(conn, sale.org)
    with pytest.raises(escrow.InvalidTransition) as exc, db.begin() as conn:
        case.call(conn, sale)
    err = exc.value
    assert (err.escrow_id, err.state, err.event) == (str(sale.escrow_id), case.start, case.event)
    assert f"state={case.start!r}" in str(err)
    assert f"event={case.event!r}" in str(err)
    assert isinstance(err, escrow.EscrowError)
    assert state(db, sale.escrow_id) == before
    with db.connect() as conn:
        assert audit(conn, sale.escrow_id) == trail
        assert entries_count(conn, sale.org) == entries


def test_every_transition_leaves_an_audit_row(engine: sa.Engine) -> None:
    sale = sell(engine, NOW_RELEASABLE, ended=True)
    pid = sale.payment.payment_id
    with engine.begin() as conn:
        escrow.refund_payment(conn, "re_1", pid, 1_000, failed=False, cause="evt_refund")
        escrow.open_dispute(conn, "dp_1", pid, 2_000, cause="evt_dispute")
        escrow.open_dispute(conn, "dp_2", pid, 500, cause="evt_dispute2")
        escrow.close_dispute(conn, "dp_1", pid, 2_000, won=True, cause="evt_won")
        escrow.close_dispute(conn, "dp_2", pid, 500, won=True, cause="evt_won2")
        escrow.end_event(conn, sale.escrow_id, cause="the show is over")
        assert [s for _, s in escrow.release_due(conn)] == ["releasable", "release_requested"]
        escrow.transfer_created(conn, "tr_1", sale.escrow_id, 8_550, cause="evt_transfer")
    with engine.connect() as conn:
        trail = escrow.transitions(conn, sale.escrow_id)
        assert [(t["from_state"], t["to_state"], t["event"], t["cause"]) for t in trail] == [
            ("collecting", "collecting", "capture", "evt_capture"),
            ("collecting", "collecting", "refund", "evt_refund"),
            ("collecting", "frozen", "dispute_opened", "evt_dispute"),
            ("frozen", "frozen", "dispute_opened", "evt_dispute2"),
            ("frozen", "frozen", "dispute_closed", "evt_won"),
            ("frozen", "collecting", "dispute_closed", "evt_won2"),
            ("collecting", "holding", "event_ended", "the show is over"),
            ("holding", "releasable", "hold_elapsed", "hold period over"),
            ("releasable", "release_requested", "request_release", "release"),
            ("release_requested", "released", "transfer_paid", "evt_transfer"),
        ]
        for earlier, later in itertools.pairwise(trail):
            assert earlier["to_state"] == later["from_state"]
            assert earlier["created_at"] <= later["created_at"]
        e = escrow.get_escrow(conn, sale.escrow_id)
        assert e.state == trail[-1]["to_state"]
        assert e.version == len(trail)
        # The entries the transitions name are the ones they booked.
        capture, refund = trail[0]["entry_id"], trail[1]["entry_id"]
        assert capture == row(conn, "SELECT entry_id FROM payments.card_payments").entry_id
        assert refund == row(conn, "SELECT entry_id FROM payments.card_refunds").entry_id
        assert (
            trail[9]["entry_id"]
            == row(conn, "SELECT id FROM payments.entries WHERE external_ref = 'tr_1'").id
        )
        # Each change of state was published.
        changes = conn.execute(
            sa.text("""SELECT payload->>'from_state', payload->>'to_state'
                         FROM messaging.messages
                        WHERE type = 'escrow.state_changed' AND aggregate_id = :id
                        ORDER BY created_at, id"""),
            {"id": str(sale.escrow_id)},
        ).all()
        assert sorted(map(tuple, changes)) == sorted(
            (t["from_state"], t["to_state"]) for t in trail if t["from_state"] != t["to_state"]
        )


class _Facts:
    """Guards all true: whatever could pass, may."""

    def __init__(self, state: str) -> None:
        self.state = state
        self.no_open_dispute = True
        self.other_disputes_open = True
        self.event_not_ended = True
        self.event_has_ended = True
        self.nothing_held = True


def test_no_transition_leaves_a_final_state() -> None:
    assert {"released", "cancelled"} == escrow.FINAL_STATES
    finals = [s for s in escrow.EscrowMachine.states if s.final]
    assert {str(s.value) for s in finals} == escrow.FINAL_STATES
    for final in finals:
        assert list(final.transitions) == []
    events = {str(t.event) for s in escrow.EscrowMachine.states for t in s.transitions}
    assert len(events) == 9
    for value in escrow.FINAL_STATES:
        for event in sorted(events):
            facts = _Facts(value)
            machine = escrow.EscrowMachine(model=facts, state_field="state")
            with pytest.raises(TransitionNotAllowed):
                machine.send(event)
            assert facts.state == value


def test_a_cancelled_escrow_stays_cancelled(db: RolledBack) -> None:
    sale = sell(db)
    with db.begin() as conn:
        escrow.refund_payment(
            conn, "re_all", sale.payment.payment_id, 10_000, failed=False, cause="r"
        )
        assert escrow.cancel_event(conn, sale.escrow_id).state == "cancelled"
    calls: list[Callable[[sa.Connection], object]] = [
        lambda c: escrow.cancel_event(c, sale.escrow_id),
        lambda c: escrow.end_event(c, sale.escrow_id),
        lambda c: escrow.request_release(c, sale.escrow_id),
    ]
    for call in calls:
        with pytest.raises(escrow.InvalidTransition) as exc, db.begin() as conn:
            call(conn)
        assert exc.value.state == "cancelled"
    assert state(db, sale.escrow_id).state == "cancelled"


def test_a_payment_captured_after_release_goes_to_the_payable_and_asks_a_transfer(
    engine: sa.Engine,
) -> None:
    sale = released_sale(engine)
    with engine.begin() as conn:
        before = escrow.get_escrow(conn, sale.escrow_id)
        assert escrow.capture_payment(conn, captured_late(sale), cause="late")
        after = escrow.get_escrow(conn, sale.escrow_id)
        # 1,000 gross, 5% fee 50, Stripe's 59: the share is 950, straight to the payable
        assert (after.state, after.captured - before.captured) == (before.state, 1_000)
        assert (after.released - before.released, after.held) == (950, before.held)
        assert sorted(lines_by_ref(conn, sale.org, "txn_late")) == sorted(
            [
                (STRIPE_BALANCE, "debit", 941),
                (STRIPE_FEES, "debit", 59),
                (PAYABLE, "credit", 950),
                (PLATFORM_FEES, "credit", 50),
            ]
        )
        transfers = conn.execute(
            sa.text(
                "SELECT count(*) FROM messaging.messages WHERE type = 'stripe.transfer.requested'"
            )
        ).scalar_one()
        assert transfers == 2  # the release's and the late payment's
        assert not escrow.capture_payment(conn, captured_late(sale), cause="late again")
        assert_escrow_matches_ledger(conn, sale.escrow_id)


def captured_late(sale: Sale) -> escrow.CapturedPayment:
    """A 1,000 payment for the sale's event, arriving after its release."""
    late = captured(
        sale.org, gross=1_000, stripe_fee=59, event_id=sale.payment.event_id, ends=past()
    )
    return dataclasses.replace(late, payment_id="pi_late", balance_transaction_id="txn_late")

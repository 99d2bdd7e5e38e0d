"""Posting, holds, reversals and balances through the Python API: the happy paths."""

from __future__ import annotations

import ledger
from liventix.testing.rollback import RolledBack
from tests.ledger_core.conftest import ORG_A, PLATFORM, OpenAccountFn, transfer


def test_a_ticket_sale_with_a_platform_fee_balances(
    db: RolledBack, open_account: OpenAccountFn
) -> None:
    cash = open_account(PLATFORM, "stripe-balance", "asset")
    fees = open_account(PLATFORM, "fee-revenue", "revenue", high_volume=True)
    escrow = open_account(ORG_A, "escrow", "liability")
    with db.begin() as conn:
        result = ledger.post_entry(
            conn,
            ORG_A,
            ledger.PostEntry(
                idempotency_key="sale-1",
                lines=[
                    ledger.Line(cash, "debit", 10_000, "USD"),
                    ledger.Line(escrow, "credit", 9_500, "USD"),
                    ledger.Line(fees, "credit", 500, "USD"),
                ],
                external_ref="txn_1",
            ),
        )
    assert not result.replayed
    with db.begin() as conn:
        assert ledger.balance(conn, cash).posted == 10_000
        assert ledger.balance(conn, escrow).posted == 9_500
        assert ledger.balance(conn, fees).posted == 500
        entry = ledger.get_entry(conn, result.id)
        assert [(x.side, x.amount) for x in entry.lines] == [
            ("debit", 10_000),
            ("credit", 9_500),
            ("credit", 500),
        ]
        # the high-volume fee line waits for its position until the roll-up
        fee_line = next(x for x in entry.lines if x.account_id == fees)
        assert fee_line.account_version is None
        assert ledger.roll_up(conn) == 1
        assert ledger.get_entry(conn, result.id).lines[2].account_version == 1
        assert ledger.balance(conn, fees).posted == 500
        tb = ledger.trial_balance(conn, ORG_A)
        assert tb.balanced
        assert tb.totals == {"USD": (10_000, 10_000)}


def test_hold_partial_post_releases_the_rest(db: RolledBack, open_account: OpenAccountFn) -> None:
    funding = open_account(ORG_A, "funding", "equity")
    wallet = open_account(ORG_A, "wallet", "liability", debits_must_not_exceed_credits=True)
    merchant = open_account(ORG_A, "merchant", "liability")
    with db.begin() as conn:
        ledger.post_entry(conn, ORG_A, transfer("fund", funding, wallet, 1_000))
        hold = ledger.create_hold(
            conn, ORG_A, ledger.CreateHold("hold-1", wallet, merchant, 800, "USD")
        )
        b = ledger.balance(conn, wallet)
        assert (b.posted, b.pending, b.available) == (1_000, 200, 200)
        posted = ledger.post_hold(conn, ORG_A, ledger.PostHold("hold-1-post", hold.id, 600))
        b = ledger.balance(conn, wallet)
        assert (b.posted, b.pending, b.available) == (400, 400, 400)
        assert ledger.get_hold(conn, hold.id).status == "posted"
        assert ledger.get_entry(conn, posted.id).hold_id == hold.id
        assert ledger.balance(conn, merchant).posted == 600


def test_reversal_restores_balances(db: RolledBack, open_account: OpenAccountFn) -> None:
    a = open_account(ORG_A, "a", "asset")
    b = open_account(ORG_A, "b", "liability")
    with db.begin() as conn:
        first = ledger.post_entry(conn, ORG_A, transfer("t1", a, b, 250))
        rev = ledger.reverse_entry(conn, ORG_A, ledger.ReverseEntry("t1-rev", first.id))
        assert ledger.balance(conn, a).posted == 0
        assert ledger.balance(conn, b).posted == 0
        entry = ledger.get_entry(conn, rev.id)
        assert entry.kind == "reversal" and entry.reverses_entry_id == first.id
        assert [(x.account_id, x.side) for x in entry.lines] == [(a, "credit"), (b, "debit")]

"""Reading the ledger: balances as of a recorded time and as of an effective date, the
keyset-paginated statement with running balances, and conditions that hold."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import sqlalchemy as sa

import ledger
from liventix.testing.rollback import RolledBack, Transactions
from tests.ledger_core.conftest import ORG_A, OpenAccountFn, transfer


def _now(db: Transactions) -> datetime:
    with db.connect() as conn:
        now: datetime = conn.execute(sa.text("SELECT clock_timestamp()")).scalar_one()
    return now


def test_balances_as_of_a_recorded_time_and_an_effective_date(
    engine: sa.Engine, open_account: OpenAccountFn
) -> None:
    cash = open_account(ORG_A, "cash", "asset")
    sales = open_account(ORG_A, "sales", "revenue")
    wallet = open_account(ORG_A, "wallet", "liability")
    last_month = datetime(2026, 10, 15, tzinfo=UTC)
    with engine.begin() as conn:
        ledger.post_entry(conn, ORG_A, transfer("t1", cash, sales, 100))
    between = _now(engine)
    with engine.begin() as conn:
        # recorded now, effective last month (a late booking)
        ledger.post_entry(conn, ORG_A, transfer("t2", cash, sales, 40, effective_at=last_month))
        ledger.create_hold(conn, ORG_A, ledger.CreateHold("h1", cash, wallet, 30, "USD"))
    with engine.connect() as conn:
        now = ledger.balance(conn, cash)
        # the hold debits cash: pending grows by it, available (what may leave) does not
        assert (now.posted, now.pending, now.available) == (140, 140 + 30, 140)
        recorded = ledger.balance_as_of(conn, cash, between)
        assert (recorded.posted, recorded.pending_debits) == (100, 0)
        effective = ledger.balance_as_of(conn, cash, last_month + timedelta(days=1), by="effective")
        assert effective.posted == 40
        before_all = ledger.balance_as_of(
            conn, cash, last_month - timedelta(days=1), by="effective"
        )
        assert before_all.posted == 0
        later = ledger.balance_as_of(conn, cash, _now(engine))
        assert (later.posted, later.pending_debits) == (140, 30)


def test_statement_pages_carry_running_balances(
    db: RolledBack, open_account: OpenAccountFn
) -> None:
    cash = open_account(ORG_A, "cash", "asset")
    sales = open_account(ORG_A, "sales", "revenue")
    amounts = [10, 20, 30, 40, 50]
    with db.begin() as conn:
        for i, amount in enumerate(amounts):
            ledger.post_entry(conn, ORG_A, transfer(f"s{i}", cash, sales, amount))
        ledger.post_entry(conn, ORG_A, transfer("back", sales, cash, 15))
    with db.connect() as conn:
        first = ledger.statement(conn, cash, limit=4)
        assert [line.amount for line in first.lines] == [10, 20, 30, 40]
        assert [line.balance_after for line in first.lines] == [10, 30, 60, 100]
        assert first.opening_balance == 0 and first.next_cursor is not None
        second = ledger.statement(conn, cash, after=first.next_cursor, limit=4)
        assert [(x.side, x.amount) for x in second.lines] == [("debit", 50), ("credit", 15)]
        assert [x.balance_after for x in second.lines] == [150, 135]
        assert second.opening_balance == 100 and second.next_cursor is None
        # the revenue account's balance runs on its own (credit) side
        revenue = ledger.statement(conn, sales, limit=10)
        assert revenue.lines[-1].balance_after == 135 == ledger.balance(conn, sales).posted


def test_conditions_that_hold_let_the_posting_through(
    db: RolledBack, open_account: OpenAccountFn
) -> None:
    cash = open_account(ORG_A, "cash", "asset")
    sales = open_account(ORG_A, "sales", "revenue")
    with db.begin() as conn:
        ledger.post_entry(conn, ORG_A, transfer("c1", cash, sales, 100))
        version = ledger.balance(conn, cash).version
        ledger.post_entry(
            conn,
            ORG_A,
            transfer(
                "c2",
                cash,
                sales,
                5,
                conditions=[
                    ledger.Condition(cash, version=version, balance="posted", gte=105, lte=105)
                ],
            ),
        )
        assert ledger.balance(conn, cash).posted == 105


def test_a_statement_after_the_last_possible_line_is_empty(
    db: RolledBack, open_account: OpenAccountFn
) -> None:
    cash = open_account(ORG_A, "cash", "asset")
    sales = open_account(ORG_A, "sales", "revenue")
    with db.begin() as conn:
        ledger.post_entry(conn, ORG_A, transfer("only", cash, sales, 7))
    with db.connect() as conn:
        page = ledger.statement(conn, cash, after=2**63 - 1)
        assert (page.lines, page.opening_balance, page.next_cursor) == ((), 7, None)

"""Point-in-time balances from stored running totals: `balance_as_of` (by recorded time: the
last line recorded by then; by effective time: that corrected by the backdated and
future-dated lines) always agrees with the sum of the account's lines, whatever the order
entries were posted, backdated or future-dated, batched, or raced by another process."""

from __future__ import annotations

import multiprocessing as mp
import uuid
from datetime import datetime, timedelta
from typing import Any, Literal

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import ledger
from liventix.database import make_engine
from liventix.testing.rollback import RolledBack, Transactions
from tests.ledger_core.conftest import ORG_A, PLATFORM, OpenAccountFn, transfer

By = Literal["recorded", "effective"]
US = timedelta(microseconds=1)

_SUMS = {
    by: sa.text(f"""
        SELECT coalesce(sum(amount) FILTER (WHERE side = 'debit'), 0) AS debits,
               coalesce(sum(amount) FILTER (WHERE side = 'credit'), 0) AS credits
          FROM payments.lines WHERE account_id = :a AND {column} <= :t""")
    for by, column in (("recorded", "created_at"), ("effective", "effective_at"))
}


def _summed(conn: sa.Connection, account: uuid.UUID, at: datetime, by: By) -> tuple[int, int]:
    row = conn.execute(_SUMS[by], {"a": account, "t": at}).one()
    return int(row.debits), int(row.credits)


def _looked_up(conn: sa.Connection, account: uuid.UUID, at: datetime, by: By) -> tuple[int, int]:
    found = ledger.balance_as_of(conn, account, at, by=by)
    return found.posted_debits, found.posted_credits


def _clock(db: Transactions) -> datetime:
    with db.connect() as conn:
        now: datetime = conn.execute(sa.text("SELECT clock_timestamp()")).scalar_one()
    return now


def _probe_times(conn: sa.Connection, accounts: list[uuid.UUID], marks: list[datetime]) -> set[Any]:
    """Every moment where a balance may change (each line's times), a microsecond either
    side of it, and the marks taken between steps."""
    rows = conn.execute(
        sa.text(
            "SELECT created_at, effective_at FROM payments.lines"
            " WHERE account_id = ANY (CAST(:a AS uuid[]))"
        ),
        {"a": accounts},
    ).all()
    times = {t for r in rows for t in (r.created_at, r.effective_at)} | set(marks)
    return {t + d for t in times for d in (-US, timedelta(0), US)}


def _assert_agree(db: Transactions, accounts: list[uuid.UUID], marks: list[datetime]) -> int:
    checked = 0
    with db.connect() as conn:
        for at in sorted(_probe_times(conn, accounts, marks)):
            for account in accounts:
                for by in ("recorded", "effective"):
                    expected = _summed(conn, account, at, by)
                    got = _looked_up(conn, account, at, by)
                    assert got == expected, (account, at, by)
                    checked += 1
    return checked


# One step: which accounts, how much, when it is effective (None: when recorded; otherwise
# an offset from the step's start, or "at an earlier mark"), and how it is posted.
_STEP = st.tuples(
    st.sampled_from(["cash>sales", "sales>cash", "cash>fees", "wallet>cash"]),
    st.integers(min_value=1, max_value=10**9),
    st.one_of(
        st.none(),
        st.sampled_from([-86_400 * 400, -3_600, -1, -0.000_001, 0.5, 86_400]).map(
            lambda s: ("offset", s)
        ),
        st.integers(min_value=0, max_value=50).map(lambda i: ("mark", i)),
    ),
    st.sampled_from(["single", "batch", "two_in_one_transaction", "roll_up"]),
)


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(steps=st.lists(_STEP, min_size=1, max_size=7))
def test_the_lookup_agrees_with_the_sum_of_lines(
    transactions: RolledBack, open_account: OpenAccountFn, steps: list[Any]
) -> None:
    tag = uuid.uuid4().hex[:8]
    accounts = {
        "cash": open_account(ORG_A, f"cash-{tag}", "asset"),
        "sales": open_account(ORG_A, f"sales-{tag}", "revenue"),
        "wallet": open_account(ORG_A, f"wallet-{tag}", "liability"),
        "fees": open_account(PLATFORM, f"fees-{tag}", "revenue", high_volume=True),
    }
    marks = [_clock(transactions)]
    for n, (route, amount, when, how) in enumerate(steps):
        debit, credit = (accounts[x] for x in route.split(">"))
        effective_at = None
        if when is not None and when[0] == "offset":
            effective_at = marks[-1] + timedelta(seconds=when[1])
        elif when is not None:
            effective_at = marks[when[1] % len(marks)]
        entry = transfer(f"{tag}-{n}", debit, credit, amount, effective_at=effective_at)
        with transactions.begin() as conn:
            if how == "batch":
                again = transfer(f"{tag}-{n}-b", debit, credit, amount + 1)
                results = ledger.post_batch(conn, ORG_A, [entry, again])
                assert all(r.error is None for r in results)
            else:
                ledger.post_entry(conn, ORG_A, entry)
            if how == "two_in_one_transaction":
                later = transfer(f"{tag}-{n}-t", credit, debit, amount, effective_at=marks[0])
                ledger.post_entry(conn, ORG_A, later)
        if how == "roll_up":
            with transactions.begin() as conn:
                ledger.roll_up(conn)
        marks.append(_clock(transactions))
    assert _assert_agree(transactions, list(accounts.values()), marks) > 0
    with transactions.connect() as conn:  # and at the end, the lookup is the balance now
        for account in accounts.values():
            now, then = (
                ledger.balance(conn, account),
                ledger.balance_as_of(conn, account, marks[-1]),
            )
            assert (now.posted_debits, now.posted_credits) == (
                then.posted_debits,
                then.posted_credits,
            )


def _racer(db_url: str, cash: uuid.UUID, sales: uuid.UUID, started: Any, go: Any) -> None:
    """Begin a transaction (its now() is taken here), then post once told to: it waits for
    the account the test process holds, and is recorded after that one's entries."""
    engine = make_engine(db_url, pool_size=1, max_overflow=0)
    with engine.begin() as conn:
        conn.execute(sa.text("SELECT now()"))
        started.set()
        go.wait(60)
        ledger.post_entry(conn, ORG_A, transfer("racer", cash, sales, 7))
    engine.dispose()


def test_an_entry_that_waited_for_the_account_is_recorded_after_the_one_it_waited_for(
    engine: sa.Engine, db_url: str, open_account: OpenAccountFn
) -> None:
    """The racer's transaction starts first but posts second: recorded times follow the
    account's versions (a transaction's start time would not), so the lookup stays exact."""
    cash = open_account(ORG_A, "cash", "asset")
    sales = open_account(ORG_A, "sales", "revenue")
    ctx = mp.get_context("spawn")
    started, go = ctx.Event(), ctx.Event()
    racer = ctx.Process(target=_racer, args=(db_url, cash, sales, started, go))
    racer.start()
    try:
        assert started.wait(120)
        with engine.begin() as conn:
            ledger.post_entry(conn, ORG_A, transfer("holder", cash, sales, 5))
            go.set()
            for _ in range(6000):  # until the racer waits for the account's lock
                waiting = conn.execute(
                    sa.text("SELECT count(*) FROM pg_locks WHERE NOT granted")
                ).scalar_one()
                if waiting:
                    break
                conn.execute(sa.text("SELECT pg_sleep(0.01)"))
            else:
                pytest.fail("the racer never waited for the account")
            ledger.post_entry(conn, ORG_A, transfer("holder-2", cash, sales, 11))
        racer.join(120)
        assert racer.exitcode == 0
    finally:
        if racer.is_alive():
            racer.kill()
    with engine.connect() as conn:
        rows = conn.execute(
            sa.text(
                "SELECT e.idempotency_key AS key, l.created_at, l.account_version"
                " FROM payments.lines l JOIN payments.entries e ON e.id = l.entry_id"
                " WHERE l.account_id = :a ORDER BY l.account_version"
            ),
            {"a": cash},
        ).all()
    assert [r.key for r in rows] == ["holder", "holder-2", "racer"]
    assert [r.created_at for r in rows] == sorted(r.created_at for r in rows)
    assert _assert_agree(engine, [cash, sales], []) > 0


def test_statement_pages_open_at_the_stored_running_total(
    db: RolledBack, open_account: OpenAccountFn
) -> None:
    """Each page's opening balance (a regular account: the last line's stored total; a
    high-volume one, rolled up in part: summed) equals the sum of the lines before it."""
    cash = open_account(ORG_A, "cash", "asset")
    fees = open_account(PLATFORM, "fees", "revenue", high_volume=True)
    for i in range(4):
        with db.begin() as conn:
            ledger.post_batch(
                conn, ORG_A, [transfer(f"s{i}-{j}", cash, fees, 1 + i * 10 + j) for j in range(6)]
            )
            ledger.post_entry(conn, ORG_A, transfer(f"back{i}", fees, cash, 3))
        if i == 1:
            with db.begin() as conn:
                ledger.roll_up(conn)
    signed = sa.text(
        "SELECT coalesce(sum(CASE WHEN side = 'debit' THEN amount ELSE -amount END), 0)"
        " FROM payments.lines WHERE account_id = :a AND id < :before"
    )
    with db.connect() as conn:
        for account, sign in ((cash, 1), (fees, -1)):
            after, pages = None, 0
            while True:
                page = ledger.statement(conn, account, after=after, limit=5)
                if not page.lines:
                    break
                before = conn.execute(
                    signed, {"a": account, "before": page.lines[0].line_id}
                ).scalar_one()
                assert page.opening_balance == sign * before
                pages += 1
                if page.next_cursor is None:
                    break
                after = page.next_cursor
            assert pages == 6  # 28 lines, 5 a page
            last = ledger.statement(conn, account, after=2**63 - 1)
            assert last.lines == () and last.opening_balance == ledger.balance(conn, account).posted


def test_a_line_written_by_hand_without_a_position_is_still_counted(
    db: RolledBack, open_account: OpenAccountFn
) -> None:
    """The owner's raw lines (no stored position: they bypass the db) are added by their
    own time, so the lookup and the statement still equal the sum of the lines."""
    cash = open_account(ORG_A, "cash", "asset")
    sales = open_account(ORG_A, "sales", "revenue")
    with db.begin() as conn:
        ledger.post_entry(conn, ORG_A, transfer("before", cash, sales, 10))
    with db.begin() as conn:
        entry = conn.execute(
            sa.text("INSERT INTO payments.entries (org_id) VALUES (:org) RETURNING id"),
            {"org": ORG_A},
        ).scalar_one()
        conn.execute(
            sa.text(
                "INSERT INTO payments.lines (entry_id, entry_org_id, org_id, account_id, side,"
                " amount, currency, effective_at) VALUES"
                " (:e, :org, :org, :cash, 'debit', 7, 'USD', now()),"
                " (:e, :org, :org, :sales, 'credit', 7, 'USD', now())"
            ),
            {"e": entry, "org": ORG_A, "cash": cash, "sales": sales},
        )
    with db.begin() as conn:
        ledger.post_entry(conn, ORG_A, transfer("after", cash, sales, 100))
    assert _assert_agree(db, [cash, sales], [_clock(db)]) > 0
    with db.connect() as conn:
        page = ledger.statement(conn, cash, limit=2)
        last = ledger.statement(conn, cash, after=page.next_cursor)
        assert [x.balance_after for x in page.lines + last.lines] == [10, 17, 117]
        assert last.opening_balance == 17

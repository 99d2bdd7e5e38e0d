"""`balance_as_of` by effective time finds an account's dated lines (effective at another time
than recorded) through the partial index `lines_account_dated`, whose predicate is
`(effective_at <> created_at) IS TRUE` since session 42 (a stored generated column, `dated`,
before). A partial index serves only a query whose clause implies its predicate: the
function must say the same expression (a bare `effective_at <> created_at` would not use
it). Read from the transaction's index statistics, with sequential scans priced out so that
the few rows here do not decide the plan."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa

import ledger
from tests.ledger_core.conftest import ORG_A, OpenAccountFn, transfer

_DATED_SCANS = "SELECT pg_stat_get_xact_numscans('payments.lines_account_dated'::regclass)"


def test_balance_by_effective_time_reads_the_dated_lines_index(
    engine: sa.Engine, open_account: OpenAccountFn
) -> None:
    cash = open_account(ORG_A, "cash", "asset")
    sales = open_account(ORG_A, "sales", "revenue")
    with engine.begin() as conn:
        now = conn.execute(sa.text("SELECT now()")).scalar_one()
    week_ago = now - dt.timedelta(days=7)
    with engine.begin() as conn:
        ledger.post_entry(conn, ORG_A, transfer("plain", cash, sales, 10))
        ledger.post_entry(conn, ORG_A, transfer("backdated", cash, sales, 5, effective_at=week_ago))
    yesterday = now - dt.timedelta(days=1)
    with engine.connect() as conn:
        conn.execute(sa.text("SET LOCAL enable_seqscan = off"))
        before = int(conn.execute(sa.text(_DATED_SCANS)).scalar_one())
        by_effective = ledger.balance_as_of(conn, cash, yesterday, by="effective")
        scans = int(conn.execute(sa.text(_DATED_SCANS)).scalar_one()) - before
        by_recorded = ledger.balance_as_of(conn, cash, yesterday, by="recorded")
        conn.rollback()
    # Recorded after yesterday, the backdated entry is effective a week ago: only it counts.
    assert by_effective.posted_debits == 5
    assert by_recorded.posted_debits == 0
    assert scans >= 1

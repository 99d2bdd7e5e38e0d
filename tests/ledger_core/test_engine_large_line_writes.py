"""The large-line trigger (check_new_line) writes the high-volume account's row only to raise
its overflow hint (accounts.large_unrolled), not for every line of 2**40 or more (review of
a9c95d2: its UPDATE ran even when the hint was up, a new version of the account per large
line; 50 such lines in one write, 51 versions). It still locks the row each time (the
roll-up is serialised with every writer of a large line: test_engine_large_lines_locking).

Counted, never timed: the account table's updates in the transaction (the change of
pg_stat_get_xact_tuples_updated within it: the function also counts the session's earlier
transactions until their statistics are flushed) and the row's version (ctid, xmin).
"""

from __future__ import annotations

import uuid

import sqlalchemy as sa

import ledger
from tests.ledger_core.conftest import ORG_A, PLATFORM, OpenAccountFn
from tests.ledger_core.test_database_rules import insert_line

BIG = 2**40

_UPDATES = "SELECT pg_stat_get_xact_tuples_updated('payments.accounts'::regclass)"


def _sale(key: str, cash: uuid.UUID, sales: uuid.UUID, fees: uuid.UUID, n: int) -> ledger.PostEntry:
    """A sale whose fee is booked as `n` lines of 2**40 on the high-volume account."""
    return ledger.PostEntry(
        key,
        [
            ledger.Line(cash, "debit", (n + 1) * BIG, "USD"),
            ledger.Line(sales, "credit", BIG, "USD"),
            *(ledger.Line(fees, "credit", BIG, "USD") for _ in range(n)),
        ],
    )


def _version(engine: sa.Engine, account: uuid.UUID) -> tuple[str, str, bool]:
    """The account row's version (ctid, xmin) and its hint."""
    with engine.connect() as conn:
        ctid, xmin, up = conn.execute(
            sa.text(
                "SELECT ctid::text, xmin::text, large_unrolled FROM payments.accounts WHERE id = :a"
            ),
            {"a": account},
        ).one()
    return str(ctid), str(xmin), bool(up)


def _accounts(open_account: OpenAccountFn) -> tuple[uuid.UUID, uuid.UUID, uuid.UUID]:
    return (
        open_account(ORG_A, "cash", "asset"),
        open_account(ORG_A, "sales", "revenue"),
        open_account(PLATFORM, "fees", "revenue", high_volume=True),
    )


def test_a_raw_writers_second_large_line_does_not_write_the_account_again(
    engine: sa.Engine, open_account: OpenAccountFn
) -> None:
    """The owner writes an entry by hand (no door: only the trigger touches the accounts):
    two lines of 2**40 on the high-volume account, one update of the account table (the
    hint raised by the first). Before: two."""
    cash, _, fees = _accounts(open_account)
    with engine.begin() as conn:
        before = conn.execute(sa.text(_UPDATES)).scalar_one()
        entry = conn.execute(
            sa.text("INSERT INTO payments.entries (org_id) VALUES (:o) RETURNING id"), {"o": ORG_A}
        ).scalar_one()
        insert_line(conn, entry, cash, "debit", 2 * BIG)
        insert_line(conn, entry, fees, "credit", BIG, org=PLATFORM)
        insert_line(conn, entry, fees, "credit", BIG, org=PLATFORM)
        updates = conn.execute(sa.text(_UPDATES)).scalar_one() - before
    assert updates == 1
    assert _version(engine, fees)[2]


def test_the_door_writes_the_account_once_however_many_large_lines(
    engine: sa.Engine, open_account: OpenAccountFn
) -> None:
    """Through the door (ledger_write: a line of 2**40 goes the long way), an entry with five
    large fee lines updates the account table as often as one with one (the regular accounts'
    moves, and the hint raised once). Before: four more."""
    cash, sales, fees = _accounts(open_account)
    counts = {}
    for n in (1, 5):
        with engine.connect() as conn, conn.begin() as tx:
            before = conn.execute(sa.text(_UPDATES)).scalar_one()
            ledger.post_entry(conn, ORG_A, _sale(f"sale-{n}", cash, sales, fees, n))
            counts[n] = conn.execute(sa.text(_UPDATES)).scalar_one() - before
            tx.rollback()  # the hint down again for the next
    assert counts[5] == counts[1], counts


def test_a_large_line_while_the_hint_is_up_leaves_the_accounts_row_as_it_is(
    engine: sa.Engine, open_account: OpenAccountFn
) -> None:
    """The hint up (a large line committed, not rolled up): a second posting's large line
    writes no new version of the account's row. Before: a new one (another xmin)."""
    cash, sales, fees = _accounts(open_account)
    with engine.begin() as conn:
        ledger.post_entry(conn, ORG_A, _sale("first", cash, sales, fees, 1))
    before = _version(engine, fees)
    assert before[2]
    with engine.begin() as conn:
        ledger.post_entry(conn, ORG_A, _sale("second", cash, sales, fees, 1))
    assert _version(engine, fees) == before

"""The fast doors move the accounts they locked by the rows' ctid (session 42): the ctid is
read by the locking statement, so when the lock had to wait for another transaction that
updated the same accounts and committed, the lock follows the row to its new version and the
door moves that version. Two sessions, for real: one posts on both accounts and holds its
transaction open, the door waits on it, the holder commits; the door's posting then lands on
top of the holder's (totals, versions and each line's position exact), for the usual way of
`post_entry` and for `post_batch_fast` (two entries on the same two accounts). Each case also
checks that the fast way posted, not the general or long way after it declined (the usual
way takes its key by one probe of the keys' index and never calls ledger_write, as
test_post_entry_one_regular reads it; the batch's fast door is watched, `doors`)."""

from __future__ import annotations

import uuid

import pytest
import sqlalchemy as sa

import ledger
from tests.ledger_core.conftest import (
    KEY_PROBES,
    LONG_WAY_CALLS,
    ORG_A,
    Doors,
    OpenAccountFn,
    race_a_holder,
    transfer,
)


def _post(engine: sa.Engine, door: str, cash: uuid.UUID, sales: uuid.UUID) -> object:
    """The door's posting (100, and for the batch 20 more): "posted", or the error met."""
    try:
        if door == "batch":  # post_batch_fast: both entries move both accounts
            with engine.begin() as conn:
                results = ledger.post_batch(
                    conn,
                    ORG_A,
                    [transfer("door-1", cash, sales, 100), transfer("door-2", cash, sales, 20)],
                )
            refused = [r.error for r in results if r.error is not None]
            return refused[0] if refused else "posted"
        with engine.connect() as conn:
            conn.execute(sa.text("SET LOCAL track_functions = 'pl'"))
            probes = -int(conn.execute(sa.text(KEY_PROBES)).scalar_one())
            calls = -int(conn.execute(sa.text(LONG_WAY_CALLS)).scalar_one())
            ledger.post_entry(conn, ORG_A, transfer("door-1", cash, sales, 100))
            probes += int(conn.execute(sa.text(KEY_PROBES)).scalar_one())
            calls += int(conn.execute(sa.text(LONG_WAY_CALLS)).scalar_one())
            conn.commit()
    except Exception as exc:  # the test reports whatever the door raised
        return exc
    return "posted" if (probes, calls) == (1, 0) else f"another way: {probes} probes, {calls}"


@pytest.mark.parametrize("door", ["usual", "batch"])
def test_the_door_moves_the_version_its_lock_waited_for(
    engine: sa.Engine, open_account: OpenAccountFn, doors: Doors, door: str
) -> None:
    cash = open_account(ORG_A, "cash", "asset")
    sales = open_account(ORG_A, "sales", "revenue")
    holder_conn = engine.connect()
    # The holder moves both accounts (new row versions, at new ctids) and keeps its
    # transaction open: the door's lock waits for it.
    ledger.post_entry(holder_conn, ORG_A, transfer("holder", cash, sales, 7))
    outcome = race_a_holder(
        engine, holder_conn, lambda: _post(engine, door, cash, sales), "the holder of the accounts"
    )
    assert outcome == "posted"
    if door == "batch":
        assert doors.taken == [True]  # the fast door posted it, not the long way
    moved = 7 + (120 if door == "batch" else 100)
    entries = 3 if door == "batch" else 2
    with engine.connect() as conn:
        assert ledger.balance(conn, cash).posted_debits == moved
        assert ledger.balance(conn, cash).version == entries
        assert ledger.balance(conn, sales).posted_credits == moved
        assert ledger.balance(conn, sales).version == entries
        # Each line carries its account's position after it: versions 1..n, the last one
        # the account's own totals.
        positions = conn.execute(
            sa.text(
                "SELECT account_id, account_version, account_posted_debits,"
                " account_posted_credits FROM payments.lines"
                " WHERE account_id IN (:cash, :sales) ORDER BY account_id, account_version"
            ),
            {"cash": cash, "sales": sales},
        ).all()
    for account, debit_side in ((cash, True), (sales, False)):
        rows = [r for r in positions if r.account_id == account]
        assert [r.account_version for r in rows] == list(range(1, entries + 1))
        last = rows[-1]
        totals = (last.account_posted_debits, last.account_posted_credits)
        assert totals == ((moved, 0) if debit_side else (0, moved))

"""payments.expire_holds locks in the doors' one order (review of a9c95d2): the due holds,
then all their accounts, each organization's by id, the platform's last. Before, hold by hold
in expiry order, each with its two accounts: the platform's account of one organization's
hold was locked before another organization's accounts, and a door of that organization
holding its own account and wanting the platform's deadlocked with the sweep.

Concurrency is observed, never timed: a session is known to wait when pg_stat_activity says
it waits on a lock; a lock is known to be free when NOWAIT takes it.
"""

from __future__ import annotations

import uuid

import sqlalchemy as sa

import ledger
from tests.ledger_core.conftest import ORG_A, ORG_B, PLATFORM, OpenAccountFn, transfer
from tests.ledger_core.test_engine_large_lines_locking import _blocked_or_done, _pid, _run
from tests.ledger_core.test_errors import db_moment_from_now, wait_until_past


def _hold(
    engine: sa.Engine, org: uuid.UUID, key: str, debit: uuid.UUID, credit: uuid.UUID, *, ms: int
) -> uuid.UUID:
    """A hold of 1 for `org`, due in `ms` milliseconds (committed)."""
    with engine.begin() as conn:
        return ledger.create_hold(
            conn,
            org,
            ledger.CreateHold(key, debit, credit, 1, "USD", db_moment_from_now(engine, ms)),
        ).id


def test_the_sweep_waiting_for_an_organizations_account_holds_none_of_the_platforms(
    engine: sa.Engine, open_account: OpenAccountFn
) -> None:
    """Hold 1 (A's, on A's account and the platform's) is due before hold 2 (B's, on B's
    accounts). A door for B has locked B's account; the sweep waits for it holding none of
    the platform's accounts, so the door's next posting, B's account to the platform's, goes
    through; the door commits and the sweep expires both. Before: the sweep took the
    platform's account with hold 1 and waited for B's, the door waited for the platform's:
    a deadlock (one side failed with 40P01)."""
    a_cash = open_account(ORG_A, "a-cash", "asset")
    clearing = open_account(PLATFORM, "clearing", "asset")
    b_cash, b_other = open_account(ORG_B, "b-cash", "asset"), open_account(ORG_B, "b2", "asset")
    _hold(engine, ORG_A, "h1", a_cash, clearing, ms=100)
    last = db_moment_from_now(engine, 200)
    _hold(engine, ORG_B, "h2", b_cash, b_other, ms=200)
    wait_until_past(engine, last)
    out: dict[str, object] = {}
    with engine.connect() as door, engine.connect() as sweep:
        door.begin()
        ledger.post_entry(door, ORG_B, transfer("b-1", b_cash, b_other, 1))  # B's accounts locked
        pid = _pid(sweep)
        sweep.rollback()

        def expire() -> int:
            with sweep.begin():
                return ledger.expire_holds(sweep)

        thread = _run(expire, out, "expired")
        try:
            assert _blocked_or_done(engine, pid, thread)  # the sweep waits for B's account
            with engine.connect() as probe:  # holding none of the platform's
                probe.execute(
                    sa.text(
                        "SELECT 1 FROM payments.accounts WHERE org_id = :o AND id = :a"
                        " FOR NO KEY UPDATE NOWAIT"
                    ),
                    {"o": PLATFORM, "a": clearing},
                )
                probe.rollback()
            out["door"] = ledger.post_entry(door, ORG_B, transfer("b-2", b_cash, clearing, 1))
            door.commit()
        finally:
            if door.in_transaction():
                door.rollback()
            thread.join(60)
    assert isinstance(out["door"], ledger.WriteResult), out
    assert out["expired"] == 2, out
    with engine.connect() as conn:
        pending = conn.execute(
            sa.text("SELECT sum(pending_debits + pending_credits) FROM payments.accounts")
        ).scalar_one()
    assert pending == 0

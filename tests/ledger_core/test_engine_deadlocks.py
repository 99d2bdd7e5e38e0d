"""What `payments.ledger_write` (the long way) does on a deadlock (review of e423f18).

- A caller whose transaction already holds locks taken before the call (a unit of work
  posting for two organizations in opposite orders, both second writes the long way) gets
  SQLSTATE 40P01 after one deadlock: the door does not run the write again in its
  subtransaction, whose rollback cannot release the caller's earlier locks (it retried up to
  20 times, each deadlocking again: ~20 deadlock timeouts before the caller saw 40P01).
- Nor for a caller that held nothing before the call: a retry then may win too, but it may
  also take a row again before the woken waiter does and deadlock again (seen: a retry made
  at once lost that race in 3 runs of 3 under load); the API runs a request's unit of work
  again on 40P01.

Counted, never timed: the database's deadlocks (pg_stat_database.deadlocks, each session's
statistics flushed before they are read).
"""

from __future__ import annotations

import threading
import uuid

import sqlalchemy as sa
from sqlalchemy.exc import DBAPIError

import ledger
from tests.ledger_core.conftest import ORG_A, ORG_B, OpenAccountFn, transfer
from tests.ledger_core.test_engine_large_lines_locking import _blocked_or_done, _pid


def _deadlocks(engine: sa.Engine, sessions: tuple[sa.Connection, ...]) -> int:
    """The database's deadlocks so far, the sessions' own statistics flushed first (a
    backend flushes them when idle outside a transaction, forced: not a second later)."""
    for session in sessions:
        session.execute(sa.text("SELECT pg_stat_force_next_flush()"))
        session.commit()
    with engine.connect() as probe:
        probe.execute(sa.text("SELECT pg_stat_clear_snapshot()"))
        return int(
            probe.execute(
                sa.text("SELECT deadlocks FROM pg_stat_database WHERE datname = current_database()")
            ).scalar_one()
        )


def _deadlock_timeout(session: sa.Connection, setting: str) -> None:
    session.execute(sa.text(f"SET deadlock_timeout = '{setting}'"))
    session.commit()


def test_a_two_organization_deadlock_on_the_long_way_reaches_the_caller_at_once(
    engine: sa.Engine, open_account: OpenAccountFn
) -> None:
    """T1 posts for A then creates a hold for B; T2 posts for B then creates a hold for A
    (a hold goes the long way, ledger_write). One deadlock, one victim with 40P01, the other
    creates its hold. Before: the victim's door rolled its subtransaction back and waited
    again for the other's accounts, still held by the victim's first posting, up to 20
    times: one deadlock per attempt (19 more than now)."""
    a1, a2 = open_account(ORG_A, "a1", "asset"), open_account(ORG_A, "a2", "asset")
    b1, b2 = open_account(ORG_B, "b1", "asset"), open_account(ORG_B, "b2", "asset")
    out: dict[str, object] = {}

    def hold(conn: sa.Connection, name: str, org: uuid.UUID, key: str) -> None:
        debit, credit = (a1, a2) if org == ORG_A else (b1, b2)
        try:
            out[name] = ledger.create_hold(
                conn, org, ledger.CreateHold(key, debit, credit, 1, "USD")
            )
            conn.commit()
        except DBAPIError as exc:
            out[name] = exc
            conn.rollback()  # the aborted transaction's locks released: the other goes on

    with engine.connect() as t1, engine.connect() as t2:
        for session in (t1, t2):  # a deadlock found in 0.1 s, not 1 s: the old way's 20 faster
            _deadlock_timeout(session, "100ms")
        before = _deadlocks(engine, (t1, t2))
        t1.begin()
        ledger.post_entry(t1, ORG_A, transfer("t1-a", a1, a2, 1))
        t2.begin()
        ledger.post_entry(t2, ORG_B, transfer("t2-b", b1, b2, 1))
        pid = _pid(t1)
        thread = threading.Thread(target=hold, args=(t1, "t1", ORG_B, "t1-b"))
        thread.start()
        try:
            assert _blocked_or_done(engine, pid, thread)  # T1 waits for T2's B accounts
            hold(t2, "t2", ORG_A, "t2-a")
        finally:
            thread.join(120)
        deadlocks = _deadlocks(engine, (t1, t2)) - before
    failed = {n: o for n, o in out.items() if not isinstance(o, ledger.WriteResult)}
    assert len(failed) == 1, out  # one victim, the other created its hold
    (error,) = failed.values()
    assert isinstance(error, DBAPIError), error
    assert error.orig.sqlstate == "40P01"  # type: ignore[union-attr]
    assert deadlocks == 1


def test_a_lock_timeout_on_the_long_way_reaches_the_caller_after_one_wait(
    engine: sa.Engine, open_account: OpenAccountFn
) -> None:
    """A caller's own lock_timeout (SQLSTATE 55P03) is not run again in the door's
    subtransaction: the caller waits its timeout once. Before, the door retried it up to 20
    times, so a caller with lock_timeout 200 ms and statement_timeout 2 s was cancelled by the
    statement timeout (57014) before it ever saw 55P03."""
    a1, a2 = open_account(ORG_A, "a1", "asset"), open_account(ORG_A, "a2", "asset")
    with engine.connect() as blocker, engine.connect() as caller:
        blocker.begin()
        blocker.execute(
            sa.text("SELECT 1 FROM payments.accounts WHERE id = :id FOR UPDATE"), {"id": a1}
        )
        caller.begin()
        caller.execute(sa.text("SET LOCAL lock_timeout = '200ms'"))
        caller.execute(sa.text("SET LOCAL statement_timeout = '2s'"))
        try:
            ledger.create_hold(caller, ORG_A, ledger.CreateHold("lt-1", a1, a2, 1, "USD"))
        except DBAPIError as exc:
            error: DBAPIError | None = exc
        else:
            error = None
        caller.rollback()
        blocker.rollback()
    assert error is not None
    assert error.orig.sqlstate == "55P03"  # type: ignore[union-attr]

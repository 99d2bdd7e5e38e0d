"""What `payments.post_batch_fast` (the batch door's fast way) does on a deadlock (review of
session 30, L3): it lets SQLSTATE 40P01 through, as `payments.ledger_write` does (ec7403b).

A unit of work posting batches for two organizations in opposite orders holds the first
batch's accounts when its second batch waits. Before, the fast door caught the deadlock in
its subtransaction and the batch went the long way in the same transaction, whose
subtransaction's rollback had released none of the earlier locks: the long way waited for
the same accounts and deadlocked again (two deadlocks before the caller saw 40P01).

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
from tests.ledger_core.test_engine_deadlocks import _deadlock_timeout, _deadlocks
from tests.ledger_core.test_engine_large_lines_locking import _blocked_or_done, _pid


def test_a_two_organization_deadlock_between_batches_reaches_the_caller_at_once(
    engine: sa.Engine, open_account: OpenAccountFn
) -> None:
    """T1 posts a batch for A then one for B; T2 a batch for B then one for A (both on the
    fast door). One deadlock, one victim with 40P01, the other posts its batch."""
    a1, a2 = open_account(ORG_A, "a1", "asset"), open_account(ORG_A, "a2", "asset")
    b1, b2 = open_account(ORG_B, "b1", "asset"), open_account(ORG_B, "b2", "asset")
    accounts = {ORG_A: (a1, a2), ORG_B: (b1, b2)}
    out: dict[str, object] = {}

    def batch(conn: sa.Connection, org: uuid.UUID, key: str) -> list[ledger.BatchResult]:
        debit, credit = accounts[org]
        return ledger.post_batch(
            conn, org, [transfer(f"{key}-{i}", debit, credit, 1 + i) for i in range(3)]
        )

    def second(conn: sa.Connection, name: str, org: uuid.UUID, key: str) -> None:
        try:
            out[name] = batch(conn, org, key)
            conn.commit()
        except DBAPIError as exc:
            out[name] = exc
            conn.rollback()  # the aborted transaction's locks released: the other goes on

    with engine.connect() as t1, engine.connect() as t2:
        for session in (t1, t2):
            _deadlock_timeout(session, "100ms")
        before = _deadlocks(engine, (t1, t2))
        t1.begin()
        batch(t1, ORG_A, "t1-a")
        t2.begin()
        batch(t2, ORG_B, "t2-b")
        pid = _pid(t1)
        thread = threading.Thread(target=second, args=(t1, "t1", ORG_B, "t1-b"))
        thread.start()
        try:
            assert _blocked_or_done(engine, pid, thread)  # T1 waits for T2's B accounts
            second(t2, "t2", ORG_A, "t2-a")
        finally:
            thread.join(120)
        deadlocks = _deadlocks(engine, (t1, t2)) - before
    failed = {n: o for n, o in out.items() if not isinstance(o, list)}
    assert len(failed) == 1, out  # one victim, the other posted its batch
    (error,) = failed.values()
    assert isinstance(error, DBAPIError), error
    assert error.orig.sqlstate == "40P01"  # type: ignore[union-attr]
    assert deadlocks == 1
    (posted,) = [o for o in out.values() if isinstance(o, list)]
    assert len(posted) == 3 and all(r.id is not None and r.error is None for r in posted), posted


def test_a_batch_waiting_for_an_account_holds_no_key_a_single_posting_needs(
    engine: sa.Engine, open_account: OpenAccountFn
) -> None:
    """The fast door inserts its keys after its accounts' locks, as every other door does (the
    one lock order). T2 holds accounts a and b (a posting, its transaction open); T1's batch
    of keys K and K2 on a and b waits for them; T2 then posts K itself on a and b and
    commits. No deadlock: T1 finds K taken and answers it as a replay of T2's posting, K2
    posted. (With the keys inserted before the lock, tried in session 40, T1 held K while it
    waited: T2's insert of K waited for T1, a deadlock, T1 the victim.)"""
    a, b = open_account(ORG_A, "ko-a", "asset"), open_account(ORG_A, "ko-b", "revenue")
    out: dict[str, object] = {}

    def first(conn: sa.Connection) -> None:
        try:
            out["t1"] = ledger.post_batch(
                conn, ORG_A, [transfer("ko-K", a, b, 5), transfer("ko-K2", a, b, 6)]
            )
            conn.commit()
        except DBAPIError as exc:
            out["t1"] = exc
            conn.rollback()

    with engine.connect() as t1, engine.connect() as t2:
        for session in (t1, t2):
            _deadlock_timeout(session, "100ms")
        before = _deadlocks(engine, (t1, t2))
        t2.begin()
        ledger.post_entry(t2, ORG_A, transfer("ko-first", a, b, 1))
        pid = _pid(t1)
        thread = threading.Thread(target=first, args=(t1,))
        thread.start()
        try:
            assert _blocked_or_done(engine, pid, thread)  # T1 waits for T2's accounts
            ledger.post_entry(t2, ORG_A, transfer("ko-K", a, b, 5))
            t2.commit()
        finally:
            thread.join(120)
        deadlocks = _deadlocks(engine, (t1, t2)) - before
    results = out["t1"]
    assert isinstance(results, list), results
    assert [(r.replayed, r.error) for r in results] == [(True, None), (False, None)]
    assert deadlocks == 0

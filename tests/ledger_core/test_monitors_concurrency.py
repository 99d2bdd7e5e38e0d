"""accounts.monitored under concurrent creation and deletion (issue 16 item 2): two OS
processes, one creating a second monitor on each account while the other deletes its first,
at the same moment account by account. Both lock the account row before they recompute the
flag, so whichever commits last sees the other's work: every account ends with one live
monitor and its flag set (a deletion recomputing from a snapshot that misses the concurrent
creation would clear it)."""

from __future__ import annotations

import multiprocessing as mp
import queue
import uuid
from typing import Any

import pytest
import sqlalchemy as sa

import ledger
from liventix.database import make_engine
from tests.ledger_core.conftest import ORG_A, OpenAccountFn

pytestmark = pytest.mark.slow

ACCOUNTS = 30
WAIT_SECONDS = 120.0


def _worker(db_url: str, role: str, targets: list[str], barrier: Any, results: Any) -> None:
    """Create a monitor on each target account, or delete each target monitor, one per
    transaction, each after the barrier."""
    engine = make_engine(db_url, pool_size=1, max_overflow=0)
    done: list[str] = []
    try:
        engine.connect().close()
        for n, target in enumerate(targets):
            barrier.wait(timeout=WAIT_SECONDS)
            with engine.begin() as conn:
                if role == "create":
                    request = ledger.CreateMonitor(f"new{n}", uuid.UUID(target), "posted", ">", 0)
                    ledger.create_monitor(conn, ORG_A, request)
                else:
                    ledger.delete_monitor(conn, ORG_A, uuid.UUID(target))
            done.append(target)
    except Exception as exc:
        done.append(f"failed: {type(exc).__name__}: {exc}")
    finally:
        engine.dispose()
        results.put((role, done))


def test_a_creation_racing_a_deletion_leaves_the_flag_true(
    engine: sa.Engine, db_url: str, open_account: OpenAccountFn
) -> None:
    accounts = [open_account(ORG_A, f"wallet-{n}", "liability") for n in range(ACCOUNTS)]
    with engine.begin() as conn:
        first = [
            ledger.create_monitor(
                conn, ORG_A, ledger.CreateMonitor(f"old{n}", a, "posted", "<", 0)
            ).id
            for n, a in enumerate(accounts)
        ]
    ctx = mp.get_context("spawn")
    barrier = ctx.Barrier(2)
    results = ctx.Queue()
    jobs = [("create", [str(a) for a in accounts]), ("delete", [str(m) for m in first])]
    procs = [ctx.Process(target=_worker, args=(db_url, *job, barrier, results)) for job in jobs]
    for p in procs:
        p.start()
    reports: dict[str, list[str]] = {}
    try:
        for _ in procs:
            role, done = results.get(timeout=WAIT_SECONDS)
            reports[role] = done
    except queue.Empty:
        pytest.fail(f"workers did not report in time: {reports}")
    finally:
        for p in procs:
            p.join(timeout=10)
            if p.is_alive():
                p.terminate()
                p.join()
    assert reports == {"create": jobs[0][1], "delete": jobs[1][1]}
    with engine.connect() as conn:
        rows = conn.execute(
            sa.text(
                "SELECT a.monitored, (SELECT count(*) FROM payments.balance_monitors m"
                "  WHERE m.account_id = a.id AND m.deleted_at IS NULL) AS live"
                " FROM payments.accounts a WHERE a.id = ANY(:ids)"
            ),
            {"ids": accounts},
        ).all()
    assert sorted((r.monitored, r.live) for r in rows) == [(True, 1)] * ACCOUNTS

"""The hold sweep on its list (payments.hold_expiries, session 31) racing itself and the doors
(review 2, L2), on real connections: two sweeps at once share the due holds (SKIP LOCKED)
and expire each once; a sweep meeting a void in progress leaves that hold to it; a void
meeting a sweep in progress finds the hold expired. Each case ends with the list equal to
the open holds with an expiry (none here), one resolution per hold, and no pending amount
left on the accounts.

The waits are for a state read in pg_stat_activity (a backend waiting on a lock), bounded;
nothing is timed.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable

import sqlalchemy as sa

import ledger
from tests.ledger_core.conftest import ORG_A, OpenAccountFn
from tests.ledger_core.test_errors import db_moment_from_now, wait_until_past


def _due_holds(engine: sa.Engine, cash: uuid.UUID, sales: uuid.UUID, n: int) -> list[uuid.UUID]:
    """`n` holds of 1 on the same two accounts, their expiry passed."""
    due = db_moment_from_now(engine, 300)
    with engine.begin() as conn:
        ids = [
            ledger.create_hold(
                conn, ORG_A, ledger.CreateHold(f"race-{i}", cash, sales, 1, "USD", due)
            ).id
            for i in range(n)
        ]
    wait_until_past(engine, due)
    return ids


def _pid(conn: sa.Connection) -> int:
    return int(conn.exec_driver_sql("SELECT pg_backend_pid()").scalar_one())


def _wait_for_lock(engine: sa.Engine, pid: int, done: Callable[[], bool]) -> bool:
    """Until backend `pid` waits on a lock (True) or its thread is done (False): bounded at
    ~60 s."""
    for _ in range(6000):
        if done():
            return False
        with engine.connect() as conn:
            waiting = conn.execute(
                sa.text("SELECT wait_event_type = 'Lock' FROM pg_stat_activity WHERE pid = :p"),
                {"p": pid},
            ).scalar_one_or_none()
        if waiting:
            return True
        threading.Event().wait(0.01)
    raise AssertionError(f"backend {pid} never waited on a lock")


def _sweep(conn: sa.Connection, limit: int = 1000) -> int:
    ledger.act_for(conn, None)
    return ledger.expire_holds(conn, limit)


def _settled(
    engine: sa.Engine, holds: list[uuid.UUID], accounts: list[uuid.UUID]
) -> dict[str, int]:
    """Resolutions of `holds` by kind; asserts one each, the list empty and nothing pending."""
    with engine.connect() as conn:
        kinds = conn.execute(
            sa.text("SELECT hold_id, kind FROM payments.hold_resolutions WHERE hold_id = ANY(:h)"),
            {"h": holds},
        ).all()
        listed = conn.execute(sa.text("SELECT count(*) FROM payments.hold_expiries")).scalar_one()
        pending = [
            (b.pending_debits, b.pending_credits)
            for b in (ledger.balance(conn, a) for a in accounts)
        ]
    assert sorted(h for h, _ in kinds) == sorted(holds), "one resolution per hold"
    assert listed == 0
    assert pending == [(0, 0)] * len(accounts)
    counts: dict[str, int] = {}
    for _, kind in kinds:
        counts[kind] = counts.get(kind, 0) + 1
    return counts


def test_two_sweeps_at_once_expire_each_hold_once(
    engine: sa.Engine, open_account: OpenAccountFn
) -> None:
    """The first sweep takes 3 of 6 due holds and their accounts and stays open; the second
    skips those 3, takes the other 3 and waits for the accounts; both commit."""
    cash = open_account(ORG_A, "cash", "asset")
    sales = open_account(ORG_A, "sales", "revenue")
    holds = _due_holds(engine, cash, sales, 6)
    second: list[object] = []
    with engine.connect() as first, engine.connect() as other:
        pid = _pid(other)
        other.commit()
        assert _sweep(first, limit=3) == 3

        def run() -> None:
            try:
                second.append(_sweep(other))
                other.commit()
            except Exception as exc:
                second.append(exc)

        thread = threading.Thread(target=run)
        thread.start()
        waited = _wait_for_lock(engine, pid, lambda: not thread.is_alive())
        first.commit()
        thread.join(60)
    assert not thread.is_alive()
    assert waited, "the race was run: the thread's backend waited on a lock"
    assert second == [3]
    assert _settled(engine, holds, [cash, sales]) == {"expired": 6}


def test_a_sweep_leaves_a_hold_being_voided_to_the_void(
    engine: sa.Engine, open_account: OpenAccountFn
) -> None:
    """A void of a due hold, uncommitted: the sweep skips that hold, expires the other (after
    waiting for the accounts the void holds); the void commits: voided, not expired."""
    cash = open_account(ORG_A, "cash", "asset")
    sales = open_account(ORG_A, "sales", "revenue")
    voided, other_hold = _due_holds(engine, cash, sales, 2)
    swept: list[object] = []
    with engine.connect() as voider, engine.connect() as sweeper:
        pid = _pid(sweeper)
        sweeper.commit()
        ledger.void_hold(voider, ORG_A, ledger.VoidHold("void-race", voided))

        def run() -> None:
            try:
                swept.append(_sweep(sweeper))
                sweeper.commit()
            except Exception as exc:
                swept.append(exc)

        thread = threading.Thread(target=run)
        thread.start()
        waited = _wait_for_lock(engine, pid, lambda: not thread.is_alive())
        voider.commit()
        thread.join(60)
    assert not thread.is_alive()
    assert waited, "the race was run: the thread's backend waited on a lock"
    assert swept == [1]
    assert _settled(engine, [voided, other_hold], [cash, sales]) == {"voided": 1, "expired": 1}
    with engine.connect() as conn:
        kind = conn.execute(
            sa.text("SELECT kind FROM payments.hold_resolutions WHERE hold_id = :h"),
            {"h": voided},
        ).scalar_one()
    assert kind == "voided"


def test_a_void_meeting_a_sweep_in_progress_finds_the_hold_expired(
    engine: sa.Engine, open_account: OpenAccountFn
) -> None:
    """The sweep has expired the hold, uncommitted; a void of it waits for its lock, then is
    refused as already expired; the hold has one resolution and is listed nowhere."""
    cash = open_account(ORG_A, "cash", "asset")
    sales = open_account(ORG_A, "sales", "revenue")
    (hold,) = _due_holds(engine, cash, sales, 1)
    voided: list[object] = []
    with engine.connect() as sweeper, engine.connect() as voider:
        pid = _pid(voider)
        voider.commit()
        assert _sweep(sweeper) == 1

        def run() -> None:
            try:
                with voider.begin():
                    voided.append(ledger.void_hold(voider, ORG_A, ledger.VoidHold("late", hold)))
            except Exception as exc:
                voided.append(exc)

        thread = threading.Thread(target=run)
        thread.start()
        waited = _wait_for_lock(engine, pid, lambda: not thread.is_alive())
        sweeper.commit()
        thread.join(60)
    assert not thread.is_alive()
    assert waited, "the race was run: the thread's backend waited on a lock"
    assert len(voided) == 1
    assert isinstance(voided[0], ledger.HoldAlreadyExpired), voided[0]
    assert _settled(engine, [hold], [cash, sales]) == {"expired": 1}

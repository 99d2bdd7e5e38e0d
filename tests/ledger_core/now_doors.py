"""What the failure tests of the doors that commit on their own (`ledger.post_entry_now` in
test_entry_now_failures.py, `ledger.post_batch_now` in test_batch_now_failures.py) share: the
entries written, the pauses and door calls `ledger.writes.alone` makes, and a deadlock staged
with real connections and locks of which the door is the victim, waited for by reading
pg_stat_activity (a bound, not a timing)."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

import pytest
import sqlalchemy as sa

import pgdriver
from ledger import writes


def entries(engine: sa.Engine) -> int:
    """How many entries the database holds."""
    with engine.connect() as conn:
        return int(conn.execute(sa.text("SELECT count(*) FROM payments.entries")).scalar_one())


def record_pauses(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """The pauses `alone` asks for before its reruns (each one taken)."""
    asked: list[float] = []

    def pause(seconds: float) -> None:
        asked.append(seconds)
        time.sleep(seconds)

    monkeypatch.setattr(writes, "_sleep", pause)
    return asked


def count_door_calls(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """One item for each call of the door (`pgdriver.call_alone`)."""
    calls: list[int] = []
    real = pgdriver.call_alone

    def counted(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(pgdriver, "call_alone", counted)
    return calls


def _door_waits(engine: sa.Engine, pid: int) -> bool:
    with engine.connect() as conn:
        return bool(
            conn.execute(
                sa.text("SELECT wait_event_type = 'Lock' FROM pg_stat_activity WHERE pid = :p"),
                {"p": pid},
            ).scalar_one_or_none()
        )


def as_deadlock_victim(
    engine: sa.Engine, low: uuid.UUID, high: uuid.UUID, post: Callable[[sa.Connection], object]
) -> object:
    """What `post` on a connection of its own returns (or raises) when another transaction
    holds `high`, `post` (locking in id order) takes `low` and waits for `high`, and the
    other then asks for `low`: a deadlock of which `post`'s session (a short
    deadlock_timeout; the other's long) is the victim; the other commits at once."""
    door = engine.connect()
    door.exec_driver_sql("SET deadlock_timeout = '100ms'")
    door.commit()
    pid = int(door.exec_driver_sql("SELECT pg_backend_pid()").scalar_one())
    door.commit()
    outcome: list[object] = []

    def run() -> None:
        try:
            outcome.append(post(door))
        except Exception as exc:
            outcome.append(exc)

    lock = "SELECT 1 FROM payments.accounts WHERE id = :a FOR UPDATE"
    with engine.connect() as other:
        other.exec_driver_sql("SET deadlock_timeout = '60s'")
        other.execute(sa.text(lock), {"a": high})
        thread = threading.Thread(target=run)
        thread.start()
        for _ in range(6000):  # until the door waits for `high` (a bound, not a timing)
            if _door_waits(engine, pid):
                break
            threading.Event().wait(0.01)
        else:
            raise AssertionError("the door never waited for the other's lock")
        other.execute(sa.text(lock), {"a": low})  # the door, the victim, let it go
        other.commit()
    thread.join(60)
    door.close()
    assert not thread.is_alive()
    assert len(outcome) == 1
    return outcome[0]

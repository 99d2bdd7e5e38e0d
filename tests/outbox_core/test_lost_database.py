"""A worker's loop waits out a lost database only (`outbox.worker.lost_database`): a server
that went away (57P01, class 08, a failed connect) is waited out and the loop goes on; an
error the server answered with (a statement timeout, a lock not available, a deadlock, a
serialization failure) is raised, never looped on as 'unreachable'. Real PostgreSQL errors."""

from __future__ import annotations

import threading
from collections.abc import Callable

import pytest
import sqlalchemy as sa

from outbox.worker import lost_database
from tests.outbox_core.support import MakeWorker


def _raised(call: Callable[[], object]) -> BaseException:
    try:
        call()
    except Exception as exc:  # the error itself is the test's subject
        return exc
    raise AssertionError("nothing was raised")


def _statement_timeout(engine: sa.Engine) -> BaseException:
    def run() -> None:
        with engine.begin() as conn:
            conn.exec_driver_sql("SET LOCAL statement_timeout = 1")
            conn.exec_driver_sql("SELECT pg_sleep(5)")

    return _raised(run)


def _lock_not_available(engine: sa.Engine) -> BaseException:
    with engine.begin() as holder:
        holder.exec_driver_sql("LOCK TABLE messaging.deliveries IN ACCESS EXCLUSIVE MODE")

        def run() -> None:
            with engine.begin() as conn:
                conn.exec_driver_sql("SET LOCAL lock_timeout = 1")
                conn.exec_driver_sql("LOCK TABLE messaging.deliveries")

        return _raised(run)


def _terminated(engine: sa.Engine) -> BaseException:
    def run() -> None:
        with engine.connect() as conn:
            conn.exec_driver_sql("SELECT pg_terminate_backend(pg_backend_pid())")

    return _raised(run)


def _refused(engine: sa.Engine) -> BaseException:
    closed = engine.url.set(host="127.0.0.1", port=1, query={"connect_timeout": "2"})
    other = sa.create_engine(closed)
    try:
        return _raised(lambda: other.connect().close())
    finally:
        other.dispose()


def test_only_a_lost_server_counts_as_lost(engine: sa.Engine) -> None:
    timeout = _statement_timeout(engine)
    assert getattr(getattr(timeout, "orig", None), "sqlstate", None) == "57014"
    assert not lost_database(timeout)
    locked = _lock_not_available(engine)
    assert getattr(getattr(locked, "orig", None), "sqlstate", None) == "55P03"
    assert not lost_database(locked)
    assert lost_database(_terminated(engine))  # 57P01 / a closed connection
    assert lost_database(_refused(engine))  # nothing listens: no SQLSTATE
    assert not lost_database(ValueError("not a database error"))


def test_the_loop_raises_what_is_not_a_lost_database(
    engine: sa.Engine, make_worker: MakeWorker
) -> None:
    timeout = _statement_timeout(engine)
    worker = make_worker(reconnect_wait=0.01)

    def fail() -> None:
        raise timeout

    with pytest.raises(type(timeout)) as raised:
        worker.run(extra=fail)
    assert raised.value is timeout


def test_the_loop_waits_out_a_lost_database(engine: sa.Engine, make_worker: MakeWorker) -> None:
    lost = _terminated(engine)
    worker = make_worker(reconnect_wait=0.01)
    calls: list[int] = []

    def lose_once() -> None:
        calls.append(1)
        if len(calls) == 1:
            raise lost
        worker.stop()

    runner = threading.Thread(target=worker.run, kwargs={"extra": lose_once})
    runner.start()
    runner.join(timeout=120)
    assert not runner.is_alive()
    assert len(calls) == 2  # connected again after the loss, and went on

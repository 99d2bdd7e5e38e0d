"""An interruption (KeyboardInterrupt: a signal's exception, any BaseException) at any point of
the Python checkout's hold (`store.checkout.open_and_hold_alone`) on a pooled connection whose
transactions begin with options (psycopg's BEGIN, the prepared hold and a COMMIT in one libpq
pipeline) leaves the pooled connection usable: out of libpq's pipeline mode, its transaction
(left open or failed) rolled back. Before: interrupted after the pipeline's Sync result was
read (the transaction status no longer active) the connection went back to the pool in pipeline
mode, and every later statement on it failed ("PQsendQuery not allowed in pipeline mode");
interrupted while the pipeline was being sent (no Sync yet), the cancel's read waited 5 s for
answers the server never sends, and the connection was closed. Interrupted after the
statement's Parse was answered, the statement was noted as not prepared, and every later hold
on the connection failed preparing it again (42P05).

The interruption is injected by a stand-in for libpq's connection that passes every call on
and raises right after the chosen call returned."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, cast

import psycopg
import pytest
import sqlalchemy as sa

from tests.checkout_py.test_hold_after_isolation_level import _left, _order, _prepared, _set
from tests.ticketing_core.support import open_world
from ticketing_fsm.store import checkout as store

_PGconn = psycopg.pq.abc.PGconn


class _Interrupting:
    """`pgconn` with every attribute passed on, but for the `nth` call of `method` that
    returned a result (for `get_result`: not None): KeyboardInterrupt raised right after it
    returned, once (`fired`)."""

    def __init__(self, pgconn: _PGconn, method: str, nth: int, fired: list[str]) -> None:
        self._pgconn = pgconn
        self._method = method
        self._nth = nth
        self._fired = fired

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._pgconn, name)
        if name != self._method or self._fired:
            return attr

        def call(*args: Any) -> Any:
            out = attr(*args)
            if name == "get_result" and out is None:
                return out
            self._nth -= 1
            if self._nth == 0 and not self._fired:
                status = getattr(out, "status", None)
                said = out if status is None else psycopg.pq.ExecStatus(status).name
                self._fired.append(f"{name} returned {said}")
                raise KeyboardInterrupt
            return out

        return call


def _interrupt_at(
    monkeypatch: pytest.MonkeyPatch, method: str, nth: int, *, sending: bool = True
) -> list[str]:
    """KeyboardInterrupt right after the `nth` call of libpq's `method` in the hold's sending
    (`_hold_sender`'s callable, unless not `sending`) or in the reading of its results
    (`_results`: one count over the call); what fired (empty: nothing)."""
    fired: list[str] = []
    hold_sender, results = store._hold_sender, store._results
    reader: list[_Interrupting] = []

    def sender(values: list[bytes], begin: bytes | None) -> Callable[[_PGconn], None]:
        send = hold_sender(values, begin)
        return lambda c: send(cast(_PGconn, _Interrupting(c, method, nth, fired)))

    def reading(pgconn: _PGconn, timeout: float | None, **kwargs: Any) -> Any:
        if not reader:
            reader.append(_Interrupting(pgconn, method, nth, fired))
        return results(cast(_PGconn, reader[0]), timeout, **kwargs)

    if sending:
        monkeypatch.setattr(store, "_hold_sender", sender)
    monkeypatch.setattr(store, "_results", reading)
    return fired


def _pool_connection_is_clean(engine: sa.Engine, driver: psycopg.Connection[Any]) -> None:
    """The pool hands out the same psycopg connection (not invalidated), out of pipeline
    mode, no transaction open."""
    raw: Any = engine.raw_connection()
    try:
        assert raw.driver_connection is driver
        assert driver.pgconn.pipeline_status == psycopg.pq.PipelineStatus.OFF
        assert driver.pgconn.transaction_status == psycopg.pq.TransactionStatus.IDLE
    finally:
        raw.close()


# The points of the pipelined hold's exchange: while it is sent (pipeline mode entered, the
# BEGIN, the hold's execution, the COMMIT, the Sync queued), once it went out, after each
# statement's result, after the Sync's, after pipeline mode was left.
_POINTS = [
    ("enter_pipeline_mode", 1),
    ("send_query_params", 1),  # the BEGIN
    ("send_query_prepared", 1),  # the hold
    ("send_query_params", 2),  # the COMMIT
    ("pipeline_sync", 1),
    ("flush", 1),
    ("get_result", 1),  # the BEGIN's
    ("get_result", 2),  # the execution's
    ("get_result", 3),  # the COMMIT's
    ("get_result", 4),  # the Sync's (Review1's L6 window)
    ("exit_pipeline_mode", 1),
]


@pytest.mark.parametrize(("method", "nth"), _POINTS, ids=[f"{m}-{n}" for m, n in _POINTS])
def test_an_interrupted_pipelined_hold_leaves_the_connection_usable(
    one_connection: sa.Engine, monkeypatch: pytest.MonkeyPatch, method: str, nth: int
) -> None:
    """Interrupted at the point: KeyboardInterrupt raised; the pool's connection the same,
    out of pipeline mode, no transaction open; the hold retried under its key held once
    (whether or not the interrupted one committed); another checkout holds."""
    engine = one_connection
    with engine.begin() as conn:
        world = open_world(conn, capacities=(10,))
    driver = _set(engine, isolation_level=psycopg.IsolationLevel.REPEATABLE_READ)
    assert store.open_and_hold_alone(engine, _order(world, "int-0", 1)) is not None  # prepared
    assert _left(engine, world) == 9
    with monkeypatch.context() as patched:
        fired = _interrupt_at(patched, method, nth)
        with pytest.raises(KeyboardInterrupt):
            store.open_and_hold_alone(engine, _order(world, "int-1", 2))
    assert len(fired) == 1, fired
    _pool_connection_is_clean(engine, driver)
    assert _left(engine, world) in (7, 9)  # committed or not, nothing left half done
    order = _order(world, "int-1", 2)
    again = store.open_and_hold_alone(engine, order)
    assert again is not None
    assert again.held_until is not None or again.order_id == order["id"]  # held, or replayed
    assert _left(engine, world) == 7
    row = store.open_and_hold_alone(engine, _order(world, "int-2", 3))
    assert row is not None and row.held_until is not None
    assert _left(engine, world) == 4
    _pool_connection_is_clean(engine, driver)
    # Prepared once: run by every hold since (the interrupted one's, if it went out).
    assert _prepared(engine) in (
        [(store.OPEN_AND_HOLD_PREPARED, 3)],
        [(store.OPEN_AND_HOLD_PREPARED, 4)],
    )


@pytest.mark.parametrize("level", [None, psycopg.IsolationLevel.REPEATABLE_READ])
def test_a_hold_interrupted_once_prepared_is_prepared_no_more(
    one_connection: sa.Engine,
    monkeypatch: pytest.MonkeyPatch,
    level: psycopg.IsolationLevel | None,
) -> None:
    """Interrupted right after the server answered the statement's Parse (the first hold on
    the connection): the next hold runs the statement prepared then, not preparing it again
    (before: 42P05 at every later hold on the connection)."""
    engine = one_connection
    with engine.begin() as conn:
        world = open_world(conn, capacities=(10,))
    driver = _set(engine, isolation_level=level)
    assert _prepared(engine) == []
    with monkeypatch.context() as patched:
        fired = _interrupt_at(patched, "get_result", 1, sending=False)  # the Parse's
        with pytest.raises(KeyboardInterrupt):
            store.open_and_hold_alone(engine, _order(world, "prep-1", 2))
    assert fired and "COMMAND_OK" in fired[0]
    assert _prepared(engine) == [(store.OPEN_AND_HOLD_PREPARED, 0)]
    assert _left(engine, world) == 10  # the hold never went
    row = store.open_and_hold_alone(engine, _order(world, "prep-1", 2))
    assert row is not None and row.held_until is not None
    row = store.open_and_hold_alone(engine, _order(world, "prep-2", 1))
    assert row is not None and row.held_until is not None
    assert _left(engine, world) == 7
    _pool_connection_is_clean(engine, driver)
    assert _prepared(engine) == [(store.OPEN_AND_HOLD_PREPARED, 2)]


def test_a_pipelined_hold_on_a_lost_connection_is_invalidated(
    one_connection: sa.Engine, committing_engine: sa.Engine
) -> None:
    """The pooled connection's session terminated while it sat in the pool: the pipelined
    hold fails as a lost connection (DBAPIError, invalidated), nothing held; the pool's next
    connection is a new one, out of pipeline mode, and holds."""
    engine = one_connection
    with engine.begin() as conn:
        world = open_world(conn, capacities=(10,))
    driver = _set(engine, isolation_level=psycopg.IsolationLevel.REPEATABLE_READ)
    assert store.open_and_hold_alone(engine, _order(world, "lost-0", 1)) is not None
    with committing_engine.begin() as conn:
        conn.execute(sa.text("SELECT pg_terminate_backend(:pid)"), {"pid": driver.info.backend_pid})
    with pytest.raises(sa.exc.DBAPIError) as lost:
        store.open_and_hold_alone(engine, _order(world, "lost-1", 2))
    assert lost.value.connection_invalidated
    assert driver.closed
    raw: Any = engine.raw_connection()
    try:
        assert raw.driver_connection is not driver
        assert raw.driver_connection.pgconn.pipeline_status == psycopg.pq.PipelineStatus.OFF
    finally:
        raw.close()
    assert _left(engine, world) == 9
    _set(engine, isolation_level=psycopg.IsolationLevel.REPEATABLE_READ)
    row = store.open_and_hold_alone(engine, _order(world, "lost-1", 2))
    assert row is not None and row.held_until is not None
    assert _left(engine, world) == 7

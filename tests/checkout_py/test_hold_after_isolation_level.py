"""The Python checkout's hold of one ticket type (`store.checkout.open_and_hold_alone`) on a
pooled connection whose transactions begin with options. SQLAlchemy's
`conn.execution_options(isolation_level=...)` sets psycopg's `isolation_level`, and its reset
when the connection goes back to the pool sets it to the dialect's default level, READ
COMMITTED, written out: psycopg begins every later transaction with `BEGIN ISOLATION LEVEL
READ COMMITTED` (never `BEGIN`) for the connection's life, and the hold took the literal
simple query (BEGIN, the call with its values as literals, COMMIT: parsed and planned at every
call). It now goes prepared whatever options the connection's transactions begin with: the
BEGIN psycopg would send, the prepared statement's execution and the COMMIT in one libpq
pipeline (one round trip), so it runs at the level the connection asks for."""

from __future__ import annotations

import os
import signal
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
import pytest
import sqlalchemy as sa
from sqlalchemy.exc import DBAPIError

import pgdriver
import ticketing_fsm as tk
from tests.ticketing_core.support import Gateway, World, open_world, request
from ticketing_fsm import checkout as tk_checkout
from ticketing_fsm.store import checkout as store

_NAME = "ticketing_open_and_hold_checkout_for"


def _prepared(engine: sa.Engine) -> list[tuple[str, int]]:
    """The hold's prepared statement on the pool's connection: (its text, times run)."""
    with engine.connect() as conn:
        rows = conn.exec_driver_sql(
            "SELECT statement, generic_plans + custom_plans FROM pg_prepared_statements"
            " WHERE name = %(name)s",
            {"name": _NAME},
        ).all()
        conn.commit()  # a rollback would make psycopg deallocate its own statements
    return [(str(r[0]), int(r[1])) for r in rows]


def _left(engine: sa.Engine, world: World) -> int:
    with engine.connect() as conn:
        left = conn.execute(
            sa.text("SELECT capacity - held - sold FROM ticketing.ticket_types WHERE id = :id"),
            {"id": world.ga},
        ).scalar_one()
    return int(left)


@contextmanager
def _levels_seen(engine: sa.Engine) -> Iterator[list[str]]:
    """The isolation level, read-only and deferrable settings of the transaction of every
    order the hold inserts, as the server ran it: a trigger of the test's on
    `ticketing.orders` raises them as a NOTICE, which the pool's one connection collects."""
    with engine.begin() as conn:
        conn.exec_driver_sql("""
            CREATE FUNCTION public.test_hold_level() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                RAISE NOTICE 'hold at %%/%%/%%', current_setting('transaction_isolation'),
                    current_setting('transaction_read_only'),
                    current_setting('transaction_deferrable');
                RETURN NULL;
            END $$""")
        conn.exec_driver_sql(
            "CREATE TRIGGER test_hold_level AFTER INSERT ON ticketing.orders"
            " FOR EACH ROW EXECUTE FUNCTION public.test_hold_level()"
        )
    seen: list[str] = []

    def noticed(diag: psycopg.errors.Diagnostic) -> None:
        if diag.message_primary and diag.message_primary.startswith("hold at "):
            seen.append(diag.message_primary.removeprefix("hold at "))

    raw: Any = engine.raw_connection()
    try:
        driver = raw.driver_connection
        driver.add_notice_handler(noticed)
    finally:
        raw.close()
    try:
        yield seen
    finally:
        driver.remove_notice_handler(noticed)


def _order(world: World, key: str, n: int) -> dict[str, Any]:
    one = tk_checkout._one_type_order(request(world, key, (n,)), tk_checkout.DEFAULT_HOLD)
    assert one is not None
    return dict(one[1])


def _set(engine: sa.Engine, **characteristics: Any) -> psycopg.Connection[Any]:
    """The pool's one connection's psycopg characteristics, set as a caller could set them;
    its psycopg connection."""
    raw: Any = engine.raw_connection()
    try:
        driver: psycopg.Connection[Any] = raw.driver_connection
        for name, value in characteristics.items():
            setattr(driver, name, value)
    finally:
        raw.close()
    return driver


def test_after_an_isolation_level_the_hold_is_prepared(one_connection: sa.Engine) -> None:
    """The mechanism (SQLAlchemy's reset leaves READ COMMITTED written out), then two
    checkouts: both run the prepared hold (before: none prepared, the literal simple query
    each time), at READ COMMITTED."""
    engine = one_connection
    with engine.begin() as conn:
        world = open_world(conn, capacities=(10,))
    with engine.connect() as conn:  # a report's, an ANALYZE's unit of work
        conn.execution_options(isolation_level="REPEATABLE READ")
        assert conn.exec_driver_sql("SHOW transaction_isolation").scalar_one() == "repeatable read"
        conn.commit()
    raw: Any = engine.raw_connection()
    try:
        driver = raw.driver_connection
        assert driver.isolation_level == psycopg.IsolationLevel.READ_COMMITTED  # not None
        assert pgdriver.begin_command(driver) == b"BEGIN ISOLATION LEVEL READ COMMITTED"
    finally:
        raw.close()
    with _levels_seen(engine) as seen:
        first = tk.start_checkout(engine, Gateway(), request(world, "level-1", (2,)))
        second = tk.start_checkout(engine, Gateway(), request(world, "level-2", (3,)))
    assert first.order_id != second.order_id
    assert _prepared(engine) == [(store.OPEN_AND_HOLD_PREPARED, 2)]
    assert seen == ["read committed/off/off"] * 2
    assert _left(engine, world) == 5
    # A replay under the key: the same statement, nothing more held.
    again = tk.start_checkout(engine, Gateway(), request(world, "level-1", (2,)))
    assert again.replayed and again.payment_intent_id == first.payment_intent_id
    assert _prepared(engine) == [(store.OPEN_AND_HOLD_PREPARED, 3)]
    assert _left(engine, world) == 5


@pytest.mark.parametrize(
    ("characteristics", "expected"),
    [
        ({"isolation_level": psycopg.IsolationLevel.REPEATABLE_READ}, "repeatable read/off/off"),
        ({"isolation_level": psycopg.IsolationLevel.SERIALIZABLE}, "serializable/off/off"),
        (
            {"isolation_level": psycopg.IsolationLevel.SERIALIZABLE, "deferrable": False},
            "serializable/off/off",
        ),
        ({"read_only": False}, "read committed/off/off"),
    ],
)
def test_the_prepared_hold_runs_at_the_level_the_connection_asks_for(
    one_connection: sa.Engine, characteristics: dict[str, Any], expected: str
) -> None:
    """The hold's transaction as the server ran it (the test's trigger): at the connection's
    level, with its options; the statement prepared on the first hold, run by the second."""
    engine = one_connection
    with engine.begin() as conn:
        world = open_world(conn, capacities=(10,))
    driver = _set(engine, **characteristics)
    with _levels_seen(engine) as seen:
        for key, n in (("chars-1", 1), ("chars-2", 2)):
            row = store.open_and_hold_alone(engine, _order(world, key, n))
            assert row is not None and row.held_until is not None
    assert _set(engine, isolation_level=None, read_only=None, deferrable=None) is driver
    assert seen == [expected] * 2
    assert _prepared(engine) == [(store.OPEN_AND_HOLD_PREPARED, 2)]
    assert _left(engine, world) == 7


def test_a_read_only_connection_is_refused_the_hold(one_connection: sa.Engine) -> None:
    """READ ONLY in the BEGIN: the prepared hold is refused (25006), nothing held, the
    connection usable again."""
    engine = one_connection
    with engine.begin() as conn:
        world = open_world(conn, capacities=(10,))
    _set(engine, read_only=True)
    with pytest.raises(DBAPIError) as refused:
        store.open_and_hold_alone(engine, _order(world, "ro-1", 1))
    assert getattr(refused.value.orig, "sqlstate", None) == "25006"
    _set(engine, read_only=None)
    row = store.open_and_hold_alone(engine, _order(world, "ro-2", 2))
    assert row is not None and row.held_until is not None
    assert _left(engine, world) == 8


def test_a_deallocated_hold_at_a_level_is_prepared_again(one_connection: sa.Engine) -> None:
    """Deallocated behind its back (psycopg's DEALLOCATE ALL): the failed transaction rolled
    back, the statement prepared again and run, once."""
    engine = one_connection
    with engine.begin() as conn:
        world = open_world(conn, capacities=(10,))
    _set(engine, isolation_level=psycopg.IsolationLevel.REPEATABLE_READ)
    assert store.open_and_hold_alone(engine, _order(world, "d-1", 1)) is not None
    with engine.connect() as conn:
        conn.exec_driver_sql("DEALLOCATE ALL")
        conn.commit()
    assert _prepared(engine) == []
    with _levels_seen(engine) as seen:
        row = store.open_and_hold_alone(engine, _order(world, "d-2", 2))
    assert row is not None and row.held_until is not None
    assert seen == ["repeatable read/off/off"]
    assert _prepared(engine) == [(store.OPEN_AND_HOLD_PREPARED, 1)]
    assert _left(engine, world) == 7


def test_a_hold_at_a_level_prepared_before_its_function_changed_is_prepared_again(
    one_connection: sa.Engine, committing_engine: sa.Engine
) -> None:
    """A migration replaced the function with other result columns (0A000 at the prepared
    statement's execution, nothing run): the failed transaction rolled back, the statement
    deallocated, prepared again and run, at the connection's level."""
    engine = one_connection
    with engine.begin() as conn:
        world = open_world(conn, capacities=(10,))
    _set(engine, isolation_level=psycopg.IsolationLevel.SERIALIZABLE)
    assert store.open_and_hold_alone(engine, _order(world, "m-1", 1)) is not None
    with committing_engine.begin() as conn:  # another connection, as a migration's
        definition = conn.exec_driver_sql(
            "SELECT pg_get_functiondef('ticketing.open_and_hold_checkout_for'::regproc)"
        ).scalar_one()
        widened = definition.replace("on_sale boolean)", "on_sale boolean, added integer)", 1)
        assert widened != definition
        conn.exec_driver_sql("DROP FUNCTION ticketing.open_and_hold_checkout_for")
        conn.exec_driver_sql(widened.replace("%", "%%"))
    with _levels_seen(engine) as seen:
        row = store.open_and_hold_alone(engine, _order(world, "m-2", 2))
    assert row is not None and row.held_until is not None and row.added is None
    assert seen == ["serializable/off/off"]
    assert _prepared(engine) == [(store.OPEN_AND_HOLD_PREPARED, 1)]
    assert _left(engine, world) == 7


@contextmanager
def _traced(engine: sa.Engine) -> Iterator[list[str]]:
    """The protocol messages libpq exchanged on the pool's one connection meanwhile (libpq's
    trace: 'F <message>' from the client, 'B <message>' from the server)."""
    lines: list[str] = []
    raw: Any = engine.raw_connection()
    try:
        pgconn = raw.driver_connection.pgconn
    finally:
        raw.close()
    fd, path = tempfile.mkstemp()
    try:
        pgconn.trace(fd)
        try:
            yield lines
        finally:
            pgconn.untrace()
        with open(path) as traced:
            for line in traced:
                fields = line.rstrip("\n").split("\t")
                if len(fields) >= 4 and fields[1] in ("F", "B"):  # time, direction, length
                    lines.append(fields[1] + " " + fields[3].split(" ")[0])
    finally:
        os.close(fd)
        os.unlink(path)


@pytest.mark.parametrize("level", [None, psycopg.IsolationLevel.READ_COMMITTED])
def test_the_prepared_hold_is_one_round_trip(
    one_connection: sa.Engine, level: psycopg.IsolationLevel | None
) -> None:
    """Once prepared, a hold is one round trip (libpq's trace): the prepared statement alone
    as its own transaction where psycopg would send a plain BEGIN; with the BEGIN and the
    COMMIT in the same pipeline where psycopg's BEGIN carries options."""
    engine = one_connection
    with engine.begin() as conn:
        world = open_world(conn, capacities=(10,))
    _set(engine, isolation_level=level)
    assert store.open_and_hold_alone(engine, _order(world, "trip-1", 1)) is not None
    with _traced(engine) as lines:
        assert store.open_and_hold_alone(engine, _order(world, "trip-2", 1)) is not None
    assert sum(1 for line in lines if line == "B ReadyForQuery") == 1
    sent = [line for line in lines if line.startswith("F ")]
    execution = ["F Bind", "F Describe", "F Execute"]
    if level is None:
        assert sent == [*execution, "F Sync"]
    else:  # the BEGIN (unnamed), the hold (prepared), the COMMIT (unnamed)
        assert sent == ["F Parse", *execution, *execution, "F Parse", *execution, "F Sync"]
    assert _prepared(engine) == [(store.OPEN_AND_HOLD_PREPARED, 2)]


def test_an_interrupted_pipelined_hold_is_cancelled_on_the_server(
    one_connection: sa.Engine,
) -> None:
    """Ctrl-C while the pipelined hold (at REPEATABLE READ) waits for the event's lock:
    KeyboardInterrupt, the statement cancelled on the server and the pipeline's results read
    (libpq out of pipeline mode), nothing held; the pooled connection's next hold holds."""
    if threading.current_thread() is not threading.main_thread():
        pytest.skip("signals reach the main thread only")
    engine = one_connection
    with engine.begin() as conn:
        world = open_world(conn, capacities=(5,))
    driver = _set(engine, isolation_level=psycopg.IsolationLevel.REPEATABLE_READ)
    assert store.open_and_hold_alone(engine, _order(world, "int-0", 1)) is not None  # prepared
    dsn = engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
    armed, stop = threading.Event(), threading.Event()

    def interrupt(signum: int, frame: Any) -> None:
        if armed.is_set():  # never outside the call below
            armed.clear()
            raise KeyboardInterrupt

    def press_ctrl_c() -> None:  # once the hold waits for its lock
        with psycopg.connect(dsn, autocommit=True) as watcher:
            while not stop.is_set():
                found = watcher.execute(
                    "SELECT count(*) FROM pg_stat_activity WHERE pid = %s"
                    " AND wait_event_type = 'Lock'",
                    [driver.info.backend_pid],
                ).fetchone()
                if armed.is_set() and found is not None and found[0]:
                    signal.pthread_kill(threading.main_thread().ident or 0, signal.SIGINT)
                    return

    locker = psycopg.connect(dsn)
    locker.execute("SELECT 1 FROM ticketing.events WHERE id = %s FOR UPDATE", [world.event])
    previous = signal.signal(signal.SIGINT, interrupt)
    presser = threading.Thread(target=press_ctrl_c)
    try:
        presser.start()
        armed.set()
        with pytest.raises(KeyboardInterrupt):
            store.open_and_hold_alone(engine, _order(world, "int-1", 2))
        armed.clear()
    finally:
        armed.clear()
        stop.set()
        signal.signal(signal.SIGINT, previous)
        locker.rollback()
        locker.close()
        presser.join()
    assert driver.pgconn.pipeline_status == psycopg.pq.PipelineStatus.OFF
    assert _set(engine) is driver  # not invalidated
    assert _left(engine, world) == 4
    row = store.open_and_hold_alone(engine, _order(world, "int-2", 2))
    assert row is not None and row.held_until is not None
    assert _left(engine, world) == 2
    assert _prepared(engine) == [(store.OPEN_AND_HOLD_PREPARED, 3)]

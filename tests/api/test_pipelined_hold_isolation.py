"""The API's pipelined hold (`keys.authenticate(..., then=HoldStatement, commit=True)`,
`keys._open_pipelined`) on a connection whose transactions begin with options: SQLAlchemy's
`conn.execution_options(isolation_level=...)` (or psycopg's own characteristics) make psycopg
begin with `BEGIN ISOLATION LEVEL ...`, and the pipeline sends that BEGIN. Its statements'
Parse messages went in front of the BEGIN on a connection's first use of them (or after they
were deallocated): a Parse of a query takes a snapshot in the implicit transaction it opens,
which the BEGIN then takes over, so the BEGIN's `SET TRANSACTION ISOLATION LEVEL` (to another
level than the session's default) or `[NOT] DEFERRABLE` failed with 25001 ("must be called
before any query") and nothing ran. The BEGIN now goes first; the round trips stay one."""

from __future__ import annotations

import os
import tempfile
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import psycopg
import pytest
import sqlalchemy as sa

import ticketing_fsm as tk
from liventix.api import create_key, keys
from tests.ticketing_core.support import World, open_world, request


class _Characteristics:
    """A `keys.PreparedThen` of the test's: the transaction's isolation level, read-only and
    deferrable settings, as the server ran the statement sent after the authentication."""

    name = b"test_pipelined_hold_characteristics"
    text = (
        b"SELECT current_setting('transaction_isolation'),"
        b" current_setting('transaction_read_only'), current_setting('transaction_deferrable')"
    )

    def __call__(self, escape: keys.Escape) -> bytes:
        return self.text

    def parameters(self, encoding: str) -> Sequence[bytes | None]:
        return []


def _plan(world: World, key: str, n: int) -> tk.PlannedHold:
    planned = tk.plan_hold(request(world, key, (n,)), go=keys.FRESH_WRITE)
    assert planned is not None
    assert isinstance(planned.statement, keys.PreparedThen)
    return planned


def _held(engine: sa.Engine, type_id: uuid.UUID) -> int:
    with engine.connect() as conn:
        return int(
            conn.execute(
                sa.text("SELECT held FROM ticketing.ticket_types WHERE id = :id"), {"id": type_id}
            ).scalar_one()
        )


def _prepared(engine: sa.Engine) -> set[str]:
    """The names of the session's prepared statements on the engine's one connection."""
    with engine.connect() as conn:
        rows = conn.exec_driver_sql("SELECT name FROM pg_prepared_statements").all()
        conn.commit()  # a rollback would make psycopg deallocate its own statements
    return {r[0] for r in rows}


@contextmanager
def _traced(conn: sa.Connection) -> Iterator[list[str]]:
    """The protocol messages libpq exchanged on `conn`'s driver connection meanwhile (libpq's
    trace: one line per message, 'F' from the client, 'B' from the server)."""
    lines: list[str] = []
    driver = conn.connection.driver_connection
    assert isinstance(driver, psycopg.Connection)
    pgconn = driver.pgconn
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
                if len(fields) >= 4 and fields[1] in ("F", "B"):  # time, direction, length, type
                    lines.append(fields[1] + " " + fields[3].split(" ")[0])
    finally:
        os.close(fd)
        os.unlink(path)


def _round_trips(lines: list[str]) -> int:
    """The client's waits for the server: each ends with the server's ReadyForQuery."""
    return sum(1 for line in lines if line.startswith("B ReadyForQuery"))


_OPTIONS: list[dict[str, Any]] = [
    {"isolation_level": "REPEATABLE READ"},
    {"isolation_level": "SERIALIZABLE"},
    {"isolation_level": "SERIALIZABLE", "postgresql_readonly": True, "postgresql_deferrable": True},
]
_EXPECTED = [
    ("repeatable read", "off", "off"),
    ("serializable", "off", "off"),
    ("serializable", "on", "on"),
]


@pytest.mark.parametrize(("options", "expected"), list(zip(_OPTIONS, _EXPECTED, strict=True)))
def test_the_pipeline_runs_at_the_level_the_connection_asks_for(
    one_connection: sa.Engine, options: dict[str, Any], expected: tuple[str, str, str]
) -> None:
    """The statements prepared on the connection's first pipeline (the Parse messages sent):
    before, the BEGIN failed with 25001 and the request with it."""
    engine = one_connection
    with engine.begin() as conn:
        world = open_world(conn, capacities=(5,))
        token = create_key(conn, world.org, description="one").token
    assert _prepared(engine) == set()
    for attempt in ("first", "prepared"):
        with engine.connect() as conn:
            conn.execution_options(**options)
            answers: list[Any] = []
            principal, stored = keys.authenticate(
                conn,
                token,
                f"chars-{attempt}",
                then=_Characteristics(),
                answers=answers,
                commit=True,
            )
            assert principal is not None and principal.org_id == world.org and stored is None
            assert len(answers) == 1
            result = answers[0]
            row = tuple(bytes(result.get_value(0, n)).decode() for n in range(3))
            assert row == expected
            conn.rollback()
    assert _Characteristics.name.decode() in _prepared(engine)


def test_the_api_hold_at_repeatable_read_is_held_and_prepared(one_connection: sa.Engine) -> None:
    """The checkout's hold itself, as the API sends it, from a connection at REPEATABLE READ:
    held and committed in the round trip, its statements prepared on the first one."""
    engine = one_connection
    with engine.begin() as conn:
        world = open_world(conn, capacities=(5,))
        token = create_key(conn, world.org, description="one").token
    for n, key in ((2, "rr-1"), (1, "rr-2")):
        planned = _plan(world, f"api:{key}", n)
        with engine.connect() as conn:
            conn.execution_options(isolation_level="REPEATABLE READ")
            answers: list[Any] = []
            principal, stored = keys.authenticate(
                conn, token, key, then=planned.statement, answers=answers, commit=True
            )
            assert principal is not None and stored is None and len(answers) == 1
            pending = tk.planned_hold_result(conn, planned, answers[0])
            assert isinstance(pending, tk.PendingCheckout)
            assert pending.order_id == planned.order_id
            conn.rollback()  # the round trip's COMMIT is all that can keep anything
    assert _held(engine, world.types[0]) == 3
    assert isinstance(planned.statement, keys.PreparedThen)
    assert planned.statement.name.decode() in _prepared(engine)


@pytest.mark.parametrize("level", [None, "REPEATABLE READ"])
def test_the_pipelined_hold_is_one_round_trip(one_connection: sa.Engine, level: str | None) -> None:
    """Counted by libpq's trace: one round trip for the hold with its statements prepared in
    the same pipeline, and one once they are prepared (at the session's default level and at
    another)."""
    engine = one_connection
    with engine.begin() as conn:
        world = open_world(conn, capacities=(5,))
        token = create_key(conn, world.org, description="one").token
    trips = []
    for key in ("trip-1", "trip-2"):
        planned = _plan(world, f"api:{key}", 1)
        with engine.connect() as conn:
            if level is not None:
                conn.execution_options(isolation_level=level)
            conn.exec_driver_sql("SELECT 1")  # the pool's reset and the level set: not counted
            conn.rollback()
            answers: list[Any] = []
            with _traced(conn) as lines:
                principal, _stored = keys.authenticate(
                    conn, token, key, then=planned.statement, answers=answers, commit=True
                )
            assert principal is not None and len(answers) == 1
            assert isinstance(tk.planned_hold_result(conn, planned, answers[0]), tk.PendingCheckout)
            conn.rollback()
        sent = [line for line in lines if line.startswith("F ")]
        trips.append((_round_trips(lines), sum(1 for line in sent if line == "F Parse")))
    # The first: BEGIN, two statements prepared, two run, COMMIT; the second: BEGIN, COMMIT.
    assert trips == [(1, 4), (1, 2)]
    assert _held(engine, world.types[0]) == 2

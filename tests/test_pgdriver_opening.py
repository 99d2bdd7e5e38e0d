"""`pgdriver.fetch_opening`: a transaction's first statement sent with its BEGIN in one round
trip (libpq's pipeline mode), prepared once per connection by name; None (nothing sent) where
it cannot go so; a statement deallocated behind its back prepared again; errors raised as
SQLAlchemy's; an interruption while the statement runs cancels it and leaves a failed
transaction for the caller's rollback."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import psycopg
import pytest
import sqlalchemy as sa
from sqlalchemy.exc import DataError

import pgdriver

_STATEMENT = """
    SELECT $1::uuid AS id, $2::bigint + 1 AS n, $3::text AS t, $4::boolean AS b,
           $5::text AS missing, now() AS at, ARRAY[$2::bigint, 2] AS arr"""
_NAME = "test_pgdriver_opening"


def _server_status(conn: sa.Connection) -> Any:
    driver: Any = conn.connection.driver_connection
    return driver.pgconn.transaction_status


def _prepared(conn: sa.Connection) -> set[str]:
    # A statement of its own on the driver, read inside the caller's transaction.
    driver: Any = conn.connection.driver_connection
    with driver.cursor() as cur:
        cur.execute("SELECT name FROM pg_prepared_statements")
        return {r[0] for r in cur.fetchall()}


def test_the_first_statement_goes_with_its_begin_and_rows_load_as_fetch_loads_them(
    engine: sa.Engine,
) -> None:
    some = uuid.uuid4()
    with engine.begin() as conn:
        rows = pgdriver.fetch_opening(conn, _NAME, _STATEMENT, [some, 41, "é'x", True, None])
        assert rows is not None and len(rows) == 1
        (row,) = rows
        assert row.id == some and row.n == 42 and row.t == "é'x" and row.b is True
        assert row.missing is None and isinstance(row.at, datetime) and row.arr == [41, 2]
        assert row._fields == ("id", "n", "t", "b", "missing", "at", "arr")
        # Its transaction is open on the server (the BEGIN went with it) and prepared by name.
        assert _server_status(conn) == psycopg.pq.TransactionStatus.INTRANS
        assert _NAME in _prepared(conn)
        # Not the first statement any more: nothing sent, the caller's usual way.
        assert pgdriver.fetch_opening(conn, _NAME, _STATEMENT, [some, 1, "x", True, None]) is None


def test_the_transaction_is_the_callers_to_commit_or_roll_back(engine: sa.Engine) -> None:
    with engine.begin() as conn:
        conn.execute(sa.text("CREATE TABLE opening_probe (n int)"))
    insert = "INSERT INTO opening_probe VALUES ($1) RETURNING n"
    with engine.connect() as conn:
        assert pgdriver.fetch_opening(conn, "probe_insert", insert, [1]) is not None
        conn.rollback()
        assert pgdriver.fetch_opening(conn, "probe_insert", insert, [2]) is not None
        conn.commit()
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT n FROM opening_probe")).scalars().all() == [2]


def test_what_cannot_go_so_sends_nothing(engine: sa.Engine) -> None:
    with engine.connect() as conn:
        for params in (
            [uuid.uuid4(), 1.5, "x", True, None],
            [uuid.uuid4(), 1, "a\x00b", True, None],
        ):
            assert pgdriver.fetch_opening(conn, _NAME, _STATEMENT, params) is None
            assert _server_status(conn) == psycopg.pq.TransactionStatus.IDLE
        conn.rollback()
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        assert (
            pgdriver.fetch_opening(conn, _NAME, _STATEMENT, [uuid.uuid4(), 1, "x", True, None])
            is None
        )


def test_a_statement_deallocated_behind_its_back_is_prepared_again(engine: sa.Engine) -> None:
    params: list[Any] = [uuid.uuid4(), 1, "x", False, None]
    with engine.connect() as conn:
        assert pgdriver.fetch_opening(conn, _NAME, _STATEMENT, params) is not None
        conn.rollback()
        driver: Any = conn.connection.driver_connection
        driver.execute("DEALLOCATE ALL")  # as psycopg sends after a rollback (autocommitted)
        driver.commit()
        assert _NAME not in _prepared(conn)
        driver.rollback()
        rows = pgdriver.fetch_opening(conn, _NAME, _STATEMENT, params)
        assert rows is not None and rows[0].n == 2
        assert _server_status(conn) == psycopg.pq.TransactionStatus.INTRANS
        assert _NAME in _prepared(conn)
        conn.commit()


def test_an_error_is_sqlalchemys_and_the_connection_rolls_back(engine: sa.Engine) -> None:
    failing = "SELECT 1 / $1::int AS x"
    with engine.connect() as conn:
        with pytest.raises(DataError) as raised:
            pgdriver.fetch_opening(conn, "test_division", failing, [0])
        assert isinstance(raised.value.orig, psycopg.errors.DivisionByZero)
        conn.rollback()
        rows = pgdriver.fetch_opening(conn, "test_division", failing, [1])
        assert rows is not None and rows[0].x == 1
        conn.commit()


def test_an_interruption_cancels_the_statement_and_leaves_a_failed_transaction(
    engine: sa.Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    waits = [0]
    ready = pgdriver._ready

    def interrupted(*args: Any) -> int:
        waits[0] += 1
        if waits[0] == 1:  # the first wait: for the statement's answer
            raise KeyboardInterrupt
        return ready(*args)

    monkeypatch.setattr(pgdriver, "_ready", interrupted)
    with engine.connect() as conn:
        with pytest.raises(KeyboardInterrupt):
            pgdriver.fetch_opening(conn, "test_sleep", "SELECT pg_sleep($1::float8)", [60])
        assert not conn.invalidated
        assert _server_status(conn) == psycopg.pq.TransactionStatus.INERROR
        conn.rollback()
        monkeypatch.setattr(pgdriver, "_ready", ready)
        rows = pgdriver.fetch_opening(conn, "test_one", "SELECT $1::int AS one", [1])
        assert rows is not None and rows[0].one == 1

"""`pgdriver.fetch_raw` (the payment's statement, `store.paying.pay_after_capture`): as the
transaction's first statement it goes with the transaction's BEGIN in one libpq pipeline
(one round trip where psycopg's raw cursor made two: its BEGIN alone, then the statement),
prepared once per connection, with the parameter types psycopg would give the values and
the rows psycopg would make; prepared again when dropped behind its back or made stale by a
migration; anything else goes the raw cursor's way, with the same rows and errors."""

from __future__ import annotations

import datetime as dt
import os
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal
from typing import Any

import psycopg
import pytest
import sqlalchemy as sa
from sqlalchemy.exc import DBAPIError

import pgdriver
import ticketing_fsm as tk
from tests.ticketing_core.support import Gateway, captured, open_world, request

_VALUES: list[Any] = [
    None,
    "text",
    "",
    "é ü ß 日本",
    True,
    False,
    0,
    -(2**15),
    2**15 - 1,
    2**15,
    -(2**15) - 1,
    2**31 - 1,
    2**31,
    -(2**31) - 1,
    2**63 - 1,
    -(2**63),
    2**63,
    -(2**63) - 1,
    uuid.UUID("6f1c3e52-4a7d-4f1e-9a59-2b7c0c6a2e11"),
]


def test_parameters_are_dumped_as_psycopgs_and_read_back_alike(one_connection: sa.Engine) -> None:
    """Each value sent as the raw cursor sends it (psycopg's dumpers: the same types and
    formats) and read back alike, dates, decimals and arrays included."""
    values: list[Any] = [
        *(v for v in _VALUES if v is not None and type(v) is not str),
        dt.date(2026, 1, 2),
        dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC),
        dt.timedelta(minutes=10),
        Decimal("12.50"),
        [1, 2, 3],
    ]
    statement = _echo(values)
    with one_connection.begin() as conn, pgdriver.cursor(conn, raw=True) as raw:
        raw.execute(statement, values)
        expected = raw.fetchall()
    with one_connection.begin() as conn:
        got = pgdriver.fetch_raw(conn, statement, values)
        assert _prepared(one_connection, conn)  # sent the pipelined way
    assert got == expected
    assert [type(v) for v in got[0]] == [type(v) for v in expected[0]]
    assert type(got[0]) is type(expected[0])  # psycopg's own named tuple
    assert got[0].t1 == "boolean" and got[0].v3 == 0 and got[0].t3 == "smallint"


def _echo(values: list[Any]) -> bytes:
    return b"SELECT " + b", ".join(
        b"pg_typeof($%d)::text AS t%d, $%d AS v%d" % (n, n, n, n) for n in range(1, len(values) + 1)
    )


def test_texts_and_null(one_connection: sa.Engine) -> None:
    # Texts (of unknown type: the server infers them from the statement) and NULL.
    texts: list[Any] = ["text", "", "é ü ß 日本", None]
    cast = b"SELECT $1::text AS a, $2::text AS b, $3::text AS c, $4::text AS d"
    with one_connection.begin() as conn:
        assert pgdriver.fetch_raw(conn, cast, texts)[0] == tuple(texts)


@contextmanager
def _traced(engine: sa.Engine) -> Iterator[list[str]]:
    """The protocol messages libpq exchanged on the pool's one connection meanwhile (libpq's
    trace: one line per message, 'F' from the client, 'B' from the server)."""
    lines: list[str] = []
    with engine.connect() as conn:
        driver = conn.connection.driver_connection
        assert isinstance(driver, psycopg.Connection)
        pgconn = driver.pgconn
        conn.rollback()
    fd, path = tempfile.mkstemp()
    try:
        pgconn.trace(fd)
        try:
            yield lines
        finally:
            pgconn.untrace()
        with open(path) as traced:
            lines.extend(line.split("\t")[1] + " " + line.split("\t")[3] for line in traced)
    finally:
        os.close(fd)
        os.unlink(path)


def _round_trips(lines: list[str]) -> int:
    return sum(1 for line in lines if line.startswith("B ReadyForQuery"))


def test_the_first_statement_goes_with_its_begin(one_connection: sa.Engine) -> None:
    statement = b"SELECT $1::int + 1 AS n"
    with one_connection.begin() as conn:  # prepared on first use, in the same pipeline
        assert pgdriver.fetch_raw(conn, statement, [1])[0].n == 2
    with _traced(one_connection) as first, one_connection.begin() as conn:
        assert pgdriver.fetch_raw(conn, statement, [2])[0].n == 3
        # Later statements of the transaction: the raw cursor's way.
        assert pgdriver.fetch_raw(conn, statement, [3])[0].n == 4
    assert _round_trips(first) == 3  # BEGIN with the statement; the next; the COMMIT
    assert [line for line in first if line.startswith("F ")][:4] == [
        "F Parse",  # the BEGIN (unnamed)
        "F Bind",
        "F Describe",
        "F Execute",
    ]
    with (
        _traced(one_connection) as raw,
        one_connection.begin() as conn,
        pgdriver.cursor(conn, raw=True) as cursor,
    ):
        cursor.execute(statement, [2])
    assert _round_trips(raw) == 3  # before: BEGIN alone, the statement, the COMMIT


def test_a_pay_is_its_begin_with_the_statement_and_the_commit(one_connection: sa.Engine) -> None:
    """The payment's unit of work (`pay_for_intent` in its own transaction, as the inbox's
    handler runs it) in two round trips: the statement with the BEGIN, then the COMMIT
    (three before)."""
    engine = one_connection
    with engine.begin() as conn:
        world = open_world(conn, capacities=(20,))
    for n in range(4):  # the escrow's first payments go the long way
        checkout = tk.start_checkout(engine, Gateway(), request(world, f"pay-{n}", (2,)))
        with engine.begin() as conn:
            assert tk.pay_for_intent(conn, captured(world, checkout), cause=f"e{n}") == "issued"
    checkout = tk.start_checkout(engine, Gateway(), request(world, "pay-traced", (2,)))
    with _traced(engine) as lines, engine.begin() as conn:
        assert tk.pay_for_intent(conn, captured(world, checkout), cause="t") == "issued"
    assert _round_trips(lines) == 2
    with engine.connect() as conn:
        status = conn.execute(
            sa.text("SELECT status FROM ticketing.orders WHERE id = :id"),
            {"id": checkout.order_id},
        ).scalar_one()
    assert status == "paid"


def _prepared(engine: sa.Engine, conn: sa.Connection | None = None) -> list[str]:
    """The names of the statements `fetch_raw` prepared on the pool's one connection (read on
    `conn` when given: it holds that connection)."""
    query = "SELECT name FROM pg_prepared_statements WHERE name LIKE 'pgdriver%%'"
    if conn is not None:
        return list(conn.exec_driver_sql(query).scalars())
    with engine.connect() as own:
        found = list(own.exec_driver_sql(query).scalars())
        own.rollback()
    return found


def test_a_deallocated_statement_is_prepared_again(one_connection: sa.Engine) -> None:
    statement = b"SELECT $1::int * 2 AS n"
    with one_connection.begin() as conn:
        assert pgdriver.fetch_raw(conn, statement, [2])[0].n == 4
    assert len(_prepared(one_connection)) == 1
    with one_connection.connect() as conn:  # as psycopg does after a rollback of its own
        conn.exec_driver_sql("DEALLOCATE ALL")
        conn.commit()
    assert _prepared(one_connection) == []
    with one_connection.begin() as conn:  # before preparing it again: 26000 raised
        assert pgdriver.fetch_raw(conn, statement, [3])[0].n == 6
        # The transaction is the one the BEGIN began (the failed one rolled back): it writes.
        conn.exec_driver_sql("CREATE TEMP TABLE kept_after (n int)")
    assert len(_prepared(one_connection)) == 1


def test_a_statement_made_stale_by_a_migration_is_prepared_again(
    one_connection: sa.Engine, committing_engine: sa.Engine
) -> None:
    with committing_engine.begin() as conn:
        conn.exec_driver_sql(
            "CREATE FUNCTION public.fetch_raw_probe(n int) RETURNS TABLE (a int)"
            " LANGUAGE sql AS 'SELECT n'"
        )
    statement = b"SELECT * FROM public.fetch_raw_probe($1::int)"
    with one_connection.begin() as conn:
        assert pgdriver.fetch_raw(conn, statement, [5]) == [(5,)]
    with committing_engine.begin() as conn:  # another connection: its result gains a column
        conn.exec_driver_sql("DROP FUNCTION public.fetch_raw_probe(int)")
        conn.exec_driver_sql(
            "CREATE FUNCTION public.fetch_raw_probe(n int) RETURNS TABLE (a int, b int)"
            " LANGUAGE sql AS 'SELECT n, n + 1'"
        )
    with one_connection.begin() as conn:  # before: 0A000, cached plan must not change result
        rows = pgdriver.fetch_raw(conn, statement, [5])
    assert [tuple(r) for r in rows] == [(5, 6)] and rows[0].b == 6


def test_an_error_is_raised_as_sqlalchemys_and_the_connection_serves_on(
    one_connection: sa.Engine,
) -> None:
    with pytest.raises(DBAPIError) as refused, one_connection.begin() as conn:
        pgdriver.fetch_raw(conn, b"SELECT 1 / $1::int AS n", [0])
    assert isinstance(refused.value, sa.exc.DataError)  # as the raw cursor's: 22012
    assert getattr(refused.value.orig, "sqlstate", None) == "22012"
    assert not refused.value.connection_invalidated
    with one_connection.begin() as conn:
        assert pgdriver.fetch_raw(conn, b"SELECT 1 / $1::int AS n", [1])[0].n == 1
    # A text holding a NUL (psycopg refuses to dump it) goes the raw cursor's way, which
    # refuses it as before.
    with pytest.raises(DBAPIError) as nul, one_connection.begin() as conn:
        pgdriver.fetch_raw(conn, b"SELECT $1::text AS t", ["a\x00b"])
    assert isinstance(nul.value.orig, psycopg.DataError)
    # A statement returning no rows is refused as the raw cursor's fetchall refuses it.
    with pytest.raises(DBAPIError) as no_rows, one_connection.begin() as conn:
        pgdriver.fetch_raw(conn, b"SET LOCAL work_mem = '8MB'", [])
    assert isinstance(no_rows.value.orig, psycopg.ProgrammingError)


def test_kept_statements_are_bounded(one_connection: sa.Engine) -> None:
    for n in range(pgdriver._KEPT_WITH_BEGIN + 3):
        with one_connection.begin() as conn:
            assert pgdriver.fetch_raw(conn, b"SELECT $1::int + %d AS n" % n, [1])[0].n == n + 1
    assert len(_prepared(one_connection)) == pgdriver._KEPT_WITH_BEGIN


def test_a_transaction_begun_with_options_keeps_them(one_connection: sa.Engine) -> None:
    with one_connection.connect() as conn:
        conn.execution_options(isolation_level="REPEATABLE READ")
        with conn.begin():
            rows = pgdriver.fetch_raw(
                conn, b"SELECT current_setting('transaction_isolation') AS level, $1::int AS n", [1]
            )
    assert rows[0].level == "repeatable read"


def test_a_session_changing_its_time_zone_reads_times_in_it(one_connection: sa.Engine) -> None:
    """The kept Transformer is made again when the session's settings its loaders read
    changed (here its TimeZone): times come back as the raw cursor gives them."""
    moment = dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC)
    statement = b"SELECT $1::timestamptz AS t"
    with one_connection.begin() as conn:
        assert pgdriver.fetch_raw(conn, statement, [moment])[0].t == moment
    with one_connection.begin() as conn:
        conn.exec_driver_sql("SET TIME ZONE 'Asia/Tokyo'")  # the session's, kept
    with one_connection.begin() as conn:
        got = pgdriver.fetch_raw(conn, statement, [moment])[0].t
    with one_connection.begin() as conn, pgdriver.cursor(conn, raw=True) as raw:
        raw.execute(statement, [moment])
        expected = raw.fetchall()[0].t
    assert got == expected == moment
    assert got.utcoffset() == expected.utcoffset() == dt.timedelta(hours=9)

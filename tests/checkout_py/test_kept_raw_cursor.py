"""`pgdriver.cursor(conn, raw=True)` (the payment's statement, `store.paying.pay_after_capture`)
hands out one `psycopg.RawCursor` per driver connection, kept with the pooled connection
across transactions and checkouts, instead of a new cursor each time; its errors are raised
as SQLAlchemy's as before, and it serves the next statement after one."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from psycopg.rows import dict_row
from sqlalchemy.exc import DBAPIError

import pgdriver


def test_one_raw_cursor_per_connection_kept_across_transactions(
    committing_engine: sa.Engine,
) -> None:
    engine = sa.create_engine(
        committing_engine.url, pool_size=1, max_overflow=0, poolclass=sa.QueuePool
    )
    try:
        with engine.begin() as conn:
            with pgdriver.cursor(conn, raw=True) as first:
                first.execute(b"SELECT $1::int AS n", [1])
                assert first.fetchall()[0].n == 1
            driver = conn.connection.driver_connection
        with engine.begin() as conn:  # the same pooled connection, a new transaction
            assert conn.connection.driver_connection is driver
            with pgdriver.cursor(conn, raw=True) as again:
                assert again is first and not again.closed
                again.execute(b"SELECT $1::int + 1 AS n", [1])
                assert again.fetchall()[0].n == 2
            with pgdriver.cursor(conn, row_factory=dict_row, raw=True) as as_dicts:
                as_dicts.execute(b"SELECT 3 AS n", [])
                assert as_dicts.fetchall() == [{"n": 3}]
            with pgdriver.cursor(conn) as plain:  # not raw: a cursor of its own, as before
                assert plain is not first
    finally:
        engine.dispose()


def test_an_error_is_sqlalchemys_and_the_kept_cursor_serves_on(
    committing_engine: sa.Engine,
) -> None:
    with committing_engine.connect() as conn:
        with pytest.raises(DBAPIError) as refused, pgdriver.cursor(conn, raw=True) as raw:
            raw.execute(b"SELECT 1 / $1::int", [0])
        assert getattr(refused.value.orig, "sqlstate", None) == "22012"
        conn.rollback()
        with pgdriver.cursor(conn, raw=True) as after:
            assert after is raw  # released by the error: the kept one again
            after.execute(b"SELECT $1::text AS t", ["after"])
            assert after.fetchall()[0].t == "after"
        conn.commit()


def test_a_new_driver_connection_gets_a_new_cursor(committing_engine: sa.Engine) -> None:
    with committing_engine.connect() as conn:
        with pgdriver.cursor(conn, raw=True) as before:
            pass
        conn.invalidate()  # the pooled connection's driver connection is replaced
        conn.rollback()
        with pgdriver.cursor(conn, raw=True) as after:
            assert after is not before and after.connection is conn.connection.driver_connection
            after.execute(b"SELECT 1 AS one", [])
            assert after.fetchall()[0].one == 1
        conn.rollback()


def test_a_nested_use_gets_a_cursor_of_its_own(committing_engine: sa.Engine) -> None:
    """The kept cursor is not handed out twice at once: a use inside another (a helper
    sending its own statement while the caller's rows are unread) would replace the outer
    rows and row factory."""
    with committing_engine.connect() as conn:
        with pgdriver.cursor(conn, raw=True) as outer:
            outer.execute(b"SELECT generate_series(1, 3) AS n", [])
            first = outer.fetchone()
            assert first is not None and first.n == 1
            with pgdriver.cursor(conn, row_factory=dict_row, raw=True) as inner:
                assert inner is not outer
                inner.execute(b"SELECT 42 AS m", [])
                assert inner.fetchall() == [{"m": 42}]
            assert [row.n for row in outer.fetchall()] == [2, 3]
        with pgdriver.cursor(conn, raw=True) as after:  # released: the kept one again
            assert after is outer
        conn.rollback()

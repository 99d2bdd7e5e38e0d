"""`pgdriver.call` begins the caller's transaction as psycopg would: the BEGIN it sends before
the transaction's first statement is built from the connection's public characteristics
(isolation level, read only, deferrable; psycopg's own builder is private), so the statement
runs in the same kind of transaction psycopg's cursor would have opened. And in psycopg's
pipeline mode (libpq's pipeline status, public) `call` refuses with TypeError: the caller
goes its usual way."""

from __future__ import annotations

import itertools
from typing import Any

import psycopg
import pytest
import sqlalchemy as sa

import pgdriver

_ASK = (
    "SELECT current_setting('transaction_isolation'), current_setting('transaction_read_only'),"
    " current_setting('transaction_deferrable')"
)
_LEVELS = [
    None,
    psycopg.IsolationLevel.READ_COMMITTED,
    psycopg.IsolationLevel.REPEATABLE_READ,
    psycopg.IsolationLevel.SERIALIZABLE,
]


def _psycopg_s_own(driver: psycopg.Connection[Any]) -> tuple[str, ...]:
    """The transaction psycopg's cursor opens on `driver` (then rolled back)."""
    with driver.cursor() as cursor:
        cursor.execute(_ASK)
        row = cursor.fetchone()
    driver.rollback()
    assert row is not None
    return tuple(row)


@pytest.mark.parametrize(
    ("level", "read_only", "deferrable"),
    list(itertools.product(_LEVELS, [None, True, False], [None, True, False])),
)
def test_call_begins_the_transaction_psycopg_would(
    engine: sa.Engine,
    level: psycopg.IsolationLevel | None,
    read_only: bool | None,
    deferrable: bool | None,
) -> None:
    with engine.connect() as conn:
        driver: Any = conn.connection.driver_connection
        driver.isolation_level, driver.read_only, driver.deferrable = level, read_only, deferrable
        try:
            expected = _psycopg_s_own(driver)
            row = pgdriver.call(conn, "begin_test", _ASK, [])
            assert conn.in_transaction()
            assert row == expected
            conn.rollback()
        finally:
            driver.isolation_level = driver.read_only = driver.deferrable = None
    # The defaults: the server's own (read committed, read write, not deferrable).
    assert _psycopg_s_own_defaults(engine) == ("read committed", "off", "off")


def _psycopg_s_own_defaults(engine: sa.Engine) -> tuple[str | None, ...] | None:
    with engine.connect() as conn:
        row = pgdriver.call(conn, "begin_test", _ASK, [])
        conn.rollback()
        return row


def test_call_refuses_psycopg_s_pipeline_mode(engine: sa.Engine) -> None:
    with engine.connect() as conn:
        driver: Any = conn.connection.driver_connection
        conn.begin()
        with driver.pipeline(), pytest.raises(TypeError):
            pgdriver.call(conn, "pipeline_test", "SELECT 1", [])
        conn.rollback()
        assert pgdriver.call(conn, "pipeline_test", "SELECT 1", []) == ("1",)
        conn.rollback()

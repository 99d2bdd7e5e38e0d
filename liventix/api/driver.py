"""Statements on a SQLAlchemy connection's psycopg connection, for the API's per-request
statements (authentication, the idempotency record): for statements this short, SQLAlchemy's
compilation and result set-up cost more CPU than the round trip itself.

The statements run in the connection's transaction (begun as `Connection.execute` would
begin it), with psycopg's placeholders (`%(name)s`); psycopg prepares each after its fifth
use on a connection. Its errors are raised as SQLAlchemy's (`DBAPIError` and its kinds), so
callers translate them as before.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any, cast

import psycopg
from psycopg.rows import namedtuple_row
from sqlalchemy import Connection
from sqlalchemy.exc import DBAPIError


@contextmanager
def cursor(conn: Connection) -> Iterator[psycopg.Cursor[Any]]:
    """The driver's cursor (rows with named fields) in `conn`'s transaction."""
    if not conn.in_transaction():
        conn.begin()
    proxied = conn.connection
    driver = proxied.driver_connection
    if not isinstance(driver, psycopg.Connection):
        raise TypeError("the API runs on psycopg connections")
    try:
        with driver.cursor(row_factory=namedtuple_row) as found:
            yield found
    except psycopg.Error as exc:
        lost = conn.dialect.is_disconnect(cast(Any, exc), proxied, None)
        if lost:
            conn.invalidate(exc)
        raise DBAPIError.instance(
            None, None, exc, psycopg.Error, connection_invalidated=lost
        ) from exc


def first(conn: Connection, statement: str, params: Mapping[str, Any]) -> Any:
    """The first row of `statement` (None if none)."""
    # Not pipelined with the transaction's BEGIN: psycopg's pipeline mode cost more CPU
    # than the round trip it saves (measured: 250-450 us against 150 us a statement).
    with cursor(conn) as found:
        found.execute(statement, params)
        return found.fetchone()


def execute(conn: Connection, statement: str, params: Mapping[str, Any]) -> int:
    """Run `statement`; the rows it touched."""
    with cursor(conn) as found:
        found.execute(statement, params)
        return found.rowcount

"""Statements on a SQLAlchemy connection's psycopg cursor, for the hot paths (the ledger's door,
the checkout, the payment, the API's per-request statements, the outbox's publishing).

SQLAlchemy's execution of a `text()` statement (cache key, parameter processing, result
metadata) costs more client CPU than the driver's own work for a short statement: measured on
a checkout's statements, 300 to 430 us of SQLAlchemy beside 150 to 700 us of psycopg, per
statement. What SQLAlchemy's execution does around a statement is kept: the transaction
begins as it would (its `begin` event fires, and the caller's `commit()` commits it), driver
errors are raised as SQLAlchemy's exception classes (`DBAPIError` and its kinds, so callers
translate them as before), and a lost connection is invalidated. Statements use psycopg's
placeholders (`%(name)s` with a mapping, `%s` with a sequence); psycopg prepares a statement
after its fifth use on a connection. On another driver the statement goes SQLAlchemy's way.

The one foundation below every package: it imports nothing of the project.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any, TypeAlias, cast

import psycopg
from psycopg.rows import RowFactory, namedtuple_row
from sqlalchemy import Connection
from sqlalchemy.exc import DBAPIError

Params: TypeAlias = Mapping[str, Any] | Sequence[Any]

__all__ = ["Params", "cursor", "execute", "fetch", "first"]


def _driver(conn: Connection) -> psycopg.Connection[Any] | None:
    if not conn.in_transaction():
        conn.begin()  # as conn.execute() would: the caller's commit() then commits it
    driver = conn.connection.driver_connection
    return driver if isinstance(driver, psycopg.Connection) else None


@contextmanager
def cursor(
    conn: Connection, row_factory: RowFactory[Any] = namedtuple_row
) -> Iterator[psycopg.Cursor[Any]]:
    """The driver's cursor (rows as named tuples, or as `row_factory` makes them) in `conn`'s
    transaction (begun if none is). Raises TypeError on another driver than psycopg."""
    driver = _driver(conn)
    if driver is None:
        raise TypeError("pgdriver.cursor needs a psycopg connection")
    proxied = conn.connection
    try:
        with driver.cursor(row_factory=row_factory) as found:
            yield found
    except psycopg.Error as exc:
        lost = conn.dialect.is_disconnect(cast(Any, exc), proxied, None)
        if lost:
            conn.invalidate(exc)
        raise DBAPIError.instance(
            None, None, exc, psycopg.Error, connection_invalidated=lost
        ) from exc


def _sqlalchemy_params(params: Params) -> Any:
    return dict(params) if isinstance(params, Mapping) else tuple(params)


def fetch(conn: Connection, statement: str, params: Params) -> list[Any]:
    """Every row `statement` returns (it must return rows), as named tuples."""
    if _driver(conn) is None:
        return list(conn.exec_driver_sql(statement, _sqlalchemy_params(params)).all())
    with cursor(conn) as found:
        found.execute(statement, params)
        return found.fetchall()


def first(conn: Connection, statement: str, params: Params) -> Any:
    """The first row `statement` returns, or None."""
    # Not pipelined with the transaction's BEGIN: psycopg's pipeline mode cost more CPU
    # than the round trip it saves (measured: 250-450 us against 150 us a statement).
    if _driver(conn) is None:
        return conn.exec_driver_sql(statement, _sqlalchemy_params(params)).first()
    with cursor(conn) as found:
        found.execute(statement, params)
        return found.fetchone()


def execute(conn: Connection, statement: str, params: Params) -> int:
    """Run `statement`; the number of rows it touched."""
    if _driver(conn) is None:
        return conn.exec_driver_sql(statement, _sqlalchemy_params(params)).rowcount
    with cursor(conn) as found:
        found.execute(statement, params)
        return found.rowcount

"""Statements on the connection's psycopg cursor, for the payment's hot path.

SQLAlchemy's execution of a `text()` statement (cache key, parameter processing, result
metadata) costs more client CPU than the driver's own work for it: measured on a checkout's
statements, 300 to 430 us of SQLAlchemy beside 150 to 700 us of psycopg, per statement (bench
scratch, one client). The ledger's door is called this way for the same reason. What
SQLAlchemy's execution does around a statement is kept: the transaction begins as it would
(its `begin` event fires), driver errors are wrapped in its exception classes, and a lost
connection is invalidated. Statements use psycopg's `%(name)s` placeholders.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, cast

import psycopg
from psycopg.rows import namedtuple_row
from sqlalchemy import Connection
from sqlalchemy.exc import DBAPIError


def fetch(conn: Connection, statement: str, params: Mapping[str, Any]) -> list[Any]:
    """The rows `statement` (one that returns rows) returns, as named tuples, run on the
    connection's driver cursor inside the caller's transaction (begun if none is)."""
    if not conn.in_transaction():
        conn.begin()  # as conn.execute() would: the caller's commit() then commits it
    proxied = conn.connection
    driver = proxied.driver_connection
    if not isinstance(driver, psycopg.Connection):  # another driver: SQLAlchemy's way
        return list(conn.exec_driver_sql(statement, dict(params)).all())
    try:
        with driver.cursor(row_factory=namedtuple_row) as cursor:
            cursor.execute(statement, params)
            return cursor.fetchall()  # every statement here returns rows
    except psycopg.Error as exc:
        lost = conn.dialect.is_disconnect(cast(Any, exc), proxied, None)
        if lost:
            conn.invalidate(exc)
        raise DBAPIError.instance(
            statement, dict(params), exc, psycopg.Error, connection_invalidated=lost
        ) from exc

"""The rolled-back test tier (Polar's pattern): a test runs inside one transaction on a
database it shares with other tests, and that transaction is rolled back at the end, so the
test needs no database of its own.

`RolledBack` wraps that transaction's connection and offers what tests otherwise ask of an
`Engine`: `begin()` and `connect()`. Each opens a savepoint instead of a transaction, and a
`begin()` block that ends without an exception "commits" it the way a COMMIT would judge it:
the deferred constraint triggers (the ledger's balance rule) are fired first (`SET
CONSTRAINTS ALL IMMEDIATE`), so work that a COMMIT would refuse is refused here too, with the
same error, and the savepoint is rolled back. Only then is the savepoint released.

What this tier cannot show, and so what stays on a committing database: two sessions seeing
each other's commits (concurrency, locks, LISTEN/NOTIFY), real processes or threads with their
own connections, `now()` moving on between "transactions" (it is the outer transaction's start
time throughout), roles logging in, and anything that hands an `Engine` to product code.

In your own tests (pytest)::

    @pytest.fixture
    def db(shared_engine: sa.Engine) -> Iterator[RolledBack]:
        with RolledBack.on(shared_engine) as rolled_back:
            yield rolled_back
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Protocol

import sqlalchemy as sa
from psycopg.pq import TransactionStatus


class Transactions(Protocol):
    """What a test helper needs to open its own transactions: an `Engine` (committing) or a
    `RolledBack` (savepoints in the test's one transaction)."""

    def begin(self) -> AbstractContextManager[sa.Connection]:
        """A block in a transaction of its own, committed when the block ends."""
        ...  # pragma: no cover

    def connect(self) -> AbstractContextManager[sa.Connection]:
        """A connection for reads."""
        ...  # pragma: no cover


class RolledBack:
    """The test's one transaction, handed out as savepoints (see the module's docstring)."""

    def __init__(self, conn: sa.Connection) -> None:
        self.conn = conn

    @classmethod
    @contextmanager
    def on(cls, engine: sa.Engine) -> Iterator[RolledBack]:
        """A connection of `engine` in a transaction that is rolled back when the block ends."""
        with engine.connect() as conn:
            outer = conn.begin()
            try:
                yield cls(conn)
            finally:
                outer.rollback()

    @contextmanager
    def begin(self) -> Iterator[sa.Connection]:
        """A savepoint released as a COMMIT would end a transaction: deferred rules judged
        first; on an exception (theirs or the block's), rolled back. A block that caught a
        failed statement's error ends as COMMIT ends an aborted transaction: rolled back."""
        savepoint = self.conn.begin_nested()
        try:
            fresh_settings(self.conn)
            yield self.conn
            if _aborted(self.conn):
                savepoint.rollback()
                return
            check_deferred(self.conn)
        except BaseException:
            if savepoint.is_active:
                savepoint.rollback()
            raise
        savepoint.commit()

    @contextmanager
    def connect(self) -> Iterator[sa.Connection]:
        """The test's connection for a block; what the block writes is kept only if it
        ends in a `begin()` block or the caller's own savepoint (as on an Engine)."""
        savepoint = self.conn.begin_nested()
        fresh_settings(self.conn)
        try:
            yield self.conn
        finally:
            if savepoint.is_active:
                savepoint.rollback()


def _aborted(conn: sa.Connection) -> bool:
    """Whether a statement failed in the connection's transaction (only ROLLBACK works now)."""
    driver = conn.connection.dbapi_connection
    return driver is not None and driver.info.transaction_status == TransactionStatus.INERROR


def fresh_settings(conn: sa.Connection) -> None:
    """Start a savepoint with the settings a new transaction would have: what an earlier
    "transaction" set for itself (`SET LOCAL`, `set_config(..., true)`: the acting
    organization's proof, a role's limits) would otherwise still hold in the one outer
    transaction."""
    conn.exec_driver_sql("RESET ALL")


def check_deferred(conn: sa.Connection) -> None:
    """Fire the deferred constraint triggers now, as COMMIT would, then defer them again (the
    schema's only deferrable constraint is the balance rule, initially deferred)."""
    conn.exec_driver_sql("SET CONSTRAINTS ALL IMMEDIATE")
    conn.exec_driver_sql("SET CONSTRAINTS ALL DEFERRED")

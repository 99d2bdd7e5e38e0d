"""A probe for promise 8 (no lock and no open transaction across a network call): from a
connection of its own, it looks at what the worker's sessions (found by their
`application_name`) hold at the moment it is called, typically from inside a network call
the worker is waiting on.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import psycopg
import sqlalchemy as sa

from liventix.database import make_engine


@dataclass(frozen=True)
class Seen:
    """What the worker's sessions held at one moment."""

    sessions: int
    """How many sessions the worker had open (so a probe that finds none is not a pass)."""
    in_transaction: tuple[str, ...]
    """The state and last query of every worker session inside a transaction."""
    locks: tuple[str, ...]
    """Every lock a worker session held (its type and mode)."""
    inbox_lockable: bool
    """Every inbox row could be locked `FOR UPDATE NOWAIT` from another session."""

    @property
    def clean(self) -> bool:
        """No transaction open, no lock held, the inbox free."""
        return (
            self.sessions > 0
            and not self.in_transaction
            and not self.locks
            and (self.inbox_lockable)
        )


class Probe:
    """Looks at one application's sessions from an engine of its own."""

    def __init__(self, db_url: str) -> None:
        self.application_name = f"worker-{uuid.uuid4().hex[:8]}"
        self._engine = make_engine(db_url, pool_size=2, max_overflow=2)

    def worker_engine(self, db_url: str) -> sa.Engine:
        """An engine whose sessions the probe watches."""
        return make_engine(
            db_url,
            pool_size=4,
            max_overflow=4,
            connect_args={"application_name": self.application_name},
        )

    def look(self) -> Seen:
        """What the watched sessions hold now."""
        app = {"app": self.application_name}
        with self._engine.connect() as conn:
            sessions = conn.execute(
                sa.text("""SELECT state, xact_start IS NOT NULL AS in_xact, query
                             FROM pg_stat_activity
                            WHERE application_name = :app AND datname = current_database()"""),
                app,
            ).all()
            locks = conn.execute(
                sa.text("""SELECT l.locktype || ' ' || l.mode
                             FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
                            WHERE a.application_name = :app"""),
                app,
            ).scalars()
            lock_list = tuple(locks)
            conn.rollback()
            lockable = self._inbox_lockable(conn)
        return Seen(
            sessions=len(sessions),
            in_transaction=tuple(f"{s.state}: {s.query}" for s in sessions if s.in_xact),
            locks=lock_list,
            inbox_lockable=lockable,
        )

    @staticmethod
    def _inbox_lockable(conn: sa.Connection) -> bool:
        transaction = conn.begin()
        try:
            conn.execute(sa.text("SELECT 1 FROM messaging.inbox FOR UPDATE NOWAIT")).all()
        except sa.exc.OperationalError as exc:
            if isinstance(exc.orig, psycopg.errors.LockNotAvailable):
                return False
            raise
        finally:
            transaction.rollback()
        return True

    def close(self) -> None:
        """Close the probe's connections."""
        self._engine.dispose()

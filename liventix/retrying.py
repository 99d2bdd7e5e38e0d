"""Retrying a unit of work whose connection was lost (the primary died, a failover is under
way), with the same idempotency key: exactly once for the caller.

A COMMIT whose answer never came may or may not have committed. Run again under the same key,
the ledger's write replays the first result if it did (`WriteResult.replayed`), or posts
afresh if it did not: either way the caller ends with one posting. With a synchronous standby
(see `liventix.replication`) a commit the primary acknowledged is on the standby too, so the
replay finds it on the promoted standby as well.

    result = run_unit_of_work(
        engine, lambda conn: ledger.post_entry(conn, org_id, request)
    )  # request.idempotency_key is the same on every attempt

Only a lost or refused connection is retried (`is_lost_connection`); any other error (a ledger
refusal, a bug) is raised at once. Each attempt is its own transaction from `engine.begin()`:
the engine's pool was invalidated with the lost connection, and on a multi-host URL with
`target_session_attrs=read-write` the next connection finds the new primary.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

import sqlalchemy as sa

log = logging.getLogger(__name__)

T = TypeVar("T")

LOST_SQLSTATES = frozenset({"57P01", "57P02", "57P03"})
"""SQLSTATEs of a server going away or not taking connections yet: admin_shutdown,
crash_shutdown, cannot_connect_now. Class 08 (connection exception) counts as well. Not
read_only_sql_transaction (25006): the engine's multi-host URL connects only to a server
accepting writes (target_session_attrs=read-write), and a primary is not demoted under its
open connections (it restarts: 57P01 / class 08), so 25006 is a read-only key's or a
read-only transaction's write, to fail at once with the real error."""


class GaveUp(Exception):
    """The unit of work found no primary within the retry policy's time; the last error is
    its cause. Whether an earlier attempt committed is still unknown: retry later with the
    same key."""

    def __init__(self, attempts: int, seconds: float) -> None:
        self.attempts = attempts
        self.seconds = seconds
        super().__init__(
            f"no primary reached in {attempts} attempt(s) over {seconds:.1f} s; "
            "retry later with the same idempotency key"
        )


@dataclass(frozen=True)
class RetryPolicy:
    """How long to keep trying: waits grow from `first_wait` by `factor` up to `max_wait`,
    until `deadline` seconds have passed since the first attempt."""

    first_wait: float = 0.05
    max_wait: float = 1.0
    factor: float = 2.0
    deadline: float = 60.0

    def waits(self) -> list[float]:
        """The waits between attempts, in order, within the deadline."""
        out: list[float] = []
        wait, total = self.first_wait, 0.0
        while total + wait <= self.deadline:
            out.append(wait)
            total += wait
            wait = min(wait * self.factor, self.max_wait)
        return out


DEFAULT_POLICY = RetryPolicy()


def sqlstate(exc: BaseException) -> str | None:
    """The SQLSTATE of a driver error (None when it has none)."""
    orig = getattr(exc, "orig", exc)
    code: str | None = getattr(orig, "sqlstate", None)
    return code


def lost_sqlstate(code: str) -> bool:
    """Whether a SQLSTATE says the server went away or is not taking connections (class 08,
    `LOST_SQLSTATES`)."""
    return code.startswith("08") or code in LOST_SQLSTATES


def is_lost_connection(exc: BaseException) -> bool:
    """Whether `exc` says the connection (or the server's primary role) was lost, so that
    the work may be run again: a disconnect SQLAlchemy invalidated the pool for, a failed
    connect, a shut-down server (not a read-only refusal, 25006: see `LOST_SQLSTATES`)."""
    if not isinstance(exc, sa.exc.DBAPIError):
        return False
    code = sqlstate(exc)
    if exc.connection_invalidated or (code is not None and lost_sqlstate(code)):
        return True
    # psycopg's OperationalError without a SQLSTATE: a failed connect, a closed socket.
    return isinstance(exc, sa.exc.OperationalError | sa.exc.InterfaceError) and code is None


def run_unit_of_work(
    engine: sa.Engine,
    work: Callable[[sa.Connection], T],
    *,
    policy: RetryPolicy = DEFAULT_POLICY,
    on_retry: Callable[[int, BaseException], None] | None = None,
) -> T:
    """Run `work` in a transaction of its own and commit; on a lost connection, run it again
    in a new one until it commits or the policy's deadline passes (`GaveUp`). `work` must be
    idempotent by key (the same idempotency key on every attempt): its retried attempt then
    replays what an earlier attempt committed. `on_retry(attempt, error)` is told of each
    retry."""
    started = time.monotonic()
    waits = policy.waits()
    attempt = 0
    while True:
        attempt += 1
        try:
            with engine.begin() as conn:
                return work(conn)
        except sa.exc.DBAPIError as exc:
            if not is_lost_connection(exc):
                raise
            if attempt > len(waits):
                raise GaveUp(attempt, time.monotonic() - started) from exc
            log.info("unit of work: connection lost (attempt %d), retrying: %s", attempt, exc)
            if on_retry is not None:
                on_retry(attempt, exc)
            time.sleep(waits[attempt - 1])

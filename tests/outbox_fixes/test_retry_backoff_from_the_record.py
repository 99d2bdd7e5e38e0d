"""A failed delivery's next try counts from the moment its failure is recorded
(dispatch._RETRY: clock_timestamp() + delay), as the claims' leases (8fea78e) and the inbox's
failures (37753c4) do, not from the start of the transaction it is recorded on (now()): a
record written late in its transaction (the caller's: `record` takes any) still waits the
whole delay, a server's Retry-After included.

No timing assertion: the transaction is made to start before the record (pg_sleep), and the
stored next try is compared with the database's own clock read just before the record."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa

import outbox
from outbox.dispatch import Outcome, claim, record
from tests.outbox_core.support import publish_step

DELAY = 120.0


def _late(conn: sa.Connection) -> tuple[datetime, datetime]:
    """The transaction's start and, a little later, the clock: (now(), clock_timestamp())."""
    conn.execute(sa.text("SELECT pg_sleep(0.05)"))
    row = conn.execute(sa.text("SELECT now(), clock_timestamp()")).one()
    assert row[1] > row[0]
    return row[0], row[1]


def test_a_retry_recorded_late_in_its_transaction_waits_the_whole_delay(
    engine: sa.Engine,
) -> None:
    mail = outbox.Email(to="buyer@example.com", subject="Retry", body="From the record.")
    with engine.begin() as conn:
        publish_step(conn, f"retry-{uuid.uuid4().hex[:8]}", 1, emails=[mail])
    with engine.begin() as conn:
        [claimed] = claim(conn, "w", 10, timedelta(seconds=30))
    failure = Outcome(
        delivery=claimed,
        started_at=datetime.now(UTC),
        duration_ms=1,
        succeeded=False,
        error="refused",
        retry_after=DELAY,
    )
    delay = timedelta(seconds=DELAY)
    with engine.begin() as conn:
        started, before = _late(conn)
        assert record(conn, "w", [failure], {claimed.id: DELAY}, timedelta(days=1)) == []
        row = conn.execute(
            sa.text("SELECT status, next_attempt_at FROM messaging.deliveries WHERE id = :i"),
            {"i": claimed.id},
        ).one()
    assert row.status == "pending"
    # At the old code: now() + delay, the transaction's start, before `before`.
    assert row.next_attempt_at >= before + delay > started + delay

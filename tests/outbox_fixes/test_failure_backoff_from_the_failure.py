"""An inbox event's failed attempt waits its whole backoff from the failure, not from the
start of the transaction its handler ran on: the next try is set from clock_timestamp(), as
the leases (8fea78e) and the deferrals are, so the time the handler took (a lock waited for,
a slow statement) does not come off the wait.

No timing assertion: the handler makes its transaction start before the failure (pg_sleep)
and reads the database's own clock just before it raises; the stored next try is compared
with that clock."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

import sqlalchemy as sa

import outbox
from tests.outbox_core.support import scalar

SOURCE = "test"
TYPE = "test.fixes.backoff_clock"
WAIT = 60.0
POLICY = outbox.RetryPolicy(schedule=(WAIT, WAIT), jitter=0.0)


def test_a_failed_attempt_waits_its_backoff_from_the_failure(engine: sa.Engine) -> None:
    seen: list[tuple[datetime, datetime]] = []

    def slow_then_fail(conn: sa.Connection, event: outbox.InboxEvent) -> None:
        conn.execute(sa.text("SELECT pg_sleep(0.05)"))
        row = conn.execute(sa.text("SELECT now(), clock_timestamp()")).one()
        seen.append((row[0], row[1]))
        raise ValueError("try later")

    handlers = outbox.InboxHandlers()
    handlers.register(SOURCE, TYPE, slow_then_fail)
    event_id = f"evt_{uuid.uuid4().hex[:24]}"
    with engine.begin() as conn:
        assert outbox.store_event(conn, SOURCE, event_id, TYPE, {"id": event_id})
    with engine.begin() as conn:
        assert outbox.handle_next(conn, POLICY, handlers) == "retrying"
    [(started, before)] = seen
    assert before > started
    due = scalar(
        engine, "SELECT next_attempt_at FROM messaging.inbox WHERE event_id = :e", e=event_id
    )
    wait = timedelta(seconds=WAIT)
    # At the old code: now() + wait, the transaction's start, before `before`.
    assert due >= before + wait > started + wait

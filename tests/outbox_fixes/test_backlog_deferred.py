"""`outbox.backlog` (`messaging.backlog()`, the metrics' counts) tells an inbox event put off by a
transient database failure (attempts 0, deferrals > 0: due again within seconds, no attempt
counted) from the backlog proper: it is counted `deferred`, not `pending`, as the health
report counts it (`liventix.reports.outbox_health`). `outbox.waiting` still counts it: it is
still to be done. Before: counted as pending.

The oldest deferred event's age is shown apart too (`deferred_oldest_age_s`, the metrics'
deferred age gauges): one deferred again and again is in no pending age, and must still
show in an age alert. The tests make the deferred event an hour old (its received_at moved
back), so no figure depends on how long the test took."""

from __future__ import annotations

import uuid

import sqlalchemy as sa
from prometheus_client import CollectorRegistry

import outbox
from liventix.api.metrics import OutboxCollector
from liventix.worker_metrics import WorkerMetrics
from tests.outbox_core.support import publish_step

SOURCE = "test"
TYPE = "test.fixes.backlog"
POLICY = outbox.RetryPolicy(schedule=(60, 60, 60), jitter=0.0, deferrals=(60.0,) * 3)


def _handler(conn: sa.Connection, event: outbox.InboxEvent) -> None:
    """Loses a race as the server reports one (a real 40P01 raised by the server), or fails."""
    if event.payload["do"] == "lose":
        conn.execute(
            sa.text(
                "DO $$ BEGIN RAISE EXCEPTION 'staged deadlock'"
                " USING ERRCODE = 'deadlock_detected'; END $$"
            )
        )
    raise ValueError("not today")


def _store(engine: sa.Engine, do: str) -> str:
    event_id = f"evt_{uuid.uuid4().hex[:24]}"
    with engine.begin() as conn:
        assert outbox.store_event(conn, SOURCE, event_id, TYPE, {"id": event_id, "do": do})
    return event_id


HOUR = 3600.0


def _an_hour_old(engine: sa.Engine, event_id: str) -> None:
    """Received an hour earlier than it was (as if stuck since)."""
    with engine.begin() as conn:
        moved = conn.execute(
            sa.text(
                "UPDATE messaging.inbox SET received_at = received_at - interval '1 hour'"
                " WHERE event_id = :e"
            ),
            {"e": event_id},
        )
        assert moved.rowcount == 1


def _inbox_backlog(engine: sa.Engine) -> list[outbox.Backlog]:
    with engine.connect() as conn:
        return [b for b in outbox.backlog(conn) if b.queue == "inbox"]


def test_a_deferred_inbox_event_is_counted_apart_from_the_backlog(engine: sa.Engine) -> None:
    """Three open events: one deferred (its handler lost a race), one retrying (its handler
    failed), one never tried: pending 2 (the retrying and the untried), deferred 1."""
    handlers = outbox.InboxHandlers()
    handlers.register(SOURCE, TYPE, _handler)
    lost = _store(engine, "lose")
    _store(engine, "fail")
    with engine.begin() as conn:
        seen = {outbox.handle_next(conn, POLICY, handlers) for _ in range(2)}
    assert seen == {"deferred", "retrying"}
    _store(engine, "nothing yet")
    _an_hour_old(engine, lost)
    [row] = _inbox_backlog(engine)
    assert (row.channel, row.pending, row.deferred) == (SOURCE, 2, 1)
    # The hour-old deferred event's age is its own, not the pending's.
    assert 0 <= row.oldest_age_s < HOUR <= row.deferred_oldest_age_s
    with engine.connect() as conn:
        assert outbox.waiting(conn) == 3


def test_deferred_events_alone_keep_their_row_with_nothing_pending(engine: sa.Engine) -> None:
    handlers = outbox.InboxHandlers()
    handlers.register(SOURCE, TYPE, _handler)
    lost = _store(engine, "lose")
    with engine.begin() as conn:
        assert outbox.handle_next(conn, POLICY, handlers) == "deferred"
    _an_hour_old(engine, lost)
    [row] = _inbox_backlog(engine)
    assert (row.pending, row.deferred, row.oldest_age_s) == (0, 1, 0.0)
    assert row.deferred_oldest_age_s >= HOUR
    with engine.connect() as conn:
        assert outbox.waiting(conn) == 1


def test_the_outbox_rows_have_nothing_deferred(engine: sa.Engine) -> None:
    """Deliveries are never deferred (a transient failure of a task is run again within its
    claim): the outbox's rows carry 0."""
    mail = outbox.Email(to="buyer@example.com", subject="Backlog", body="Counted.")
    with engine.begin() as conn:
        publish_step(conn, "backlog", 1, emails=[mail])
    with engine.connect() as conn:
        rows = [b for b in outbox.backlog(conn) if b.queue == "outbox"]
    assert [(b.channel, b.pending, b.deferred, b.deferred_oldest_age_s) for b in rows] == [
        ("email", 1, 0, 0.0)
    ]


def _scraped(registry: CollectorRegistry) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in registry.collect()
        for s in family.samples
    }


def test_the_metrics_show_the_deferred_apart(engine: sa.Engine) -> None:
    """The worker's metrics (liventix_backlog_deferred) and the API's
    (liventix_inbox_deferred) show the deferred event, and its age beside (an hour old: in
    no pending age); the pending gauges the other one."""
    handlers = outbox.InboxHandlers()
    handlers.register(SOURCE, TYPE, _handler)
    lost = _store(engine, "lose")
    with engine.begin() as conn:
        assert outbox.handle_next(conn, POLICY, handlers) == "deferred"
    _store(engine, "nothing yet")
    _an_hour_old(engine, lost)
    inbox = (("channel", SOURCE), ("queue", "inbox"))
    worker = _scraped(WorkerMetrics(engine).registry)
    assert worker[("liventix_backlog_deferred", inbox)] == 1
    assert worker[("liventix_backlog_deferred_oldest_age_seconds", inbox)] >= HOUR
    assert worker[("liventix_backlog_pending", inbox)] == 1
    assert worker[("liventix_backlog_oldest_age_seconds", inbox)] < HOUR
    api = CollectorRegistry()
    api.register(OutboxCollector(engine))
    scraped = _scraped(api)
    assert scraped[("liventix_inbox_deferred", ())] == 1
    assert scraped[("liventix_inbox_deferred_oldest_age_seconds", ())] >= HOUR
    assert scraped[("liventix_inbox_backlog", ())] == 1
    assert scraped[("liventix_inbox_oldest_pending_age_seconds", ())] < HOUR

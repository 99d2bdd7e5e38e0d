"""The outbox health report tells an inbox event put off by a transient database failure
(attempts 0, deferrals > 0: `outbox.inbox`, 9977c9f) from one never tried: it is `deferred`,
due again within seconds, not `pending`. Before: counted as pending (never tried).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa

import outbox
from liventix import reports
from liventix.reports.layout import headline

SOURCE = "test"
TYPE = "test.fixes.health"
POLICY = outbox.RetryPolicy(schedule=(60, 60, 60), jitter=0.0, deferrals=(60.0,) * 3)


@pytest.fixture
def seat(engine: sa.Engine) -> Iterator[sa.Connection]:
    """A row another connection holds locked (the test's transaction open until the end)."""
    with engine.begin() as conn:
        conn.execute(sa.text("CREATE TABLE public.health_seats (id int PRIMARY KEY)"))
        conn.execute(sa.text("INSERT INTO public.health_seats VALUES (1)"))
    holder = engine.connect()
    holder.execute(sa.text("SELECT * FROM public.health_seats FOR UPDATE"))
    try:
        yield holder
    finally:
        holder.rollback()
        holder.close()


def _handler(conn: sa.Connection, event: outbox.InboxEvent) -> None:
    """Takes the held seat without waiting (a real 55P03, lock not available), or fails."""
    if event.payload["do"] == "lock":
        conn.execute(sa.text("SELECT * FROM public.health_seats FOR UPDATE NOWAIT"))
    raise ValueError("not today")


def _store(engine: sa.Engine, do: str) -> str:
    event_id = f"evt_{uuid.uuid4().hex[:24]}"
    with engine.begin() as conn:
        assert outbox.store_event(conn, SOURCE, event_id, TYPE, {"id": event_id, "do": do})
    return event_id


def _inbox(engine: sa.Engine) -> dict[str, tuple[Any, ...]]:
    with engine.connect() as conn:
        found = conn.execute(
            sa.text("SELECT payload->>'do', status, attempts, deferrals FROM messaging.inbox")
        ).all()
    return {r[0]: tuple(r[1:]) for r in found}


def test_an_event_put_off_by_a_transient_failure_is_reported_deferred_not_pending(
    engine: sa.Engine, seat: sa.Connection
) -> None:
    """Three open events of one type: one deferred (its handler met a lock not available),
    one retrying (its handler failed), one never tried: one in each column."""
    handlers = outbox.InboxHandlers()
    handlers.register(SOURCE, TYPE, _handler)
    _store(engine, "lock")
    _store(engine, "fail")
    with engine.begin() as conn:
        seen = {outbox.handle_next(conn, POLICY, handlers) for _ in range(2)}
    assert seen == {"deferred", "retrying"}
    _store(engine, "nothing yet")
    assert _inbox(engine) == {
        "lock": ("pending", 0, 1),
        "fail": ("pending", 1, 0),
        "nothing yet": ("pending", 0, 0),
    }
    with engine.connect() as conn:
        report = reports.outbox_health(conn)
    (row,) = report.inbox
    assert (row.source, row.event_type) == (SOURCE, TYPE)
    assert (row.pending, row.deferred, row.retrying, row.dead) == (1, 1, 1, 0)
    assert row.oldest_open_age_seconds is not None and row.oldest_dead_age_seconds is None
    assert report.differences == 0
    assert headline(report) == "1 pending, 1 deferred, 1 retrying, 0 dead"

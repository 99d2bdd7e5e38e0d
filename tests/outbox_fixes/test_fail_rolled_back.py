"""`outbox.inbox.fail_rolled_back` (review M2) writes only on the row its step took, as the
step took it: a claim that is no longer the event's, or an event counted since, is "lost"
and nothing is written (another worker has it)."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import sqlalchemy as sa

import outbox
from outbox.inbox import Claim, begin_next, fail_rolled_back, next_due
from tests.outbox_core.support import rows

SOURCE = "test"
TWO = "test.fixes.rolled_back_two"
ONE = "test.fixes.rolled_back_one"
POLICY = outbox.RetryPolicy(schedule=(60,), jitter=0.0, deferrals=(30,))


def _store(engine: sa.Engine, event_type: str) -> str:
    event_id = f"evt_{uuid.uuid4().hex[:24]}"
    with engine.begin() as conn:
        assert outbox.store_event(conn, SOURCE, event_id, event_type, {"id": event_id})
    return event_id


def _row(engine: sa.Engine, event_id: str) -> tuple[Any, ...]:
    [row] = rows(
        engine,
        "SELECT status, attempts, deferrals FROM messaging.inbox WHERE event_id = :e",
        e=event_id,
    )
    return tuple(row)


def test_a_claim_no_longer_held_is_lost(engine: sa.Engine) -> None:
    handlers = outbox.InboxHandlers()
    handlers.register(SOURCE, TWO, outbox.InboxTwoStepHandler(lambda e: None, lambda c, e, d: None))
    event_id = _store(engine, TWO)
    with engine.begin() as conn:
        claim = begin_next(conn, POLICY, handlers, timedelta(seconds=30))
    assert isinstance(claim, Claim)
    with engine.begin() as conn:
        stale = claim.until - timedelta(seconds=1)
        assert fail_rolled_back(conn, POLICY, claim.event, ValueError("x"), until=stale) == "lost"
    assert _row(engine, event_id) == ("pending", 0, 0)
    with engine.begin() as conn:
        got = fail_rolled_back(conn, POLICY, claim.event, ValueError("x"), until=claim.until)
        assert got == "retrying"
    assert _row(engine, event_id) == ("pending", 1, 0)


def test_an_event_counted_since_is_lost(engine: sa.Engine) -> None:
    event_id = _store(engine, ONE)
    with engine.begin() as conn:
        taken = next_due(conn)
    assert taken is not None and taken.event_id == event_id
    with engine.begin() as conn:
        conn.execute(
            sa.text("UPDATE messaging.inbox SET attempts = 1 WHERE event_id = :e"), {"e": event_id}
        )
    with engine.begin() as conn:
        assert fail_rolled_back(conn, POLICY, taken, ValueError("x")) == "lost"
    assert _row(engine, event_id) == ("pending", 1, 0)

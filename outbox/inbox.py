"""The inbox: events from outside (Stripe's webhooks), stored once and handled once.

`store_event` runs on the caller's transaction: a duplicate (same source and event id) is
acknowledged and ignored. `handle_next` takes one due event under a row lock and runs its
registered handler in the same transaction, then marks it handled; a failing handler's
effects are rolled back to a savepoint and the event retried with backoff, dead after the
last attempt. Handlers must tolerate any arrival order (Stripe guarantees none).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, text

from outbox.retries import RetryPolicy


@dataclass(frozen=True)
class InboxEvent:
    """A stored event as a handler sees it."""

    source: str
    event_id: str
    type: str
    payload: dict[str, Any]
    received_at: datetime
    attempts: int


Handler = Callable[[Connection, InboxEvent], None]
_HANDLERS: dict[tuple[str, str], Handler] = {}


def register_handler(source: str, event_type: str, handler: Handler) -> None:
    """Handle events of this source and type with `handler(conn, event)`."""
    existing = _HANDLERS.get((source, event_type))
    if existing is not None and existing is not handler:
        raise ValueError(f"a handler for {source} {event_type} is already registered")
    _HANDLERS[(source, event_type)] = handler


def handler_for(source: str, event_type: str) -> Handler | None:
    """The registered handler, if any."""
    return _HANDLERS.get((source, event_type))


def store_event(
    conn: Connection, source: str, event_id: str, event_type: str, payload: dict[str, Any]
) -> bool:
    """Store an event on the caller's transaction; False if it was already stored."""
    row = conn.execute(
        text("""INSERT INTO messaging.inbox (source, event_id, type, payload)
                VALUES (:source, :id, :type, CAST(:payload AS jsonb))
                ON CONFLICT (source, event_id) DO NOTHING
                RETURNING event_id"""),
        {"source": source, "id": event_id, "type": event_type, "payload": json.dumps(payload)},
    ).first()
    return row is not None


def handle_next(conn: Connection, policy: RetryPolicy) -> str | None:
    """Handle one due event on the caller's transaction; returns its status, None if idle."""
    row = conn.execute(
        text("""SELECT source, event_id, type, payload, received_at, attempts
                  FROM messaging.inbox
                 WHERE status = 'pending' AND next_attempt_at <= now()
                 ORDER BY next_attempt_at, received_at
                 LIMIT 1
                   FOR UPDATE SKIP LOCKED""")
    ).first()
    if row is None:
        return None
    event = InboxEvent(
        source=row.source,
        event_id=row.event_id,
        type=row.type,
        payload=row.payload,
        received_at=row.received_at,
        attempts=row.attempts + 1,
    )
    key = {"source": event.source, "id": event.event_id}
    handler = handler_for(event.source, event.type)
    if handler is None:
        conn.execute(
            text("""UPDATE messaging.inbox
                       SET status = 'ignored', handled_at = now(), attempts = attempts + 1,
                           last_error = 'no handler registered for this type'
                     WHERE source = :source AND event_id = :id"""),
            key,
        )
        return "ignored"
    savepoint = conn.begin_nested()
    try:
        handler(conn, event)
    except Exception as exc:
        savepoint.rollback()
        delay = policy.delay(event.attempts)
        conn.execute(
            text("""UPDATE messaging.inbox
                       SET status = CASE WHEN CAST(:delay AS float8) IS NULL
                                         THEN 'dead' ELSE 'pending' END,
                           attempts = attempts + 1,
                           next_attempt_at = now()
                               + make_interval(secs => coalesce(CAST(:delay AS float8), 0)),
                           last_error = :error
                     WHERE source = :source AND event_id = :id"""),
            {**key, "delay": delay, "error": f"{type(exc).__name__}: {exc}"[:1000]},
        )
        return "dead" if delay is None else "retrying"
    savepoint.commit()
    conn.execute(
        text("""UPDATE messaging.inbox
                   SET status = 'handled', handled_at = now(), attempts = attempts + 1,
                       last_error = NULL
                 WHERE source = :source AND event_id = :id"""),
        key,
    )
    return "handled"

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


class Handlers:
    """Which handler takes which (source, type): the application wires one at its edge; a
    test may build its own and hand it to the worker."""

    def __init__(self) -> None:
        self._by_type: dict[tuple[str, str], Handler] = {}

    def register(
        self, source: str, event_type: str, handler: Handler, *, replace: bool = False
    ) -> None:
        """Handle events of this source and type with `handler(conn, event)`."""
        existing = self._by_type.get((source, event_type))
        if existing is not None and existing is not handler and not replace:
            raise ValueError(f"a handler for {source} {event_type} is already registered")
        self._by_type[(source, event_type)] = handler

    def get(self, source: str, event_type: str) -> Handler | None:
        """The registered handler, if any."""
        return self._by_type.get((source, event_type))


DEFAULT_HANDLERS = Handlers()
"""The process's handlers, used when none are given."""


def register_handler(
    source: str, event_type: str, handler: Handler, *, replace: bool = False
) -> None:
    """Register a handler in the process's default handlers."""
    DEFAULT_HANDLERS.register(source, event_type, handler, replace=replace)


def handler_for(source: str, event_type: str) -> Handler | None:
    """The handler registered in the process's default handlers, if any."""
    return DEFAULT_HANDLERS.get(source, event_type)


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


def handle_next(
    conn: Connection, policy: RetryPolicy, handlers: Handlers | None = None
) -> str | None:
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
    handler = (handlers or DEFAULT_HANDLERS).get(event.source, event.type)
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

"""A failure no retry can mend ends an inbox event dead at once (`outbox.PermanentFailure`,
review M4): a handler's error that is one, or is raised from one, is recorded at the first
attempt as the last, its error kept; any other failure is retried on the schedule as before.
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest
import sqlalchemy as sa

import outbox
from tests.outbox_core.support import rows

SOURCE = "test"
TYPE = "test.fixes.permanent"


class NeverBookable(ValueError, outbox.PermanentFailure):
    """A package's own error, marked permanent."""


def _inbox(engine: sa.Engine, event_id: str) -> tuple[Any, ...]:
    [row] = rows(
        engine,
        "SELECT status, attempts, last_error FROM messaging.inbox WHERE event_id = :e",
        e=event_id,
    )
    return tuple(row)


@pytest.mark.parametrize(
    ("failure", "status", "recorded"),
    [
        ("permanent", "dead", "NeverBookable: no retry books this"),
        ("raised from a permanent one", "dead", "RuntimeError: translated"),
        ("plain", "retrying", "ValueError: try later"),
    ],
)
def test_a_permanent_failure_ends_the_event_dead_at_its_first_attempt(
    engine: sa.Engine, failure: str, status: str, recorded: str
) -> None:
    def handler(conn: sa.Connection, event: outbox.InboxEvent) -> None:
        if failure == "permanent":
            raise NeverBookable("no retry books this")
        if failure == "plain":
            raise ValueError("try later")
        try:
            raise NeverBookable("no retry books this")
        except NeverBookable as exc:
            raise RuntimeError("translated") from exc

    handlers = outbox.InboxHandlers()
    handlers.register(SOURCE, TYPE, handler)
    event_id = f"evt_{uuid.uuid4().hex[:24]}"
    with engine.begin() as conn:
        assert outbox.store_event(conn, SOURCE, event_id, TYPE, {"id": event_id})
    with engine.begin() as conn:
        assert outbox.handle_next(conn, outbox.RetryPolicy(), handlers) == status
    got_status, attempts, error = _inbox(engine, event_id)
    assert (got_status, attempts) == ("pending" if status == "retrying" else status, 1)
    # The error the handler raised, as raised: for the translated one, the translation (its
    # cause made it permanent, the record keeps what reached the inbox).
    assert error == recorded

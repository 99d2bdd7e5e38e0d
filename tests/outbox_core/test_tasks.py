"""Task deliveries: `publish(..., task=True)` runs the task registered for the message's type
in a worker, with the message id as its idempotency key; a failing task is a failed attempt,
retried like any delivery; a type with no task fails without stopping the worker."""

from __future__ import annotations

import threading
from typing import Any

import sqlalchemy as sa

import outbox
from tests.outbox_core.support import (
    ORG,
    MakeWorker,
    Step,
    all_succeeded,
    drain,
    fast_retry,
    rows,
    statuses,
)

_lock = threading.Lock()
_calls: list[tuple[str, dict[str, Any]]] = []


def _task(message_id: str, payload: dict[str, Any]) -> None:
    with _lock:
        _calls.append((message_id, payload))
        tries = sum(1 for m, _ in _calls if m == message_id)
    if payload["seq"] < 0 and tries <= -payload["seq"]:
        raise RuntimeError(f"the provider said no ({tries})")


outbox.register_message_type("test.task", Step)
outbox.register_message_type("test.task_without_runner", Step)
outbox.register_task("test.task", _task)


def _publish(conn: sa.Connection, type: str, aggregate: str, seq: int) -> str:
    return str(
        outbox.publish(
            conn,
            type=type,
            payload=Step(aggregate=aggregate, seq=seq),
            aggregate_type="step",
            aggregate_id=aggregate,
            org_id=ORG,
            task=True,
        )
    )


def _calls_for(message_id: str) -> list[dict[str, Any]]:
    with _lock:
        return [p for m, p in _calls if m == message_id]


def test_a_task_runs_once_with_the_message_id_and_payload(
    engine: sa.Engine, make_worker: MakeWorker
) -> None:
    with engine.begin() as conn:
        message_id = _publish(conn, "test.task", "t1", 1)
    assert make_worker().deliver_once() == 1
    assert _calls_for(message_id) == [{"aggregate": "t1", "seq": 1}]
    [delivery] = rows(engine, "SELECT channel, target, status FROM messaging.deliveries")
    assert tuple(delivery) == ("task", "task:test.task", "succeeded")


def test_a_failing_task_is_retried_until_it_succeeds(
    engine: sa.Engine, make_worker: MakeWorker
) -> None:
    with engine.begin() as conn:
        message_id = _publish(conn, "test.task", "t2", -2)  # fails twice
    drain(make_worker(), all_succeeded(engine, 1), 10, "the task to succeed")
    assert len(_calls_for(message_id)) == 3
    attempts = rows(engine, "SELECT attempt, succeeded, error FROM messaging.attempts ORDER BY id")
    assert [(a.attempt, a.succeeded) for a in attempts] == [(1, False), (2, False), (3, True)]
    assert "the provider said no (1)" in attempts[0].error


def test_a_type_without_a_task_fails_and_the_batch_goes_on(
    engine: sa.Engine, make_worker: MakeWorker
) -> None:
    with engine.begin() as conn:
        _publish(conn, "test.task_without_runner", "t3", 1)
        ok = _publish(conn, "test.task", "t4", 1)
    assert make_worker(retry=fast_retry()).deliver_once() == 2
    assert statuses(engine) == {"dead": 1, "succeeded": 1}
    assert len(_calls_for(ok)) == 1
    [error] = rows(engine, "SELECT error FROM messaging.attempts WHERE NOT succeeded")
    assert "no task registered" in error.error

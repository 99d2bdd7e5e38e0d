"""Failures and retries: one attempt row per try, success after N failures, dead after the
last attempt and brought back by requeue, Retry-After on 429 and 503, redirects not followed,
timeouts recorded as errors."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import sqlalchemy as sa

import outbox
from tests.outbox_core.support import (
    LOOPBACK,
    ORG,
    MakeWorker,
    Receiver,
    Reply,
    all_succeeded,
    always,
    drain,
    fast_retry,
    publish_step,
    rows,
    scalar,
    statuses,
)


def _endpoint(engine: sa.Engine, url: str) -> None:
    with engine.begin() as conn:
        outbox.register_endpoint(conn, ORG, url, allow=LOOPBACK)


def _publish(engine: sa.Engine, aggregate: str = "a", seq: int = 1) -> str:
    with engine.begin() as conn:
        return str(publish_step(conn, aggregate, seq))


def test_a_receiver_failing_n_times_then_succeeding_gets_n_plus_one_attempts(
    engine: sa.Engine, receiver: Receiver, make_worker: MakeWorker
) -> None:
    failures = 3
    _endpoint(engine, receiver.url_for())
    message_id = _publish(engine)
    receiver.policy = lambda path, webhook_id, try_no: Reply(
        500 if try_no <= failures else 200, body=f"try {try_no}".encode()
    )
    worker = make_worker(retry=fast_retry(0.05, 0.05, 0.05, 0.05))
    drain(worker, all_succeeded(engine, 1), 10, "the delivery to succeed")

    attempts = rows(
        engine,
        """SELECT attempt, status_code, succeeded, response_body, error, duration_ms, worker
             FROM messaging.attempts ORDER BY attempt""",
    )
    assert [(a.attempt, a.status_code, a.succeeded) for a in attempts] == [
        (1, 500, False),
        (2, 500, False),
        (3, 500, False),
        (4, 200, True),
    ]
    assert [a.response_body for a in attempts] == ["try 1", "try 2", "try 3", "try 4"]
    assert all(a.error is None and a.duration_ms >= 0 for a in attempts)
    assert {a.worker for a in attempts} == {worker.name}
    delivery = rows(engine, "SELECT attempts, last_error, finished_at FROM messaging.deliveries")[0]
    assert delivery.attempts == 4 and delivery.last_error is None
    assert delivery.finished_at is not None
    # Every try carried the same webhook-id; exactly one was answered with a success.
    assert [r.webhook_id for r in receiver.requests] == [message_id] * 4
    assert [r.status for r in receiver.requests] == [500, 500, 500, 200]


def test_dead_after_the_last_attempt_then_requeue_delivers_it(
    engine: sa.Engine, receiver: Receiver, make_worker: MakeWorker
) -> None:
    _endpoint(engine, receiver.url_for())
    message_id = _publish(engine)
    receiver.policy = always(503)
    worker = make_worker(retry=fast_retry(0.05, 0.05))
    drain(worker, lambda: statuses(engine) == {"dead": 1}, 10, "the delivery to die")
    dead = rows(engine, "SELECT id, attempts, last_error, finished_at FROM messaging.deliveries")
    assert (dead[0].attempts, dead[0].last_error) == (3, "HTTP 503")
    assert dead[0].finished_at is not None
    # Dead is final: more rounds send nothing.
    worker.run_once()
    assert receiver.count == 3

    receiver.policy = always(204)
    with engine.begin() as conn:
        assert outbox.requeue(conn, delivery_id=dead[0].id) == 1
    assert statuses(engine) == {"pending": 1}
    drain(worker, all_succeeded(engine, 1), 10, "the requeued delivery to succeed")
    assert [r.status for r in receiver.requests] == [503, 503, 503, 204]
    assert {r.webhook_id for r in receiver.requests} == {message_id}
    assert scalar(engine, "SELECT count(*) FROM messaging.attempts") == 4
    # Requeue touches dead deliveries only: a delivered one is not sent again.
    with engine.begin() as conn:
        assert outbox.requeue(conn) == 0
        assert outbox.requeue(conn, delivery_id=dead[0].id) == 0


def test_requeue_without_arguments_brings_back_every_dead_delivery_only(
    engine: sa.Engine, receiver: Receiver, make_worker: MakeWorker
) -> None:
    _endpoint(engine, receiver.url_for())
    for i in range(3):
        _publish(engine, f"a{i}")
    receiver.policy = always(500)
    worker = make_worker(retry=fast_retry())
    assert worker.deliver_once() == 3
    assert statuses(engine) == {"dead": 3}
    with engine.begin() as conn:
        assert outbox.requeue(conn) == 3
    receiver.policy = always(200)
    drain(worker, all_succeeded(engine, 3), 10, "the requeued deliveries")


def test_retry_after_on_429_pushes_the_next_attempt_back(
    engine: sa.Engine, receiver: Receiver, make_worker: MakeWorker
) -> None:
    _endpoint(engine, receiver.url_for())
    _publish(engine)
    receiver.policy = always(429, headers={"Retry-After": "30"})
    worker = make_worker(retry=fast_retry(0.05, 0.05))
    assert worker.deliver_once() == 1
    wait = scalar(
        engine,
        """SELECT extract(epoch FROM d.next_attempt_at - a.started_at)
             FROM messaging.deliveries d JOIN messaging.attempts a ON a.delivery_id = d.id""",
    )
    assert wait >= 30
    assert statuses(engine) == {"pending": 1}
    assert scalar(engine, "SELECT status_code FROM messaging.attempts") == 429
    # Not due: the next rounds leave it alone.
    assert worker.run_once() == 0
    assert receiver.count == 1


def test_retry_after_as_an_http_date_on_503_is_honoured(
    engine: sa.Engine, receiver: Receiver, make_worker: MakeWorker
) -> None:
    _endpoint(engine, receiver.url_for())
    _publish(engine)
    when = datetime.now(UTC) + timedelta(seconds=120)
    receiver.policy = always(503, headers={"Retry-After": format_datetime(when, usegmt=True)})
    worker = make_worker(retry=fast_retry(0.05, 0.05))
    assert worker.deliver_once() == 1
    next_at = scalar(engine, "SELECT next_attempt_at FROM messaging.deliveries")
    # The header has one-second resolution.
    assert next_at >= when - timedelta(seconds=2)


def test_retry_after_is_capped_and_ignored_on_other_statuses(
    engine: sa.Engine, receiver: Receiver, make_worker: MakeWorker
) -> None:
    _endpoint(engine, receiver.url_for())
    capped = _publish(engine, "capped")
    ignored = _publish(engine, "ignored")

    def policy(path: str, webhook_id: str, try_no: int) -> Reply:
        status = 429 if webhook_id == capped else 500
        return Reply(status, headers={"Retry-After": "3600"})

    receiver.policy = policy
    retry = outbox.RetryPolicy(schedule=(0.05, 0.05), jitter=0.0, max_retry_after=10)
    worker = make_worker(retry=retry)
    assert worker.deliver_once() == 2
    waits = {
        str(r.message_id): r.wait
        for r in rows(
            engine,
            """SELECT message_id, extract(epoch FROM next_attempt_at - now()) AS wait
                 FROM messaging.deliveries""",
        )
    }
    assert 5 < waits[capped] <= 10
    assert waits[ignored] <= 1


def test_redirects_are_not_followed(
    engine: sa.Engine, receiver: Receiver, make_worker: MakeWorker
) -> None:
    _endpoint(engine, receiver.url_for("/moved"))
    _publish(engine)
    receiver.policy = lambda path, webhook_id, try_no: (
        Reply(301, headers={"Location": receiver.url_for("/new")}) if path == "/moved" else Reply()
    )
    worker = make_worker(retry=fast_retry())
    assert worker.deliver_once() == 1
    assert [r.path for r in receiver.requests] == ["/moved"]
    assert statuses(engine) == {"dead": 1}
    assert scalar(engine, "SELECT status_code FROM messaging.attempts") == 301


def test_a_timeout_is_an_attempt_with_an_error(
    engine: sa.Engine, receiver: Receiver, make_worker: MakeWorker
) -> None:
    _endpoint(engine, receiver.url_for())
    _publish(engine)
    receiver.policy = always(200, delay=1.0)
    worker = make_worker(request_timeout=0.2, retry=fast_retry(60))
    assert worker.deliver_once() == 1
    attempt = rows(engine, "SELECT status_code, error, succeeded FROM messaging.attempts")[0]
    assert attempt.status_code is None and not attempt.succeeded
    assert "Timeout" in attempt.error
    assert scalar(engine, "SELECT last_error FROM messaging.deliveries") == attempt.error
    assert statuses(engine) == {"pending": 1}


def test_a_refused_connection_is_an_attempt_with_an_error(
    engine: sa.Engine, make_worker: MakeWorker
) -> None:
    # Port 9 (discard) on 127.0.0.1: nothing listens there in the test environment.
    _endpoint(engine, "http://127.0.0.1:9/hook")
    _publish(engine)
    worker = make_worker(retry=fast_retry(60))
    assert worker.deliver_once() == 1
    attempt = rows(engine, "SELECT status_code, error FROM messaging.attempts")[0]
    assert attempt.status_code is None
    assert "Connection refused" in attempt.error or "ConnectionRefused" in attempt.error


def test_the_response_body_is_kept_truncated(
    engine: sa.Engine, receiver: Receiver, make_worker: MakeWorker
) -> None:
    _endpoint(engine, receiver.url_for())
    _publish(engine)
    receiver.policy = always(400, body=b"x" * 5000)
    worker = make_worker(max_response_body=100, retry=fast_retry())
    assert worker.deliver_once() == 1
    assert scalar(engine, "SELECT response_body FROM messaging.attempts") == "x" * 100

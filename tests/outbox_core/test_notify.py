"""LISTEN/NOTIFY: a running worker whose poll interval is long wakes at once when a message,
an inbox event or a requeue commits. The bound asserted is functional (well under the poll
interval), not a latency target."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest
import sqlalchemy as sa

import outbox
from tests.outbox_core.support import (
    LOOPBACK,
    ORG,
    MakeWorker,
    Receiver,
    always,
    fast_retry,
    publish_step,
    scalar,
    statuses,
    wait_until,
)

POLL = 30.0
WOKEN_WITHIN = 10.0  # far below POLL: only a notification explains a delivery this early

_handled: list[str] = []


def _record(conn: sa.Connection, event: outbox.InboxEvent) -> None:
    _handled.append(event.event_id)


outbox.register_handler("test", "test.notified", _record)


@pytest.fixture
def running(make_worker: MakeWorker) -> Iterator[outbox.Worker]:
    """A worker looping in a thread, polling every 30 s, idle (waiting) once yielded."""
    worker = make_worker(poll_interval=POLL, retry=fast_retry())
    rounds = threading.Event()
    thread = threading.Thread(target=worker.run, kwargs={"extra": rounds.set}, daemon=True)
    thread.start()
    try:
        assert rounds.wait(10), "the worker never finished its first round"
        yield worker
    finally:
        worker.stop()
        thread.join(10)
        assert not thread.is_alive()


def test_a_committed_message_wakes_a_waiting_worker(
    engine: sa.Engine, receiver: Receiver, running: outbox.Worker
) -> None:
    with engine.begin() as conn:
        outbox.register_endpoint(conn, ORG, receiver.url_for(), allow=LOOPBACK)
    # Let the worker settle into its wait (the endpoint's commit sent no notification).
    time.sleep(0.2)
    with engine.begin() as conn:
        publish_step(conn, "a", 1)
    committed = time.monotonic()
    wait_until(lambda: receiver.count == 1, WOKEN_WITHIN, "the woken worker's delivery")
    assert time.monotonic() - committed < POLL
    wait_until(lambda: statuses(engine) == {"succeeded": 1}, WOKEN_WITHIN, "its outcome")


def test_a_stored_inbox_event_wakes_a_waiting_worker(
    engine: sa.Engine, running: outbox.Worker
) -> None:
    time.sleep(0.2)
    with engine.begin() as conn:
        outbox.store_event(conn, "test", "evt_notify_1", "test.notified", {"id": "evt_notify_1"})
    wait_until(lambda: "evt_notify_1" in _handled, WOKEN_WITHIN, "the event to be handled")
    assert (
        scalar(engine, "SELECT status FROM messaging.inbox WHERE event_id = 'evt_notify_1'")
        == "handled"
    )


def test_a_requeue_wakes_a_waiting_worker(
    engine: sa.Engine, receiver: Receiver, running: outbox.Worker
) -> None:
    with engine.begin() as conn:
        outbox.register_endpoint(conn, ORG, receiver.url_for(), allow=LOOPBACK)
    receiver.policy = always(500)
    with engine.begin() as conn:
        publish_step(conn, "a", 1)
    # No retries configured: dead after the first attempt.
    wait_until(lambda: statuses(engine) == {"dead": 1}, WOKEN_WITHIN, "the delivery to die")
    receiver.policy = always(200)
    time.sleep(0.2)
    with engine.begin() as conn:
        assert outbox.requeue(conn) == 1
    wait_until(lambda: statuses(engine) == {"succeeded": 1}, WOKEN_WITHIN, "the requeued delivery")

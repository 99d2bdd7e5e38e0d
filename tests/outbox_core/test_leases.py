"""Claims and leases with several workers in one process: a claimed delivery is not claimed
again while its lease runs, a lapsed lease is taken over, a stale worker cannot overwrite the
newer attempt's outcome, and no delivery is ever sent by two workers at the same time."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa

import outbox
from outbox.dispatch import claim, record
from tests.outbox_core.support import (
    LOOPBACK,
    ORG,
    MakeWorker,
    Receiver,
    always,
    publish_step,
    rows,
    scalar,
    statuses,
    wait_until,
)


def _setup(engine: sa.Engine, receiver: Receiver, count: int) -> None:
    with engine.begin() as conn:
        outbox.register_endpoint(conn, ORG, receiver.url_for(), allow=LOOPBACK)
        for i in range(count):
            publish_step(conn, f"agg-{i}", 1)


def test_a_leased_delivery_is_not_claimed_by_another_worker(
    engine: sa.Engine, receiver: Receiver, make_worker: MakeWorker
) -> None:
    _setup(engine, receiver, 4)
    receiver.policy = always(200, delay=0.3)
    slow = make_worker(name="slow", lease=timedelta(seconds=30), concurrency=4)
    other = make_worker(name="other")
    thread = threading.Thread(target=slow.deliver_once)
    thread.start()
    try:
        wait_until(lambda: receiver.count == 4, 10, "the slow worker's requests")
        # Everything is leased to the slow worker: nothing for the other one.
        assert other.deliver_once() == 0
    finally:
        thread.join(10)
    assert statuses(engine) == {"succeeded": 4}
    assert receiver.count == 4
    assert {r.worker for r in rows(engine, "SELECT worker FROM messaging.attempts")} == {"slow"}


def test_a_stale_worker_cannot_overwrite_the_newer_attempt(
    engine: sa.Engine, receiver: Receiver, make_worker: MakeWorker
) -> None:
    # A worker claims, then stalls (a long GC pause, a frozen VM) past its lease; another
    # worker takes the delivery over and delivers it; the stale worker then reports a failure.
    # Its attempt is logged, but the delivery's outcome is the newer attempt's.
    _setup(engine, receiver, 1)
    with engine.begin() as conn:
        [claimed] = claim(conn, "stale", 10, timedelta(milliseconds=100))
    fresh = make_worker(name="fresh")
    wait_until(lambda: fresh.deliver_once() == 1, 5, "the lease to lapse")
    stale_outcome = outbox.Outcome(
        delivery=claimed,
        started_at=datetime.now(UTC),
        duration_ms=1,
        succeeded=False,
        status_code=500,
    )
    with engine.begin() as conn:
        record(conn, "stale", [stale_outcome], {claimed.id: 0.0}, timedelta(days=1))
    [delivery] = rows(engine, "SELECT status, attempts, last_error FROM messaging.deliveries")
    assert (delivery.status, delivery.attempts, delivery.last_error) == ("succeeded", 2, None)
    attempts = rows(engine, "SELECT attempt, worker, succeeded FROM messaging.attempts ORDER BY id")
    assert [(a.attempt, a.worker, a.succeeded) for a in attempts] == [
        (2, "fresh", True),
        (1, "stale", False),
    ]
    # Nor can a stale success end a delivery another worker now holds.
    with engine.begin() as conn:
        publish_step(conn, "agg-x", 1)
    with engine.begin() as conn:
        [old] = claim(conn, "stale", 10, timedelta(milliseconds=100))
    wait_until(
        lambda: scalar(
            engine,
            "SELECT bool_and(lease_expires_at < now()) FROM messaging.deliveries "
            "WHERE status = 'delivering'",
        ),
        5,
        "the lease to lapse",
    )
    with engine.begin() as conn:
        [new] = claim(conn, "fresh", 10, timedelta(seconds=30))
    assert new.id == old.id and new.attempt == old.attempt + 1
    ok = outbox.Outcome(delivery=old, started_at=datetime.now(UTC), duration_ms=1, succeeded=True)
    with engine.begin() as conn:
        record(conn, "stale", [ok], {}, timedelta(days=1))
    assert (
        scalar(engine, "SELECT status FROM messaging.deliveries WHERE id = :id", id=new.id)
        == "delivering"
    )


def test_a_batch_that_outlasts_its_lease_is_not_sent_twice_at_once(
    engine: sa.Engine, receiver: Receiver, make_worker: MakeWorker
) -> None:
    # The default settings have this shape: a batch of 100 sent 16 at a time, each request
    # allowed 10 s, takes up to 7 x 10 s = 70 s against a 60 s lease. Scaled down: a batch
    # of 2 sent one at a time, each allowed 2 s and answered in 0.6 s, under a 0.2 s lease.
    _setup(engine, receiver, 2)
    receiver.policy = always(200, delay=0.6)
    first = make_worker(
        name="first",
        batch_size=2,
        concurrency=1,
        request_timeout=2.0,
        lease=timedelta(milliseconds=200),
    )
    second = make_worker(name="second", concurrency=2)
    thread = threading.Thread(target=first.deliver_once)
    thread.start()
    try:
        wait_until(lambda: receiver.count >= 1, 10, "the first worker's request")
        wait_until(
            lambda: (
                scalar(
                    engine,
                    """SELECT count(*) FROM messaging.deliveries
                    WHERE status = 'delivering' AND lease_expires_at > now()""",
                )
                == 0
            ),
            5,
            "the first worker's lease to lapse while it still sends",
        )
        second.deliver_once()
    finally:
        thread.join(10)
    # The same delivery must never be in flight from two workers at once.
    assert receiver.overlaps == []

"""Two-step inbox events prepared concurrently within one worker (issue 11): the loop keeps
claiming while the claimed events' prepares (Stripe calls) wait, up to
`WorkerSettings.inbox_concurrency`, each finished in a transaction of its own.

No timing is asserted: the prepares meet at a barrier that only as many prepares in flight
at once can pass (a worker taking events one at a time never gets past it: its first prepare
times out there and the test fails), and while they all wait the worker's sessions hold no
transaction (promise 8). The leases of many claims in flight are renewed by one thread, and
each finish fences on its claim's latest token; `stop()` lets the events in flight finish.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa

import outbox
from liventix.database import make_engine
from tests.outbox_core.no_transaction import Probe, Seen
from tests.outbox_core.support import FAST, rows, scalar, wait_until

SOURCE = "test"
TYPE = "test.two_step_concurrent"
# How long a prepare waits at the barrier before it gives up (the test then fails): far
# longer than K claims take, however loaded the machine.
BARRIER_WAIT = 30.0


@pytest.fixture
def probe(db_url: str) -> Iterator[Probe]:
    """A probe of the worker's sessions, from a connection of its own."""
    p = Probe(db_url)
    try:
        yield p
    finally:
        p.close()


@pytest.fixture
def worker_engine(probe: Probe, db_url: str) -> Iterator[sa.Engine]:
    """The engine the worker under test uses: its sessions are the probe's to watch."""
    engine = probe.worker_engine(db_url)
    try:
        yield engine
    finally:
        engine.dispose()


@pytest.fixture
def effects(engine: sa.Engine) -> None:
    """A table the test handlers write their effects to."""
    with engine.begin() as conn:
        conn.execute(sa.text("CREATE TABLE public.effects (event_id text, prepared text)"))


def _store(engine: sa.Engine, n: int) -> list[str]:
    ids = [f"evt_{uuid.uuid4().hex[:24]}" for _ in range(n)]
    with engine.begin() as conn:
        for event_id in ids:
            assert outbox.store_event(conn, SOURCE, event_id, TYPE, {"id": event_id})
    return ids


def _write_effect(conn: sa.Connection, event: outbox.InboxEvent, prepared: str) -> None:
    conn.execute(
        sa.text("INSERT INTO public.effects VALUES (:id, :prepared)"),
        {"id": event.event_id, "prepared": prepared},
    )


def _registry(prepare: Any) -> outbox.InboxHandlers:
    registry = outbox.InboxHandlers()
    registry.register(
        SOURCE, TYPE, outbox.InboxTwoStepHandler(prepare=prepare, handle=_write_effect)
    )
    return registry


def _inbox(engine: sa.Engine) -> list[sa.Row[Any]]:
    return rows(
        engine,
        """SELECT event_id, status, attempts, last_error, next_attempt_at
             FROM messaging.inbox WHERE type = :type ORDER BY event_id""",
        type=TYPE,
    )


def _assert_each_handled_once(engine: sa.Engine, ids: list[str]) -> None:
    inbox = _inbox(engine)
    assert [(r.event_id, r.status, r.attempts, r.last_error) for r in inbox] == [
        (i, "handled", 1, None) for i in sorted(ids)
    ]
    effects = rows(engine, "SELECT event_id, prepared FROM effects ORDER BY event_id")
    assert [tuple(r) for r in effects] == [(i, f"for {i}") for i in sorted(ids)]


def test_prepares_overlap_within_one_worker_with_no_transaction_open(
    engine: sa.Engine, worker_engine: sa.Engine, probe: Probe, effects: None
) -> None:
    k = 6
    ids = _store(engine, k)
    seen: list[Seen] = []
    # Passed only once k prepares wait at once; the last to arrive looks at the worker's
    # sessions first, while the k others are still waiting on "Stripe".
    barrier = threading.Barrier(k, action=lambda: seen.append(probe.look()), timeout=BARRIER_WAIT)

    def prepare(event: outbox.InboxEvent) -> str:
        barrier.wait()
        return f"for {event.event_id}"

    # The bound is k: once the k-th claim has committed, the loop waits for a slot instead
    # of looking for more (a look the probe could see). A long lease: no renewal meanwhile.
    worker = outbox.Worker(
        worker_engine,
        replace(FAST, inbox_concurrency=k, lease=timedelta(seconds=120)),
        handlers=_registry(prepare),
    )
    try:
        assert worker.handle_inbox_once() == k
    finally:
        worker.close()
    assert len(seen) == 1, f"{k} prepares never waited at once"
    [during] = seen
    assert during.sessions > 0, "the probe found none of the worker's sessions"
    assert during.in_transaction == (), "a transaction was open while the prepares waited"
    assert during.locks == ()
    assert during.inbox_lockable
    _assert_each_handled_once(engine, ids)


def test_no_more_prepares_at_once_than_the_bound(
    engine: sa.Engine, worker_engine: sa.Engine, effects: None
) -> None:
    bound = 3
    ids = _store(engine, 2 * bound)
    barrier = threading.Barrier(bound, timeout=BARRIER_WAIT)
    lock = threading.Lock()
    now = {"in": 0, "peak": 0}

    def prepare(event: outbox.InboxEvent) -> str:
        with lock:
            now["in"] += 1
            now["peak"] = max(now["peak"], now["in"])
        try:
            barrier.wait()  # twice: `bound` prepares at once, then the next `bound`
        finally:
            with lock:
                now["in"] -= 1
        return f"for {event.event_id}"

    worker = outbox.Worker(
        worker_engine, replace(FAST, inbox_concurrency=bound), handlers=_registry(prepare)
    )
    try:
        assert worker.handle_inbox_once() == 2 * bound
    finally:
        worker.close()
    assert now["peak"] == bound
    _assert_each_handled_once(engine, ids)


class _Watched:
    """The worker's finishing turns, counting the threads waiting for one."""

    def __init__(self, inner: threading.BoundedSemaphore, seen: threading.Condition) -> None:
        self.inner = inner
        self.seen = seen
        self.waiting = 0

    def __enter__(self) -> None:
        with self.seen:
            self.waiting += 1
            self.seen.notify_all()
        self.inner.acquire()
        with self.seen:
            self.waiting -= 1
            self.seen.notify_all()

    def __exit__(self, *exc: object) -> None:
        self.inner.release()


def test_fewer_finishes_at_once_than_prepares(
    engine: sa.Engine, worker_engine: sa.Engine, effects: None
) -> None:
    """The waits on Stripe and the finishing transactions have bounds of their own: k
    prepares wait at once (they pass a barrier of k), while no more than `inbox_finishes`
    finishes are in a transaction at once (each takes a connection: the wider bound for
    Stripe's waits asks nothing more of the server's slots). Each finish waits, before it
    writes, until every one of the k is accounted for (in its finish, waiting for a turn, or
    done), so the peak is what the bound lets in, whatever the threads' timing: the bound
    itself with the change, all k without it."""
    k, finishes = 6, 2
    ids = _store(engine, k)
    prepared = threading.Barrier(k, timeout=BARRIER_WAIT)
    seen = threading.Condition()
    now = {"in": 0, "peak": 0, "done": 0}

    def prepare(event: outbox.InboxEvent) -> str:
        prepared.wait()
        return f"for {event.event_id}"

    def handle(conn: sa.Connection, event: outbox.InboxEvent, data: str) -> None:
        with seen:
            now["in"] += 1
            now["peak"] = max(now["peak"], now["in"])
            seen.notify_all()
            everyone = seen.wait_for(
                lambda: now["in"] + turns.waiting + now["done"] >= k, BARRIER_WAIT
            )
        try:
            assert everyone, "not every prepared event reached its finish"
            _write_effect(conn, event, data)
        finally:
            with seen:
                now["in"] -= 1
                now["done"] += 1
                seen.notify_all()

    registry = outbox.InboxHandlers()
    registry.register(SOURCE, TYPE, outbox.InboxTwoStepHandler(prepare=prepare, handle=handle))
    worker = outbox.Worker(
        worker_engine,
        replace(FAST, inbox_concurrency=k, inbox_finishes=finishes),
        handlers=registry,
    )
    turns = _Watched(worker._finishing, seen)
    worker._finishing = turns  # type: ignore[assignment]
    try:
        assert worker.handle_inbox_once() == k
    finally:
        worker.close()
    assert now["peak"] == finishes
    _assert_each_handled_once(engine, ids)


def test_many_claims_in_flight_keep_their_leases_renewed_by_one_thread(
    engine: sa.Engine, effects: None
) -> None:
    """Prepares outliving several leases: one thread renews every claim in flight, and each
    finish fences on its claim's latest renewal (a stale token would say "lost" and write
    nothing)."""
    k = 5
    ids = _store(engine, k)
    release = threading.Event()
    started = threading.Semaphore(0)

    def prepare(event: outbox.InboxEvent) -> str:
        started.release()
        assert release.wait(BARRIER_WAIT), "the test never released the prepare"
        return f"for {event.event_id}"

    # A lease of 1.5 s: renewed every 0.5 to 0.75 s, so a loaded machine's stall of a few
    # hundred ms does not let one lapse.
    worker = outbox.Worker(
        engine,
        replace(FAST, lease=timedelta(seconds=1.5), inbox_concurrency=k),
        handlers=_registry(prepare),
    )
    done: list[int] = []
    thread = threading.Thread(target=lambda: done.append(worker.handle_inbox_once()))
    thread.start()
    try:
        for _ in range(k):
            assert started.acquire(timeout=BARRIER_WAIT), "not every prepare started"
        renewers = [t for t in threading.enumerate() if t.name == f"inbox-lease-{worker.name}"]
        assert len(renewers) == 1
        leases: dict[str, set[Any]] = {i: set() for i in ids}

        def renewed_four_times() -> bool:
            for r in _inbox(engine):
                assert (r.status, r.attempts) == ("pending", 0)
                leases[r.event_id].add(r.next_attempt_at)
            return all(len(v) >= 5 for v in leases.values())

        wait_until(renewed_four_times, 30, "every lease to be renewed four times")
    finally:
        release.set()
        thread.join(BARRIER_WAIT)
        worker.close()
    assert done == [k]
    _assert_each_handled_once(engine, ids)


def test_stop_lets_the_prepares_in_flight_finish(engine: sa.Engine, effects: None) -> None:
    k = 4
    ids = _store(engine, k)
    release = threading.Event()
    started = threading.Semaphore(0)

    def prepare(event: outbox.InboxEvent) -> str:
        started.release()
        assert release.wait(BARRIER_WAIT), "the test never released the prepare"
        return f"for {event.event_id}"

    worker = outbox.Worker(engine, FAST, handlers=_registry(prepare))
    done: list[int] = []
    thread = threading.Thread(target=lambda: done.append(worker.handle_inbox_once()))
    thread.start()
    try:
        for _ in range(k):
            assert started.acquire(timeout=BARRIER_WAIT), "not every prepare started"
        worker.stop()
        more = _store(engine, 1)  # due now, but the worker is stopping: not taken
        release.set()
        thread.join(BARRIER_WAIT)
        assert not thread.is_alive()
    finally:
        release.set()
        worker.close()
    assert done == [k]
    [left] = rows(
        engine, "SELECT status, attempts FROM messaging.inbox WHERE event_id = :id", id=more[0]
    )
    assert tuple(left) == ("pending", 0)
    assert [(r.event_id, r.status) for r in _inbox(engine) if r.event_id != more[0]] == [
        (i, "handled") for i in sorted(ids)
    ]


def test_a_database_lost_with_prepares_in_flight_loses_nothing(
    engine: sa.Engine, db_url: str, effects: None, caplog: pytest.LogCaptureFixture
) -> None:
    """The worker's sessions are terminated while k prepares wait: the finishes that meet a
    dead connection stop the claiming and reach `run()` once the others are finished (the
    engine connects again); their claims lapse and are taken again. Each event ends handled
    once."""
    k = 4
    ids = _store(engine, k)
    release = threading.Event()
    started = threading.Semaphore(0)

    def prepare(event: outbox.InboxEvent) -> str:
        started.release()
        assert release.wait(BARRIER_WAIT), "the test never released the prepare"
        return f"for {event.event_id}"

    app = f"inbox-lost-{uuid.uuid4().hex[:8]}"
    worker_engine = make_engine(
        db_url, pool_size=k + 2, max_overflow=2, connect_args={"application_name": app}
    )
    worker = outbox.Worker(
        worker_engine,
        replace(FAST, lease=timedelta(seconds=1), inbox_concurrency=k, reconnect_wait=0.05),
        handlers=_registry(prepare),
    )
    thread = threading.Thread(target=worker.run)
    thread.start()
    try:
        for _ in range(k):
            assert started.acquire(timeout=BARRIER_WAIT), "not every prepare started"
        terminated = scalar(
            engine,
            """SELECT count(*) FILTER (WHERE pg_terminate_backend(pid))
                 FROM pg_stat_activity WHERE application_name = :app""",
            app=app,
        )
        assert terminated > 0
        release.set()

        def all_handled() -> bool:
            return {r.status for r in _inbox(engine)} == {"handled"}

        wait_until(all_handled, 30, "every event to be handled")
    finally:
        release.set()
        worker.stop()
        thread.join(BARRIER_WAIT)
        worker_engine.dispose()
    assert not thread.is_alive()
    # A finish did meet the lost database, and run() waited it out.
    assert any("the database is unreachable" in r.getMessage() for r in caplog.records)
    _assert_each_handled_once(engine, ids)

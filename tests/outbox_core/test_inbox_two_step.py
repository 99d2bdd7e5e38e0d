"""Two-step inbox handlers (promise 8): the prepare, which may call Stripe, runs with no
transaction open and no lock held; its data reaches the handler, which runs in the
transaction that marks the event handled. A failed prepare is a failed attempt (backoff,
then dead); a worker that dies between the claim and the finish loses nothing (the lease
lapses, another worker handles the event, the first one's late finish writes nothing); a
long prepare keeps its lease and still finishes."""

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
from outbox.inbox import Claim, begin_next, fail_claimed, finish_claimed
from tests.outbox_core.no_transaction import Probe, Seen
from tests.outbox_core.support import FAST, fast_retry, rows, scalar, wait_until

SOURCE = "test"
TYPE = "test.two_step"


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
    """A table the test handlers write their effects to, with the writing transaction."""
    with engine.begin() as conn:
        conn.execute(
            sa.text("""CREATE TABLE public.effects (event_id text, prepared text, attempt int,
                                                    xact bigint)""")
        )


def _store(engine: sa.Engine) -> str:
    event_id = f"evt_{uuid.uuid4().hex[:24]}"
    with engine.begin() as conn:
        assert outbox.store_event(conn, SOURCE, event_id, TYPE, {"id": event_id})
    return event_id


def _inbox(engine: sa.Engine, event_id: str) -> sa.Row[Any]:
    [row] = rows(
        engine,
        """SELECT status, attempts, last_error, next_attempt_at, next_attempt_at > now() AS later,
                  xmin::text::bigint AS xact
             FROM messaging.inbox WHERE event_id = :id""",
        id=event_id,
    )
    return row


def _write_effect(conn: sa.Connection, event: outbox.InboxEvent, prepared: str) -> None:
    conn.execute(
        sa.text("""INSERT INTO public.effects
                   VALUES (:id, :prepared, :attempt, txid_current())"""),
        {"id": event.event_id, "prepared": prepared, "attempt": event.attempts},
    )


def _effects(engine: sa.Engine) -> list[tuple[Any, ...]]:
    return [
        tuple(r)
        for r in rows(engine, "SELECT event_id, prepared, attempt FROM effects ORDER BY attempt")
    ]


def _registry(handler: outbox.AnyInboxHandler) -> outbox.InboxHandlers:
    registry = outbox.InboxHandlers()
    registry.register(SOURCE, TYPE, handler)
    return registry


def _probing_handler(probe: Probe, seen: list[Seen]) -> outbox.InboxTwoStepHandler[str]:
    """A handler whose prepare stands for a Stripe call: it records what the worker holds
    while it runs, and returns data for the handler to write."""

    def prepare(event: outbox.InboxEvent) -> str:
        seen.append(probe.look())
        return f"fetched for {event.event_id}"

    return outbox.InboxTwoStepHandler(prepare=prepare, handle=_write_effect)


def test_a_prepare_runs_with_no_transaction_open_and_no_lock_held(
    engine: sa.Engine, worker_engine: sa.Engine, probe: Probe, effects: None
) -> None:
    event_id = _store(engine)
    seen: list[Seen] = []
    worker = outbox.Worker(worker_engine, FAST, handlers=_registry(_probing_handler(probe, seen)))
    try:
        assert worker.handle_inbox_once() == 1
        assert worker.handle_inbox_once() == 0
    finally:
        worker.close()
    [during] = seen
    assert during.sessions > 0, "the probe found none of the worker's sessions"
    assert during.in_transaction == ()
    assert during.locks == ()
    assert during.inbox_lockable
    assert during.clean
    row = _inbox(engine, event_id)
    assert (row.status, row.attempts, row.last_error) == ("handled", 1, None)
    # The prepared data reached the handler, whose effect and the 'handled' mark are one
    # transaction.
    assert _effects(engine) == [(event_id, f"fetched for {event_id}", 1)]
    [effect] = rows(engine, "SELECT xact FROM effects")
    assert effect.xact == row.xact


def test_the_probe_sees_a_transaction_held_across_a_prepare(
    engine: sa.Engine, worker_engine: sa.Engine, probe: Probe, effects: None
) -> None:
    """The control: `handle_next` on one connection (the shape the worker had before) runs
    the prepare under the row's lock, and the probe says so. A probe that could not see it
    would make the test above pass for nothing."""
    _store(engine)
    seen: list[Seen] = []
    registry = _registry(_probing_handler(probe, seen))
    with worker_engine.begin() as conn:
        assert outbox.handle_next(conn, FAST.retry, registry) == "handled"
    [during] = seen
    assert during.sessions > 0
    assert len(during.in_transaction) == 1
    assert during.locks != ()
    assert not during.inbox_lockable
    assert not during.clean


def test_a_failing_prepare_is_a_failed_attempt_retried_with_backoff(
    engine: sa.Engine, worker_engine: sa.Engine, effects: None
) -> None:
    event_id = _store(engine)
    calls: list[int] = []

    def prepare(event: outbox.InboxEvent) -> str:
        calls.append(event.attempts)
        if event.attempts == 1:
            raise ConnectionError("Stripe is down")
        return "fetched"

    registry = _registry(outbox.InboxTwoStepHandler(prepare=prepare, handle=_write_effect))
    worker = outbox.Worker(worker_engine, replace(FAST, retry=fast_retry(0.2)), handlers=registry)
    try:
        assert worker.handle_inbox_once() == 1
        row = _inbox(engine, event_id)
        assert (row.status, row.attempts) == ("pending", 1)
        assert row.later, "a failed prepare waits for its backoff"
        assert row.last_error == "ConnectionError: Stripe is down"
        assert _effects(engine) == []
        wait_until(
            lambda: (
                worker.handle_inbox_once() == 1 and _inbox(engine, event_id).status != "pending"
            ),
            5,
            "the second attempt",
        )
    finally:
        worker.close()
    row = _inbox(engine, event_id)
    assert (row.status, row.attempts, row.last_error) == ("handled", 2, None)
    assert calls == [1, 2]
    assert _effects(engine) == [(event_id, "fetched", 2)]


def test_a_prepare_failing_every_attempt_leaves_the_event_dead(
    engine: sa.Engine, worker_engine: sa.Engine, effects: None
) -> None:
    event_id = _store(engine)

    def prepare(event: outbox.InboxEvent) -> str:
        raise TimeoutError(f"no answer on attempt {event.attempts}")

    registry = _registry(outbox.InboxTwoStepHandler(prepare=prepare, handle=_write_effect))
    worker = outbox.Worker(worker_engine, replace(FAST, retry=fast_retry(0.05)), handlers=registry)
    try:
        wait_until(
            lambda: worker.handle_inbox_once() >= 0 and _inbox(engine, event_id).status == "dead",
            5,
            "the event to die",
        )
    finally:
        worker.close()
    row = _inbox(engine, event_id)
    assert (row.status, row.attempts) == ("dead", 2)
    assert row.last_error == "TimeoutError: no answer on attempt 2"
    assert _effects(engine) == []


def test_a_claimed_event_is_skipped_by_other_workers_until_its_lease_lapses(
    engine: sa.Engine, effects: None
) -> None:
    event_id = _store(engine)
    handler = outbox.InboxTwoStepHandler(prepare=lambda e: "second", handle=_write_effect)
    registry = _registry(handler)
    policy = fast_retry(0.05)
    # Worker A claims the event and dies before its finish: the claim committed, nothing else.
    with engine.begin() as conn:
        claim = begin_next(conn, policy, registry, timedelta(seconds=30))
    assert isinstance(claim, Claim)
    assert claim.event.event_id == event_id
    row = _inbox(engine, event_id)
    assert (row.status, row.attempts, row.next_attempt_at) == ("pending", 0, claim.until)
    # Another worker finds nothing due while the lease runs.
    with engine.begin() as conn:
        assert begin_next(conn, policy, registry, timedelta(seconds=30)) is None


def test_a_worker_dying_between_claim_and_finish_loses_nothing(
    engine: sa.Engine, effects: None
) -> None:
    event_id = _store(engine)
    handler = outbox.InboxTwoStepHandler(prepare=lambda e: "by B", handle=_write_effect)
    registry = _registry(handler)
    policy = fast_retry(0.05)
    with engine.begin() as conn:
        stale = begin_next(conn, policy, registry, timedelta(milliseconds=200))
    assert isinstance(stale, Claim)
    # Worker B takes the event once A's lease lapsed, and handles it.
    b = outbox.Worker(engine, replace(FAST, retry=policy), name="B", handlers=registry)
    try:
        wait_until(
            lambda: b.handle_inbox_once() >= 0 and _inbox(engine, event_id).status == "handled",
            5,
            "worker B to take the event over",
        )
    finally:
        b.close()
    # A comes back late: its finish, or its failure, finds the claim gone and writes nothing.
    with engine.begin() as conn:
        assert finish_claimed(conn, policy, stale, "by A") == "lost"
    with engine.begin() as conn:
        assert fail_claimed(conn, policy, stale, ConnectionError("late")) == "lost"
    row = _inbox(engine, event_id)
    assert (row.status, row.attempts, row.last_error) == ("handled", 1, None)
    assert _effects(engine) == [(event_id, "by B", 1)]


def test_a_claim_past_its_lease_still_finishes_when_no_one_took_it(
    engine: sa.Engine, effects: None
) -> None:
    event_id = _store(engine)
    registry = _registry(outbox.InboxTwoStepHandler(prepare=lambda e: "", handle=_write_effect))
    with engine.begin() as conn:
        claim = begin_next(conn, FAST.retry, registry, timedelta(microseconds=1))
    assert isinstance(claim, Claim)
    with engine.begin() as conn:
        assert finish_claimed(conn, FAST.retry, claim, "late but ours") == "handled"
    assert _effects(engine) == [(event_id, "late but ours", 1)]


def test_a_long_prepare_keeps_its_lease_and_finishes_with_the_renewed_one(
    engine: sa.Engine, effects: None
) -> None:
    """The lease is renewed while the prepare runs (so no other worker takes the event), and
    the finish fences on the latest renewal, not on the first claim."""
    event_id = _store(engine)
    release = threading.Event()

    def prepare(event: outbox.InboxEvent) -> str:
        assert release.wait(10), "the test never released the prepare"
        return "slow"

    registry = _registry(outbox.InboxTwoStepHandler(prepare=prepare, handle=_write_effect))
    worker = outbox.Worker(
        engine, replace(FAST, lease=timedelta(milliseconds=300)), handlers=registry
    )
    done: list[int] = []
    thread = threading.Thread(target=lambda: done.append(worker.handle_inbox_once()))
    thread.start()
    try:
        leases: set[Any] = set()

        def renewed_twice() -> bool:
            row = _inbox(engine, event_id)
            assert row.status == "pending"
            leases.add(row.next_attempt_at)
            return len(leases) >= 3

        wait_until(renewed_twice, 10, "the lease to be renewed twice")
    finally:
        release.set()
        thread.join(10)
        worker.close()
    assert done == [1]
    row = _inbox(engine, event_id)
    assert (row.status, row.attempts) == ("handled", 1)
    assert _effects(engine) == [(event_id, "slow", 1)]
    assert scalar(engine, "SELECT count(*) FROM effects") == 1

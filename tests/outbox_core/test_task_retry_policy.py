"""A retry policy per task (`register_task(..., retry=)`): a failed delivery of a task
registered with a policy waits that policy's next wait and is dead after its last attempt;
the same message's webhook delivery, and a task registered without one, keep the worker's
schedule (`WorkerSettings.retry`). The policy is looked up by the message's type at each
failure, so a delivery already queued follows the policy registered now.

Each wait is read from the delivery's next due time against the database's clock read just
before and just after the worker's round (the record happens between them): no timing
assertion; a due time is moved to now instead of sleeping. The pure policy's own properties
(`longest`, delays bounded by jitter, attempts bounded) are checked with hypothesis.
"""

from __future__ import annotations

import itertools
import random
import threading
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa
from hypothesis import given
from hypothesis import strategies as st

import outbox
from tests.outbox_core.support import (
    LOOPBACK,
    ORG,
    MakeWorker,
    Receiver,
    Step,
    always,
    fast_retry,
)

OWN = "test.task_own_policy"
PLAIN = "test.task_plain_policy"
LASTING = "test.task_permanent_failure"

# The task's own waits, far from the worker's (FAST: 0.05 s) so that one cannot pass for
# the other however slow the machine.
OWN_POLICY = fast_retry(100, 200)
WORKER_POLICY = fast_retry(0.5, 0.5, 0.5)

_lock = threading.Lock()
_runs: list[str] = []


def _failing(message_id: str, payload: dict[str, Any]) -> None:
    with _lock:
        _runs.append(message_id)
    raise RuntimeError("the provider is down")


class _Forged(outbox.OutboxError, outbox.PermanentFailure):
    """A failure no retry mends (as a task's payload that is not what was recorded)."""


def _lasting(message_id: str, payload: dict[str, Any]) -> None:
    with _lock:
        _runs.append(message_id)
    if payload["aggregate"].startswith("from-"):
        try:
            raise _Forged(message_id)
        except _Forged as exc:
            raise RuntimeError("the task's check failed") from exc
    raise _Forged(message_id)


outbox.register_message_type(OWN, Step)
outbox.register_message_type(PLAIN, Step)
outbox.register_message_type(LASTING, Step)


@pytest.fixture(autouse=True)
def _registered() -> Iterator[None]:
    """The two tasks as these tests register them, whatever another test did since."""
    outbox.register_task(OWN, _failing, replace=True, retry=OWN_POLICY)
    outbox.register_task(PLAIN, _failing, replace=True)
    outbox.register_task(LASTING, _lasting, replace=True, retry=OWN_POLICY)
    yield
    outbox.register_task(OWN, _failing, replace=True, retry=OWN_POLICY)


def _publish(engine: sa.Engine, type: str, aggregate: str) -> uuid.UUID:
    with engine.begin() as conn:
        return outbox.publish(
            conn,
            type=type,
            payload=Step(aggregate=aggregate, seq=1),
            aggregate_type="step",
            aggregate_id=aggregate,
            org_id=ORG,
            task=True,
        )


def _clock(engine: sa.Engine) -> Any:
    with engine.connect() as conn:
        return conn.execute(sa.text("SELECT clock_timestamp()")).scalar_one()


def _deliveries(engine: sa.Engine, message_id: uuid.UUID) -> dict[str, sa.Row[Any]]:
    """The message's deliveries by channel: status, attempts, next due time."""
    with engine.connect() as conn:
        found = conn.execute(
            sa.text("""SELECT channel, status, attempts, next_attempt_at
                         FROM messaging.deliveries WHERE message_id = :m"""),
            {"m": message_id},
        ).all()
    return {r.channel: r for r in found}


def _round(worker: outbox.Worker, engine: sa.Engine, message_id: uuid.UUID) -> dict[str, Any]:
    """One worker round on the message's due deliveries; per channel, its status, attempts
    and (pending) the wait recorded, bounded as (at least, at most) seconds."""
    before = _clock(engine)
    worker.deliver_once()
    after = _clock(engine)
    seen: dict[str, Any] = {}
    for channel, d in _deliveries(engine, message_id).items():
        wait = None
        if d.status == "pending":
            wait = (
                (d.next_attempt_at - after).total_seconds(),
                (d.next_attempt_at - before).total_seconds(),
            )
        seen[channel] = (d.status, d.attempts, wait)
    return seen


def _due_now(engine: sa.Engine, message_id: uuid.UUID) -> None:
    """As if every pending delivery's wait had passed."""
    with engine.begin() as conn:
        conn.execute(
            sa.text("""UPDATE messaging.deliveries SET next_attempt_at = now()
                        WHERE message_id = :m AND status = 'pending'"""),
            {"m": message_id},
        )


def _waited(seen: tuple[str, int, Any], wait: float) -> bool:
    status, _, bounds = seen
    return status == "pending" and bounds[0] <= wait <= bounds[1]


def test_a_task_with_its_own_policy_waits_its_waits_and_dies_after_its_last_attempt(
    engine: sa.Engine, receiver: Receiver, make_worker: MakeWorker
) -> None:
    """A message of a type whose task has a policy of its own (100 s, 200 s), fanned out to
    the task and to a webhook endpoint, both failing: the task waits 100 s, then 200 s, and
    is dead at its third attempt; the webhook keeps the worker's schedule (0.5 s thrice),
    pending after the third and dead after the fourth."""
    with engine.begin() as conn:
        outbox.register_endpoint(conn, ORG, receiver.url_for(), allow=LOOPBACK)
    receiver.policy = always(500)
    message_id = _publish(engine, OWN, f"own-{uuid.uuid4().hex[:8]}")
    worker = make_worker(retry=WORKER_POLICY)

    first = _round(worker, engine, message_id)
    assert _waited(first["task"], 100), first
    assert _waited(first["webhook"], 0.5), first
    _due_now(engine, message_id)
    second = _round(worker, engine, message_id)
    assert _waited(second["task"], 200), second
    assert _waited(second["webhook"], 0.5), second
    _due_now(engine, message_id)
    third = _round(worker, engine, message_id)
    assert third["task"] == ("dead", 3, None)
    assert _waited(third["webhook"], 0.5), third
    _due_now(engine, message_id)
    fourth = _round(worker, engine, message_id)
    assert fourth["webhook"] == ("dead", 4, None)
    assert fourth["task"] == ("dead", 3, None)  # dead is final: not run again
    with _lock:
        assert _runs.count(str(message_id)) == 3


def test_a_task_without_a_policy_keeps_the_workers_schedule(
    engine: sa.Engine, make_worker: MakeWorker
) -> None:
    message_id = _publish(engine, PLAIN, f"plain-{uuid.uuid4().hex[:8]}")
    worker = make_worker(retry=WORKER_POLICY)
    for attempt in (1, 2, 3):
        seen = _round(worker, engine, message_id)
        assert seen["task"][:2] == ("pending", attempt) and _waited(seen["task"], 0.5), seen
        _due_now(engine, message_id)
    assert _round(worker, engine, message_id)["task"] == ("dead", 4, None)
    assert outbox.task_retry(PLAIN) is None
    assert outbox.task_retry(OWN) is OWN_POLICY


def test_the_policy_is_the_one_registered_at_the_failure(
    engine: sa.Engine, make_worker: MakeWorker
) -> None:
    """A delivery queued under one policy follows the one registered when it fails next:
    registered again with one wait (two attempts), the task's second failure is its last;
    registered again without a policy, the worker's applies."""
    worker = make_worker(retry=WORKER_POLICY)
    shorter = _publish(engine, OWN, f"shorter-{uuid.uuid4().hex[:8]}")
    assert _waited(_round(worker, engine, shorter)["task"], 100)
    outbox.register_task(OWN, _failing, replace=True, retry=fast_retry(50))
    _due_now(engine, shorter)
    assert _round(worker, engine, shorter)["task"] == ("dead", 2, None)

    outbox.register_task(OWN, _failing, replace=True, retry=OWN_POLICY)
    plain = _publish(engine, OWN, f"plain-{uuid.uuid4().hex[:8]}")
    assert _waited(_round(worker, engine, plain)["task"], 100)
    outbox.register_task(OWN, _failing, replace=True)  # the task's policy dropped with it
    assert outbox.task_retry(OWN) is None
    _due_now(engine, plain)
    assert _waited(_round(worker, engine, plain)["task"], 0.5)


@pytest.mark.parametrize("aggregate", ["forged", "from-forged"])
def test_a_task_s_permanent_failure_is_dead_at_its_first_attempt(
    engine: sa.Engine, make_worker: MakeWorker, aggregate: str
) -> None:
    """A task raising a `PermanentFailure` (or an error raised from one) is dead after one
    attempt, its error recorded, whatever its policy (three attempts here) or the
    worker's: no retry can mend it (the wiring's payload mismatches are such)."""
    message_id = _publish(engine, LASTING, f"{aggregate}-{uuid.uuid4().hex[:8]}")
    worker = make_worker(retry=WORKER_POLICY)
    assert _round(worker, engine, message_id)["task"] == ("dead", 1, None)
    _due_now(engine, message_id)
    assert _round(worker, engine, message_id)["task"] == ("dead", 1, None)
    with _lock:
        assert _runs.count(str(message_id)) == 1
    with engine.connect() as conn:
        error = conn.execute(
            sa.text("""SELECT a.error FROM messaging.attempts a
                         JOIN messaging.deliveries d ON d.id = a.delivery_id
                        WHERE d.message_id = :m"""),
            {"m": message_id},
        ).scalar_one()
    assert ("_Forged" if aggregate == "forged" else "RuntimeError") in error


# -- the pure policy ---------------------------------------------------------------------

schedules = st.lists(st.floats(0, 100_000, allow_nan=False), max_size=40).map(
    lambda waits: tuple(sorted(waits))
)


@given(schedule=schedules, jitter=st.floats(0, 0.5), seed=st.integers(0, 2**32))
def test_delays_are_the_schedules_within_jitter_and_bounded_by_longest(
    schedule: tuple[float, ...], jitter: float, seed: int
) -> None:
    """For any non-decreasing schedule: a delay for every attempt but the last, none after
    it (attempts bounded); each within its wait's jitter, so delays never fall by more than
    the jitter allows (monotone within jitter); their sum within `longest()`."""
    policy = outbox.RetryPolicy(schedule=schedule, jitter=jitter)
    rng = random.Random(seed)
    delays = [policy.delay(n, rng=rng) for n in range(1, policy.max_attempts + 2)]
    assert delays[-2:] == [None, None]
    waits = [d for d in delays if d is not None]
    assert len(waits) == len(schedule) == policy.max_attempts - 1
    for wait, base in zip(waits, schedule, strict=True):
        assert base * (1 - jitter) - 1e-6 <= wait <= base * (1 + jitter) + 1e-6
    for earlier, later in itertools.pairwise(waits):
        assert later * (1 + jitter) >= earlier * (1 - jitter) - 1e-6
    assert sum(waits) <= policy.longest() + 1e-6


@given(
    schedule=schedules.filter(bool),
    retry_after=st.floats(0, 200_000, allow_nan=False),
    seed=st.integers(0, 2**32),
)
def test_retry_after_is_honoured_under_any_policy(
    schedule: tuple[float, ...], retry_after: float, seed: int
) -> None:
    policy = outbox.RetryPolicy(schedule=schedule)
    wait = policy.delay(1, retry_after, random.Random(seed))
    assert wait is not None and wait >= min(retry_after, policy.max_retry_after)

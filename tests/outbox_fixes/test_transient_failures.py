"""A transient database failure is not a failed attempt (outbox.inbox, outbox.worker).

A deadlock (40P01), a serialization failure (40001) or a lock not available (55P03) met while
handling an inbox event or running a task delivery means the server answered that this try
lost a race: nothing is wrong with the event. It is tried again soon, in a transaction of its
own, without counting toward the dead letter. Each test provokes the real failure with real
connections (a row lock held by another connection past the worker's `lock_timeout`, or a
real deadlock with another connection), shows the attempt count unchanged, and the work done
once when the lock goes. At the old code each failure was counted as an attempt (and the
task delivery recorded as failed); the worker loop stopped on one met outside any handler.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa

import outbox
from liventix.database import make_engine
from outbox.retries import transient_sqlstate
from tests.outbox_core.support import ORG, Step, rows, scalar, wait_until

SOURCE = "test"
LOCKING = "test.fixes.locking"
TWO_STEP = "test.fixes.two_step_deadlock"
TASK = "test.fixes.locking_task"

# Deferrals and retries a test can wait out; the schedule for counted attempts is long,
# so a counted failure would leave the event waiting (and the test would see it).
POLICY = outbox.RetryPolicy(schedule=(60, 60, 60), jitter=0.0, deferrals=(0.05,) * 5)
SETTINGS = outbox.WorkerSettings(
    retry=POLICY,
    poll_interval=0.05,
    prune_every=3600.0,
    task_retries=(0.2, 0.5, 1.0, 2.0, 4.0),
)


@pytest.fixture
def seats(engine: sa.Engine) -> None:
    """Two rows the handlers and the other connection lock, and the handlers' effects."""
    with engine.begin() as conn:
        conn.execute(sa.text("CREATE TABLE public.seats (id int PRIMARY KEY, n int NOT NULL)"))
        conn.execute(sa.text("INSERT INTO public.seats VALUES (1, 0), (2, 0)"))
        conn.execute(sa.text("CREATE TABLE public.effects (event_id text, tries int)"))


@pytest.fixture
def worker_engine(db_url: str) -> Iterator[sa.Engine]:
    """The worker's engine: a short lock_timeout and deadlock_timeout, so its handler waits
    briefly for another connection's lock and is the one a deadlock's check chooses."""
    engine = make_engine(
        db_url,
        pool_size=4,
        max_overflow=4,
        connect_args={"options": "-c lock_timeout=300ms -c deadlock_timeout=50ms"},
    )
    try:
        yield engine
    finally:
        engine.dispose()


@pytest.fixture
def holder(engine: sa.Engine) -> Iterator[sa.Connection]:
    """Another connection, its transaction open (the test commits it to let go)."""
    conn = engine.connect()
    conn.execute(sa.text("SET deadlock_timeout = '30s'"))
    conn.execute(sa.text("SET application_name = 'fixes-holder'"))
    try:
        yield conn
    finally:
        conn.rollback()
        conn.close()


def _inbox(engine: sa.Engine, event_id: str) -> sa.Row[Any]:
    [row] = rows(
        engine,
        "SELECT status, attempts, deferrals, last_error FROM messaging.inbox WHERE event_id = :e",
        e=event_id,
    )
    return row


def _store(engine: sa.Engine, event_type: str) -> str:
    event_id = f"evt_{uuid.uuid4().hex[:24]}"
    with engine.begin() as conn:
        assert outbox.store_event(conn, SOURCE, event_id, event_type, {"id": event_id})
    return event_id


def _count_seat(conn: sa.Connection, seat: int) -> None:
    conn.execute(sa.text("UPDATE public.seats SET n = n + 1 WHERE id = :id"), {"id": seat})


def _take_seat(conn: sa.Connection, event_id: str, seat: int) -> None:
    """The handler's work: the seat's row locked and counted, then the effect."""
    _count_seat(conn, seat)
    conn.execute(sa.text("INSERT INTO public.effects VALUES (:e, 1)"), {"e": event_id})


def _waiting_for_a_lock(engine: sa.Engine, application: str) -> Callable[[], bool]:
    def check() -> bool:
        found: int = scalar(
            engine,
            """SELECT count(*) FROM pg_stat_activity
                WHERE datname = current_database() AND wait_event_type = 'Lock'
                  AND application_name = :app""",
            app=application,
        )
        return found > 0

    return check


def _handled(engine: sa.Engine, event_id: str) -> Callable[[], bool]:
    return lambda: bool(_inbox(engine, event_id).status == "handled")


def _effects(engine: sa.Engine) -> list[tuple[Any, ...]]:
    return [
        tuple(r)
        for r in rows(
            engine,
            "SELECT (SELECT array_agg(n ORDER BY id) FROM public.seats), count(*) "
            "FROM public.effects",
        )
    ]


def test_a_lock_timeout_in_a_handler_defers_the_event_without_counting_an_attempt(
    engine: sa.Engine, worker_engine: sa.Engine, seats: None, holder: sa.Connection
) -> None:
    """Another connection holds the seat's row past the worker's lock_timeout (55P03): the
    event is deferred (attempts 0, one deferral), and handled once the lock goes, its one
    attempt the one that succeeded. Before: attempts 1 and the event waiting the schedule's
    first wait (here a minute) as a failed attempt."""
    handlers = outbox.InboxHandlers()
    handlers.register(SOURCE, LOCKING, lambda conn, event: _take_seat(conn, event.event_id, 1))
    event_id = _store(engine, LOCKING)
    holder.execute(sa.text("SELECT * FROM public.seats WHERE id = 1 FOR UPDATE"))
    worker = outbox.Worker(worker_engine, SETTINGS, handlers=handlers)
    try:
        assert worker.handle_inbox_once(limit=1) == 1
        row = _inbox(engine, event_id)
        assert (row.status, row.attempts) == ("pending", 0)
        assert row.deferrals == 1
        assert row.last_error.startswith("deferred (55P03): OperationalError")
        holder.commit()
        wait_until(
            lambda: worker.handle_inbox_once() >= 0 and _handled(engine, event_id)(),
            timeout=10,
            what="the event handled once the lock went",
        )
    finally:
        worker.close()
    row = _inbox(engine, event_id)
    assert (row.status, row.attempts, row.deferrals, row.last_error) == ("handled", 1, 1, None)
    assert _effects(engine) == [([1, 0], 1)]


def test_a_deadlock_in_a_two_step_handler_defers_the_event_without_counting_an_attempt(
    engine: sa.Engine, worker_engine: sa.Engine, seats: None, holder: sa.Connection
) -> None:
    """A real deadlock: the handler (its prepare done, its finish in the worker's
    transaction) takes seat 1; another connection, holding seat 2, asks for seat 1 and
    waits; the handler then asks for seat 2 and closes the cycle, so its own check finds it
    (deadlock_timeout 50 ms) and it is the victim (40P01): its work is rolled back to the
    savepoint (seat 1 let go, so the other goes on), the event deferred, not counted, and
    handled at its next try. Before: a failed attempt."""
    prepared: list[str] = []
    took_one = threading.Event()
    other_waiting = threading.Event()

    def prepare(event: outbox.InboxEvent) -> str:
        prepared.append(event.event_id)
        return "facts"

    def handle(conn: sa.Connection, event: outbox.InboxEvent, data: str) -> None:
        _count_seat(conn, 1)
        took_one.set()
        assert other_waiting.wait(10)
        _take_seat(conn, event.event_id, 2)

    handlers = outbox.InboxHandlers()
    handlers.register(SOURCE, TWO_STEP, outbox.InboxTwoStepHandler(prepare, handle))
    event_id = _store(engine, TWO_STEP)
    holder.execute(sa.text("UPDATE public.seats SET n = n + 10 WHERE id = 2"))
    worker = outbox.Worker(worker_engine, SETTINGS, handlers=handlers)
    done: list[int] = []
    first = threading.Thread(target=lambda: done.append(worker.handle_inbox_once(limit=1)))
    other = threading.Thread(
        target=lambda: holder.execute(sa.text("UPDATE public.seats SET n = n + 10 WHERE id = 1"))
    )
    first.start()
    try:
        assert took_one.wait(10)
        other.start()  # waits for seat 1, which the handler holds
        wait_until(_waiting_for_a_lock(engine, "fixes-holder"), timeout=10, what="the other")
        other_waiting.set()
        other.join(timeout=10)  # the handler was the victim: seat 1 let go
        assert not other.is_alive()
        first.join(timeout=10)
        assert done == [1]
        row = _inbox(engine, event_id)
        assert (row.status, row.attempts, row.deferrals) == ("pending", 0, 1)
        assert row.last_error.startswith("deferred (40P01)")
        holder.commit()
        wait_until(
            lambda: worker.handle_inbox_once() >= 0 and _handled(engine, event_id)(),
            timeout=10,
            what="the event handled at its next try",
        )
    finally:
        other_waiting.set()
        first.join(timeout=10)
        if other.is_alive() or other.ident is not None:
            other.join(timeout=10)
        worker.close()
    row = _inbox(engine, event_id)
    assert (row.status, row.attempts, row.deferrals) == ("handled", 1, 1)
    assert _effects(engine) == [([11, 11], 1)]
    assert prepared == [event_id, event_id]  # prepared again for its second try


def test_transient_failures_past_the_bound_count_as_attempts(
    engine: sa.Engine, worker_engine: sa.Engine, seats: None, holder: sa.Connection
) -> None:
    """Bounded: past the policy's deferrals, a transient failure is a failed attempt again
    (an event that never stops losing races still ends dead, here after one attempt)."""
    handlers = outbox.InboxHandlers()
    handlers.register(SOURCE, LOCKING, lambda conn, event: _take_seat(conn, event.event_id, 1))
    event_id = _store(engine, LOCKING)
    holder.execute(sa.text("SELECT * FROM public.seats WHERE id = 1 FOR UPDATE"))
    policy = replace(POLICY, schedule=(), deferrals=(0.01, 0.01))
    worker = outbox.Worker(worker_engine, replace(SETTINGS, retry=policy), handlers=handlers)
    try:
        wait_until(
            lambda: worker.handle_inbox_once() >= 0 and _inbox(engine, event_id).status == "dead",
            timeout=20,
            what="the event dead",
        )
    finally:
        worker.close()
    row = _inbox(engine, event_id)
    assert (row.status, row.attempts, row.deferrals) == ("dead", 1, 2)
    assert "LockNotAvailable" in row.last_error


_task_calls: list[str] = []
_task_engine: list[sa.Engine] = []


def _locking_task(message_id: str, payload: dict[str, Any]) -> None:
    _task_calls.append(message_id)
    with _task_engine[0].begin() as conn:
        _take_seat(conn, message_id, 1)


outbox.register_message_type(TASK, Step)
outbox.register_task(TASK, _locking_task, replace=True)


def _deliveries(engine: sa.Engine) -> list[tuple[Any, ...]]:
    return [
        tuple(r)
        for r in rows(
            engine,
            """SELECT d.status, d.attempts,
                      (SELECT array_agg(a.succeeded ORDER BY a.id) FROM messaging.attempts a
                        WHERE a.delivery_id = d.id)
                 FROM messaging.deliveries d WHERE d.channel = 'task'""",
        )
    ]


def test_a_lock_timeout_in_a_task_runs_it_again_within_its_attempt(
    engine: sa.Engine, worker_engine: sa.Engine, seats: None, holder: sa.Connection
) -> None:
    """A task delivery whose task waits past its lock_timeout for a row another connection
    holds (55P03) is run again by the worker within the same claim: once the lock goes it
    succeeds, one attempt, recorded once, succeeded. Before: a failed attempt recorded and
    the delivery waiting the schedule's first wait."""
    _task_calls.clear()
    _task_engine[:] = [worker_engine]
    with engine.begin() as conn:
        message_id = str(
            outbox.publish(
                conn,
                type=TASK,
                payload=Step(aggregate="a", seq=1),
                aggregate_type="step",
                aggregate_id="a",
                org_id=ORG,
                task=True,
            )
        )
    holder.execute(sa.text("SELECT * FROM public.seats WHERE id = 1 FOR UPDATE"))
    worker = outbox.Worker(worker_engine, SETTINGS)
    sent: list[int] = []
    running = threading.Thread(target=lambda: sent.append(worker.deliver_once()))
    running.start()
    try:
        wait_until(lambda: len(_task_calls) >= 2, timeout=10, what="the task run again")
        holder.commit()
        running.join(timeout=20)
        assert sent == [1]
    finally:
        running.join(timeout=20)
        worker.close()
    assert _deliveries(engine) == [("succeeded", 1, [True])]
    assert _effects(engine) == [([1, 0], 1)]
    assert set(_task_calls) == {message_id}


def test_a_transient_failure_outside_any_handler_does_not_stop_the_worker(
    engine: sa.Engine, worker_engine: sa.Engine, seats: None, holder: sa.Connection
) -> None:
    """The worker's periodic step meets a lock not available (a real one, the seat held by
    another connection): `run()` logs it and carries on, and the step runs again and
    succeeds once the lock goes. Before: `run()` raised it and the worker stopped."""
    holder.execute(sa.text("SELECT * FROM public.seats WHERE id = 1 FOR UPDATE"))
    outcomes: list[str] = []

    def periodic() -> None:
        try:
            with worker_engine.begin() as conn:
                _take_seat(conn, "periodic", 1)
        except sa.exc.OperationalError as exc:
            outcomes.append(transient_sqlstate(exc) or "other")
            if len(outcomes) == 1:
                holder.commit()
            raise
        outcomes.append("done")
        worker.stop()

    worker = outbox.Worker(worker_engine, replace(SETTINGS, reconnect_wait=0.05))
    failures: list[BaseException] = []

    def run() -> None:
        try:
            worker.run(extra=periodic)
        except BaseException as exc:
            failures.append(exc)

    running = threading.Thread(target=run)
    running.start()
    running.join(timeout=20)
    if running.is_alive():
        worker.stop()
        running.join(timeout=10)
    assert failures == []
    assert outcomes == ["55P03", "done"]
    assert _effects(engine) == [([1, 0], 1)]


# -- transient failures outside the handler's savepoint (review M2) -------------------------
#
# The relock's FOR UPDATE, the outcome's update and COMMIT run outside the handler's
# savepoint: a transient failure there rolls back the whole transaction, the outcome with
# it. Before, `run()` logged it and carried on with the event's row unchanged: taken again
# and again, never deferred, never counted, never dead. The worker now records it in a
# transaction of its own, so the bound applies. Each test runs the worker's own loop
# (`run()`) and stops it after a bounded number of tries of the event, dead or not.

BOUND = outbox.RetryPolicy(schedule=(), jitter=0.0, deferrals=(0.01, 0.01, 0.01))
TRIES_CAP = 9  # more than the bound's 4 tries (3 deferrals, 1 attempt): the old loop's end
CHECKED = "test.fixes.checked_at_commit"
RELOCKED = "test.fixes.relock_held"


def _tried(worker: list[outbox.Worker], tries: list[str], event_id: str) -> None:
    """One more try of the event: the worker stopped at the cap (the old code's endless
    loop; its rounds end on the failure, so the cap is kept here, not after a round)."""
    tries.append(event_id)
    if len(tries) >= TRIES_CAP:
        worker[0].stop()


def _run_until(
    worker: outbox.Worker, engine: sa.Engine, event_id: str, tries: list[str], each_round: Any
) -> None:
    """Run the worker's loop until the event is dead (or the handler stops it at its
    `TRIES_CAP`-th try: `_tried`): `each_round()` runs after every round, in the worker's
    thread."""

    def extra() -> None:
        each_round()
        if _inbox(engine, event_id).status == "dead":
            worker.stop()

    failures: list[BaseException] = []

    def run() -> None:
        try:
            worker.run(extra=extra)
        except BaseException as exc:
            failures.append(exc)

    running = threading.Thread(target=run)
    running.start()
    running.join(timeout=120)
    if running.is_alive():
        worker.stop()
        running.join(timeout=30)
    assert failures == []


def test_a_transient_failure_at_commit_is_recorded_and_bounded(
    engine: sa.Engine, worker_engine: sa.Engine, seats: None, holder: sa.Connection
) -> None:
    """A one-step handler whose work a constraint trigger deferred to COMMIT checks (as the
    ledger's balance checks are): the trigger waits for a seat another connection holds,
    past the worker's lock_timeout, so COMMIT fails (55P03) after the handler's savepoint
    was released, the outcome rolled back with everything. Each such failure is recorded in
    a transaction of its own: three deferrals, then one counted attempt, dead (the policy's
    schedule is empty). Before: the row never changed and the handler ran until the test's
    cap (pending, attempts 0, deferrals 0)."""
    with engine.begin() as conn:
        conn.execute(sa.text("CREATE TABLE public.checked (event_id text)"))
        conn.execute(
            sa.text("""CREATE FUNCTION public.check_seat() RETURNS trigger
                       LANGUAGE plpgsql AS $$
                       BEGIN PERFORM 1 FROM public.seats WHERE id = 1 FOR UPDATE; RETURN NULL;
                       END $$""")
        )
        conn.execute(
            sa.text("""CREATE CONSTRAINT TRIGGER checked_at_commit AFTER INSERT ON public.checked
                       DEFERRABLE INITIALLY DEFERRED FOR EACH ROW
                       EXECUTE FUNCTION public.check_seat()""")
        )
    tries: list[str] = []

    running: list[outbox.Worker] = []

    def handler(conn: sa.Connection, event: outbox.InboxEvent) -> None:
        _tried(running, tries, event.event_id)
        conn.execute(sa.text("INSERT INTO public.checked VALUES (:e)"), {"e": event.event_id})

    handlers = outbox.InboxHandlers()
    handlers.register(SOURCE, CHECKED, handler)
    event_id = _store(engine, CHECKED)
    holder.execute(sa.text("SELECT * FROM public.seats WHERE id = 1 FOR UPDATE"))
    settings = replace(SETTINGS, retry=BOUND, reconnect_wait=0.05)
    worker = outbox.Worker(worker_engine, settings, handlers=handlers)
    running.append(worker)
    _run_until(worker, engine, event_id, tries, lambda: None)
    row = _inbox(engine, event_id)
    assert (row.status, row.attempts, row.deferrals) == ("dead", 1, 3)
    assert "LockNotAvailable" in row.last_error
    assert tries == [event_id] * 4
    assert scalar(engine, "SELECT count(*) FROM public.checked") == 0


def test_a_relock_meeting_a_held_row_is_recorded_and_bounded(
    engine: sa.Engine, worker_engine: sa.Engine, holder: sa.Connection
) -> None:
    """A two-step handler's finish relocks its claimed row FOR UPDATE: while its prepare
    ran, another connection took the row FOR KEY SHARE (as a foreign key's check on a row
    referencing it does), so the relock waits past the worker's lock_timeout (55P03), before
    any handler runs. Each such failure is recorded in a transaction of its own (its lock,
    FOR NO KEY UPDATE, does not wait for a key share): three deferrals, then one counted
    attempt, dead; the other connection lets go after each round (the next-due scan skips a
    row it holds). Before: the claim's row never changed; the event was claimed and
    prepared again each time its lease lapsed, until the test's cap."""
    tries: list[str] = []
    handled: list[str] = []

    running: list[outbox.Worker] = []

    def prepare(event: outbox.InboxEvent) -> str:
        _tried(running, tries, event.event_id)
        holder.execute(
            sa.text("SELECT 1 FROM messaging.inbox WHERE event_id = :e FOR KEY SHARE"),
            {"e": event.event_id},
        )
        return "facts"

    def handle(conn: sa.Connection, event: outbox.InboxEvent, data: str) -> None:
        handled.append(event.event_id)

    handlers = outbox.InboxHandlers()
    handlers.register(SOURCE, RELOCKED, outbox.InboxTwoStepHandler(prepare, handle))
    event_id = _store(engine, RELOCKED)
    settings = replace(
        SETTINGS, retry=BOUND, reconnect_wait=0.05, lease=timedelta(milliseconds=500)
    )
    worker = outbox.Worker(worker_engine, settings, handlers=handlers)
    running.append(worker)
    _run_until(worker, engine, event_id, tries, holder.commit)
    row = _inbox(engine, event_id)
    assert (row.status, row.attempts, row.deferrals) == ("dead", 1, 3)
    assert "LockNotAvailable" in row.last_error
    assert tries == [event_id] * 4
    assert handled == []


def test_a_deferral_waits_from_the_failure_not_from_the_transactions_start(
    engine: sa.Engine, seats: None, holder: sa.Connection
) -> None:
    """A handler that waited out its lock_timeout (300 ms) for a seat another connection
    holds is deferred for its wait (50 ms) counted from the failure (clock_timestamp()): due
    no earlier than the transaction's start plus the lock_timeout plus the wait (the server
    waited at least the lock_timeout before it failed). Before: from the transaction's start
    (now()), so due again at once, the wait already spent waiting for the lock (review L4)."""
    started: list[Any] = []

    def handler(conn: sa.Connection, event: outbox.InboxEvent) -> None:
        started.append(conn.execute(sa.text("SELECT now()")).scalar_one())
        _take_seat(conn, event.event_id, 1)

    handlers = outbox.InboxHandlers()
    handlers.register(SOURCE, LOCKING, handler)
    event_id = _store(engine, LOCKING)
    holder.execute(sa.text("SELECT * FROM public.seats WHERE id = 1 FOR UPDATE"))
    policy = replace(POLICY, deferrals=(0.05,))
    with engine.begin() as conn:
        conn.execute(sa.text("SET LOCAL lock_timeout = '300ms'"))
        assert outbox.handle_next(conn, policy, handlers) == "deferred"
    due = scalar(
        engine, "SELECT next_attempt_at FROM messaging.inbox WHERE event_id = :e", e=event_id
    )
    assert due >= started[0] + timedelta(milliseconds=350)


REFUSED = "test.fixes.refused_at_commit"


def test_a_refusal_at_commit_is_counted_and_the_worker_carries_on(
    engine: sa.Engine, worker_engine: sa.Engine
) -> None:
    """A one-step handler whose work a deferred check refuses at COMMIT (as the ledger's
    balance check refuses an entry without lines): not transient, so it is counted as an
    attempt, recorded in a transaction of its own (review 3, M1): with the bound's empty
    schedule the event is dead after its one try, no deferral, and the worker's loop goes
    on. Before: the error left `run()` (the worker stopped) with the event never counted, so
    a restarted worker took it again and stopped again."""
    with engine.begin() as conn:
        conn.execute(sa.text("CREATE TABLE public.refused (event_id text)"))
        conn.execute(
            sa.text("""CREATE FUNCTION public.refuse() RETURNS trigger
                       LANGUAGE plpgsql AS $$
                       BEGIN RAISE EXCEPTION 'refused at commit' USING ERRCODE = '23514';
                       END $$""")
        )
        conn.execute(
            sa.text("""CREATE CONSTRAINT TRIGGER refused_at_commit AFTER INSERT ON public.refused
                       DEFERRABLE INITIALLY DEFERRED FOR EACH ROW
                       EXECUTE FUNCTION public.refuse()""")
        )
    tries: list[str] = []
    running: list[outbox.Worker] = []

    def handler(conn: sa.Connection, event: outbox.InboxEvent) -> None:
        _tried(running, tries, event.event_id)
        conn.execute(sa.text("INSERT INTO public.refused VALUES (:e)"), {"e": event.event_id})

    handlers = outbox.InboxHandlers()
    handlers.register(SOURCE, REFUSED, handler)
    event_id = _store(engine, REFUSED)
    settings = replace(SETTINGS, retry=BOUND, reconnect_wait=0.05)
    worker = outbox.Worker(worker_engine, settings, handlers=handlers)
    running.append(worker)
    _run_until(worker, engine, event_id, tries, lambda: None)
    row = _inbox(engine, event_id)
    assert (row.status, row.attempts, row.deferrals) == ("dead", 1, 0)
    assert "refused at commit" in row.last_error
    assert tries == [event_id]
    assert scalar(engine, "SELECT count(*) FROM public.refused") == 0

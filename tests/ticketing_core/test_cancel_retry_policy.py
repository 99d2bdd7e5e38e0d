"""The Stripe tasks retry on an API call's schedule, not a webhook's (issue 11, the on-sale):
`liventix.wiring` registers transfers, transfer reversals and refunds with
`STRIPE_CALL_RETRY`, and the cancel task with `STRIPE_CANCEL_RETRY`, whose early waits are a
minute at most, well inside the sweeper's grace. An expired hold whose cancel task meets a
Stripe outage of six minutes is released on the retry that hears `canceled`, about a minute
after Stripe is back, not at the grace (Svix's schedule, the worker's, would try at 5 s,
5 min 5 s, then 35 min: past the 30-minute grace).

Driven as tests/ticketing_core/test_cancel_first.py drives the sweep: a real worker
(`outbox.Worker.deliver_once`) runs the application's tasks against the Stripe stand-in over
HTTP, or against an address where nothing listens (the outage: the stripe library's
connection error). Each wait is read from the delivery's next due time against the
database's clock read around the worker's round, then the due time is moved to now instead
of sleeping; the outage's clock is the sum of the waits so read.
"""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa

import outbox
import ticketing_fsm as tk
from liventix.stripe_gateway import StripeGateway, StripeSettings
from liventix.wiring import STRIPE_CALL_RETRY, STRIPE_CANCEL_RETRY, wire
from outbox.message_types import task_for
from tests.ticketing_core.cancels import CANCEL_TASK, cancel_tasks
from tests.ticketing_core.support import (
    Gateway,
    World,
    checkout_two,
    pay,
    statuses,
)
from tests.ticketing_core.test_paid_within_hold import _hold_ended

CALLS = (
    "stripe.transfer.requested",
    "stripe.transfer_reversal.requested",
    "stripe.refund.requested",
)
REFUND_TASK = "stripe.refund.requested"

# Stripe keeps an idempotency key for 24 hours: every retry must be answered under it.
KEY_KEPT = timedelta(hours=24).total_seconds()


@pytest.fixture
def registry() -> Iterator[None]:
    """The Stripe tasks as they were registered before the test, put back after it."""
    kept = {n: (task_for(n), outbox.task_retry(n)) for n in (*CALLS, CANCEL_TASK)}
    yield
    for name, (task, retry) in kept.items():
        if task is not None:
            outbox.register_task(name, task, replace=True, retry=retry)


@pytest.fixture
def worker(engine: sa.Engine, registry: None) -> Iterator[outbox.Worker]:
    """A worker on the outbox's defaults (Svix's schedule): the tasks' own policies apply."""
    made = outbox.Worker(
        engine, outbox.WorkerSettings(poll_interval=0.05, prune_every=3600.0), name="retries"
    )
    try:
        yield made
    finally:
        made.stop()
        made.close()


def _unreachable() -> StripeGateway:
    """Stripe down: nothing listens at its address."""
    return StripeGateway(StripeSettings(api_base="http://127.0.0.1:9", max_network_retries=0))


def _delivery(engine: sa.Engine, message_id: uuid.UUID) -> sa.Row[Any]:
    with engine.connect() as conn:
        return conn.execute(
            sa.text("""SELECT id, status, attempts, next_attempt_at, last_error
                         FROM messaging.deliveries
                        WHERE message_id = :m AND channel = 'task'"""),
            {"m": message_id},
        ).one()


def _clock(engine: sa.Engine) -> Any:
    with engine.connect() as conn:
        return conn.execute(sa.text("SELECT clock_timestamp()")).scalar_one()


def _attempt(
    worker: outbox.Worker, engine: sa.Engine, message_id: uuid.UUID
) -> tuple[sa.Row[Any], tuple[float, float] | None]:
    """Make the task's delivery due, run one worker round; the delivery, and the wait it
    was given if pending (at least, at most: seconds)."""
    with engine.begin() as conn:
        conn.execute(
            sa.text("""UPDATE messaging.deliveries SET next_attempt_at = now()
                        WHERE message_id = :m AND channel = 'task' AND status = 'pending'"""),
            {"m": message_id},
        )
    before = _clock(engine)
    worker.deliver_once()
    after = _clock(engine)
    d = _delivery(engine, message_id)
    if d.status != "pending":
        return d, None
    return d, (
        (d.next_attempt_at - after).total_seconds(),
        (d.next_attempt_at - before).total_seconds(),
    )


def _within(bounds: tuple[float, float] | None, wait: float, jitter: float) -> bool:
    """Whether a wait read as `bounds` can be `wait` with its jitter."""
    assert bounds is not None
    return bounds[0] <= wait * (1 + jitter) and bounds[1] >= wait * (1 - jitter)


# -- the policies, as code -----------------------------------------------------------------


def test_the_stripe_tasks_are_registered_with_their_policies(
    engine: sa.Engine, gateway: Gateway, registry: None
) -> None:
    wire(engine, gateway.stripe, outbox.InboxHandlers())
    assert {n: outbox.task_retry(n) for n in CALLS} == dict.fromkeys(CALLS, STRIPE_CALL_RETRY)
    assert outbox.task_retry(CANCEL_TASK) is STRIPE_CANCEL_RETRY


@pytest.mark.parametrize("policy", [STRIPE_CALL_RETRY, STRIPE_CANCEL_RETRY])
def test_a_stripe_policy_starts_short_grows_and_ends_inside_the_keys_day(
    policy: outbox.RetryPolicy,
) -> None:
    waits = list(policy.schedule)
    assert waits == sorted(waits)  # never shorter than the wait before (jitter aside)
    assert waits[0] <= 2 and sum(waits[:4]) <= 60  # a blip: tried again within seconds
    assert policy.longest() < KEY_KEPT  # every retry still under the task's key
    assert policy.longest() > 12 * 3600  # and still tried for most of a day


def test_the_cancel_tasks_minute_by_minute_part_ends_well_inside_the_grace() -> None:
    waits = STRIPE_CANCEL_RETRY.schedule
    early = list(itertools.takewhile(lambda w: w <= 60, waits))
    at_longest = sum(early) * (1 + STRIPE_CANCEL_RETRY.jitter)
    assert at_longest <= tk.CANCEL_GRACE.total_seconds() * 2 / 3
    assert sum(early) >= 10 * 60  # and it lasts longer than an outage of a few minutes


# -- a failing task of each policy, through the worker ---------------------------------------


def test_a_refund_stripe_never_answers_follows_the_call_policy_and_dies_after_it(
    engine: sa.Engine, gateway: Gateway, world: World, worker: outbox.Worker
) -> None:
    """A refund asked while Stripe is unreachable: each try's wait is the call policy's
    (2 s, 5 s, 15 s, ... 30 min), and the task is dead after its 45th attempt."""
    checkout = checkout_two(engine, gateway, world, "k1")
    with engine.begin() as conn:
        pay(conn, world, checkout)
        tk.refund_tickets(conn, world.org, checkout.order_id, None, idempotency_key="r1")
        [message] = conn.execute(
            sa.text("SELECT id FROM messaging.messages WHERE type = :t"), {"t": REFUND_TASK}
        ).all()
    wire(engine, _unreachable(), outbox.InboxHandlers())
    policy = STRIPE_CALL_RETRY
    for attempt, wait in enumerate(policy.schedule, start=1):
        delivery, bounds = _attempt(worker, engine, message.id)
        assert (delivery.status, delivery.attempts) == ("pending", attempt), delivery
        assert "APIConnectionError" in delivery.last_error
        assert _within(bounds, wait, policy.jitter), (attempt, wait, bounds)
    delivery, bounds = _attempt(worker, engine, message.id)
    assert (delivery.status, delivery.attempts, bounds) == ("dead", policy.max_attempts, None)


def _time_passes(engine: sa.Engine, order_id: uuid.UUID, seconds: float) -> int:
    """`seconds` of the world's clock pass for the order (its hold's end and its ask to
    cancel moved back, as the task's due time is moved to now), then the sweeper runs as the
    worker's periodic step would: how many orders it acted on (released or asked again)."""
    with engine.begin() as conn:
        conn.execute(
            sa.text("""UPDATE ticketing.orders
                          SET hold_expires_at = hold_expires_at - make_interval(secs => :s),
                              cancel_requested_at = cancel_requested_at
                                                    - make_interval(secs => :s)
                        WHERE id = :id"""),
            {"id": order_id, "s": seconds},
        )
        return tk.expire_holds(conn)


def test_a_stripe_outage_of_minutes_delays_an_expired_holds_release_by_about_the_outage(
    engine: sa.Engine, gateway: Gateway, world: World, worker: outbox.Worker
) -> None:
    """The hold expired; the sweeper asks Stripe to cancel (keeping the seats); Stripe is
    down for six minutes of the task's clock: every try fails at the cancel policy's waits,
    the seats held. Stripe back: the next try hears `canceled` and releases them. The sweeper
    runs after every try with the order's clock moved on by the wait just given (its longest
    reading): it never acts, so the release came from the task well inside the grace (a
    schedule whose waits reach past the grace would have the sweeper release the seats and
    ask Stripe again: a second task)."""
    outage = 6 * 60.0
    checkout = checkout_two(engine, gateway, world, "k1")
    pi = checkout.payment_intent_id
    _hold_ended(engine, checkout.order_id, timedelta(minutes=1))
    with engine.begin() as conn:
        assert tk.expire_holds(conn) == 1
        [(message_id, _)] = cancel_tasks(conn, [checkout.order_id])
    wire(engine, _unreachable(), outbox.InboxHandlers())
    policy = STRIPE_CANCEL_RETRY
    elapsed = 0.0  # the task's clock since its first try: the waits it was given, at most
    attempt = 0
    while elapsed < outage:
        attempt += 1
        delivery, bounds = _attempt(worker, engine, message_id)
        assert (delivery.status, delivery.attempts) == ("pending", attempt), delivery
        assert _within(bounds, policy.schedule[attempt - 1], policy.jitter), (attempt, bounds)
        assert bounds is not None
        elapsed += bounds[1]
        assert _time_passes(engine, checkout.order_id, bounds[1]) == 0, (attempt, elapsed)
        with engine.connect() as conn:
            assert tk.get_order(conn, checkout.order_id).status == "awaiting_payment"
            assert set(statuses(conn, checkout.order_id)) == {"held"}
    wire(engine, gateway.stripe, outbox.InboxHandlers())  # Stripe is back
    delivery, bounds = _attempt(worker, engine, message_id)
    assert (delivery.status, delivery.attempts, bounds) == ("succeeded", attempt + 1, None)
    assert gateway.intents[pi].status == "canceled"
    assert _time_passes(engine, checkout.order_id, 0) == 0
    with engine.connect() as conn:
        order = tk.get_order(conn, checkout.order_id)
        assert (order.status, order.cancel_reason) == ("cancelled", "hold expired")
        assert set(statuses(conn, checkout.order_id)) == {"released"}
        assert len(cancel_tasks(conn, [checkout.order_id])) == 1  # the sweeper never asked again
    assert elapsed < tk.CANCEL_GRACE.total_seconds() / 2

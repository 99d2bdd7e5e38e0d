"""Stripe's rate limit meets the inbox's burst (issue 11, the on-sale; Review1's M2).

After an on-sale Stripe sends a burst of `payment_intent.succeeded`; each payment's prepare
asks Stripe for its charge and fee. Stripe answers 429 (`rate_limit`) to calls over the
account's limit, and the stripe library does not retry it (unless `Stripe-Should-Retry`).
The gateway raises `StripeBusy` (a `stripe.RateLimitError` mixing in
`outbox.TransientFailure`): the inbox defers such an event seconds, jittered, without
counting an attempt (the worker's schedule, Svix's, would wait 5 s, then 5 min, then 30 min,
each counted); a task meeting it waits its own policy's next wait (seconds for the Stripe
tasks), at least Stripe's Retry-After. And each process keeps to a budget of calls a second
(`Budget`, LIVENTIX_STRIPE_MAX_RPS), so its workers do not cause the 429s.

The application's gateway calls the stand-in over HTTP (`Weather.rate_limit`: Stripe's 429
body, for a number of calls); waits are read from the rows' due times against the
database's clock, never slept out past a second or two. The budget is checked with a fake
clock injected into its bucket: the calls the stand-in receives are counted per second of
that clock, with no wall-clock timing.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa

import outbox
import ticketing_fsm as tk
from liventix.settings import Settings
from liventix.stripe_gateway import (
    Budget,
    PooledHTTPClient,
    StripeBusy,
    StripeGateway,
    StripeSettings,
    default_max_rps,
)
from liventix.testing.stripe import Recorded, StripeStandIn, deliver
from liventix.testing.stripe import shapes as so
from liventix.wiring import STRIPE_CALL_RETRY, wire
from outbox.message_types import task_for
from tests.ticketing_core.support import World, open_world, request

SECRET = "whsec_rate_limit_7a1c3e5f9b2d4680aceb13579bdf2468"
FEE = 103
BURST = 10
LIMITED = 6
REFUND_TASK = "stripe.refund.requested"


@pytest.fixture
def stand_in() -> Iterator[StripeStandIn]:
    server = StripeStandIn().start()
    try:
        yield server
    finally:
        server.close()


@pytest.fixture
def gateway(stand_in: StripeStandIn) -> StripeGateway:
    """The application's gateway on the stand-in, with the library's usual retry (one): it
    does not retry a 429 unless Stripe says so."""
    return StripeGateway(StripeSettings(api_base=stand_in.url))


@pytest.fixture
def world(engine: sa.Engine) -> World:
    with engine.begin() as conn:
        return open_world(conn, capacities=(BURST + 2,), prices=(2_500,))


def _clock(engine: sa.Engine) -> Any:
    with engine.connect() as conn:
        return conn.execute(sa.text("SELECT clock_timestamp()")).scalar_one()


def _inbox(engine: sa.Engine, ids: list[str]) -> list[sa.Row[Any]]:
    with engine.connect() as conn:
        return list(
            conn.execute(
                sa.text("""SELECT event_id, status, attempts, deferrals, next_attempt_at,
                                  last_error
                             FROM messaging.inbox WHERE event_id = ANY(:ids)
                            ORDER BY event_id"""),
                {"ids": ids},
            ).all()
        )


def test_a_burst_meeting_stripes_rate_limit_is_deferred_seconds_and_ends_paid(
    engine: sa.Engine, stand_in: StripeStandIn, gateway: StripeGateway, world: World
) -> None:
    checkouts = [tk.start_checkout(engine, gateway, request(world, f"k{i}")) for i in range(BURST)]
    events = [
        so.event(
            "payment_intent.succeeded",
            stand_in.confirm_payment(c.payment_intent_id, fee=FEE).intent,
        )
        for c in checkouts
    ]
    ids = [d.event_id for d in deliver(engine, *events, secret=SECRET)]
    handlers = outbox.InboxHandlers()
    tk.register_stripe_handlers(gateway, into=handlers)
    # The worker's own policy (Svix's schedule: 5 s, 5 min, 30 min ...), as deployed.
    worker = outbox.Worker(
        engine, outbox.WorkerSettings(poll_interval=0.05, prune_every=3600.0), handlers=handlers
    )
    # Stripe over its limit for the burst's first reads of PaymentIntents.
    stand_in.rate_limit(times=LIMITED, prefix="/v1/payment_intents/")
    try:
        before = _clock(engine)
        assert worker.handle_inbox_once() == BURST
        after = _clock(engine)
        rows = _inbox(engine, ids)
        deferred = [r for r in rows if r.deferrals]
        assert len(stand_in.limited) == LIMITED
        assert all(method == "GET" for method, _ in stand_in.limited)
        assert len(deferred) == LIMITED, rows
        for r in deferred:
            # Not an attempt; due again in seconds (1 s jittered by half), not 5 s or minutes.
            assert (r.status, r.attempts, r.deferrals) == ("pending", 0, 1), r
            assert "StripeBusy" in r.last_error and "rate_limit" in r.last_error, r
            assert (r.next_attempt_at - before).total_seconds() >= 0.5 - 0.01, r
            assert (r.next_attempt_at - after).total_seconds() <= 1.5, r
        assert {r.status for r in rows if not r.deferrals} == {"handled"}

        # Stripe within its limit again: the deferred ones come back within seconds.
        waited = 0
        while any(r.status != "handled" for r in _inbox(engine, ids)):
            assert not any(r.status == "dead" for r in _inbox(engine, ids))
            assert waited < 400, _inbox(engine, ids)  # 20 s: a deferral is 1.5 s at most
            if not worker.handle_inbox_once():
                waited += 1
                worker._stopping.wait(0.05)
    finally:
        worker.close()

    rows = _inbox(engine, ids)
    assert {(r.status, r.attempts) for r in rows} == {("handled", 1)}
    assert sum(r.deferrals for r in rows) == LIMITED
    assert len(stand_in.limited) == LIMITED
    with engine.connect() as conn:
        for c in checkouts:
            order = tk.get_order(conn, c.order_id)
            assert (order.status, order.paid) == ("paid", c.amount)
            assert [t.status for t in tk.tickets_of(conn, c.order_id)] == ["issued"]


def test_a_busy_stripe_past_its_schedule_defers_for_a_day_then_counts(
    engine: sa.Engine, stand_in: StripeStandIn, gateway: StripeGateway, world: World
) -> None:
    """Stripe busy for longer than the busy schedule: the event is deferred its last wait
    again, never counted, as long as it is younger than `busy_for` (a paid buyer's event
    counted onto the webhooks' schedule would wait 5 min, 30 min ... behind a rate limit:
    Review3's M1, session 39); an event busy for longer counts an attempt (the schedule's
    wait, at least Stripe's Retry-After), so a Stripe that never stops answering 429 still
    ends it dead rather than deferring it for ever."""
    checkout = tk.start_checkout(engine, gateway, request(world, "k-bound"))
    intent = stand_in.confirm_payment(checkout.payment_intent_id, fee=FEE).intent
    [sent] = deliver(engine, so.event("payment_intent.succeeded", intent), secret=SECRET)
    handlers = outbox.InboxHandlers()
    tk.register_stripe_handlers(gateway, into=handlers)
    policy = outbox.RetryPolicy(schedule=(600,), busy_deferrals=(10, 30), busy_for=3600)
    worker = outbox.Worker(
        engine,
        outbox.WorkerSettings(poll_interval=0.05, prune_every=3600.0, retry=policy),
        handlers=handlers,
    )
    stand_in.rate_limit(times=100)
    seen = []
    try:
        for aged in (False, False, False, False, True):
            with engine.begin() as conn:
                conn.execute(
                    sa.text(
                        "UPDATE messaging.inbox SET next_attempt_at = now(),"
                        " received_at = CASE WHEN :aged THEN now() - interval '2 hours'"
                        " ELSE received_at END WHERE event_id = :e"
                    ),
                    {"e": sent.event_id, "aged": aged},
                )
            before = _clock(engine)
            assert worker.handle_inbox_once() == 1
            [row] = _inbox(engine, [sent.event_id])
            seen.append((row.status, row.attempts, row.deferrals))
            wait = (row.next_attempt_at - before).total_seconds()
            # 10 s, then 30 s (and 30 s again past the schedule), jittered by half; the
            # schedule's 600 s once counted.
            if row.attempts == 0:
                first = row.deferrals == 1
                assert (5 <= wait <= 16) if first else (15 <= wait <= 46), wait
            else:
                assert 480 <= wait <= 721, wait
    finally:
        worker.close()
    assert seen == [
        ("pending", 0, 1),
        ("pending", 0, 2),
        ("pending", 0, 3),
        ("pending", 0, 4),
        ("pending", 1, 4),
    ]
    assert len(stand_in.limited) == 5


@pytest.fixture
def registry() -> Iterator[None]:
    """The refund task as registered before the test, put back after it."""
    kept = (task_for(REFUND_TASK), outbox.task_retry(REFUND_TASK))
    yield
    if kept[0] is not None:
        outbox.register_task(REFUND_TASK, kept[0], replace=True, retry=kept[1])


def _refund_delivery(engine: sa.Engine) -> sa.Row[Any]:
    with engine.connect() as conn:
        return conn.execute(
            sa.text("""SELECT d.status, d.attempts, d.next_attempt_at, d.last_error
                         FROM messaging.deliveries d JOIN messaging.messages m
                           ON m.id = d.message_id
                        WHERE m.type = :t AND d.channel = 'task'"""),
            {"t": REFUND_TASK},
        ).one()


def _round(engine: sa.Engine, worker: outbox.Worker) -> tuple[sa.Row[Any], float, float]:
    """Make the refund's delivery due, run one worker round: the delivery and the wait it
    was given (at least, at most: seconds)."""
    with engine.begin() as conn:
        conn.execute(
            sa.text("""UPDATE messaging.deliveries SET next_attempt_at = now()
                        WHERE channel = 'task' AND status = 'pending'""")
        )
    before = _clock(engine)
    worker.deliver_once()
    after = _clock(engine)
    d = _refund_delivery(engine)
    if d.status != "pending":
        return d, 0.0, 0.0
    return (
        d,
        (d.next_attempt_at - after).total_seconds(),
        (d.next_attempt_at - before).total_seconds(),
    )


def test_a_refund_meeting_a_429_retries_in_seconds_at_least_stripes_retry_after(
    engine: sa.Engine,
    stand_in: StripeStandIn,
    gateway: StripeGateway,
    world: World,
    registry: None,
) -> None:
    """A refund task meeting Stripe's 429 waits its own policy's next wait (2 s, then 5 s:
    the Stripe tasks' call policy), counted as an attempt, and at least the Retry-After
    Stripe sent (7 s, past the 5 s the schedule gives the second try); then it is made."""
    checkout = tk.start_checkout(engine, gateway, request(world, "k-refund"))
    payment = stand_in.confirm_payment(checkout.payment_intent_id, fee=FEE)
    deliver(engine, so.event("payment_intent.succeeded", payment.intent), secret=SECRET)
    handlers = outbox.InboxHandlers()
    wire(engine, gateway, handlers)
    worker = outbox.Worker(
        engine,
        outbox.WorkerSettings(poll_interval=0.05, prune_every=3600.0),
        handlers=handlers,
        name="rate-limit",
    )
    try:
        assert worker.handle_inbox_once() == 1
        with engine.begin() as conn:
            tk.refund_tickets(conn, world.org, checkout.order_id, None, idempotency_key="r1")
        jitter = STRIPE_CALL_RETRY.jitter
        stand_in.rate_limit(times=1, prefix="/v1/refunds")
        d, least, most = _round(engine, worker)
        assert (d.status, d.attempts) == ("pending", 1), d
        assert "StripeBusy" in d.last_error, d
        first = STRIPE_CALL_RETRY.schedule[0]
        assert least <= first * (1 + jitter) and most >= first * (1 - jitter), (least, most)

        stand_in.rate_limit(times=1, prefix="/v1/refunds", retry_after=7)
        d, least, most = _round(engine, worker)
        assert (d.status, d.attempts) == ("pending", 2), d
        assert STRIPE_CALL_RETRY.schedule[1] * (1 + jitter) < 7
        assert most >= 7 and least <= 7, (least, most)

        d, _, _ = _round(engine, worker)
        assert (d.status, d.attempts) == ("succeeded", 3), d
    finally:
        worker.stop()
        worker.close()
    assert len(stand_in.limited) == 2
    assert len(stand_in.refunds) == 1


# -- the budget -------------------------------------------------------------------------------


class FakeClock:
    """A clock that moves only when a caller sleeps."""

    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def test_the_budget_bounds_a_processes_calls_per_second_at_the_stand_in(
    stand_in: StripeStandIn, world: World, engine: sa.Engine
) -> None:
    """Forty reads through a gateway with a budget of 10 calls a second: the stand-in receives
    them at no more than 10 (and the bucket's burst of 1) in any second of the bucket's
    clock, and the bucket made callers wait (its tokens counted, no time measured)."""
    clock = FakeClock()
    rate = 10.0
    gateway = StripeGateway(StripeSettings(api_base=stand_in.url, max_rps=rate))
    http = gateway.intents.http if gateway.intents is not None else None
    assert isinstance(http, PooledHTTPClient) and http.budget is not None
    assert http.budget.rate == rate
    budget = Budget(rate, clock=clock, sleep=clock.sleep)
    http.budget = budget
    arrived: list[float] = []

    def note(request: Recorded) -> None:
        if request.path.startswith("/v1/"):
            arrived.append(clock())

    stand_in.watch(note)
    checkout = tk.start_checkout(engine, gateway, request(world, "k-budget"))
    stand_in.confirm_payment(checkout.payment_intent_id, fee=FEE)
    for _ in range(39):
        assert gateway.charge_facts(checkout.payment_intent_id).stripe_fee == FEE
    assert len(arrived) == budget.granted == 40
    assert budget.waited >= 40 - budget.burst - 1
    for start in arrived:
        in_window = [t for t in arrived if start <= t < start + 1.0]
        assert len(in_window) <= rate + budget.burst, (start, in_window)
    assert arrived[-1] - arrived[0] >= (40 - budget.burst) / rate - 1e-6


def test_a_call_whose_turn_is_too_far_is_refused_unsent_as_stripe_busy() -> None:
    clock = FakeClock()
    # Callers that never sleep (threads queueing at once): each takes the next turn.
    budget = Budget(1.0, max_wait=2.0, clock=clock, sleep=lambda s: None)
    budget.take()  # the burst's token
    budget.take()  # waits 1 s
    budget.take()  # waits 2 s
    with pytest.raises(StripeBusy) as refused:
        budget.take()  # would wait 3 s
    assert refused.value.retry_after == pytest.approx(3.0)
    assert outbox.transient(refused.value) is refused.value
    assert (budget.granted, budget.refused) == (3, 1)
    clock.now += 3.0  # the queued turns pass
    budget.take()
    assert budget.granted == 4


def test_the_budget_setting_and_its_defaults() -> None:
    live = "sk_live_" + uuid.uuid4().hex
    assert default_max_rps(live, None) == 30
    assert default_max_rps("sk_test_abc", None) == 8
    assert default_max_rps(live, "http://127.0.0.1:12111") == 0  # a stand-in: none
    assert 3 * default_max_rps(live, None) < 100  # two workers and the API: under live's 100/s
    assert 3 * default_max_rps("sk_test_abc", None) < 25  # and test mode's 25/s
    settings = Settings.from_env({"STRIPE_API_KEY": live, "LIVENTIX_STRIPE_MAX_RPS": "12.5"})
    budget = settings.stripe().budget()
    assert budget is not None and budget.rate == 12.5
    none = Settings.from_env({"STRIPE_API_KEY": live, "LIVENTIX_STRIPE_MAX_RPS": "0"})
    assert none.stripe().budget() is None
    default = Settings.from_env({"STRIPE_API_KEY": live}).stripe().budget()
    assert default is not None and default.rate == 30
    assert Settings.from_env({"STRIPE_API_BASE": "http://127.0.0.1:1"}).stripe().budget() is None


def test_stripe_busy_is_the_librarys_rate_limit_error_and_transient() -> None:
    error = StripeBusy("busy", retry_after=2.0)
    assert outbox.transient(error) is error
    wrapped = ValueError("a handler's own error")
    wrapped.__cause__ = error
    assert outbox.transient(wrapped) is error
    assert outbox.transient(ValueError("other")) is None
    assert error.http_status == 429
    assert timedelta(seconds=error.retry_after or 0) == timedelta(seconds=2)


def test_stripes_should_retry_is_left_to_the_library_and_a_lock_timeout_is_busy_too(
    engine: sa.Engine, stand_in: StripeStandIn, gateway: StripeGateway, world: World
) -> None:
    """A 429 with `Stripe-Should-Retry: true` the library retries at once (its one retry):
    the event is handled in its round, nothing deferred. A 429 `lock_timeout` (an object
    another request holds) is Stripe busy as a `rate_limit` is: deferred, not counted."""
    checkouts = [tk.start_checkout(engine, gateway, request(world, f"s{i}")) for i in range(2)]
    events = [
        so.event(
            "payment_intent.succeeded",
            stand_in.confirm_payment(c.payment_intent_id, fee=FEE).intent,
        )
        for c in checkouts
    ]
    first, second = (d.event_id for d in deliver(engine, *events, secret=SECRET))
    handlers = outbox.InboxHandlers()
    tk.register_stripe_handlers(gateway, into=handlers)
    worker = outbox.Worker(
        engine, outbox.WorkerSettings(poll_interval=0.05, prune_every=3600.0), handlers=handlers
    )
    try:
        with engine.begin() as conn:  # one at a time: the second waits
            conn.execute(
                sa.text("""UPDATE messaging.inbox SET next_attempt_at = now() + interval '1 h'
                            WHERE event_id = :e"""),
                {"e": second},
            )
        stand_in.rate_limit(times=1, should_retry=True)
        assert worker.handle_inbox_once() == 1
        [row] = _inbox(engine, [first])
        assert (row.status, row.attempts, row.deferrals) == ("handled", 1, 0)
        assert len(stand_in.limited) == 1

        with engine.begin() as conn:
            conn.execute(
                sa.text("UPDATE messaging.inbox SET next_attempt_at = now() WHERE event_id = :e"),
                {"e": second},
            )
        stand_in.rate_limit(times=1, code="lock_timeout")
        assert worker.handle_inbox_once() == 1
        [row] = _inbox(engine, [second])
        assert (row.status, row.attempts, row.deferrals) == ("pending", 0, 1)
        assert "lock_timeout" in row.last_error
    finally:
        worker.close()

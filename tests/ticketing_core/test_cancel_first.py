"""Cancel first, release on the fact (issue 11 item 1, promise 9). At expiry the hold sweeper
no longer releases an unpaid order's seats: it asks Stripe (an outbox task, once) to cancel
the PaymentIntent, and the seats go only when Stripe says the intent is canceled. A buyer who
paid within the hold and whose `payment_intent.succeeded` is handled after the sweep (a
backlog, the webhook endpoint down during the on-sale) gets the tickets; the end state is the
facts', whatever the order in which the sweep, the task and Stripe's events are handled,
duplicates included. Stripe unreachable keeps the seats held until a grace well beyond the
hold, then the sweeper releases anyway.

Against the Stripe stand-in over HTTP (the application's gateway, the stripe library), with
the application's own task (`liventix.wiring.cancel_intent_task`); the last test runs the
sweeper and the task in `liventix worker --once` processes.
"""

from __future__ import annotations

import dataclasses
import itertools
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa
import stripe
from sqlalchemy.engine import make_url

import ticketing_fsm as tk
from liventix.stripe_gateway import StripeGateway, StripeSettings
from liventix.testing.stripe import StripeObject, StripeStandIn
from liventix.wiring import TaskPayloadMismatch, cancel_intent_task
from tests.ticketing_core.cancels import asked_ago, cancel_tasks, run_cancel_tasks, sweep_alone
from tests.ticketing_core.support import (
    CrashAfterStripe,
    Gateway,
    World,
    check_audit_trail,
    check_balanced,
    check_capacity,
    check_paid_in_ledger,
    checkout_two,
    counters,
    drain,
    messages,
    payment_intent,
    refund_requests,
    request,
    statuses,
    store,
    stripe_event,
    ticketing_handlers,
)
from tests.ticketing_core.test_paid_within_hold import _hold_ended, _succeeded
from ticketing_fsm import store as tk_store


def _cancels_asked(gateway: Gateway, payment_intent_id: str) -> int:
    """How many times Stripe was asked to cancel the intent."""
    path = f"/v1/payment_intents/{payment_intent_id}/cancel"
    return len(gateway.account.requests("POST", path))


def _canceled_event(gateway: Gateway, checkout: tk.Checkout) -> StripeObject:
    intent = payment_intent(gateway.intents[checkout.payment_intent_id], "canceled")
    return stripe_event("payment_intent.canceled", intent)


def _check_all(engine: sa.Engine) -> None:
    with engine.connect() as conn:
        check_capacity(conn)
        check_paid_in_ledger(conn)
        check_audit_trail(conn)
        check_balanced(conn)


@dataclasses.dataclass(frozen=True)
class EndState:
    """What an order comes to: its state and reason, its tickets', the seats' counters, the
    money, the refunds asked for and the messages about it."""

    status: str
    cancel_reason: str | None
    tickets: tuple[str, ...]
    held_sold: tuple[int, int]
    paid: int
    refunds: tuple[tuple[int, str], ...]
    issued_notes: int
    cancelled_notes: int


def _end_state(engine: sa.Engine, world: World, checkout: tk.Checkout) -> EndState:
    with engine.connect() as conn:
        order = tk.get_order(conn, checkout.order_id)
        c = counters(conn, world.ga)
        return EndState(
            status=order.status,
            cancel_reason=order.cancel_reason,
            tickets=tuple(sorted(statuses(conn, checkout.order_id))),
            held_sold=(c.held, c.sold),
            paid=order.paid,
            refunds=tuple(
                (r.amount, r.reason) for _, r in refund_requests(conn, checkout.order_id)
            ),
            issued_notes=len(messages(conn, "ticket.issued")),
            cancelled_notes=len(messages(conn, "order.cancelled", str(checkout.order_id))),
        )


PAID_IN_TIME = EndState("paid", None, ("issued", "issued"), (0, 2), 5_000, (), 2, 0)
PAID_LATE = EndState(
    "cancelled",
    "hold expired before the payment",
    ("released", "released"),
    (0, 0),
    5_000,
    ((5_000, "late payment"),),
    0,
    1,
)
UNPAID = EndState("cancelled", "hold expired", ("released", "released"), (0, 0), 0, (), 0, 1)


# -- the headline: a payment made in time and handled after the sweep -----------------------


def test_a_payment_made_in_time_and_handled_after_the_sweep_issues_the_tickets(
    engine: sa.Engine, gateway: Gateway, world: World
) -> None:
    handlers = ticketing_handlers(gateway)
    checkout = checkout_two(engine, gateway, world, "k1")
    pi = checkout.payment_intent_id
    gateway.account.succeed(pi)  # the buyer paid within the hold ...
    ended = _hold_ended(engine, checkout.order_id, timedelta(minutes=1))
    assert sweep_alone(engine) == 1  # ... and the sweeper got there before the event
    with engine.connect() as conn:
        assert tk.get_order(conn, checkout.order_id).status == "awaiting_payment"
        assert set(statuses(conn, checkout.order_id)) == {"held"}
        assert tk.cancel_requested_at(conn, checkout.order_id) is not None
    assert run_cancel_tasks(engine, gateway.stripe) == 1
    # Stripe refused (the intent succeeded): nothing released, the seats still held.
    assert gateway.intents[pi].status == "succeeded"
    assert _cancels_asked(gateway, pi) == 1
    with engine.connect() as conn:
        assert tk.get_order(conn, checkout.order_id).status == "awaiting_payment"
        assert (counters(conn, world.ga).held, counters(conn, world.ga).sold) == (2, 0)
    # The payment's event, handled late, decides: paid in time.
    store(engine, _succeeded(gateway, checkout, ended - 30))
    assert drain(engine, handlers) == ["handled"]
    assert _end_state(engine, world, checkout) == PAID_IN_TIME
    _check_all(engine)


def test_the_sweeper_asks_once_and_releases_on_stripes_word(
    engine: sa.Engine, gateway: Gateway, world: World
) -> None:
    handlers = ticketing_handlers(gateway)
    checkout = checkout_two(engine, gateway, world, "k1")
    _hold_ended(engine, checkout.order_id, timedelta(minutes=1))
    assert sweep_alone(engine) == 1
    assert sweep_alone(engine) == 0
    with engine.connect() as conn:
        assert len(cancel_tasks(conn, [checkout.order_id])) == 1
    assert run_cancel_tasks(engine, gateway.stripe) == 1
    assert gateway.intents[checkout.payment_intent_id].status == "canceled"
    assert _end_state(engine, world, checkout) == UNPAID
    # Stripe's own event about it, later (twice): nothing more.
    event = _canceled_event(gateway, checkout)
    store(engine, event)
    store(engine, {**event, "id": f"{event['id']}-again"})
    assert drain(engine, handlers) == ["handled", "handled"]
    assert _end_state(engine, world, checkout) == UNPAID
    with engine.connect() as conn:
        trail = conn.execute(
            sa.text("SELECT event, cause FROM ticketing.transitions WHERE subject_id = :id"),
            {"id": checkout.order_id},
        ).all()
    assert [r.event for r in trail] == ["cancel"]
    assert trail[0].cause.startswith("task ")
    _check_all(engine)


def test_the_task_is_idempotent_by_its_message_id(
    engine: sa.Engine, gateway: Gateway, world: World
) -> None:
    checkout = checkout_two(engine, gateway, world, "k1")
    _hold_ended(engine, checkout.order_id, timedelta(minutes=1))
    sweep_alone(engine)
    with engine.connect() as conn:
        ((message_id, payload),) = cancel_tasks(conn, [checkout.order_id])
    run = cancel_intent_task(engine, gateway.stripe)
    for _ in range(3):  # the worker ran it, lost the outcome, ran it again ...
        run(str(message_id), payload)
    assert _end_state(engine, world, checkout) == UNPAID
    # Every call under the message id: Stripe replays its first answer.
    cancels = gateway.account.requests("POST", f"/v1/payment_intents/{checkout.payment_intent_id}")
    assert {r.header("idempotency-key") for r in cancels} == {str(message_id)}
    _check_all(engine)


def test_a_processing_intent_is_not_cancelled_and_keeps_its_seats(
    engine: sa.Engine, gateway: Gateway, world: World
) -> None:
    checkout = checkout_two(engine, gateway, world, "k1")
    pi = checkout.payment_intent_id
    gateway.account.processing(pi)  # a bank debit under way
    _hold_ended(engine, checkout.order_id, timedelta(minutes=1))
    sweep_alone(engine)
    run_cancel_tasks(engine, gateway.stripe)
    assert gateway.intents[pi].status == "processing"
    assert _cancels_asked(gateway, pi) == 1
    with engine.connect() as conn:
        assert tk.get_order(conn, checkout.order_id).status == "awaiting_payment"
        assert set(statuses(conn, checkout.order_id)) == {"held"}
    _check_all(engine)


def test_stripe_unreachable_keeps_the_seats_until_the_grace(
    engine: sa.Engine, gateway: Gateway, world: World
) -> None:
    checkout = checkout_two(engine, gateway, world, "k1")
    pi = checkout.payment_intent_id
    _hold_ended(engine, checkout.order_id, timedelta(minutes=1))
    sweep_alone(engine)
    with engine.connect() as conn:
        ((message_id, payload),) = cancel_tasks(conn, [checkout.order_id])
    # Nothing listens there: the stripe library's connection error, for the outbox to retry.
    unreachable = StripeGateway(
        StripeSettings(api_base="http://127.0.0.1:9", max_network_retries=0)
    )
    with pytest.raises(stripe.APIConnectionError):
        cancel_intent_task(engine, unreachable)(str(message_id), payload)
    with engine.connect() as conn:
        assert tk.get_order(conn, checkout.order_id).status == "awaiting_payment"
        assert set(statuses(conn, checkout.order_id)) == {"held"}
    assert sweep_alone(engine) == 0  # within the grace: still held, not asked again
    assert sweep_alone(engine, grace=timedelta(seconds=30)) == 0  # the grace counts from the ask
    # The grace passed since the ask (here: 30 s, the ask a minute ago): released anyway,
    # and Stripe asked again (a new task, a new key): the first task's retry may come late.
    asked_ago(engine, checkout.order_id, timedelta(minutes=1))
    assert sweep_alone(engine, grace=timedelta(seconds=30)) == 1
    assert _end_state(engine, world, checkout) == UNPAID
    with engine.connect() as conn:
        tasks = cancel_tasks(conn, [checkout.order_id])
    assert len(tasks) == 2 and tasks[0][0] == message_id
    # Stripe back: the new task cancels the intent; the first one's retry finds it so.
    cancel_intent_task(engine, gateway.stripe)(str(tasks[1][0]), tasks[1][1])
    assert gateway.intents[pi].status == "canceled"
    cancel_intent_task(engine, gateway.stripe)(str(message_id), payload)
    assert _end_state(engine, world, checkout) == UNPAID
    _check_all(engine)


def test_an_order_past_the_grace_never_asked_is_asked_first(
    engine: sa.Engine, gateway: Gateway, world: World
) -> None:
    """The sweeper down for longer than the grace: the grace counts from the ask, so the
    order is asked about first, keeping its seats, and released on Stripe's answer."""
    checkout = checkout_two(engine, gateway, world, "k1")
    _hold_ended(engine, checkout.order_id, tk.CANCEL_GRACE + timedelta(minutes=1))
    assert sweep_alone(engine) == 1
    with engine.connect() as conn:
        assert tk.get_order(conn, checkout.order_id).status == "awaiting_payment"
    assert sweep_alone(engine) == 0
    assert run_cancel_tasks(engine, gateway.stripe) == 1
    assert gateway.intents[checkout.payment_intent_id].status == "canceled"
    assert _end_state(engine, world, checkout) == UNPAID


# -- Stripe's refusal is a fact the grace keeps to (Review1's H1, M2) -----------------------


def test_the_grace_keeps_an_order_stripe_said_was_paid(
    engine: sa.Engine, gateway: Gateway, world: World
) -> None:
    """Paid within the hold; the task hears `succeeded` (noted on the order); the payment's
    event is late by more than the grace (a webhook outage): the grace releases nothing and
    asks nothing, and the event issues the tickets."""
    handlers = ticketing_handlers(gateway)
    checkout = checkout_two(engine, gateway, world, "k1")
    gateway.account.succeed(checkout.payment_intent_id)
    ended = _hold_ended(engine, checkout.order_id, timedelta(minutes=1))
    assert sweep_alone(engine) == 1
    assert run_cancel_tasks(engine, gateway.stripe) == 1
    with engine.connect() as conn:
        assert tk.cancel_refused(conn, checkout.order_id) == "succeeded"
    asked_ago(engine, checkout.order_id, tk.CANCEL_GRACE * 100)
    assert sweep_alone(engine, grace=timedelta(seconds=30)) == 0
    with engine.connect() as conn:
        assert tk.get_order(conn, checkout.order_id).status == "awaiting_payment"
        assert len(cancel_tasks(conn, [checkout.order_id])) == 1
    store(engine, _succeeded(gateway, checkout, ended - 30))
    assert drain(engine, handlers) == ["handled"]
    assert _end_state(engine, world, checkout) == PAID_IN_TIME
    _check_all(engine)


def test_a_processing_intent_is_asked_again_at_the_grace_and_released_once_cancelled(
    engine: sa.Engine, gateway: Gateway, world: World
) -> None:
    """A bank debit under way at the task (refused: `processing`, noted). Each grace after an
    answered ask (or a day after an unanswered one) it is asked again by a new task (the
    first task's key replays its refusal), the seats held meanwhile; the debit fails (the
    intent back to requires_payment_method), the next ask cancels it and the seats are
    released: the intent is never left payable."""
    checkout = checkout_two(engine, gateway, world, "k1")
    pi = checkout.payment_intent_id
    gateway.account.processing(pi)
    _hold_ended(engine, checkout.order_id, timedelta(minutes=1))
    assert sweep_alone(engine) == 1
    assert run_cancel_tasks(engine, gateway.stripe) == 1
    with engine.connect() as conn:
        assert tk.cancel_refused(conn, checkout.order_id) == "processing"
    asked_ago(engine, checkout.order_id, timedelta(minutes=1))
    assert sweep_alone(engine, grace=timedelta(seconds=30)) == 1  # asked again, still processing
    assert sweep_alone(engine, grace=timedelta(seconds=30)) == 0
    assert run_cancel_tasks(engine, gateway.stripe) == 2  # the first replays its refusal
    assert _cancels_asked(gateway, pi) == 3
    with engine.connect() as conn:
        assert tk.get_order(conn, checkout.order_id).status == "awaiting_payment"
        assert set(statuses(conn, checkout.order_id)) == {"held"}
    # Not asked again before Stripe answered the latest ask, whatever the grace ...
    asked_ago(engine, checkout.order_id, timedelta(minutes=1))
    assert sweep_alone(engine, grace=timedelta(seconds=30)) == 1
    assert sweep_alone(engine, grace=timedelta(0)) == 0
    asked_ago(engine, checkout.order_id, timedelta(hours=23))
    assert sweep_alone(engine, grace=timedelta(seconds=30)) == 0
    # ... unless that ask is a day old unanswered (its task may be dead): a new task.
    asked_ago(engine, checkout.order_id, timedelta(hours=2))
    assert sweep_alone(engine, grace=timedelta(seconds=30)) == 1
    assert sweep_alone(engine, grace=timedelta(0)) == 0
    gateway.account.fail(pi)  # the debit failed
    with engine.connect() as conn:
        *_, (message_id, payload) = cancel_tasks(conn, [checkout.order_id])
    cancel_intent_task(engine, gateway.stripe)(str(message_id), payload)
    assert gateway.intents[pi].status == "canceled"
    assert _end_state(engine, world, checkout) == UNPAID
    _check_all(engine)


def test_a_refusal_noted_after_a_success_keeps_the_success(
    engine: sa.Engine, gateway: Gateway, world: World
) -> None:
    """Two tasks' answers noted out of order (an older view, `processing`, after
    `succeeded`): the order keeps `succeeded`, so the grace never asks it again."""
    checkout = checkout_two(engine, gateway, world, "k1")
    _hold_ended(engine, checkout.order_id, timedelta(minutes=1))
    sweep_alone(engine)
    pi = checkout.payment_intent_id
    for status in ("processing", "succeeded", "processing"):
        with engine.begin() as conn:
            assert tk.intent_refused(conn, checkout.order_id, pi, status)
    with engine.connect() as conn:
        assert tk.cancel_refused(conn, checkout.order_id) == "succeeded"
    with engine.begin() as conn:  # a stray intent's refusal is not the order's
        assert not tk.intent_refused(conn, checkout.order_id, "pi_stray", "processing")


def test_a_task_retried_under_its_key_hears_stripes_first_answer(
    engine: sa.Engine, gateway: Gateway, world: World
) -> None:
    """Stripe saves the first answer under an idempotency key, a refusal included (the
    stand-in too): the task's retry hears `processing` again though the debit failed since;
    only a new task (the sweeper's next ask) can cancel."""
    checkout = checkout_two(engine, gateway, world, "k1")
    pi = checkout.payment_intent_id
    gateway.account.processing(pi)
    _hold_ended(engine, checkout.order_id, timedelta(minutes=1))
    sweep_alone(engine)
    with engine.connect() as conn:
        ((message_id, payload),) = cancel_tasks(conn, [checkout.order_id])
    run = cancel_intent_task(engine, gateway.stripe)
    run(str(message_id), payload)
    gateway.account.fail(pi)
    run(str(message_id), payload)
    assert gateway.intents[pi].status == "requires_payment_method"
    assert gateway.stripe.cancel_payment_intent(pi, idempotency_key=str(message_id)) == (
        "processing"
    )
    assert gateway.stripe.cancel_payment_intent(pi, idempotency_key="another") == "canceled"


def test_the_buyers_cancel_still_releases_at_once(
    engine: sa.Engine, gateway: Gateway, world: World
) -> None:
    checkout = checkout_two(engine, gateway, world, "k1")
    with engine.begin() as conn:
        tk.cancel_order(conn, world.org, checkout.order_id, cause="buyer")
    with engine.connect() as conn:
        order = tk.get_order(conn, checkout.order_id)
        assert (order.status, order.cancel_reason) == ("cancelled", "cancelled by the buyer")
        assert set(statuses(conn, checkout.order_id)) == {"released"}
        assert tk.cancel_requested_at(conn, checkout.order_id) is None
    assert run_cancel_tasks(engine, gateway.stripe) == 1
    assert gateway.intents[checkout.payment_intent_id].status == "canceled"


def test_a_cancel_task_for_an_order_nobody_swept_asks_nothing(
    engine: sa.Engine, gateway: Gateway, world: World
) -> None:
    """A cancel of an order still awaiting its payment, its hold not swept: not one
    ticketing asked (its message copied from another order's, say)."""
    checkout = checkout_two(engine, gateway, world, "k1")
    other = checkout_two(engine, gateway, world, "k2")
    _hold_ended(engine, other.order_id, timedelta(minutes=1))
    sweep_alone(engine)
    with engine.connect() as conn:
        ((message_id, payload),) = cancel_tasks(conn, [other.order_id])
    meta = dict(tk.IntentCancelRequested.model_validate(payload).intent_metadata)
    meta[tk.META_ORDER] = str(checkout.order_id)
    forged = {
        **payload,
        "order_id": str(checkout.order_id),
        "payment_intent_id": checkout.payment_intent_id,
        "intent_metadata": meta,
    }
    with pytest.raises(TaskPayloadMismatch):
        cancel_intent_task(engine, gateway.stripe)(str(message_id), forged)
    assert _cancels_asked(gateway, checkout.payment_intent_id) == 0


# -- any order of the sweep, the task and Stripe's events, duplicates included --------------

Step = Callable[[], None]


def _orders(steps: str) -> Iterator[str]:
    """Every order of `steps` (one letter each) in which the sweep (S) comes before the task
    (T): the task exists once the sweeper published it."""
    for order in itertools.permutations(steps):
        if order.index("S") < order.index("T"):
            yield "".join(order)


def _run(order: str, steps: dict[str, Step]) -> None:
    for letter in order:
        steps[letter]()


def _deliver(engine: sa.Engine, gateway: Gateway, event: StripeObject) -> Step:
    handlers = ticketing_handlers(gateway)

    def step() -> None:
        store(engine, event)
        store(engine, event)  # the same event again: the inbox keeps it once
        drain(engine, handlers)

    return step


def _sweep_step(engine: sa.Engine) -> Step:
    def step() -> None:
        sweep_alone(engine)

    return step


def _task_step(engine: sa.Engine, gateway: Gateway) -> Step:
    def step() -> None:
        run_cancel_tasks(engine, gateway.stripe)

    return step


@pytest.mark.parametrize("order", list(_orders("STEF")))
@pytest.mark.parametrize("paid", ["in-time", "late"])
def test_a_paid_order_ends_alike_in_any_order(
    engine: sa.Engine, gateway: Gateway, world: World, order: str, paid: str
) -> None:
    """The buyer paid (within the hold, or after it, before the cancel reached Stripe); the
    sweep (S), the cancel task (T), the payment's event (E, delivered twice under its id)
    and another delivery of it under another id (F) in every order."""
    checkout = checkout_two(engine, gateway, world, "k1")
    gateway.account.succeed(checkout.payment_intent_id)
    ended = _hold_ended(engine, checkout.order_id, timedelta(minutes=1))
    event = _succeeded(gateway, checkout, ended - 30 if paid == "in-time" else ended + 30)
    steps = {
        "S": _sweep_step(engine),
        "T": _task_step(engine, gateway),
        "E": _deliver(engine, gateway, event),
        "F": _deliver(engine, gateway, {**event, "id": f"{event['id']}-again"}),
    }
    _run(order, steps)
    assert _end_state(engine, world, checkout) == (PAID_IN_TIME if paid == "in-time" else PAID_LATE)
    assert gateway.intents[checkout.payment_intent_id].status == "succeeded"
    _check_all(engine)


@pytest.mark.parametrize("order", [o for o in _orders("STCD") if o[0] == "S"])
def test_an_unpaid_order_ends_alike_in_any_order(
    engine: sa.Engine, gateway: Gateway, world: World, order: str
) -> None:
    """Nobody paid: the sweep (S) first (the cancellation is ours), then the cancel task (T),
    Stripe's `payment_intent.canceled` (C, delivered twice under its id) and another delivery
    of it (D) in every order. An event handled before the task's own transaction means Stripe
    cancelled the intent already (the task's call happened, its release not yet): the task
    then finds it canceled."""
    checkout = checkout_two(engine, gateway, world, "k1")
    pi = checkout.payment_intent_id
    _hold_ended(engine, checkout.order_id, timedelta(minutes=1))
    event = _canceled_event(gateway, checkout)

    def canceled_at_stripe(deliver: Step) -> Step:
        def step() -> None:
            if gateway.intents[pi].status != "canceled":
                gateway.account.cancel_payment_intent(
                    pi, reason="abandoned", idempotency_key=f"earlier-{pi}"
                )
            deliver()

        return step

    steps = {
        "S": _sweep_step(engine),
        "T": _task_step(engine, gateway),
        "C": canceled_at_stripe(_deliver(engine, gateway, event)),
        "D": canceled_at_stripe(_deliver(engine, gateway, {**event, "id": f"{event['id']}-b"})),
    }
    _run(order, steps)
    assert _end_state(engine, world, checkout) == UNPAID
    assert gateway.intents[pi].status == "canceled"
    _check_all(engine)


# -- the stand-in answers a refused cancel as Stripe does ----------------------------------


@pytest.mark.parametrize("status", ["succeeded", "processing", "canceled"])
def test_a_refused_cancel_carries_the_intent_as_stripes_does(status: str) -> None:
    account = StripeStandIn().start()
    try:
        gateway = StripeGateway(StripeSettings(api_base=account.url, max_network_retries=0))
        pi = gateway.create_payment_intent(1_000, "eur", {}, idempotency_key="k").payment_intent_id
        if status == "succeeded":
            account.succeed(pi)
        elif status == "processing":
            account.processing(pi)
        else:
            account.cancel_payment_intent(pi, reason="abandoned", idempotency_key="first")
        with pytest.raises(stripe.InvalidRequestError) as refused:
            gateway.client.v1.payment_intents.cancel(pi, options={"idempotency_key": "second"})
        error: Any = refused.value.error
        assert refused.value.code == "payment_intent_unexpected_state"
        assert refused.value.http_status == 400
        assert (error.payment_intent.id, error.payment_intent.status) == (pi, status)
        assert f"has a status of {status}" in str(error.message)
        # The gateway reads the status from the refusal: no further GET.
        gets = len(account.requests("GET"))
        assert gateway.cancel_payment_intent(pi, idempotency_key="third") == status
        assert len(account.requests("GET")) == gets
    finally:
        account.close()


# -- across processes: the worker's periodic sweep and its task --------------------------------


def _worker_once(db_url: str, stripe_url: str, **extra: str) -> None:
    """`python -m liventix worker --once` on the test's database and the stand-in: the
    periodic step (the sweeper), then the outbox's due deliveries (the cancel tasks) and the
    inbox's events. Without the catch-up of Stripe's events (its interval 0): these tests
    store the payment's event themselves, when their story says it arrives (the stand-in's
    own `payment_intent.succeeded` is dated when the test paid, after the hold it moved into
    the past: tests/ticketing_core/test_stripe_catchup.py dates it back)."""
    _liventix(
        db_url, stripe_url, "worker", "--once", **{"LIVENTIX_STRIPE_CATCHUP_INTERVAL": "0", **extra}
    )


def _liventix(db_url: str, stripe_url: str, *args: str, **extra: str) -> str:
    """`python -m liventix <args>` on the test's database and the stand-in; its output."""
    url = make_url(db_url)
    env = {
        **os.environ,
        "DATABASE_URL": url.set(database="postgres").render_as_string(hide_password=False),
        "LIVENTIX_DB_NAME": str(url.database),
        "STRIPE_API_BASE": stripe_url,
        "PYTHONUNBUFFERED": "1",
        **extra,
    }
    done = subprocess.run(
        [sys.executable, "-m", "liventix", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def test_the_workers_sweep_and_task_across_processes(
    engine: sa.Engine, db_url: str, gateway: Gateway, world: World
) -> None:
    """Two orders past their hold: one paid within it (its event not yet handled), one
    never paid. `liventix worker --once` processes sweep and run the cancel tasks against
    the stand-in over HTTP: the unpaid one is cancelled at Stripe and released, the paid
    one keeps its seats; its event, handled by the next worker, issues the tickets."""
    paid = checkout_two(engine, gateway, world, "k1")
    unpaid = checkout_two(engine, gateway, world, "k2")
    gateway.account.succeed(paid.payment_intent_id)
    ended = _hold_ended(engine, paid.order_id, timedelta(minutes=1))
    _hold_ended(engine, unpaid.order_id, timedelta(minutes=1))
    for _ in range(3):  # the sweep, then its tasks (due at once: usually the same run)
        _worker_once(db_url, gateway.account.url)
        if gateway.intents[unpaid.payment_intent_id].status == "canceled":
            break
    assert gateway.intents[unpaid.payment_intent_id].status == "canceled"
    assert gateway.intents[paid.payment_intent_id].status == "succeeded"
    # The type's seats: the paid order's two still held.
    assert _end_state(engine, world, unpaid) == dataclasses.replace(UNPAID, held_sold=(2, 0))
    with engine.connect() as conn:
        assert tk.get_order(conn, paid.order_id).status == "awaiting_payment"
        assert set(statuses(conn, paid.order_id)) == {"held"}
    store(engine, _succeeded(gateway, paid, ended - 30))
    _worker_once(db_url, gateway.account.url)
    state = _end_state(engine, world, paid)
    assert (state.status, state.tickets, state.held_sold, state.refunds) == (
        "paid",
        ("issued", "issued"),
        (0, 2),
        (),
    )
    _check_all(engine)


def test_the_workers_grace_setting_releases_what_stripe_never_confirmed(
    engine: sa.Engine, db_url: str, gateway: Gateway, world: World
) -> None:
    """Stripe unreachable from the worker (nothing listens at its address): the cancel task
    fails and the seats stay held; a worker whose grace (`LIVENTIX_CANCEL_GRACE`, seconds)
    has passed since the ask releases them anyway."""
    checkout = checkout_two(engine, gateway, world, "k1")
    _hold_ended(engine, checkout.order_id, timedelta(minutes=1))
    unreachable = "http://127.0.0.1:9"
    _worker_once(db_url, unreachable)  # the default grace (30 minutes): held
    with engine.connect() as conn:
        assert tk.get_order(conn, checkout.order_id).status == "awaiting_payment"
        assert tk.cancel_requested_at(conn, checkout.order_id) is not None
        attempts = conn.execute(
            sa.text("""SELECT d.attempts FROM messaging.deliveries d
                         JOIN messaging.messages m ON m.id = d.message_id
                        WHERE m.type = 'stripe.payment_intent.cancel.requested'""")
        ).scalar_one()
    assert attempts >= 1  # tried, failed: the outbox retries it later
    asked_ago(engine, checkout.order_id, timedelta(minutes=1))
    _worker_once(db_url, unreachable, LIVENTIX_CANCEL_GRACE="30")
    assert _end_state(engine, world, checkout) == UNPAID
    assert gateway.intents[checkout.payment_intent_id].status == "requires_payment_method"


# -- a checkout retried after the sweep (Review1's M1) --------------------------------------


def test_a_checkout_retried_after_the_sweep_asked_is_expired(
    engine: sa.Engine, world: World
) -> None:
    """The checkout crashed before recording its intent; its hold expired and the sweeper
    asked Stripe to cancel (the task not yet run, the seats held). The retry under the same
    key is told CheckoutExpired (as before cancel-first), whichever record statement runs,
    and the task then cancels the intent (found again by its key) and releases."""
    crashing = CrashAfterStripe()
    with pytest.raises(RuntimeError):
        tk.start_checkout(engine, crashing, request(world, "k1", (2,)))
    with engine.connect() as conn:
        (order_id,) = conn.execute(sa.text("SELECT id FROM ticketing.orders")).scalars().all()
    _hold_ended(engine, order_id, timedelta(minutes=1))
    assert sweep_alone(engine) == 1
    (pi,) = crashing.intents
    secret = crashing.intents[pi].client_secret
    # The record statements, each on the swept order: none records it as a live checkout.
    assert not tk_store.checkout.record_now(engine, order_id, world.org, pi, secret)
    with engine.begin() as conn:
        row = tk_store.checkout.record_intent(conn, order_id, pi, secret)
        assert row.cancel_requested_at is not None
        conn.rollback()
    with pytest.raises(tk.CheckoutExpired):
        tk.start_checkout(engine, crashing, request(world, "k1", (2,)))
    assert run_cancel_tasks(engine, crashing.stripe) == 1
    assert crashing.intents[pi].status == "canceled"
    with engine.connect() as conn:
        order = tk.get_order(conn, order_id)
        assert (order.status, order.cancel_reason) == ("cancelled", "hold expired")
        assert set(statuses(conn, order_id)) == {"released"}


def test_a_recorded_checkout_replays_after_the_sweep(
    engine: sa.Engine, gateway: Gateway, world: World
) -> None:
    """Promise 5: a checkout whose intent was recorded replays its first answer under its
    key, swept or not."""
    first = checkout_two(engine, gateway, world, "k1")
    _hold_ended(engine, first.order_id, timedelta(minutes=1))
    assert sweep_alone(engine) == 1
    again = checkout_two(engine, gateway, world, "k1")
    assert again.replayed
    assert (again.order_id, again.payment_intent_id, again.client_secret) == (
        first.order_id,
        first.payment_intent_id,
        first.client_secret,
    )


def test_the_clis_sweep_reads_the_grace_setting(
    engine: sa.Engine, db_url: str, gateway: Gateway, world: World
) -> None:
    """`liventix tickets expire-holds` (Review1's L2): an order asked about a minute ago and
    never answered is held under the default grace, released (and asked again) under
    `LIVENTIX_CANCEL_GRACE=30`."""
    checkout = checkout_two(engine, gateway, world, "k1")
    _hold_ended(engine, checkout.order_id, timedelta(minutes=2))
    assert sweep_alone(engine) == 1
    asked_ago(engine, checkout.order_id, timedelta(minutes=1))
    url = gateway.account.url
    assert "swept 0 order(s)" in _liventix(db_url, url, "tickets", "expire-holds")
    with engine.connect() as conn:
        assert tk.get_order(conn, checkout.order_id).status == "awaiting_payment"
    out = _liventix(db_url, url, "tickets", "expire-holds", LIVENTIX_CANCEL_GRACE="30")
    assert "swept 1 order(s)" in out
    assert _end_state(engine, world, checkout) == UNPAID
    with engine.connect() as conn:
        assert len(cancel_tasks(conn, [checkout.order_id])) == 2

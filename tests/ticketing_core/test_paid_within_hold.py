"""A payment is judged against its order's hold by when the buyer paid (the Stripe event's
`created`), not by when the worker gets to the event: a backlog of payment events (an
on-sale's burst, a slow Stripe, Stripe's own retries) must not turn a payment made in time
into a refund. The product's sweeper leaves an expired hold for `PAYMENT_GRACE` before its
seats go back on sale; a payment for an order whose seats went back on sale, or made after
the hold, is refunded in full as before.
"""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
import sqlalchemy as sa

import escrow
import ticketing_fsm as tk
from liventix.testing.stripe import StripeObject
from liventix.wiring import periodic_step
from tests.ticketing_core.support import (
    Gateway,
    World,
    captured,
    counters,
    drain,
    messages,
    open_world,
    payment_intent,
    refund_requests,
    request,
    statuses,
    store,
    stripe_event,
    ticketing_handlers,
)


@pytest.fixture
def gateway() -> Gateway:
    return Gateway()


@pytest.fixture
def world(engine: sa.Engine) -> World:
    """An organizer's event with one ticket type of 5 seats at 25.00."""
    with engine.begin() as conn:
        return open_world(conn, capacities=(5,), prices=(2_500,))


def _checkout(engine: sa.Engine, gateway: Gateway, world: World, key: str) -> tk.Checkout:
    return tk.start_checkout(engine, gateway, request(world, key, (2,)))


def _hold_ended(engine: sa.Engine, order_id: uuid.UUID, ago: timedelta) -> int:
    """Move the order's hold's end `ago` into the past; returns that end (Unix seconds)."""
    with engine.begin() as conn:
        ended = conn.execute(
            sa.text("""UPDATE ticketing.orders SET hold_expires_at = now() - :ago
                        WHERE id = :id
                    RETURNING floor(extract(epoch FROM hold_expires_at))::bigint"""),
            {"id": order_id, "ago": ago},
        ).scalar_one()
    return int(ended)


def _succeeded(gateway: Gateway, checkout: tk.Checkout, created: int) -> StripeObject:
    """`payment_intent.succeeded` for the checkout's intent, created by Stripe at `created`."""
    intent = payment_intent(gateway.intents[checkout.payment_intent_id], "succeeded")
    return {**stripe_event("payment_intent.succeeded", intent), "created": created}


def _order(engine: sa.Engine, order_id: uuid.UUID) -> tk.Order:
    with engine.connect() as conn:
        return tk.get_order(conn, order_id)


def test_a_payment_made_within_the_hold_and_handled_after_it_issues_the_tickets(
    engine: sa.Engine, gateway: Gateway, world: World
) -> None:
    handlers = ticketing_handlers(gateway)
    checkout = _checkout(engine, gateway, world, "k1")
    ended = _hold_ended(engine, checkout.order_id, timedelta(minutes=1))
    # Paid 30 s before the hold ended; the worker gets to it a minute after (a backlog).
    event = _succeeded(gateway, checkout, ended - 30)
    store(engine, event)
    store(engine, {**event, "id": f"{event['id']}-again"})  # Stripe delivers it twice
    assert drain(engine, handlers) == ["handled", "handled"]
    order = _order(engine, checkout.order_id)
    assert (order.status, order.paid, order.refunded) == ("paid", 5_000, 0)
    with engine.connect() as conn:
        assert set(statuses(conn, checkout.order_id)) == {"issued"}
        assert len(messages(conn, "ticket.issued")) == 2
        assert refund_requests(conn) == []
        assert (counters(conn, world.ga).held, counters(conn, world.ga).sold) == (0, 2)


def test_a_payment_made_after_the_hold_is_refunded_even_when_handled_at_once(
    engine: sa.Engine, gateway: Gateway, world: World
) -> None:
    handlers = ticketing_handlers(gateway)
    checkout = _checkout(engine, gateway, world, "k1")
    ended = _hold_ended(engine, checkout.order_id, timedelta(minutes=1))
    store(engine, _succeeded(gateway, checkout, ended + 30))
    assert drain(engine, handlers) == ["handled"]
    order = _order(engine, checkout.order_id)
    assert (order.status, order.paid) == ("cancelled", 5_000)
    with engine.connect() as conn:
        (task,) = [r for _, r in refund_requests(conn)]
        assert (task.amount, task.reason) == (5_000, "late payment")
        assert messages(conn, "ticket.issued") == []


def test_the_long_way_judges_the_payment_by_when_it_was_made_too(
    engine: sa.Engine, gateway: Gateway, world: World
) -> None:
    """`payment_succeeded` (the order by its id: the long way's statements) with the
    payment's time: in time issues, late refunds."""
    in_time = _checkout(engine, gateway, world, "k1")
    late = _checkout(engine, gateway, world, "k2")
    ended = {c: _hold_ended(engine, c.order_id, timedelta(minutes=1)) for c in (in_time, late)}
    with engine.begin() as conn:
        for cause, checkout, offset, outcome in (
            ("evt-in-time", in_time, -1, "issued"),
            ("evt-late", late, 1, "refunded"),
        ):
            escrow.capture_payment(conn, captured(world, checkout), cause=cause)
            paid_at = conn.execute(
                sa.text("SELECT to_timestamp(:t)"), {"t": ended[checkout] + offset}
            ).scalar_one()
            result = tk.payment_succeeded(conn, checkout.order_id, cause=cause, paid_at=paid_at)
            assert result == outcome
    assert _order(engine, in_time.order_id).status == "paid"
    assert _order(engine, late.order_id).status == "cancelled"


def test_a_payment_made_in_time_for_seats_already_back_on_sale_is_refunded(
    engine: sa.Engine, gateway: Gateway, world: World
) -> None:
    handlers = ticketing_handlers(gateway)
    checkout = _checkout(engine, gateway, world, "k1")
    ended = _hold_ended(engine, checkout.order_id, timedelta(minutes=5))
    with engine.begin() as conn:
        assert tk.expire_holds(conn, grace=tk.PAYMENT_GRACE) == 1
    store(engine, _succeeded(gateway, checkout, ended - 30))
    assert drain(engine, handlers) == ["handled"]
    assert _order(engine, checkout.order_id).status == "cancelled"
    with engine.connect() as conn:
        (task,) = [r for _, r in refund_requests(conn)]
        assert task.reason == "late payment"


def test_the_sweeper_leaves_a_hold_for_the_grace_before_its_seats_go_back_on_sale(
    engine: sa.Engine, gateway: Gateway, world: World
) -> None:
    within = _checkout(engine, gateway, world, "k1")
    past = _checkout(engine, gateway, world, "k2")
    _hold_ended(engine, within.order_id, tk.PAYMENT_GRACE / 2)
    _hold_ended(engine, past.order_id, tk.PAYMENT_GRACE + timedelta(seconds=30))
    with engine.begin() as conn:
        assert tk.expire_holds(conn, grace=tk.PAYMENT_GRACE) == 1
    assert _order(engine, within.order_id).status == "awaiting_payment"
    assert _order(engine, past.order_id).status == "cancelled"
    # Without a grace (a caller's own sweep, as the tests and tools run it) it goes at once.
    with engine.begin() as conn:
        assert tk.expire_holds(conn) == 1
    assert _order(engine, within.order_id).status == "cancelled"


def test_the_workers_periodic_step_sweeps_with_the_grace(
    engine: sa.Engine, gateway: Gateway, world: World
) -> None:
    within = _checkout(engine, gateway, world, "k1")
    past = _checkout(engine, gateway, world, "k2")
    _hold_ended(engine, within.order_id, tk.PAYMENT_GRACE / 2)
    _hold_ended(engine, past.order_id, tk.PAYMENT_GRACE + timedelta(seconds=30))
    periodic_step(engine)()
    assert _order(engine, within.order_id).status == "awaiting_payment"
    assert _order(engine, past.order_id).status == "cancelled"

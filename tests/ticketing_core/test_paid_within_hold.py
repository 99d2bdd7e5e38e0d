"""A payment is judged against its order's hold by when the buyer paid (the Stripe event's
`created`), not by when the worker gets to the event: a backlog of payment events (an
on-sale's burst behind a slow Stripe) must not turn a payment made in time into a refund
while the order still holds its seats. A payment for an order whose seats went back on sale,
or made after the hold, is refunded in full as before; a `created` no payment of the order
can have (before the order was made, after the moment it is handled) is not taken.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

import escrow
import ticketing_fsm as tk
from liventix.testing.stripe import StripeObject
from tests.ticketing_core.cancels import asked_ago
from tests.ticketing_core.support import (
    Gateway,
    World,
    captured,
    checkout_two,
    counters,
    drain,
    messages,
    open_world,
    payment_intent,
    refund_requests,
    statuses,
    store,
    stripe_event,
    ticketing_handlers,
)
from ticketing_fsm import store as tk_store


@pytest.fixture
def world(engine: sa.Engine) -> World:
    """An organizer's event with one ticket type of 5 seats at 25.00."""
    with engine.begin() as conn:
        return open_world(conn, capacities=(5,), prices=(2_500,))


def _hold_ended(engine: sa.Engine, order_id: uuid.UUID, ago: timedelta) -> int:
    """Move the order's hold `ago` into the past (made the hold's length before its end);
    returns that end (Unix seconds)."""
    with engine.begin() as conn:
        ended = conn.execute(
            sa.text("""UPDATE ticketing.orders
                          SET hold_expires_at = now() - :ago,
                              created_at = now() - :ago - (hold_expires_at - created_at)
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
    checkout = checkout_two(engine, gateway, world, "k1")
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
    checkout = checkout_two(engine, gateway, world, "k1")
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
    in_time = checkout_two(engine, gateway, world, "k1")
    late = checkout_two(engine, gateway, world, "k2")
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
    checkout = checkout_two(engine, gateway, world, "k1")
    ended = _hold_ended(engine, checkout.order_id, timedelta(minutes=1))
    # Stripe never answered the cancellation (unreachable): the grace released the seats.
    with engine.begin() as conn:
        assert tk.expire_holds(conn, grace=timedelta(seconds=30)) == 1  # asked
    asked_ago(engine, checkout.order_id, timedelta(minutes=1))
    with engine.begin() as conn:
        assert tk.expire_holds(conn, grace=timedelta(seconds=30)) == 1  # released
    assert gateway.intents[checkout.payment_intent_id].status == "requires_payment_method"
    with engine.connect() as conn:
        assert set(statuses(conn, checkout.order_id)) == {"released"}
    store(engine, _succeeded(gateway, checkout, ended - 30))
    assert drain(engine, handlers) == ["handled"]
    assert _order(engine, checkout.order_id).status == "cancelled"
    with engine.connect() as conn:
        (task,) = [r for _, r in refund_requests(conn)]
        assert task.reason == "late payment"


def test_the_long_ways_read_judges_the_hold_by_the_payments_time(
    engine: sa.Engine, gateway: Gateway, world: World
) -> None:
    """`store.orders.paying_order` (what the long way decides on when the one statement
    paid nothing): expired or not by `paid_at`, now for none or one no payment can have."""
    checkout = checkout_two(engine, gateway, world, "k1")
    ended = _hold_ended(engine, checkout.order_id, timedelta(minutes=1))
    with engine.begin() as conn:
        created = conn.execute(
            sa.text(
                "SELECT floor(extract(epoch FROM created_at))::bigint FROM ticketing.orders"
                " WHERE id = :id"
            ),
            {"id": checkout.order_id},
        ).scalar_one()

        def expired(at: int | None) -> bool:
            paid_at = None if at is None else datetime.fromtimestamp(at, UTC)
            found = tk_store.orders.paying_order(conn, checkout.order_id, paid_at)
            assert found is not None
            return found[1]

        assert expired(ended - 1) is False
        assert expired(ended + 1) is True
        assert expired(None) is True  # judged now: a minute after the hold
        assert expired(created - 3600) is True  # before the order was made: now
        assert expired(ended + 86_400 * 365) is True  # after now: now


@pytest.mark.parametrize("created", [0, -1, "before"], ids=["zero", "negative", "before-order"])
def test_a_created_no_payment_of_the_order_can_have_is_judged_when_handled(
    engine: sa.Engine, gateway: Gateway, world: World, created: object
) -> None:
    """Through the inbox and the payment's one statement: a time before the order was made
    (0, a negative one, an hour before) does not make an expired hold's payment in time."""
    handlers = ticketing_handlers(gateway)
    checkout = checkout_two(engine, gateway, world, "k1")
    ended = _hold_ended(engine, checkout.order_id, timedelta(minutes=1))
    at = ended - 7_200 if created == "before" else created
    store(engine, _succeeded(gateway, checkout, int(str(at))))
    assert drain(engine, handlers) == ["handled"]
    assert _order(engine, checkout.order_id).status == "cancelled"


def test_a_created_after_the_moment_it_is_handled_is_judged_when_handled(
    engine: sa.Engine, gateway: Gateway, world: World
) -> None:
    """A time in the future (no payment can have it) does not refund a payment handled
    within its hold."""
    handlers = ticketing_handlers(gateway)
    checkout = checkout_two(engine, gateway, world, "k1")
    store(engine, _succeeded(gateway, checkout, int(checkout.hold_expires_at.timestamp()) + 86_400))
    assert drain(engine, handlers) == ["handled"]
    assert _order(engine, checkout.order_id).status == "paid"

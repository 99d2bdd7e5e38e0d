"""A checkout is recorded only while its hold runs, by the database's clock (issue 11, Review2's
L5 of session 38). A checkout retried under its key after its hold expired, before the sweeper
ran, and a first checkout whose Stripe call outlasted the hold, record nothing and are told
CheckoutExpired (before: recorded, answered with a client secret for an expired hold, the seats
held; a payment then judged late and refunded). Their intent, made at Stripe and never
recorded, is the sweeper's: cancel first finds it again by its creation request and the seats
go on Stripe's word. A checkout recorded in time replays its first answer under its key after
its hold expired (promise 5), and so does a racing attempt that records the same intent again.

Against the Stripe stand-in over HTTP (the application's gateway), the sweeper's task the
application's own (`tests.ticketing_core.cancels.sweep`).
"""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa

import ticketing_fsm as tk
from tests.ticketing_core.cancels import sweep
from tests.ticketing_core.support import (
    CrashAfterStripe,
    Gateway,
    World,
    request,
    statuses,
)
from tests.ticketing_core.test_paid_within_hold import _hold_ended
from ticketing_fsm import store as tk_store


def _only_order(engine: sa.Engine) -> sa.Row[tuple[object, ...]]:
    with engine.connect() as conn:
        return conn.execute(
            sa.text("SELECT id, payment_intent_id, client_secret, status FROM ticketing.orders")
        ).one()


def _released_by_the_sweep(engine: sa.Engine, gateway: Gateway, world: World) -> None:
    """The sweeper (cancel first) finds the never-recorded intent by its creation request,
    Stripe cancels it, and the order's seats go."""
    order = _only_order(engine)
    assert order.payment_intent_id is None
    assert sweep(engine, gateway.stripe) == 1
    (intent,) = gateway.intents.values()
    assert intent.status == "canceled"
    with engine.connect() as conn:
        got = tk.get_order(conn, order.id)
        assert (got.status, got.cancel_reason) == ("cancelled", "hold expired")
        assert set(statuses(conn, order.id)) == {"released"}


def test_a_retry_after_the_hold_expired_before_the_sweep_is_expired(
    engine: sa.Engine, world: World
) -> None:
    crashing = CrashAfterStripe()
    with pytest.raises(RuntimeError):
        tk.start_checkout(engine, crashing, request(world, "k1", (2,)))
    order_id = _only_order(engine).id
    _hold_ended(engine, order_id, timedelta(seconds=5))
    (pi,) = crashing.intents
    secret = crashing.intents[pi].client_secret
    # Each record statement on the expired, unswept order: none records it.
    assert not tk_store.checkout.record_now(engine, order_id, world.org, pi, secret)
    with engine.begin() as conn:
        row = tk_store.checkout.record_intent(conn, order_id, pi, secret)
        assert (row.cancel_requested_at, row.late) == (None, True)
        conn.rollback()
    for _ in range(2):
        with pytest.raises(tk.CheckoutExpired):
            tk.start_checkout(engine, crashing, request(world, "k1", (2,)))
    assert _only_order(engine).payment_intent_id is None
    _released_by_the_sweep(engine, crashing, world)


def test_a_first_checkout_whose_stripe_call_outlasts_the_hold_is_expired(
    engine: sa.Engine, world: World
) -> None:
    """The stand-in answers after a second; the hold lasts a fifth of that."""
    slow = Gateway(delay=1.0)
    with pytest.raises(tk.CheckoutExpired):
        tk.start_checkout(engine, slow, request(world, "k1", (2,)), hold=timedelta(seconds=0.2))
    assert len(slow.intents) == 1  # Stripe made it; nobody was given its client secret
    assert _only_order(engine).payment_intent_id is None
    _released_by_the_sweep(engine, slow, world)


def test_a_recorded_checkout_replays_after_its_hold_expired(
    engine: sa.Engine, world: World
) -> None:
    """Promise 5: the first answer, replayed under the key, before the sweep; a racing
    attempt's record of the same intent after the expiry is no late record either."""
    gateway = Gateway()
    first = tk.start_checkout(engine, gateway, request(world, "k1", (2,)))
    _hold_ended(engine, first.order_id, timedelta(seconds=5))
    again = tk.start_checkout(engine, gateway, request(world, "k1", (2,)))
    assert again.replayed
    assert (again.order_id, again.payment_intent_id, again.client_secret) == (
        first.order_id,
        first.payment_intent_id,
        first.client_secret,
    )
    with engine.begin() as conn:
        pending = tk.PendingCheckout(
            order_id=first.order_id,
            amount=first.amount,
            currency=first.currency,
            hold_expires_at=first.hold_expires_at,
            intent=tk.IntentRequest(  # unused by the record
                amount=first.amount,
                currency=first.currency,
                metadata={},
                idempotency_key="k1",
            ),
        )
        made = tk.CreatedIntent(first.payment_intent_id, first.client_secret)
        recorded = tk.record_payment_intent(conn, pending, made)
    assert (recorded.payment_intent_id, recorded.client_secret) == (
        first.payment_intent_id,
        first.client_secret,
    )

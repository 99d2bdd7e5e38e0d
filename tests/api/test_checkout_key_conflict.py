"""Review F3: after a lost hold (nothing stored under the key), a retry under the same key
with another body, or with the same body once the ticket's price changed, holds again and
asks Stripe under the same Stripe idempotency key (`checkout:{org}:{key}`) with other
parameters. Stripe refuses that (its `idempotency_error`); the API answers the conflict it
answers for a key reused with another body (409 `idempotency-key-reused`), saying why, and
neither 502 nor a 503 that a retry can never get past.

Over HTTP against the real API, PostgreSQL and the Stripe stand-in; the hold is lost as in
tests/api/test_checkout_hold_lost.py (removed by the database's owner while Stripe is
asked). The expiry of the order Stripe never answered asks Stripe to cancel nothing.
"""

from __future__ import annotations

import uuid

import httpx
import pytest
import sqlalchemy as sa
import stripe

import ticketing_fsm as tk
from liventix.wiring import cancel_intent_task
from tests.api import test_checkout_hold_lost as hold_lost
from tests.api.support import on_sale_event
from tests.api.test_checkout_hold_lost import World, _order_row, _stored_answers, _type_counts

world = hold_lost.world  # the fixture: an API whose gateway can lose the hold

REUSED = "https://liventix.dev/problems/idempotency-key-reused"


def _client(world: World) -> httpx.Client:
    return httpx.Client(
        base_url=world.api, headers={"Authorization": f"Bearer {world.key}"}, timeout=60
    )


def _body(event: dict[str, object], type_id: str, quantity: int) -> dict[str, object]:
    return {
        "event_id": event["id"],
        "buyer_email": "ann@example.com",
        "items": [{"ticket_type_id": type_id, "quantity": quantity}],
    }


def _lose_first_hold(client: httpx.Client, world: World, body: dict[str, object], key: str) -> str:
    """The first attempt under `key`: Stripe made its PaymentIntent, the hold was lost (503)."""
    world.gateway.lose = True
    lost = client.post("/v1/checkouts", json=body, headers={"Idempotency-Key": key})
    world.gateway.lose = False
    assert lost.status_code == 503, lost.text
    assert lost.json()["type"] == "https://liventix.dev/problems/checkout-interrupted"
    assert len(world.gateway.intents) == 1
    order_id: str = lost.json()["order_id"]
    return order_id


def test_a_retry_with_another_body_after_a_lost_hold_is_a_409_conflict(world: World) -> None:
    with _client(world) as client:
        event = on_sale_event(client, capacity=5)
        type_id = event["ticket_types"][0]["id"]
        order_id = _lose_first_hold(client, world, _body(event, type_id, 2), "f3-body")

        other = _body(event, type_id, 1)
        for _ in range(2):  # the same answer every time, not a 503 to retry forever
            refused = client.post(
                "/v1/checkouts", json=other, headers={"Idempotency-Key": "f3-body"}
            )
            assert refused.status_code == 409, refused.text
            problem = refused.json()
            assert problem["type"] == REUSED
            assert "other parameters" in problem["detail"], problem
            assert "Retry-After" not in refused.headers
        # Stripe was asked and refused: no second intent; nothing stored under the key.
        assert len(world.gateway.intents) == 1
        assert _stored_answers(world.owner, "f3-body") == 0
        # The retry's hold is the key's order (its id from the key), with no PaymentIntent.
        row = _order_row(world.owner, order_id)
        assert row is not None and (row.status, row.payment_intent_id) == (
            "awaiting_payment",
            None,
        )
        assert _type_counts(world.owner, type_id) == (1, 0)

        # The first body now meets that order under the key: the API's own conflict.
        first = client.post(
            "/v1/checkouts", json=_body(event, type_id, 2), headers={"Idempotency-Key": "f3-body"}
        )
        assert first.status_code == 409, first.text
        assert first.json()["type"] == REUSED

        # A new key buys as usual.
        fresh = client.post("/v1/checkouts", json=other, headers={"Idempotency-Key": "f3-new"})
        assert fresh.status_code == 201, fresh.text

    # The refused order expires; the cancellation its expiry asks for finds no intent of its
    # parameters at Stripe (the key's is the lost hold's, never recorded nor given out) and
    # ends without asking Stripe anything more.
    with world.owner.begin() as conn:
        conn.execute(
            sa.text("""UPDATE ticketing.orders SET hold_expires_at = now() - interval '1 minute'
                        WHERE id = :id"""),
            {"id": order_id},
        )
        assert tk.expire_holds(conn) == 1
    with world.owner.connect() as conn:
        message_id, payload = conn.execute(
            sa.text("""SELECT id, payload FROM messaging.messages
                        WHERE type = 'stripe.payment_intent.cancel.requested'
                          AND aggregate_id = :id"""),
            {"id": order_id},
        ).one()
    assert payload["payment_intent_id"] is None
    cancel_intent_task(world.owner, world.gateway.inner)(str(message_id), payload)
    assert _type_counts(world.owner, type_id) == (1, 0)  # only the new key's seat is held


def test_the_same_body_after_a_price_change_is_a_409_conflict(world: World) -> None:
    """The retry is the same request, but the hold prices it anew: Stripe is asked another
    amount under the key."""
    with _client(world) as client:
        event = on_sale_event(client, capacity=5)
        type_id = event["ticket_types"][0]["id"]
        body = _body(event, type_id, 2)
        order_id = _lose_first_hold(client, world, body, "f3-price")
        with world.owner.begin() as conn:
            conn.execute(
                sa.text("UPDATE ticketing.ticket_types SET price = price + 100 WHERE id = :id"),
                {"id": type_id},
            )
        refused = client.post("/v1/checkouts", json=body, headers={"Idempotency-Key": "f3-price"})
        assert refused.status_code == 409, refused.text
        assert refused.json()["type"] == REUSED
        assert len(world.gateway.intents) == 1
        row = _order_row(world.owner, order_id)
        assert row is not None and row.payment_intent_id is None


def test_the_stand_in_refuses_a_reused_key_with_other_parameters_as_stripe_does(
    world: World,
) -> None:
    """The stand-in's refusal is Stripe's: a 400 `idempotency_error`, which the library
    raises as `stripe.IdempotencyError`; the same parameters get the same intent."""
    gateway = world.gateway.inner
    key = f"checkout:{uuid.uuid4()}:k"
    meta = {"order_id": str(uuid.uuid4())}
    first = gateway.create_payment_intent(2_500, "EUR", meta, key)
    assert gateway.create_payment_intent(2_500, "EUR", meta, key) == first
    for amount, metadata in ((2_600, meta), (2_500, {"order_id": str(uuid.uuid4())})):
        with pytest.raises(stripe.IdempotencyError) as refused:
            gateway.create_payment_intent(amount, "EUR", metadata, key)
        assert refused.value.http_status == 400
        assert key in str(refused.value)

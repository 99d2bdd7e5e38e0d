"""A checkout retried over HTTP under its key after the hold sweeper asked Stripe to cancel its
intent (session 38, cancel first): the checkout crashed after Stripe made its intent (never
recorded), the hold expired, the sweeper marked the order (its seats still held). Every retry
answers 409 checkout-expired and records nothing, whichever record statement the API sends (the
first retry the long way, the later ones `RECORD_AWAITING`'s prepared twin): with the guard
`cancel_requested_at IS NULL` taken out of the `_AWAITING` record statements the API answered 201
with a client secret for an expired hold (Review2 of session 38)."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
import sqlalchemy as sa

import ticketing_fsm as tk
from liventix.stripe_gateway import StripeGateway
from tests.api.support import GatewayApi, gateway_api, on_sale_event
from tests.api.test_checkout_retry_after_expiry import Expiring, _crashed, _expired

World = GatewayApi[Expiring]
"""The API whose gateway fails once after Stripe's answer, its key, and the owner's engine."""


@pytest.fixture
def world(pg_server_url: str, template_db: str) -> Iterator[World]:
    def crash_once(real: StripeGateway, owner: sa.Engine) -> Expiring:
        return Expiring(real, owner, crash_once=True)

    with gateway_api(pg_server_url, template_db, "retry_asked", crash_once) as made:
        yield made


def test_an_api_retry_after_the_sweep_asked_is_expired(world: World) -> None:
    with httpx.Client(
        base_url=world.api, headers={"Authorization": f"Bearer {world.key}"}, timeout=60
    ) as client:
        event = on_sale_event(client, capacity=3)
        type_id = event["ticket_types"][0]["id"]
        body = {
            "event_id": event["id"],
            "buyer_email": "ann@example.com",
            "items": [{"ticket_type_id": type_id, "quantity": 2}],
        }
        headers = {"Idempotency-Key": "r2-1"}
        _crashed(client, body, headers)
        with world.owner.begin() as conn:
            conn.execute(
                sa.text("UPDATE ticketing.orders SET hold_expires_at = now() - interval '1 minute'")
            )
        with world.owner.begin() as conn:
            assert tk.expire_holds(conn) == 1
        # retries: the first may take the long way, the later ones the prepared statements
        for _ in range(3):
            _expired(client.post("/v1/checkouts", json=body, headers=headers))
        with world.owner.connect() as conn:
            pi = conn.execute(
                sa.text("SELECT payment_intent_id FROM ticketing.orders")
            ).scalar_one()
        assert pi is None

"""A checkout retried over HTTP under its key after the hold sweeper asked Stripe to cancel its
intent (session 38, cancel first): the checkout crashed after Stripe made its intent (never
recorded), the hold expired, the sweeper marked the order (its seats still held). Every retry
answers 409 checkout-expired and records nothing, whichever record statement the API sends (the
first retry the long way, the later ones `RECORD_AWAITING`'s prepared twin): with the guard
`cancel_requested_at IS NULL` taken out of the `_AWAITING` record statements the API answered 201
with a client secret for an expired hold (Review2 of session 38)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

import httpx
import pytest
import sqlalchemy as sa

import ticketing_fsm as tk
from liventix.stripe_gateway import StripeGateway
from tests.api.support import GatewayApi, gateway_api, on_sale_event


@dataclass
class CrashOnce:
    """The stand-in's gateway, failing once after Stripe made the intent."""

    inner: StripeGateway
    owner: sa.Engine
    crash: bool = True
    intents: list[str] = field(default_factory=list)

    def create_payment_intent(
        self, amount: int, currency: str, metadata: dict[str, str], idempotency_key: str
    ) -> tk.CreatedIntent:
        """The real gateway's intent; the first call then fails, as a crash after Stripe's
        answer and before the record would."""
        made = self.inner.create_payment_intent(amount, currency, metadata, idempotency_key)
        self.intents.append(made.payment_intent_id)
        if self.crash:
            self.crash = False
            raise RuntimeError("crash between Stripe's answer and the record")
        return made

    def create_refund(
        self, payment_intent_id: str, amount: int, metadata: dict[str, str], idempotency_key: str
    ) -> str:
        """Refunds go straight to Stripe."""
        return self.inner.create_refund(payment_intent_id, amount, metadata, idempotency_key)


World = GatewayApi[CrashOnce]
"""The API whose gateway fails once after Stripe's answer, its key, and the owner's engine."""


@pytest.fixture
def world(pg_server_url: str, template_db: str) -> Iterator[World]:
    with gateway_api(pg_server_url, template_db, "retry_asked", CrashOnce) as made:
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
        try:
            first = client.post("/v1/checkouts", json=body, headers=headers)
            assert first.status_code >= 500, first.text
        except httpx.HTTPError:
            pass
        with world.owner.begin() as conn:
            conn.execute(
                sa.text("UPDATE ticketing.orders SET hold_expires_at = now() - interval '1 minute'")
            )
        with world.owner.begin() as conn:
            assert tk.expire_holds(conn) == 1
        # retries: the first may take the long way, the later ones the prepared statements
        for _ in range(3):
            again = client.post("/v1/checkouts", json=body, headers=headers)
            assert again.status_code == 409, again.text
            assert again.json()["type"].endswith("checkout-expired"), again.text
        with world.owner.connect() as conn:
            pi = conn.execute(
                sa.text("SELECT payment_intent_id FROM ticketing.orders")
            ).scalar_one()
        assert pi is None

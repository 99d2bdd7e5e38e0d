"""A checkout that meets a busy Stripe (its 429, or this process's budget: `StripeBusy`) is told
503 with the wait Stripe or the budget said, rounded up, not a fixed second (Review3's L4,
session 39): a client retrying at once would only meet the limit again. Nothing is stored
under the key, so a retry with it does the work."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest
import sqlalchemy as sa

import ticketing_fsm as tk
from liventix.stripe_gateway import StripeBusy, StripeGateway
from tests.api.support import GatewayApi, gateway_api, on_sale_event


@dataclass
class BusyGateway:
    """The real gateway; while `busy` is set, Stripe says it is busy for that many seconds."""

    inner: StripeGateway
    busy: float | None = None

    def create_payment_intent(
        self, amount: int, currency: str, metadata: dict[str, str], idempotency_key: str
    ) -> tk.CreatedIntent:
        """Busy if asked, else Stripe."""
        if self.busy is not None:
            raise StripeBusy("Stripe is busy (rate_limit)", retry_after=self.busy)
        return self.inner.create_payment_intent(amount, currency, metadata, idempotency_key)

    def create_refund(
        self, payment_intent_id: str, amount: int, metadata: dict[str, str], idempotency_key: str
    ) -> str:
        """Refunds go straight to Stripe."""
        return self.inner.create_refund(payment_intent_id, amount, metadata, idempotency_key)


World = GatewayApi[BusyGateway]


@pytest.fixture
def world(pg_server_url: str, template_db: str) -> Iterator[World]:
    def around(real: StripeGateway, owner: sa.Engine) -> BusyGateway:
        return BusyGateway(real)

    with gateway_api(pg_server_url, template_db, "busy", around) as api:
        yield api


@pytest.mark.parametrize(("said", "told"), [(6.2, "7"), (0.3, "1"), (3600.0, "60")])
def test_a_busy_stripe_answers_503_with_its_wait(world: World, said: float, told: str) -> None:
    with httpx.Client(
        base_url=world.api, headers={"Authorization": f"Bearer {world.key}"}, timeout=60
    ) as client:
        event = on_sale_event(client, capacity=3)
        body = {
            "event_id": event["id"],
            "buyer_email": "ann@example.com",
            "items": [{"ticket_type_id": event["ticket_types"][0]["id"], "quantity": 1}],
        }
        headers = {"Idempotency-Key": f"busy-{said}"}
        world.gateway.busy = said
        busy = client.post("/v1/checkouts", json=body, headers=headers)
        assert busy.status_code == 503, busy.text
        assert busy.headers["Retry-After"] == told
        assert busy.json()["type"].endswith("/payment-provider-unavailable"), busy.text
        world.gateway.busy = None
        done = client.post("/v1/checkouts", json=body, headers=headers)
        assert done.status_code == 201, done.text

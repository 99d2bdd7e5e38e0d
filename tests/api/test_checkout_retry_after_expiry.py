"""Over HTTP, a checkout is recorded only while its hold runs (issue 11, Review2's L5 of session
38). A checkout retried under its key after its hold expired, the sweeper not yet run (the
first attempt crashed after Stripe made its intent), and a first checkout whose Stripe call
outlasted the hold, answer 409 checkout-expired and record nothing, whichever record statement
the API sends (the long way, `RECORD_AWAITING` or its prepared twin: the test runs with
each); before, they answered 201
with a client secret for an expired hold. The sweeper then asks Stripe to cancel the intent,
found again by its creation request, and the seats go on Stripe's word. A checkout recorded in
time replays its first answer under its key after its hold expired (promise 5)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

import ticketing_fsm as tk
from liventix.api import idempotency
from liventix.stripe_gateway import StripeGateway
from tests.api.support import GatewayApi, gateway_api, on_sale_event
from tests.ticketing_core.cancels import run_cancel_tasks

_HOLD_OVER = sa.text(
    "UPDATE ticketing.orders SET hold_expires_at = now() - interval '5 seconds'"
    " WHERE payment_intent_id IS NULL"
)


@dataclass
class Expiring:
    """The stand-in's gateway; `crash_once` fails the first call after Stripe made the intent
    (a crash before the record); `outlast` ends the order's hold while Stripe answers (a call
    that outlasts the hold)."""

    inner: StripeGateway
    owner: sa.Engine
    crash_once: bool = False
    outlast: bool = False
    intents: list[str] = field(default_factory=list)

    def create_payment_intent(
        self, amount: int, currency: str, metadata: dict[str, str], idempotency_key: str
    ) -> tk.CreatedIntent:
        """The real gateway's intent, after (or instead of) what the test asks for."""
        made = self.inner.create_payment_intent(amount, currency, metadata, idempotency_key)
        self.intents.append(made.payment_intent_id)
        if self.outlast:
            with self.owner.begin() as conn:
                conn.execute(_HOLD_OVER)
        if self.crash_once:
            self.crash_once = False
            raise RuntimeError("crash between Stripe's answer and the record")
        return made

    def create_refund(
        self, payment_intent_id: str, amount: int, metadata: dict[str, str], idempotency_key: str
    ) -> str:
        """Refunds go straight to Stripe."""
        return self.inner.create_refund(payment_intent_id, amount, metadata, idempotency_key)


World = GatewayApi[Expiring]


@pytest.fixture
def world(pg_server_url: str, template_db: str) -> Iterator[World]:
    with gateway_api(pg_server_url, template_db, "retry_expired", Expiring) as made:
        yield made


@pytest.fixture
def client(world: World) -> Iterator[httpx.Client]:
    headers = {"Authorization": f"Bearer {world.key}"}
    with httpx.Client(base_url=world.api, headers=headers, timeout=60) as made:
        yield made


def _body(client: httpx.Client) -> dict[str, Any]:
    event = on_sale_event(client, capacity=6)
    return {
        "event_id": event["id"],
        "buyer_email": "ann@example.com",
        "items": [{"ticket_type_id": event["ticket_types"][0]["id"], "quantity": 2}],
    }


def _expired(response: httpx.Response) -> None:
    assert response.status_code == 409, response.text
    assert response.json()["type"].endswith("checkout-expired"), response.text


def _crashed(client: httpx.Client, body: dict[str, Any], headers: dict[str, str]) -> None:
    """The first attempt, its gateway crashing after Stripe made the intent: a 5xx, or the
    connection lost."""
    try:
        first = client.post("/v1/checkouts", json=body, headers=headers)
        assert first.status_code >= 500, first.text
    except httpx.HTTPError:
        pass


def _swept_and_released(world: World, n: int = 1) -> None:
    """Nothing recorded on the expired orders; the sweeper's cancel finds each one's intent
    by its creation request, and their seats go on Stripe's word."""
    with world.owner.connect() as conn:
        ids = (
            conn.execute(sa.text("SELECT id FROM ticketing.orders WHERE payment_intent_id IS NULL"))
            .scalars()
            .all()
        )
    assert len(ids) == n
    with world.owner.begin() as conn:
        assert tk.expire_holds(conn) == n
    assert run_cancel_tasks(world.owner, world.gateway.inner) == n
    with world.owner.connect() as conn:
        for order_id in ids:
            order = tk.get_order(conn, order_id)
            assert (order.status, order.cancel_reason) == ("cancelled", "hold expired")


@pytest.mark.parametrize("form", ["prepared", "literal"])
def test_an_api_retry_after_the_hold_expired_before_the_sweep_is_expired(
    world: World, client: httpx.Client, form: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    if form == "literal":
        # The API keeps a prepared form for a few statement texts only, the others go as
        # literals (`RECORD_AWAITING`): with room for none, every record goes so.
        monkeypatch.setattr(idempotency, "_PREPARED_AFTER", {})
        monkeypatch.setattr(idempotency, "_MOST_PREPARED_AFTER", 0)
    body, headers = _body(client), {"Idempotency-Key": "exp-1"}
    world.gateway.crash_once = True
    _crashed(client, body, headers)
    with world.owner.begin() as conn:
        conn.execute(_HOLD_OVER)
    # retries: the first may take the long way, the later ones the prepared statements
    for _ in range(3):
        _expired(client.post("/v1/checkouts", json=body, headers=headers))
    assert len(set(world.gateway.intents)) == 1  # Stripe's one intent, by its key
    _swept_and_released(world)


def test_an_api_checkout_whose_stripe_call_outlasts_the_hold_is_expired(
    world: World, client: httpx.Client
) -> None:
    body = _body(client)
    # One checkout in time first (recorded, its hold running), so that the next ones may
    # take the prepared statements.
    done = client.post("/v1/checkouts", json=body, headers={"Idempotency-Key": "in-time"})
    assert done.status_code == 201, done.text
    world.gateway.outlast = True
    for key in ("slow-1", "slow-2"):
        one = {**body, "items": [{**body["items"][0], "quantity": 1}]}
        _expired(client.post("/v1/checkouts", json=one, headers={"Idempotency-Key": key}))
    assert len(set(world.gateway.intents)) == 3
    _swept_and_released(world, 2)


def test_an_api_checkout_recorded_in_time_replays_after_its_hold_expired(
    world: World, client: httpx.Client
) -> None:
    body, headers = _body(client), {"Idempotency-Key": "rec-1"}
    first = client.post("/v1/checkouts", json=body, headers=headers)
    assert first.status_code == 201, first.text
    with world.owner.begin() as conn:
        conn.execute(
            sa.text("UPDATE ticketing.orders SET hold_expires_at = now() - interval '5 seconds'")
        )
    again = client.post("/v1/checkouts", json=body, headers=headers)
    assert (again.status_code, again.json()) == (first.status_code, first.json())

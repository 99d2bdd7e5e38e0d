"""Review F1: the checkout's hold commits without waiting for the WAL flush, so a crash or a
failover between the hold and the record step can lose it. The record step then finds no
order: the buyer gets a typed 503 with `Retry-After` (`checkout-interrupted`, the order's
id), nothing is stored under the key, and a retry under the same key holds the seats again
and records the same PaymentIntent.

The loss is made as the crash makes it: the hold's whole transaction gone (its order, its
tickets and the ticket type's `held` counter), removed by the database's owner (no
row-level security, no API) at the moment Stripe is asked for the PaymentIntent, over HTTP
against the real API, PostgreSQL and the Stripe stand-in.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

import httpx
import pytest
import sqlalchemy as sa

import ticketing_fsm as tk
from liventix.stripe_gateway import StripeGateway
from tests.api.support import GatewayApi, gateway_api, on_sale_event


def lose_hold(engine: sa.Engine, order_id: str) -> int:
    """Undo the order's hold whole, as a crash before its commit reached the disk would:
    its tickets, the order and the seats it held. The number of seats it held."""
    with engine.begin() as conn:
        seats = conn.execute(
            sa.text("""DELETE FROM ticketing.tickets WHERE order_id = :id
                       RETURNING ticket_type_id"""),
            {"id": order_id},
        ).all()
        for (type_id,) in seats:
            conn.execute(
                sa.text("UPDATE ticketing.ticket_types SET held = held - 1 WHERE id = :id"),
                {"id": type_id},
            )
        gone = conn.execute(
            sa.text("DELETE FROM ticketing.orders WHERE id = :id"), {"id": order_id}
        ).rowcount
        assert gone == 1, "the hold was not committed when Stripe was asked"
    return len(seats)


@dataclass
class LosingGateway:
    """The real gateway; while `lose` is set, the order named by the PaymentIntent's
    metadata loses its hold just before Stripe is asked (the hold committed already)."""

    inner: StripeGateway
    owner: sa.Engine
    lose: bool = False
    lost: list[tuple[str, int]] = field(default_factory=list)
    intents: list[str] = field(default_factory=list)

    def create_payment_intent(
        self, amount: int, currency: str, metadata: dict[str, str], idempotency_key: str
    ) -> tk.CreatedIntent:
        """Lose the hold if asked, then ask Stripe."""
        if self.lose:
            order = metadata[tk.META_ORDER]
            self.lost.append((order, lose_hold(self.owner, order)))
        created = self.inner.create_payment_intent(amount, currency, metadata, idempotency_key)
        self.intents.append(created.payment_intent_id)
        return created

    def create_refund(
        self, payment_intent_id: str, amount: int, metadata: dict[str, str], idempotency_key: str
    ) -> str:
        """Refunds go straight to Stripe."""
        return self.inner.create_refund(payment_intent_id, amount, metadata, idempotency_key)


World = GatewayApi[LosingGateway]
"""The API whose gateway can lose the hold, its key, and the owner's engine."""


@pytest.fixture
def world(pg_server_url: str, template_db: str) -> Iterator[World]:
    """An API on a database of its own, Stripe the stand-in, the owner's engine beside it."""
    with gateway_api(pg_server_url, template_db, "hold_lost", LosingGateway) as made:
        yield made


def _type_counts(owner: sa.Engine, type_id: str) -> tuple[int, int]:
    with owner.connect() as conn:
        row = conn.execute(
            sa.text("SELECT held, sold FROM ticketing.ticket_types WHERE id = :id"),
            {"id": type_id},
        ).one()
    return int(row.held), int(row.sold)


def _order_row(owner: sa.Engine, order_id: str) -> sa.Row[tuple[str, str | None]] | None:
    with owner.connect() as conn:
        return conn.execute(
            sa.text("SELECT status, payment_intent_id FROM ticketing.orders WHERE id = :id"),
            {"id": order_id},
        ).first()


def _stored_answers(owner: sa.Engine, key: str) -> int:
    with owner.connect() as conn:
        return int(
            conn.execute(
                sa.text("SELECT count(*) FROM payments.api_idempotency WHERE key = :key"),
                {"key": key},
            ).scalar_one()
        )


def test_a_lost_hold_answers_503_and_a_retry_under_the_key_holds_again(world: World) -> None:
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
        headers = {"Idempotency-Key": "lost-1"}

        world.gateway.lose = True
        lost = client.post("/v1/checkouts", json=body, headers=headers)
        assert lost.status_code == 503, lost.text
        assert lost.headers["Retry-After"] == "1"
        problem = lost.json()
        assert problem["type"] == "https://liventix.dev/problems/checkout-interrupted"
        ((order_id, seats),) = world.gateway.lost
        assert (problem["order_id"], seats) == (order_id, 2)
        # Nothing recorded, nothing stored under the key, no seat held.
        assert _order_row(world.owner, order_id) is None
        assert _stored_answers(world.owner, "lost-1") == 0
        assert _type_counts(world.owner, type_id) == (0, 0)

        world.gateway.lose = False
        retried = client.post("/v1/checkouts", json=body, headers=headers)
        assert retried.status_code == 201, retried.text
        done = retried.json()
        # The same order id (from the key) and the PaymentIntent Stripe made the first time.
        assert done["order_id"] == order_id
        first_intent, second_intent = world.gateway.intents
        assert done["payment_intent_id"] == first_intent == second_intent
        row = _order_row(world.owner, order_id)
        assert row is not None
        assert (row.status, row.payment_intent_id) == ("awaiting_payment", first_intent)
        assert _type_counts(world.owner, type_id) == (2, 0)

        # A replay answers the stored 201 and asks Stripe nothing more.
        replay = client.post("/v1/checkouts", json=body, headers=headers)
        assert replay.status_code == 201
        assert replay.json()["payment_intent_id"] == first_intent
        assert len(world.gateway.intents) == 2


def test_a_lost_hold_whose_seats_went_meanwhile_is_refused_on_retry(world: World) -> None:
    """The retry holds again as a new checkout would: the seats the lost hold had are sold
    to someone else meanwhile, so the retry is refused (409, stored under the key)."""
    with httpx.Client(
        base_url=world.api, headers={"Authorization": f"Bearer {world.key}"}, timeout=60
    ) as client:
        event = on_sale_event(client, capacity=2)
        type_id = event["ticket_types"][0]["id"]

        def body(buyer: str) -> dict[str, object]:
            return {
                "event_id": event["id"],
                "buyer_email": buyer,
                "items": [{"ticket_type_id": type_id, "quantity": 2}],
            }

        world.gateway.lose = True
        lost = client.post(
            "/v1/checkouts", json=body("ann@example.com"), headers={"Idempotency-Key": "lost-2"}
        )
        assert lost.status_code == 503, lost.text
        world.gateway.lose = False
        other = client.post(
            "/v1/checkouts", json=body("bob@example.com"), headers={"Idempotency-Key": "other-2"}
        )
        assert other.status_code == 201, other.text
        retried = client.post(
            "/v1/checkouts", json=body("ann@example.com"), headers={"Idempotency-Key": "lost-2"}
        )
        assert retried.status_code == 409, retried.text
        assert retried.json()["type"] == "https://liventix.dev/problems/sold-out"
        assert _type_counts(world.owner, type_id) == (2, 0)

"""Promise 8 for the checkout over HTTP: while Stripe creates the PaymentIntent, the API holds
no transaction and no lock, and the hot ticket type's row can be locked by anyone.

The application's engine is watched by `Probe` (its sessions carry an application name of
their own); the gateway looks from another connection at the very moment Stripe is asked,
then calls the real stripe library against the product's stand-in over HTTP. On the former
checkout (the hold's transaction open across the call) the probe sees an open transaction
and the row locked.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field

import httpx
import pytest
import sqlalchemy as sa

import ledger
import outbox
import ticketing_fsm as tk
from liventix.api import create_app
from liventix.database import create_database, database_url, drop_database, make_engine
from liventix.stripe_gateway import StripeGateway, StripeSettings
from liventix.testing.stripe import StandInServer, StripeStandIn
from liventix.wiring import wire
from tests.api.support import PLATFORM, WEBHOOK_SECRET, new_org, on_sale_event, uvicorn_thread
from tests.outbox_core.no_transaction import Probe, Seen


@dataclass
class WatchingGateway:
    """The real gateway, looking at the API's sessions before each PaymentIntent."""

    inner: StripeGateway
    probe: Probe
    db_url: str
    ticket_type: str = ""
    seen: list[tuple[Seen, bool]] = field(default_factory=list)

    def row_lockable(self) -> bool:
        """The ticket type's row can be locked at once from another session."""
        engine = make_engine(self.db_url, pool_size=1, max_overflow=0)
        try:
            with engine.begin() as conn:
                conn.execute(sa.text("SET LOCAL lock_timeout = '50ms'"))
                conn.execute(
                    sa.text("SELECT 1 FROM ticketing.ticket_types WHERE id = :id FOR UPDATE"),
                    {"id": self.ticket_type},
                )
            return True
        except sa.exc.OperationalError:
            return False
        finally:
            engine.dispose()

    def create_payment_intent(
        self, amount: int, currency: str, metadata: dict[str, str], idempotency_key: str
    ) -> tk.CreatedIntent:
        """Look, then ask Stripe."""
        self.seen.append((self.probe.look(), self.row_lockable()))
        return self.inner.create_payment_intent(amount, currency, metadata, idempotency_key)

    def create_refund(
        self, payment_intent_id: str, amount: int, metadata: dict[str, str], idempotency_key: str
    ) -> str:
        """Refunds go straight to Stripe."""
        return self.inner.create_refund(payment_intent_id, amount, metadata, idempotency_key)


@pytest.fixture
def watched(pg_server_url: str, template_db: str) -> Iterator[tuple[str, str, WatchingGateway]]:
    """An API on a database of its own, its engine watched, Stripe the stand-in."""
    name = f"watched_{uuid.uuid4().hex}"
    create_database(pg_server_url, name, template=template_db)
    url = database_url(pg_server_url, name)
    probe = Probe(url)
    engine = probe.worker_engine(url)
    server = StandInServer(StripeStandIn(latency_ms=50))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    real = StripeGateway(StripeSettings(api_base=server.url, max_network_retries=0))
    gateway = WatchingGateway(real, probe, url)
    wire(engine, real, outbox.InboxHandlers())
    with engine.begin() as conn:
        ledger.open_organization(conn, PLATFORM, "Liventix", is_platform=True)
    _org, key = new_org(engine, "Arena")
    app = create_app(engine, gateway=gateway, stripe_webhook_secret=WEBHOOK_SECRET)
    try:
        with uvicorn_thread(app) as api:
            yield api, key, gateway
    finally:
        server.shutdown()
        server.server_close()
        engine.dispose()
        drop_database(pg_server_url, name)


def test_no_transaction_and_no_lock_while_stripe_creates_the_intent(
    watched: tuple[str, str, WatchingGateway],
) -> None:
    api, key, gateway = watched
    with httpx.Client(
        base_url=api, headers={"Authorization": f"Bearer {key}"}, timeout=60
    ) as client:
        event = on_sale_event(client, capacity=10)
        gateway.ticket_type = event["ticket_types"][0]["id"]
        body = {
            "event_id": event["id"],
            "buyer_email": "ann@example.com",
            "items": [{"ticket_type_id": gateway.ticket_type, "quantity": 2}],
        }
        first = client.post("/v1/checkouts", json=body, headers={"Idempotency-Key": "co-1"})
        assert first.status_code == 201, first.text
        replay = client.post("/v1/checkouts", json=body, headers={"Idempotency-Key": "co-1"})
        assert replay.json()["payment_intent_id"] == first.json()["payment_intent_id"]
    ((seen, lockable),) = gateway.seen  # the replay never asked Stripe
    assert seen.sessions > 0, "the probe found none of the API's sessions"
    assert seen.clean, seen
    assert lockable, "the ticket type's row was locked while Stripe answered"

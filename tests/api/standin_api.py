"""An API of its own for a test, wired to the product's Stripe stand-in over HTTP (the real
stripe library, `liventix.testing.stripe`), with helpers to pay, post Stripe's events signed,
drain the worker and build every finance report against the stand-in's balance transactions.
"""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import httpx
import sqlalchemy as sa

import ledger
import outbox
from liventix import reports
from liventix.api import create_app
from liventix.database import create_database, database_url, drop_database, make_engine
from liventix.stripe_gateway import StripeGateway, StripeSettings
from liventix.testing.stripe import StandInServer, StripeStandIn, signature_header
from liventix.wiring import wire
from tests.api.support import PLATFORM, WEBHOOK_SECRET, new_org, on_sale_event, uvicorn_thread


@dataclass
class StandInApi:
    """The API's URL and engine, the stand-in, the inbox handlers, an organizer's key and its
    event of one ticket type."""

    url: str
    engine: sa.Engine
    stripe: StripeStandIn
    handlers: outbox.InboxHandlers
    org: uuid.UUID
    key: str
    ticket_type: str
    event: str

    def client(self) -> httpx.Client:
        """An HTTP client with the organizer's key."""
        return httpx.Client(
            base_url=self.url, headers={"Authorization": f"Bearer {self.key}"}, timeout=60
        )

    def post_event(self, event: dict[str, Any]) -> None:
        """Sign a Stripe event as Stripe does and POST it to the webhook endpoint."""
        body = json.dumps(event, separators=(",", ":")).encode()
        with httpx.Client(base_url=self.url, timeout=60) as client:
            response = client.post(
                "/v1/stripe/webhook",
                content=body,
                headers={
                    "Stripe-Signature": signature_header(body, WEBHOOK_SECRET),
                    "Content-Type": "application/json",
                },
            )
        assert response.status_code == 200, response.text

    def pay(self, payment_intent_id: str) -> None:
        """The buyer pays at Stripe; its event reaches the webhook."""
        self.post_event(self.stripe.succeed(payment_intent_id))

    def drain(self) -> None:
        """Run a worker until the inbox and the outbox's due deliveries and tasks are done."""
        worker = outbox.Worker(self.engine, handlers=self.handlers)
        try:
            for _round in range(200):
                if worker.run_once() == 0:
                    return
            raise AssertionError("the worker did not drain")
        finally:
            worker.close()

    def reports(self) -> list[reports.Report]:
        """Every finance report now, the Stripe reconciliation against the stand-in."""
        transactions = reports.parse_json(json.dumps(self.stripe.balance_transactions()))
        with self.engine.begin() as conn:
            conn.execute(sa.text("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY"))
            now = conn.execute(sa.text("SELECT now()")).scalar_one()
            return reports.every_report(
                conn,
                transactions=transactions,
                as_of=now + timedelta(seconds=1),
                start=now - timedelta(days=30),
                end=now + timedelta(seconds=1),
            )

    def differences(self) -> dict[str, int]:
        """Each report with a difference, and how many."""
        return {r.name: r.differences for r in self.reports() if r.differences}


@contextmanager
def standin_api(
    pg_server_url: str, template_db: str, *, capacity: int, **weather: Any
) -> Iterator[StandInApi]:
    """The API on a database of its own, Stripe the stand-in (`weather`: its latency and
    faults), the platform registered and one organizer with an event on sale."""
    name = f"standin_{uuid.uuid4().hex}"
    create_database(pg_server_url, name, template=template_db)
    engine = make_engine(database_url(pg_server_url, name), pool_size=20, max_overflow=10)
    stripe = StripeStandIn(**weather)
    server = StandInServer(stripe)
    threading.Thread(target=server.serve_forever, name="stripe", daemon=True).start()
    gateway = StripeGateway(StripeSettings(api_base=server.url, max_network_retries=0, timeout_s=1))
    handlers = outbox.InboxHandlers()
    wire(engine, gateway, handlers)
    with engine.begin() as conn:
        ledger.open_organization(conn, PLATFORM, "Liventix", is_platform=True)
    org, key = new_org(engine, "Stadium")
    app = create_app(engine, gateway=gateway, stripe_webhook_secret=WEBHOOK_SECRET)
    try:
        with uvicorn_thread(app) as url:
            with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {key}"}) as c:
                event = on_sale_event(c, capacity=capacity)
            yield StandInApi(
                url=url,
                engine=engine,
                stripe=stripe,
                handlers=handlers,
                org=org,
                key=key,
                ticket_type=event["ticket_types"][0]["id"],
                event=event["id"],
            )
    finally:
        server.stop_waiting()
        server.shutdown()
        server.server_close()
        engine.dispose()
        drop_database(pg_server_url, name)

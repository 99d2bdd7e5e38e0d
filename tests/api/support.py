"""What the API's tests share: the API served by uvicorn on 127.0.0.1 in a thread, an HTTP
client per organization key, and the organizer's set-up through the API itself."""

from __future__ import annotations

import json
import subprocess
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Generic, TypeVar

import httpx
import psutil  # type: ignore[import-untyped]
import sqlalchemy as sa
import uvicorn
from fastapi import FastAPI

import ledger
import outbox
import ticketing_fsm
from liventix.api import create_app, create_key
from liventix.database import create_database, database_url, drop_database, make_engine
from liventix.stripe_gateway import StripeGateway, StripeSettings
from liventix.testing.stripe import StripeStandIn, signature_header
from liventix.testing.stripe import shapes as so
from liventix.wiring import wire
from tests.support import free_port

CheckoutStripe = StripeStandIn
"""The name tests/api/test_reports_api.py still imports (the checkout's fake Stripe is gone: the
one stand-in serves PaymentIntents and refunds)."""

PLATFORM = uuid.UUID("00000000-0000-0000-0000-000000000001")
WEBHOOK_SECRET = "whsec_api_tests_0b1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e"


@dataclass
class Served:
    """The API on 127.0.0.1: its URL, engine, fake Stripe, inbox handlers, platform key."""

    url: str
    engine: sa.Engine
    stripe: StripeStandIn
    handlers: outbox.InboxHandlers
    platform_key: str
    app: FastAPI
    secret: str = WEBHOOK_SECRET

    def client(self, key: str | None) -> httpx.Client:
        """An HTTP client that sends `key` as its bearer token."""
        headers = {} if key is None else {"Authorization": f"Bearer {key}"}
        return httpx.Client(base_url=self.url, headers=headers, timeout=30.0)

    def handle_inbox(self) -> int:
        """Handle every due inbox event, as the worker does."""
        worker = outbox.Worker(self.engine, handlers=self.handlers)
        try:
            return worker.handle_inbox_once()
        finally:
            worker.close()


@contextmanager
def uvicorn_thread(app: FastAPI) -> Iterator[str]:
    """Serve `app` with uvicorn on 127.0.0.1 (a free port) in a thread; yields its URL."""
    port = free_port()
    # Connections kept alive longer than any test runs: a client reusing a pooled connection
    # the server is closing at that very moment (after uvicorn's 5 s) reads nothing, a race
    # of HTTP/1.1 keep-alive that a loaded machine made frequent in the 200-buyer race.
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=port,
        log_level="warning",
        lifespan="off",
        access_log=False,
        timeout_keep_alive=120,
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="uvicorn", daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


G = TypeVar("G", bound=ticketing_fsm.PaymentGateway)


@dataclass
class GatewayApi(Generic[G]):
    """An API served with a test's own gateway around the real one (the stand-in's)."""

    api: str
    key: str
    gateway: G
    owner: sa.Engine


@contextmanager
def gateway_api(
    pg_server_url: str,
    template_db: str,
    prefix: str,
    around: Callable[[StripeGateway, sa.Engine], G],
    *,
    owner_pool: int = 1,
) -> Iterator[GatewayApi[G]]:
    """An API on a database of its own, Stripe the stand-in seen through `around(real
    gateway, owner's engine)`, one organization's key, and the owner's engine beside it."""
    name = f"{prefix}_{uuid.uuid4().hex}"
    create_database(pg_server_url, name, template=template_db)
    url = database_url(pg_server_url, name)
    engine = make_engine(url, pool_size=4, max_overflow=2)
    owner = make_engine(url, pool_size=owner_pool, max_overflow=owner_pool - 1)
    stand_in = StripeStandIn().start()
    real = StripeGateway(StripeSettings(api_base=stand_in.url, max_network_retries=0))
    gateway = around(real, owner)
    wire(engine, real, outbox.InboxHandlers())
    with engine.begin() as conn:
        ledger.open_organization(conn, PLATFORM, "Liventix", is_platform=True)
    _org, key = new_org(engine, "Arena")
    app = create_app(engine, gateway=gateway, stripe_webhook_secret=WEBHOOK_SECRET)
    try:
        with uvicorn_thread(app) as api:
            yield GatewayApi(api, key, gateway, owner)
    finally:
        stand_in.close()
        engine.dispose()
        owner.dispose()
        drop_database(pg_server_url, name)


def new_org(engine: sa.Engine, name: str = "Jazz Club") -> tuple[uuid.UUID, str]:
    """A fresh organization and an API key for it."""
    org = uuid.uuid4()
    with engine.begin() as conn:
        ledger.open_organization(conn, org, name)
        key = create_key(conn, org, description=f"tests: {name}")
    return org, key.token


def idem() -> dict[str, str]:
    """A fresh Idempotency-Key header."""
    return {"Idempotency-Key": f"test-{uuid.uuid4().hex}"}


def post(client: httpx.Client, path: str, body: Any = None, **headers: str) -> httpx.Response:
    """POST JSON (or nothing) with a fresh Idempotency-Key unless one is given."""
    sent = {**idem(), **headers}
    if body is None:
        return client.post(path, headers=sent)
    return client.post(path, json=body, headers=sent)


def money(amount: int, currency: str = "USD") -> dict[str, Any]:
    """Money as the API writes it."""
    return {"amount": amount, "currency": currency}


def ok(response: httpx.Response, status: int = 200) -> Any:
    """The JSON of a response that must have this status (its problem shown otherwise)."""
    assert response.status_code == status, (response.status_code, response.text)
    return response.json()


def open_account(client: httpx.Client, code: str, type: str = "asset", **extra: Any) -> str:
    """Open an account through the API; its id."""
    body = {"code": code, "type": type, "currency": "USD", **extra}
    return str(ok(post(client, "/v1/accounts", body), 201)["id"])


def transfer_body(debit: str, credit: str, amount: int, **extra: Any) -> dict[str, Any]:
    """An entry moving `amount` from `credit` to `debit`."""
    return {
        "lines": [
            {"account_id": debit, "side": "debit", "amount": money(amount)},
            {"account_id": credit, "side": "credit", "amount": money(amount)},
        ],
        **extra,
    }


def iso(moment: datetime) -> str:
    """A timestamp as the API takes it."""
    return moment.isoformat()


def on_sale_event(client: httpx.Client, *, capacity: int = 10, price: int = 2_500) -> Any:
    """An event (ending in a month) with one ticket type on sale now; the event's JSON with
    its ticket type."""
    now = datetime.now(UTC)
    event = ok(
        post(
            client,
            "/v1/events",
            {
                "name": "Late show",
                "currency": "USD",
                "starts_at": iso(now + timedelta(days=29)),
                "ends_at": iso(now + timedelta(days=30)),
            },
        ),
        201,
    )
    ok(
        post(
            client,
            f"/v1/events/{event['id']}/ticket-types",
            {
                "name": "Standing",
                "price": money(price),
                "capacity": capacity,
                "sales_start": iso(now - timedelta(hours=1)),
                "sales_end": iso(now + timedelta(days=28)),
            },
        ),
        201,
    )
    return ok(client.get(f"/v1/events/{event['id']}"))


def send_stripe_event(
    served: Served, event_type: str, obj: so.StripeObject, *, secret: str | None = None
) -> httpx.Response:
    """Sign an event as Stripe does and POST it to the webhook endpoint."""
    body = json.dumps(so.event(event_type, obj), separators=(",", ":")).encode()
    header = signature_header(body, secret or served.secret)
    with served.client(None) as client:
        return client.post(
            "/v1/stripe/webhook",
            content=body,
            headers={"Stripe-Signature": header, "Content-Type": "application/json"},
        )


def wait_for_serve(
    what: str, check: Callable[[], bool], process: subprocess.Popen[bytes], timeout: float
) -> None:
    """Wait until `check()` holds while `liventix serve` (`process`) runs (a bound on the
    wait, not a timing assertion)."""
    deadline = time.monotonic() + timeout
    while not check():
        assert process.poll() is None, f"liventix serve exited while waiting for {what}"
        assert time.monotonic() < deadline, f"gave up waiting for {what}"
        time.sleep(0.1)


def serving_children(parent: int) -> list[psutil.Process]:
    """`parent`'s children that serve (multiprocessing's resource tracker aside)."""
    found = []
    for child in psutil.Process(parent).children():
        try:
            if "resource_tracker" not in " ".join(child.cmdline()):
                found.append(child)
        except psutil.NoSuchProcess:
            continue
    return found

"""Fixtures for the API's tests: the API served by uvicorn on 127.0.0.1 for the whole session,
on a database of its own (cloned from the migrated template), wired to the Stripe stand-in
(`liventix.testing.stripe`) as the
application is (`liventix.wiring.wire`), with the platform organization and its key.

Tests keep apart by creating their own organizations (`new_org`), events and accounts.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import httpx
import pytest
import sqlalchemy as sa

import ledger
import outbox
from liventix.api import create_app, create_key
from liventix.api.webhooks import routes as webhook_routes
from liventix.database import create_database, database_url, drop_database, make_engine
from liventix.stripe_gateway import StripeGateway, StripeSettings
from liventix.testing.stripe import StripeStandIn
from liventix.wiring import wire
from tests.api.support import PLATFORM, WEBHOOK_SECRET, Served, new_org, uvicorn_thread


@pytest.fixture(scope="session")
def api_stripe() -> Iterator[StripeStandIn]:
    """The session's Stripe stand-in, served on 127.0.0.1."""
    server = StripeStandIn().start()
    try:
        yield server
    finally:
        server.close()


@pytest.fixture(scope="session")
def served(pg_server_url: str, template_db: str, api_stripe: StripeStandIn) -> Iterator[Served]:
    """The API served over HTTP for the session."""
    name = f"api_{uuid.uuid4().hex}"
    create_database(pg_server_url, name, template=template_db)
    engine = make_engine(database_url(pg_server_url, name), pool_size=20, max_overflow=10)
    gateway = StripeGateway(StripeSettings(api_base=api_stripe.url, max_network_retries=0))
    handlers = outbox.InboxHandlers()
    wire(engine, gateway, handlers)
    with engine.begin() as conn:
        ledger.open_organization(conn, PLATFORM, "Liventix", is_platform=True)
        platform_key = create_key(conn, None, description="tests: platform").token
    app = create_app(engine, gateway=gateway, stripe_webhook_secret=WEBHOOK_SECRET)
    # The stand-in's hooks and the tests' receivers listen on 127.0.0.1.
    webhook_routes.allow_targets(app, outbox.parse_allow("127.0.0.1/32"))
    try:
        with uvicorn_thread(app) as url:
            yield Served(url, engine, api_stripe, handlers, platform_key, app)
    finally:
        engine.dispose()
        drop_database(pg_server_url, name)


@pytest.fixture
def api_engine(served: Served) -> sa.Engine:
    """The served API's engine (for set-up and for looking behind the API)."""
    return served.engine


@pytest.fixture
def client(served: Served) -> httpx.Client:
    """A client of the served API holding a fresh organization's key (a module may define its
    own `client`, which overrides this one)."""
    _org, key = new_org(served.engine)
    return served.client(key)

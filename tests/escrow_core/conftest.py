"""Fixtures for escrow's tests: the Stripe stand-in on 127.0.0.1, an SMTP mailbox,
and the application wired once per session (Stripe's handlers in the inbox, the transfer task
in the outbox) on a database of its own, with a gateway pointed at the stand-in.

The outbox's tasks are registered process-wide, so the wiring, and the engine its transfer task
books with, live for the whole session; the Stripe handlers go into a registry of the
session's own, handed to the tests' workers. Tests on it keep apart by using their own
organizers, events and Stripe ids.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
import sqlalchemy as sa

import outbox
from liventix.database import create_database, database_url, drop_database, make_engine
from liventix.stripe_gateway import StripeGateway, StripeSettings
from liventix.testing import Mailbox, smtp_server
from liventix.testing.stripe import StripeStandIn
from liventix.wiring import wire
from tests.escrow_core.support import ensure_platform

WEBHOOK_SECRET = "whsec_escrow_flow_5e3c1d2b4a69788796a5b4c3d2e1f0a9"


@pytest.fixture(scope="session")
def stripe_server() -> Iterator[StripeStandIn]:
    """The session's Stripe stand-in, served on 127.0.0.1."""
    server = StripeStandIn().start()
    try:
        yield server
    finally:
        server.close()


@dataclass
class Smtp:
    """The running SMTP sink: its mailbox and port."""

    mailbox: Mailbox
    port: int


@pytest.fixture(scope="session")
def smtp() -> Iterator[Smtp]:
    """A real SMTP server on 127.0.0.1 for the payout e-mails (the one sink,
    `liventix.testing.smtp_server`), keeping every message."""
    box = Mailbox(keep=True)
    with smtp_server(box) as (port, _):
        yield Smtp(box, port)


@dataclass
class Wired:
    """The application wired for the session: its engine, the Stripe stand-in and the
    gateway."""

    engine: sa.Engine
    stripe: StripeStandIn
    gateway: StripeGateway
    smtp: Smtp
    handlers: outbox.InboxHandlers
    secret: str = WEBHOOK_SECRET


@pytest.fixture(scope="session")
def wired(
    pg_server_url: str, template_db: str, stripe_server: StripeStandIn, smtp: Smtp
) -> Iterator[Wired]:
    """`liventix.wiring.wire` once per session, on a database cloned for the session."""
    name = f"escrow_flow_{uuid.uuid4().hex}"
    create_database(pg_server_url, name, template=template_db)
    url = database_url(pg_server_url, name)
    engine = make_engine(url, pool_size=10, max_overflow=20)
    # No network retries inside the stripe library: a lost response is retried by the outbox
    # (same message id, so the same idempotency key), which is what the tests look at.
    gateway = StripeGateway(StripeSettings(api_base=stripe_server.url, max_network_retries=0))
    handlers = outbox.InboxHandlers()
    wire(engine, gateway, handlers)
    with engine.begin() as conn:
        ensure_platform(conn)
    try:
        yield Wired(engine, stripe_server, gateway, smtp, handlers)
    finally:
        engine.dispose()
        drop_database(pg_server_url, name)

"""Fixtures for escrow's tests: the Stripe-compatible server on 127.0.0.1, an SMTP mailbox,
and the application wired once per session (Stripe's handlers in the inbox, the transfer task
in the outbox) on a database of its own, with a gateway pointed at the fake server.

The outbox's tasks are registered process-wide, so the wiring, and the engine its transfer task
books with, live for the whole session; the Stripe handlers go into a registry of the
session's own, handed to the tests' workers. Tests on it keep apart by using their own
organizers, events and Stripe ids.
"""

from __future__ import annotations

import socket
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from email import message_from_bytes
from email.message import Message

import pytest
import sqlalchemy as sa
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

import outbox
from liventix.database import create_database, database_url, drop_database, make_engine
from liventix.stripe_gateway import StripeGateway, StripeSettings
from liventix.wiring import wire
from tests.escrow_core.support import ensure_platform
from tests.fakes.stripe_server import FakeStripe

WEBHOOK_SECRET = "whsec_escrow_flow_5e3c1d2b4a69788796a5b4c3d2e1f0a9"


@pytest.fixture(scope="session")
def stripe_server() -> Iterator[FakeStripe]:
    """The session's Stripe-compatible server."""
    server = FakeStripe().start()
    try:
        yield server
    finally:
        server.close()


class Mailbox:
    """An aiosmtpd handler keeping every message it receives."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._messages: list[tuple[list[str], Message]] = []

    async def handle_DATA(  # noqa: N802 (aiosmtpd's hook name)
        self, server: SMTP, session: Session, envelope: Envelope
    ) -> str:
        """Keep the message."""
        content = envelope.content
        data = content if isinstance(content, bytes) else str(content).encode()
        with self._lock:
            self._messages.append((list(envelope.rcpt_tos), message_from_bytes(data)))
        return "250 Message accepted for delivery"

    def messages(self) -> list[tuple[list[str], Message]]:
        """(recipients, message) of every message received."""
        with self._lock:
            return list(self._messages)


@dataclass
class Smtp:
    """The running SMTP server: its mailbox and port."""

    mailbox: Mailbox
    port: int


@pytest.fixture(scope="session")
def smtp() -> Iterator[Smtp]:
    """A real SMTP server on 127.0.0.1 for the payout e-mails."""
    box = Mailbox()
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = int(probe.getsockname()[1])
    controller = Controller(box, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield Smtp(box, port)
    finally:
        controller.stop()


@dataclass
class Wired:
    """The application wired for the session: its engine, the fake Stripe and the gateway."""

    engine: sa.Engine
    stripe: FakeStripe
    gateway: StripeGateway
    smtp: Smtp
    handlers: outbox.InboxHandlers
    secret: str = WEBHOOK_SECRET


@pytest.fixture(scope="session")
def wired(
    pg_server_url: str, template_db: str, stripe_server: FakeStripe, smtp: Smtp
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

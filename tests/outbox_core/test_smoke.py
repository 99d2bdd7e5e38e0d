"""A first end-to-end pass: publish, deliver to a local HTTP receiver, verify the signature."""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import sqlalchemy as sa
from pydantic import BaseModel
from standardwebhooks.webhooks import Webhook

import outbox

ORG = uuid.UUID("00000000-0000-0000-0000-0000000000aa")


class TicketIssued(BaseModel):
    ticket_id: str
    amount: int


outbox.register_message_type("test.ticket_issued", TicketIssued)


class Receiver(ThreadingHTTPServer):
    received: list[tuple[dict[str, str], bytes]]
    status: int


class _Handler(BaseHTTPRequestHandler):
    server: Receiver

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["content-length"]))
        self.server.received.append(({k.lower(): v for k, v in self.headers.items()}, body))
        self.send_response(self.server.status)
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver(("127.0.0.1", 0), _Handler)
    server.received = []
    server.status = 200
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def test_published_message_is_delivered_signed(engine: sa.Engine, receiver: Receiver) -> None:
    url = f"http://127.0.0.1:{receiver.server_address[1]}/hook"
    with engine.begin() as conn:
        _, secret = outbox.register_endpoint(conn, ORG, url, ["test.ticket_issued"])
        message_id = outbox.publish(
            conn,
            type="test.ticket_issued",
            payload=TicketIssued(ticket_id="t1", amount=5000),
            aggregate_type="ticket",
            aggregate_id="t1",
            org_id=ORG,
        )
    worker = outbox.Worker(engine, outbox.WorkerSettings(poll_interval=0.1))
    try:
        assert worker.deliver_once() == 1
    finally:
        worker.close()
    assert len(receiver.received) == 1
    headers, body = receiver.received[0]
    assert headers["webhook-id"] == str(message_id)
    data = Webhook(secret).verify(body, headers)
    assert data["data"] == {"ticket_id": "t1", "amount": 5000}
    with engine.begin() as conn:
        status = conn.execute(sa.text("SELECT status FROM messaging.deliveries")).scalar_one()
        attempts = conn.execute(sa.text("SELECT count(*) FROM messaging.attempts")).scalar_one()
    assert (status, attempts) == ("succeeded", 1)
    assert json.loads(body)["type"] == "test.ticket_issued"


def test_rolled_back_transaction_publishes_nothing(engine: sa.Engine) -> None:
    with engine.connect() as conn:
        outbox.register_endpoint(conn, ORG, "http://127.0.0.1:9/x")
        outbox.publish(
            conn,
            type="test.ticket_issued",
            payload=TicketIssued(ticket_id="t2", amount=1),
            aggregate_type="ticket",
            aggregate_id="t2",
            org_id=ORG,
        )
        conn.rollback()
    with engine.begin() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM messaging.messages")).scalar_one() == 0
        assert conn.execute(sa.text("SELECT count(*) FROM messaging.deliveries")).scalar_one() == 0

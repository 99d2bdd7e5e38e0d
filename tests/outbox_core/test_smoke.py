"""A first end-to-end pass: publish, deliver to a local HTTP receiver, verify the signature;
and a rolled-back transaction publishes nothing."""

from __future__ import annotations

import sqlalchemy as sa
from standardwebhooks.webhooks import Webhook

import outbox
from tests.outbox_core.support import LOOPBACK, ORG, MakeWorker, Receiver, TicketIssued, scalar


def test_published_message_is_delivered_signed(
    engine: sa.Engine, receiver: Receiver, make_worker: MakeWorker
) -> None:
    with engine.begin() as conn:
        _, secret = outbox.register_endpoint(
            conn, ORG, receiver.url_for(), ["test.ticket_issued"], allow=LOOPBACK
        )
        message_id = outbox.publish(
            conn,
            type="test.ticket_issued",
            payload=TicketIssued(ticket_id="t1", amount=5000),
            aggregate_type="ticket",
            aggregate_id="t1",
            org_id=ORG,
        )
    assert make_worker().deliver_once() == 1
    [request] = receiver.requests
    assert request.webhook_id == str(message_id)
    data = Webhook(secret).verify(request.body, request.headers)
    assert data["type"] == "test.ticket_issued"
    assert data["data"] == {"ticket_id": "t1", "amount": 5000}
    assert scalar(engine, "SELECT status FROM messaging.deliveries") == "succeeded"
    assert scalar(engine, "SELECT count(*) FROM messaging.attempts") == 1


def test_rolled_back_transaction_publishes_nothing(
    engine: sa.Engine, receiver: Receiver, make_worker: MakeWorker
) -> None:
    with engine.begin() as conn:
        outbox.register_endpoint(conn, ORG, receiver.url_for(), allow=LOOPBACK)
    with engine.connect() as conn:
        outbox.publish(
            conn,
            type="test.ticket_issued",
            payload=TicketIssued(ticket_id="t2", amount=1),
            aggregate_type="ticket",
            aggregate_id="t2",
            org_id=ORG,
        )
        conn.rollback()
    assert make_worker().run_once() == 0
    assert receiver.requests == []
    assert scalar(engine, "SELECT count(*) FROM messaging.messages") == 0
    assert scalar(engine, "SELECT count(*) FROM messaging.deliveries") == 0

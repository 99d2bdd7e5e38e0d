"""Our webhooks verify with `standardwebhooks`, an independent implementation of the
specification: normally, with a wrong secret refused, and through a secret rotation (both
secrets verify during the grace period, only the new one after it)."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

import outbox
from tests.outbox_core.support import (
    LOOPBACK,
    ORG,
    MakeWorker,
    Receiver,
    Request,
    publish_step,
    scalar,
    wait_until,
)


def _deliver_one(engine: sa.Engine, receiver: Receiver, worker: outbox.Worker, seq: int) -> Request:
    with engine.begin() as conn:
        message_id = publish_step(conn, "a", seq)
    before = receiver.count
    assert worker.deliver_once() == 1
    assert receiver.count == before + 1
    request = receiver.requests[-1]
    assert request.webhook_id == str(message_id)
    return request


def test_headers_and_signature_follow_standard_webhooks(
    engine: sa.Engine, receiver: Receiver, make_worker: MakeWorker
) -> None:
    with engine.begin() as conn:
        _, secret = outbox.register_endpoint(conn, ORG, receiver.url_for(), allow=LOOPBACK)
    assert secret.startswith("whsec_")
    request = _deliver_one(engine, receiver, make_worker(), 1)
    assert abs(int(request.headers["webhook-timestamp"]) - time.time()) < 60
    assert request.headers["content-type"] == "application/json"
    [signature] = request.headers["webhook-signature"].split(" ")
    assert signature.startswith("v1,")
    payload = Webhook(secret).verify(request.body, request.headers)
    assert payload["type"] == "test.step"
    assert payload["data"] == {"aggregate": "a", "seq": 1}
    assert "timestamp" in payload
    with pytest.raises(WebhookVerificationError):
        Webhook(outbox.new_secret()).verify(request.body, request.headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(request.body.replace(b'"seq":1', b'"seq":2'), request.headers)


def test_sign_matches_standard_webhooks() -> None:
    secret = outbox.new_secret()
    body = b'{"type":"x.y","data":{}}'
    ours = outbox.sign(secret, "msg_1", 1_700_000_000, body)
    theirs = Webhook(secret).sign(
        "msg_1", datetime.fromtimestamp(1_700_000_000, UTC), body.decode()
    )
    assert ours == theirs


def test_both_secrets_verify_during_rotation_and_only_the_new_one_after(
    engine: sa.Engine, receiver: Receiver, make_worker: MakeWorker
) -> None:
    with engine.begin() as conn:
        endpoint_id, old = outbox.register_endpoint(conn, ORG, receiver.url_for(), allow=LOOPBACK)
    worker = make_worker()
    grace = timedelta(seconds=1)
    with engine.begin() as conn:
        new = outbox.rotate_secret(conn, endpoint_id, grace=grace)
        assert outbox.active_secrets(conn, endpoint_id) == [new, old]

    during = _deliver_one(engine, receiver, worker, 1)
    assert len(during.headers["webhook-signature"].split(" ")) == 2
    assert Webhook(old).verify(during.body, during.headers)["data"]["seq"] == 1
    assert Webhook(new).verify(during.body, during.headers)["data"]["seq"] == 1

    # Once the database's clock has passed the grace period, only the new secret signs.
    wait_until(
        lambda: bool(
            scalar(
                engine,
                """SELECT bool_and(expires_at < now()) FROM messaging.endpoint_secrets
                    WHERE endpoint_id = :e AND expires_at IS NOT NULL""",
                e=endpoint_id,
            )
        ),
        5,
        "the grace period to end",
    )
    after = _deliver_one(engine, receiver, worker, 2)
    assert len(after.headers["webhook-signature"].split(" ")) == 1
    assert Webhook(new).verify(after.body, after.headers)["data"]["seq"] == 2
    with pytest.raises(WebhookVerificationError):
        Webhook(old).verify(after.body, after.headers)
    with engine.begin() as conn:
        assert outbox.active_secrets(conn, endpoint_id) == [new]


def test_every_fanned_out_request_is_signed_with_its_own_endpoint_secret(
    engine: sa.Engine, receiver: Receiver, make_worker: MakeWorker
) -> None:
    with engine.begin() as conn:
        _, secret_a = outbox.register_endpoint(conn, ORG, receiver.url_for("/a"), allow=LOOPBACK)
        _, secret_b = outbox.register_endpoint(conn, ORG, receiver.url_for("/b"), allow=LOOPBACK)
        publish_step(conn, "a", 1)
    assert make_worker().deliver_once() == 2
    by_path = {r.path: r for r in receiver.requests}
    assert Webhook(secret_a).verify(by_path["/a"].body, by_path["/a"].headers)
    assert Webhook(secret_b).verify(by_path["/b"].body, by_path["/b"].headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(secret_a).verify(by_path["/b"].body, by_path["/b"].headers)

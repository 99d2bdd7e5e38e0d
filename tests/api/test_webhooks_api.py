"""Webhook endpoints and deliveries over HTTP: register (the secret shown once), list, read,
rotate the secret (both sign during the grace period), disable and enable; deliveries and
their attempts after a real worker round (one endpoint answers, one is unreachable and its
delivery dies); requeue by delivery and by endpoint. Internal targets in every spelling are
refused with their reason (422 invalid-endpoint), and the allow-list lets only its networks
through."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import timedelta

import httpx
import pytest
import sqlalchemy as sa

import outbox
from liventix.api import create_app
from tests.api.support import Served, new_org, ok, post, uvicorn_thread
from tests.support import free_port


def test_endpoints_and_their_deliveries(served: Served) -> None:
    org, key = new_org(served.engine, "Hooks")
    hook = f"hooks-{uuid.uuid4().hex[:8]}"
    with served.client(key) as client:
        good = ok(
            post(
                client,
                "/v1/webhook-endpoints",
                {
                    "url": served.stripe.hook_url(hook),
                    "event_types": ["endpoint.disabled"],
                    "description": "our server",
                },
            ),
            201,
        )
        assert good["secret"].startswith("whsec_")
        assert good["event_types"] == ["endpoint.disabled"]
        bad = ok(
            post(client, "/v1/webhook-endpoints", {"url": f"http://127.0.0.1:{free_port()}/hook"}),
            201,
        )
        listed = ok(client.get("/v1/webhook-endpoints"))["data"]
        assert [e["id"] for e in listed] == [good["id"], bad["id"]]
        assert "secret" not in listed[0]
        assert ok(client.get(f"/v1/webhook-endpoints/{good['id']}"))["url"] == good["url"]

        rotated = ok(
            post(
                client, f"/v1/webhook-endpoints/{good['id']}/rotate-secret", {"grace_seconds": 600}
            )
        )
        assert rotated["secret"] != good["secret"]
        with served.engine.connect() as conn:
            assert set(outbox.active_secrets(conn, uuid.UUID(good["id"]))) == {
                good["secret"],
                rotated["secret"],
            }

        # Something happens in the organization: one message, a delivery per endpoint.
        with served.engine.begin() as conn:
            outbox.publish(
                conn,
                type="endpoint.disabled",
                payload=outbox.EndpointDisabled(endpoint_id="x", url="https://x", reason="test"),
                aggregate_type="test",
                aggregate_id=str(uuid.uuid4()),
                org_id=org,
            )
        worker = outbox.Worker(
            served.engine,
            outbox.WorkerSettings(
                retry=outbox.RetryPolicy(schedule=()),
                request_timeout=2.0,
                webhook_allow=outbox.parse_allow("127.0.0.1/32"),
            ),
            handlers=served.handlers,
        )
        try:
            worker.deliver_once()
        finally:
            worker.close()

        sent = ok(client.get("/v1/deliveries", params={"endpoint_id": good["id"]}))["data"]
        assert [(d["status"], d["attempts"], d["type"]) for d in sent] == [
            ("succeeded", 1, "endpoint.disabled")
        ]
        attempts = ok(client.get(f"/v1/deliveries/{sent[0]['id']}/attempts"))["data"]
        assert [(a["attempt"], a["status_code"], a["succeeded"]) for a in attempts] == [
            (1, 200, True)
        ]
        received = served.stripe.requests("POST", f"/_hooks/{hook}")
        assert len(received) == 1
        signature = received[0].header("webhook-signature") or ""
        assert signature.count("v1,") == 2  # both secrets sign during the grace period

        dead = ok(client.get("/v1/deliveries", params={"endpoint_id": bad["id"]}))["data"]
        assert [(d["status"], d["attempts"]) for d in dead] == [("dead", 1)]
        failed = ok(client.get(f"/v1/deliveries/{dead[0]['id']}/attempts"))["data"]
        assert failed[0]["succeeded"] is False
        assert failed[0]["error"]
        assert ok(client.get("/v1/deliveries", params={"status": "dead"}))["data"] == dead

        again = ok(post(client, f"/v1/deliveries/{dead[0]['id']}/requeue"))
        assert again["requeued"] == 1
        back = ok(client.get(f"/v1/deliveries/{dead[0]['id']}"))
        assert (back["status"], back["attempts"]) == ("pending", 0)
        assert ok(post(client, f"/v1/webhook-endpoints/{bad['id']}/requeue"))["requeued"] == 0
        with served.engine.begin() as conn:
            conn.execute(
                sa.text("UPDATE messaging.deliveries SET status = 'dead' WHERE id = :id"),
                {"id": dead[0]["id"]},
            )
        assert ok(post(client, f"/v1/webhook-endpoints/{bad['id']}/requeue"))["requeued"] == 1

        disabled = ok(
            post(client, f"/v1/webhook-endpoints/{good['id']}/disable", {"reason": "maintenance"})
        )
        assert (disabled["enabled"], disabled["disabled_reason"]) == (False, "maintenance")
        enabled = ok(post(client, f"/v1/webhook-endpoints/{good['id']}/enable"))
        assert (enabled["enabled"], enabled["disabled_reason"]) == (True, None)


def test_rotation_grace_is_bounded(served: Served) -> None:
    _org, key = new_org(served.engine)
    with served.client(key) as client:
        endpoint = ok(post(client, "/v1/webhook-endpoints", {"url": "https://example.com/h"}), 201)
        too_long = post(
            client,
            f"/v1/webhook-endpoints/{endpoint['id']}/rotate-secret",
            {"grace_seconds": int(timedelta(days=8).total_seconds())},
        )
        assert too_long.status_code == 422
        assert too_long.json()["field"] == "body.grace_seconds"


# Every spelling of issue 13's finding, and the malformed URL that answered 500.
REFUSED = [
    "http://169.254.169.254/latest/meta-data/",
    "http://10.0.0.1/hook",
    "http://192.168.1.1/hook",
    "http://[::1]/hook",
    "http://localhost/hook",
    "http://2130706433/hook",
    "http://0x7f000001/hook",
    "http://0177.0.0.1/hook",
    "http://127.1/hook",
    "http://127.0.0.1:8080/hook",
    "http://[::ffff:127.0.0.1]/hook",
    "http://metadata.google.internal/computeMetadata/v1/",
]


@pytest.fixture(scope="module")
def guarded(served: Served) -> Iterator[str]:
    """The API as deployed by default (no LIVENTIX_WEBHOOK_ALLOW), on the tests' database."""
    app = create_app(served.engine, gateway=None, stripe_webhook_secret=None)
    with uvicorn_thread(app) as url:
        yield url


def _endpoint_count(served: Served) -> int:
    with served.engine.connect() as conn:
        return int(conn.execute(sa.text("SELECT count(*) FROM messaging.endpoints")).scalar_one())


def test_internal_targets_are_refused_with_their_reason(served: Served, guarded: str) -> None:
    _org, key = new_org(served.engine, "Inside")
    before = _endpoint_count(served)
    with httpx.Client(base_url=guarded, headers={"Authorization": f"Bearer {key}"}) as client:
        for url in REFUSED:
            answer = post(client, "/v1/webhook-endpoints", {"url": url})
            assert answer.status_code == 422, (url, answer.text)
            problem = answer.json()
            assert problem["type"].endswith("/invalid-endpoint"), problem
            assert problem["reason"], problem
        malformed = post(client, "/v1/webhook-endpoints", {"url": "http://[::1/"})
        assert malformed.status_code == 422, malformed.text
        assert "cannot be parsed" in malformed.json()["reason"]
        loopback = post(client, "/v1/webhook-endpoints", {"url": "http://2130706433/hook"})
        assert loopback.json()["reason"] == "the host is 127.0.0.1, a loopback address"
        # A public target is registered as before.
        ok(post(client, "/v1/webhook-endpoints", {"url": "https://example.com/hook"}), 201)
    assert _endpoint_count(served) == before + 1


def test_the_allow_list_lets_only_its_networks_through(served: Served) -> None:
    # The tests' API allows 127.0.0.1/32 (tests/api/conftest.py): 127.0.0.1 in any spelling
    # is registered, every other internal target is still refused.
    _org, key = new_org(served.engine, "Allowed")
    with served.client(key) as client:
        for url in ["http://127.0.0.1:9/hook", "http://2130706433:9/hook", "http://127.1:9/"]:
            ok(post(client, "/v1/webhook-endpoints", {"url": url}), 201)
        for url in ["http://[::1]/hook", "http://10.0.0.1/", "http://localhost:9/hook"]:
            answer = post(client, "/v1/webhook-endpoints", {"url": url})
            assert answer.status_code == 422, (url, answer.text)

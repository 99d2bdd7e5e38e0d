"""Webhook endpoints and deliveries over HTTP: register (the secret shown once), list, read,
rotate the secret (both sign during the grace period), disable and enable; deliveries and
their attempts after a real worker round (one endpoint answers, one is unreachable and its
delivery dies); requeue by delivery and by endpoint."""

from __future__ import annotations

import socket
import uuid
from datetime import timedelta

import sqlalchemy as sa

import outbox
from tests.api.support import Served, new_org, ok, post


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


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
            post(
                client, "/v1/webhook-endpoints", {"url": f"http://127.0.0.1:{_closed_port()}/hook"}
            ),
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

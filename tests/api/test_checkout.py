"""The checkout over HTTP, from the event's set-up to issued tickets: the PaymentIntent made
through the app's Stripe gateway, Stripe's `payment_intent.succeeded` posted, signed, to the
webhook endpoint and handled by the outbox's worker; then transfer, check-in, refunds, event
cancellation, the escrow and its release by the platform."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

import escrow
from tests.api.support import (
    Served,
    iso,
    money,
    new_org,
    ok,
    on_sale_event,
    post,
    send_stripe_event,
)


def test_checkout_to_issued_tickets_and_after(served: Served) -> None:
    _org, key = new_org(served.engine, "Blue Note")
    with served.client(key) as client:
        event = on_sale_event(client, capacity=5, price=2_500)
        ticket_type = event["ticket_types"][0]
        checkout_body = {
            "event_id": event["id"],
            "buyer_email": "ada@example.com",
            "items": [{"ticket_type_id": ticket_type["id"], "quantity": 2}],
        }
        headers = {"Idempotency-Key": f"checkout-{uuid.uuid4()}"}
        checkout = client.post("/v1/checkouts", json=checkout_body, headers=headers)
        assert checkout.status_code == 201, checkout.text
        started = checkout.json()
        assert started["total"] == money(5_000)
        assert started["client_secret"].startswith(started["payment_intent_id"])
        replay = client.post("/v1/checkouts", json=checkout_body, headers=headers)
        assert replay.headers["Idempotency-Replayed"] == "true"
        assert replay.json() == started
        intents = served.stripe.requests("POST", "/v1/payment_intents")
        assert len([r for r in intents if r.form.get("amount") == "5000"]) >= 1

        order = ok(client.get(f"/v1/orders/{started['order_id']}"))
        assert order["status"] == "awaiting_payment"
        assert [t["status"] for t in order["tickets"]] == ["held", "held"]
        assert ok(client.get(f"/v1/events/{event['id']}"))["ticket_types"][0]["held"] == 2

        # Stripe: the buyer pays; the event reaches us over HTTP, signed.
        intent = served.stripe.pay(started["payment_intent_id"], fee=175)
        stored = send_stripe_event(served, "payment_intent.succeeded", intent)
        assert stored.status_code == 200, stored.text
        assert stored.json()["duplicate"] is False
        again = send_stripe_event(served, "payment_intent.succeeded", intent)
        assert again.status_code == 200
        assert served.handle_inbox() >= 1

        paid = ok(client.get(f"/v1/orders/{started['order_id']}"))
        assert paid["status"] == "paid"
        assert paid["paid"] == money(5_000)
        assert [t["status"] for t in paid["tickets"]] == ["issued", "issued"]
        types = ok(client.get(f"/v1/events/{event['id']}"))["ticket_types"][0]
        assert (types["held"], types["sold"], types["available"]) == (0, 2, 3)

        # The escrow holds the organizer's share (5% platform fee by default).
        escrows = ok(client.get("/v1/escrows", params={"event_id": event["id"]}))["data"]
        assert len(escrows) == 1
        held = escrows[0]
        assert held["state"] == "collecting"
        assert held["captured"] == money(5_000)
        assert held["held"] == money(5_000 - 250)  # the platform bears Stripe's fee
        assert ok(client.get(f"/v1/escrows/{held['id']}")) == held
        trail = ok(client.get(f"/v1/escrows/{held['id']}/transitions"))["data"]
        assert [(t["from_state"], t["to_state"], t["event"]) for t in trail] == [
            ("collecting", "collecting", "capture")
        ]

        # A ticket changes hands, the new one is checked in once.
        first, second = paid["tickets"]
        moved = ok(
            post(
                client,
                f"/v1/tickets/{first['id']}/transfer",
                {"new_holder_email": "grace@example.com"},
            ),
            201,
        )
        assert moved["replaces"] == first["id"]
        assert moved["holder_email"] == "grace@example.com"
        assert ok(client.get(f"/v1/tickets/{first['id']}"))["status"] == "void"
        scanned = ok(
            post(client, "/v1/tickets/check-in", {"code": moved["code"], "scanner": "door-1"})
        )
        assert scanned["status"] == "checked_in"
        assert scanned["checked_in_by"] == "door-1"
        twice = post(client, "/v1/tickets/check-in", {"code": moved["code"], "scanner": "door-2"})
        assert twice.status_code == 409
        assert twice.json()["type"].endswith("/already-checked-in")
        assert twice.json()["checked_in_by"] == "door-1"

        # One ticket refunded: Stripe is asked through the outbox.
        refund = ok(
            post(client, f"/v1/orders/{paid['id']}/refunds", {"ticket_ids": [second["id"]]}),
            201,
        )
        assert refund["order"]["status"] == "partially_refunded"
        statuses = {t["id"]: t["status"] for t in refund["order"]["tickets"]}
        assert statuses[second["id"]] == "refunded"
        tasks = ok(client.get("/v1/deliveries", params={"status": "pending"}))["data"]
        assert "stripe.refund.requested" in {d["type"] for d in tasks}

        # The event is cancelled: the rest of the order is refunded.
        cancelled = ok(post(client, f"/v1/events/{event['id']}/cancel"))
        assert cancelled["refunded_orders"] == 1
        assert cancelled["event"]["cancelled_at"] is not None
        final = ok(client.get(f"/v1/orders/{paid['id']}"))
        assert final["status"] == "refunded"
        late = post(client, "/v1/checkouts", checkout_body)
        assert late.status_code == 409
        assert late.json()["type"].endswith("/not-on-sale")

        report = ok(client.get("/v1/reports/trial-balance"))
        assert report["balanced"] is True


def test_stripe_webhook_refuses_a_bad_signature(served: Served) -> None:
    intent = {"id": "pi_bad", "object": "payment_intent", "metadata": {}}
    forged = send_stripe_event(
        served, "payment_intent.succeeded", intent, secret="whsec_not_the_secret"
    )
    assert forged.status_code == 400
    assert forged.headers["content-type"] == "application/problem+json"
    assert forged.json()["type"] == "https://liventix.dev/problems/invalid-signature"
    with served.client(None) as client:
        unsigned = client.post("/v1/stripe/webhook", content=b'{"id": "evt_1"}')
        assert unsigned.status_code == 400
    with served.engine.connect() as conn:
        stored = conn.execute(
            sa.text("SELECT count(*) FROM messaging.inbox WHERE payload::text LIKE '%pi_bad%'")
        ).scalar_one()
    assert stored == 0


def test_the_platform_releases_due_escrows(served: Served) -> None:
    org, key = new_org(served.engine, "Open Air")
    with served.engine.begin() as conn:
        escrow.set_policy(conn, org, escrow.Policy(hold_period=timedelta(0)))
    now = datetime.now(UTC)
    with served.client(key) as client:
        event = ok(
            post(
                client,
                "/v1/events",
                {
                    "name": "Yesterday",
                    "currency": "USD",
                    "starts_at": iso(now - timedelta(days=1, hours=2)),
                    "ends_at": iso(now - timedelta(days=1)),
                },
            ),
            201,
        )
        ok(
            post(
                client,
                f"/v1/events/{event['id']}/ticket-types",
                {
                    "name": "Late",
                    "price": money(1_000),
                    "capacity": 3,
                    "sales_start": iso(now - timedelta(days=3)),
                    "sales_end": iso(now + timedelta(days=1)),
                },
            ),
            201,
        )
        types = ok(client.get(f"/v1/events/{event['id']}"))["ticket_types"]
        started = ok(
            post(
                client,
                "/v1/checkouts",
                {
                    "event_id": event["id"],
                    "buyer_email": "bo@example.com",
                    "items": [{"ticket_type_id": types[0]["id"], "quantity": 1}],
                },
            ),
            201,
        )
        intent = served.stripe.pay(started["payment_intent_id"])
        assert send_stripe_event(served, "payment_intent.succeeded", intent).status_code == 200
        served.handle_inbox()
        forbidden = post(client, "/v1/escrows/release-due")
        assert forbidden.status_code == 403
        assert forbidden.json()["type"].endswith("/platform-key-required")
        escrow_id = ok(client.get("/v1/escrows", params={"event_id": event["id"]}))["data"][0]["id"]

    with served.client(served.platform_key) as platform:
        steps = ok(post(platform, "/v1/escrows/release-due"))["steps"]
        mine = [s["state"] for s in steps if s["escrow_id"] == escrow_id]
        assert mine == ["holding", "releasable", "release_requested"]
        released = ok(platform.get(f"/v1/escrows/{escrow_id}"))
        assert released["state"] == "release_requested"
        assert released["released"] == money(1_000 - 50)


@pytest.mark.parametrize("quantity", [4])
def test_sold_out_and_unknown_types(served: Served, quantity: int) -> None:
    _org, key = new_org(served.engine)
    with served.client(key) as client:
        event = on_sale_event(client, capacity=3)
        body = {
            "event_id": event["id"],
            "buyer_email": "x@example.com",
            "items": [{"ticket_type_id": event["ticket_types"][0]["id"], "quantity": quantity}],
        }
        sold_out = post(client, "/v1/checkouts", body)
        assert sold_out.status_code == 409
        problem = sold_out.json()
        assert problem["type"].endswith("/sold-out")
        assert (problem["requested"], problem["available"]) == (4, 3)
        ok(client.get(f"/v1/events/{event['id']}"))

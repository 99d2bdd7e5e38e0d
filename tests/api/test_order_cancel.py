"""Cancelling an unpaid order over HTTP: the seats come back at once; a paid order cannot be
cancelled (it is refunded instead); another organization's order is not found."""

from __future__ import annotations

import uuid

from tests.api.support import Served, new_org, ok, on_sale_event


def test_an_unpaid_order_is_cancelled_and_its_seats_released(served: Served) -> None:
    _org, key = new_org(served.engine, "Cancel Club")
    _other, other_key = new_org(served.engine, "Other Club")
    with served.client(key) as client:
        event = on_sale_event(client, capacity=3, price=1_000)
        ticket_type = event["ticket_types"][0]
        started = ok(
            client.post(
                "/v1/checkouts",
                json={
                    "event_id": event["id"],
                    "buyer_email": "bo@example.com",
                    "items": [{"ticket_type_id": ticket_type["id"], "quantity": 2}],
                },
                headers={"Idempotency-Key": f"co-{uuid.uuid4()}"},
            ),
            201,
        )
        order_path = f"/v1/orders/{started['order_id']}"
        with served.client(other_key) as other:
            stranger = other.post(
                f"{order_path}/cancel", headers={"Idempotency-Key": f"x-{uuid.uuid4()}"}
            )
            assert stranger.status_code == 404
        cancel_key = {"Idempotency-Key": f"cancel-{uuid.uuid4()}"}
        cancelled = ok(client.post(f"{order_path}/cancel", headers=cancel_key))
        assert cancelled["status"] == "cancelled"
        assert [t["status"] for t in cancelled["tickets"]] == ["released", "released"]
        assert ok(client.get(f"/v1/events/{event['id']}"))["ticket_types"][0]["held"] == 0
        replay = client.post(f"{order_path}/cancel", headers=cancel_key)
        assert replay.headers["Idempotency-Replayed"] == "true"
        again = client.post(f"{order_path}/cancel", headers={"Idempotency-Key": "another"})
        assert again.status_code == 409
        assert again.headers["content-type"].startswith("application/problem+json")

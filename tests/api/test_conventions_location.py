"""`Location` on every 201 (issue 18 item 6), over HTTP against the served API: each 201 of
every slice names the GET that reads what it created (the GET answers 200 with the object
created), and the tickets slice's replays (same Idempotency-Key, same request) name it too:
the location is stored with the answer under the key."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from tests.api.support import (
    Served,
    iso,
    money,
    new_org,
    ok,
    open_account,
    send_stripe_event,
    transfer_body,
)

Check = Callable[[Any, Any], None]
"""Asserts that the Location's GET (its JSON, first) reads the object the 201 created."""


def _same_id(field: str = "id") -> Check:
    def check(found: Any, answer: Any) -> None:
        assert found["id"] == answer[field], (found, answer)

    return check


def created(
    client: httpx.Client, path: str, body: Any, check: Check, *, replayed: bool
) -> tuple[Any, str]:
    """POST `body` to `path` (a 201); its Location's GET answers 200 and passes `check`;
    with `replayed`, the same request under the same key replays the 201 with the same
    Location. The answer's JSON and its Location."""
    headers = {"Idempotency-Key": f"location-{uuid.uuid4().hex}"}
    first = client.post(path, json=body, headers=headers)
    answer = ok(first, 201)
    location = first.headers.get("Location")
    assert location is not None and location.startswith("/v1/"), (path, first.headers)
    check(ok(client.get(location)), answer)
    if replayed:
        again = client.post(path, json=body, headers=headers)
        assert again.status_code == 201, again.text
        assert again.headers.get("Idempotency-Replayed") == "true"
        assert again.json() == answer
        assert again.headers.get("Location") == location, (path, again.headers)
    return answer, location


def test_every_ticketing_201_names_its_get_and_replays_it(served: Served) -> None:
    _org, key = new_org(served.engine, "Location Hall")
    now = datetime.now(UTC)
    with served.client(key) as client:
        event, where = created(
            client,
            "/v1/events",
            {
                "name": "Located",
                "currency": "USD",
                "starts_at": iso(now + timedelta(days=29)),
                "ends_at": iso(now + timedelta(days=30)),
            },
            _same_id(),
            replayed=True,
        )
        assert where == f"/v1/events/{event['id']}"

        def has_type(found: Any, answer: Any) -> None:
            assert found["id"] == answer["event_id"]
            assert answer["id"] in {t["id"] for t in found["ticket_types"]}

        ticket_type, where = created(
            client,
            f"/v1/events/{event['id']}/ticket-types",
            {
                "name": "Standing",
                "price": money(2_000),
                "capacity": 5,
                "sales_start": iso(now - timedelta(hours=1)),
                "sales_end": iso(now + timedelta(days=28)),
            },
            has_type,
            replayed=True,
        )
        assert where == f"/v1/events/{event['id']}"

        checkout, where = created(
            client,
            "/v1/checkouts",
            {
                "event_id": event["id"],
                "buyer_email": "ada@example.com",
                "items": [{"ticket_type_id": ticket_type["id"], "quantity": 2}],
            },
            _same_id("order_id"),
            replayed=True,
        )
        assert where == f"/v1/orders/{checkout['order_id']}"

        intent = served.stripe.pay(checkout["payment_intent_id"], fee=100)
        assert send_stripe_event(served, "payment_intent.succeeded", intent).status_code == 200
        served.handle_inbox()
        paid = ok(client.get(where))
        assert paid["status"] == "paid", paid
        first, second = paid["tickets"]

        moved, where = created(
            client,
            f"/v1/tickets/{first['id']}/transfer",
            {"new_holder_email": "grace@example.com"},
            _same_id(),
            replayed=True,
        )
        assert where == f"/v1/tickets/{moved['id']}" and moved["id"] != first["id"]

        def same_order(found: Any, answer: Any) -> None:
            assert found["id"] == answer["order"]["id"]
            assert {t["id"]: t["status"] for t in found["tickets"]}[second["id"]] == "refunded"

        _refund, where = created(
            client,
            f"/v1/orders/{paid['id']}/refunds",
            {"ticket_ids": [second["id"]]},
            same_order,
            replayed=True,
        )
        assert where == f"/v1/orders/{paid['id']}"


def test_the_ledger_and_webhook_201s_name_their_get_and_replay_it(served: Served) -> None:
    _org, key = new_org(served.engine, "Location Books")
    with served.client(key) as client:
        cash = open_account(client, "cash")
        sales = open_account(client, "sales", type="revenue")
        account, where = created(
            client,
            "/v1/accounts",
            {"code": "fees", "type": "expense", "currency": "USD"},
            _same_id(),
            replayed=True,
        )
        assert where == f"/v1/accounts/{account['id']}"
        entry, where = created(
            client, "/v1/entries", transfer_body(cash, sales, 700), _same_id(), replayed=True
        )
        assert where == f"/v1/entries/{entry['id']}"
        reversal, where = created(
            client, f"/v1/entries/{entry['id']}/reverse", {}, _same_id(), replayed=True
        )
        assert where == f"/v1/entries/{reversal['id']}" and reversal["id"] != entry["id"]
        hold, where = created(
            client,
            "/v1/holds",
            {"debit_account_id": cash, "credit_account_id": sales, "amount": money(300)},
            _same_id(),
            replayed=True,
        )
        assert where == f"/v1/holds/{hold['id']}"
        hook = served.stripe.hook_url(f"location-{uuid.uuid4().hex}")
        endpoint, where = created(
            client, "/v1/webhook-endpoints", {"url": hook}, _same_id(), replayed=True
        )
        assert where == f"/v1/webhook-endpoints/{endpoint['id']}"


def test_an_organizations_201_names_its_get_and_replays_it(served: Served) -> None:
    with served.client(served.platform_key) as platform:
        org, where = created(
            platform, "/v1/organizations", {"name": "Location Hall"}, _same_id(), replayed=True
        )
    assert where == f"/v1/organizations/{org['id']}"

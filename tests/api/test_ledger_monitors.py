"""Balance monitors over HTTP (issue 16 item 2), on a real server: created (201 with its
Location, replayed under its Idempotency-Key, 409 for another body under it), listed, read
and deleted; a posting that crosses the condition reaches the organization's webhook
endpoint as `ledger.balance_monitor.triggered`; every refusal is a typed 4xx that writes
nothing; another organization's monitor does not exist for a key."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from tests.api.support import Served, idem, new_org, ok, open_account, post, transfer_body


@pytest.fixture
def client(served: Served) -> httpx.Client:
    """A client holding a fresh organization's key."""
    _org, key = new_org(served.engine, "Monitors")
    return served.client(key)


def _monitor_body(account: str, **extra: Any) -> dict[str, Any]:
    return {"account_id": account, "balance": "posted", "operator": ">=", "value": 1000, **extra}


def test_a_monitor_over_http_from_creation_to_deletion(
    served: Served, client: httpx.Client
) -> None:
    wallet = open_account(client, "wallet", "liability")
    cash = open_account(client, "cash")
    hook = ok(
        post(
            client,
            "/v1/webhook-endpoints",
            {
                "url": served.stripe.hook_url("monitors"),
                "event_types": ["ledger.balance_monitor.triggered"],
            },
        ),
        201,
    )
    key = idem()
    created = client.post("/v1/balance-monitors", json=_monitor_body(wallet), headers=key)
    body = ok(created, 201)
    assert created.headers["location"] == f"/v1/balance-monitors/{body['id']}"
    assert (body["object"], body["triggered"], body["deleted_at"]) == (
        "balance_monitor",
        False,
        None,
    )
    replay = client.post("/v1/balance-monitors", json=_monitor_body(wallet), headers=key)
    assert (ok(replay, 201), replay.headers["location"]) == (body, created.headers["location"])
    reused = client.post("/v1/balance-monitors", json=_monitor_body(wallet, value=5), headers=key)
    assert reused.status_code == 409

    ok(post(client, "/v1/entries", transfer_body(cash, wallet, 1500)), 201)
    assert ok(client.get(f"/v1/balance-monitors/{body['id']}"))["triggered"] is True
    with served.engine.begin() as conn:
        sent = conn.execute(
            sa.text(
                "SELECT m.type, m.payload FROM messaging.deliveries d"
                " JOIN messaging.messages m ON m.id = d.message_id WHERE d.endpoint_id = :e"
            ),
            {"e": hook["id"]},
        ).all()
    assert [(s.type, s.payload["current"]) for s in sent] == [
        ("ledger.balance_monitor.triggered", 1500)
    ]

    listed = ok(client.get("/v1/balance-monitors", params={"account_id": wallet}))
    assert [m["id"] for m in listed["data"]] == [body["id"]] and listed["has_more"] is False
    gone = ok(client.delete(f"/v1/balance-monitors/{body['id']}", headers=idem()))
    assert gone["deleted_at"] is not None
    assert ok(client.get("/v1/balance-monitors"))["data"] == []


def _problem(response: httpx.Response, status: int) -> str:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    return str(response.json()["type"]).rsplit("/", 1)[1]


def test_refusals_are_typed_and_write_nothing(served: Served, client: httpx.Client) -> None:
    busy = open_account(client, "fees", "revenue", high_volume=True)
    wallet = open_account(client, "wallet", "liability")
    _other, other_key = new_org(served.engine, "Elsewhere")
    with served.client(other_key) as other:
        theirs = ok(
            post(
                other, "/v1/balance-monitors", _monitor_body(open_account(other, "w", "liability"))
            ),
            201,
        )
    refusals = [
        (_monitor_body(busy), 422, "monitor-on-high-volume-account"),
        (_monitor_body(theirs["account_id"]), 404, "account-not-found"),
        (_monitor_body(wallet, operator="<>"), 422, "validation-error"),
        (_monitor_body(wallet, value=2**63), 422, "validation-error"),
        (_monitor_body(wallet, balance="total"), 422, "validation-error"),
    ]
    for body, status, kind in refusals:
        assert _problem(post(client, "/v1/balance-monitors", body), status) == kind
    assert (
        _problem(client.get(f"/v1/balance-monitors/{theirs['id']}"), 404)
        == "balance-monitor-not-found"
    )
    deleted = client.delete(f"/v1/balance-monitors/{theirs['id']}", headers=idem())
    assert _problem(deleted, 404) == "balance-monitor-not-found"
    assert ok(client.get("/v1/balance-monitors"))["data"] == []

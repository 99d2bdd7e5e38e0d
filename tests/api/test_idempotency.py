"""Idempotency over HTTP: a replay returns the first answer (status and body) with
`Idempotency-Replayed: true` and writes nothing; the same key with another body or path is
409; a business refusal is stored and replayed; an invalid request is not, so its key stays
free; racing requests under one key make one effect; the header becomes the domain's key."""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
import sqlalchemy as sa

from tests.api.support import Served, money, new_org, ok, open_account, post, transfer_body


@pytest.fixture
def org(served: Served) -> tuple[uuid.UUID, httpx.Client]:
    """A fresh organization and a client with its key."""
    org_id, key = new_org(served.engine)
    return org_id, served.client(key)


def _count(served: Served, table: str, org_id: uuid.UUID) -> int:
    with served.engine.connect() as conn:
        return int(
            conn.execute(
                sa.text(f"SELECT count(*) FROM payments.{table} WHERE org_id = :org"),
                {"org": org_id},
            ).scalar_one()
        )


def test_replay_returns_the_first_answer_and_writes_nothing(
    served: Served, org: tuple[uuid.UUID, httpx.Client]
) -> None:
    org_id, client = org
    cash = open_account(client, "cash")
    sales = open_account(client, "sales", type="revenue")
    headers = {"Idempotency-Key": "sale-42"}
    first = client.post("/v1/entries", json=transfer_body(cash, sales, 900), headers=headers)
    assert first.status_code == 201
    assert "Idempotency-Replayed" not in first.headers
    entries = _count(served, "entries", org_id)

    # The same JSON with other spacing and key order is the same request.
    body = (
        '{"lines": [{"side": "debit", "amount": {"currency": "USD", "amount": 900}, '
        f'"account_id": "{cash}"}}, {{"account_id": "{sales}", "side": "credit", '
        '"amount": {"amount": 900, "currency": "USD"}}]}'
    )
    again = client.post(
        "/v1/entries",
        content=body,
        headers={**headers, "Content-Type": "application/json"},
    )
    assert again.status_code == 201
    assert again.headers["Idempotency-Replayed"] == "true"
    assert again.content == first.content
    assert _count(served, "entries", org_id) == entries
    assert ok(client.get(f"/v1/accounts/{cash}/balance"))["posted"] == money(900)


def test_same_key_with_another_body_or_path_is_409(
    org: tuple[uuid.UUID, httpx.Client],
) -> None:
    _org, client = org
    cash = open_account(client, "cash")
    sales = open_account(client, "sales", type="revenue")
    headers = {"Idempotency-Key": "k-1"}
    assert client.post(
        "/v1/entries", json=transfer_body(cash, sales, 1), headers=headers
    ).is_success
    other_body = client.post("/v1/entries", json=transfer_body(cash, sales, 2), headers=headers)
    assert other_body.status_code == 409
    assert other_body.headers["content-type"] == "application/problem+json"
    assert other_body.json()["type"] == "https://liventix.dev/problems/idempotency-key-reused"
    assert other_body.json()["idempotency_key"] == "k-1"
    other_path = client.post(f"/v1/accounts/{cash}/close", headers=headers)
    assert other_path.status_code == 409
    assert ok(client.get(f"/v1/accounts/{cash}"))["closed"] is False
    assert ok(client.get(f"/v1/accounts/{cash}/balance"))["posted"] == money(1)


def test_keys_are_scoped_per_organization(served: Served) -> None:
    _a, key_a = new_org(served.engine, "A")
    _b, key_b = new_org(served.engine, "B")
    with served.client(key_a) as a, served.client(key_b) as b:
        headers = {"Idempotency-Key": "shared-key"}
        one = a.post(
            "/v1/accounts", json={"code": "x", "type": "asset", "currency": "USD"}, headers=headers
        )
        two = b.post(
            "/v1/accounts", json={"code": "x", "type": "asset", "currency": "USD"}, headers=headers
        )
        assert (one.status_code, two.status_code) == (201, 201)
        assert "Idempotency-Replayed" not in two.headers
        assert one.json()["id"] != two.json()["id"]


def test_a_business_refusal_is_stored_and_replayed(
    served: Served, org: tuple[uuid.UUID, httpx.Client]
) -> None:
    org_id, client = org
    wallet = open_account(client, "wallet", type="liability", debits_must_not_exceed_credits=True)
    shop = open_account(client, "shop", type="liability")
    headers = {"Idempotency-Key": "spend-1"}
    body = transfer_body(wallet, shop, 500)
    refused = client.post("/v1/entries", json=body, headers=headers)
    assert refused.status_code == 422
    assert refused.json()["type"] == "https://liventix.dev/problems/insufficient-funds"
    # Funds arrive; the key still answers its first answer: a refusal is final for its key.
    funding = open_account(client, "funding")
    ok(post(client, "/v1/entries", transfer_body(funding, wallet, 1_000)), 201)
    replay = client.post("/v1/entries", json=body, headers=headers)
    assert replay.status_code == 422
    assert replay.headers["Idempotency-Replayed"] == "true"
    # The first answer again, but for the request id its problem names: each request's own.
    first, again = refused.json(), replay.json()
    assert again.pop("request_id") == replay.headers["request-id"] != first.pop("request_id")
    assert again == first
    assert _count(served, "entries", org_id) == 1
    fresh = client.post("/v1/entries", json=body, headers={"Idempotency-Key": "spend-2"})
    assert fresh.status_code == 201


def test_an_invalid_request_is_not_stored(org: tuple[uuid.UUID, httpx.Client]) -> None:
    _org, client = org
    headers = {"Idempotency-Key": "open-1"}
    bad = client.post(
        "/v1/accounts", json={"code": "", "type": "asset", "currency": "USD"}, headers=headers
    )
    assert bad.status_code == 422
    assert bad.json()["field"] == "body.code"
    good = client.post(
        "/v1/accounts", json={"code": "c", "type": "asset", "currency": "USD"}, headers=headers
    )
    assert good.status_code == 201


def test_posts_need_a_valid_key(org: tuple[uuid.UUID, httpx.Client]) -> None:
    _org, client = org
    body = {"code": "c", "type": "asset", "currency": "USD"}
    for headers in (
        {},
        {"Idempotency-Key": ""},
        {"Idempotency-Key": "x" * 201},
        {"Idempotency-Key": "with space"},
    ):
        refused = client.post("/v1/accounts", json=body, headers=headers)
        assert refused.status_code == 400, headers
        problem = refused.json()
        assert problem["type"] == "https://liventix.dev/problems/idempotency-key-required"
        assert problem["field"] == "Idempotency-Key"
    assert ok(client.get("/v1/accounts"))["data"] == []


def test_racing_requests_under_one_key_make_one_effect(
    served: Served, org: tuple[uuid.UUID, httpx.Client]
) -> None:
    org_id, client = org
    cash = open_account(client, "cash")
    sales = open_account(client, "sales", type="revenue")
    body = transfer_body(cash, sales, 250)
    key = {"Idempotency-Key": "race-1"}
    with ThreadPoolExecutor(8) as pool:
        answers = list(
            pool.map(lambda _: client.post("/v1/entries", json=body, headers=key), range(8))
        )
    assert {a.status_code for a in answers} == {201}
    assert len({a.content for a in answers}) == 1
    assert sum(a.headers.get("Idempotency-Replayed") == "true" for a in answers) == 7
    assert _count(served, "entries", org_id) == 1
    assert ok(client.get(f"/v1/accounts/{cash}/balance"))["posted"] == money(250)


def test_the_header_becomes_the_ledgers_key(
    served: Served, org: tuple[uuid.UUID, httpx.Client]
) -> None:
    org_id, client = org
    cash = open_account(client, "cash")
    sales = open_account(client, "sales", type="revenue")
    entry = ok(
        client.post(
            "/v1/entries",
            json=transfer_body(cash, sales, 10),
            headers={"Idempotency-Key": "escrow:release:x"},
        ),
        201,
    )
    with served.engine.connect() as conn:
        keys = conn.execute(
            sa.text("""SELECT key, result ->> 'id' FROM payments.idempotency_keys
                        WHERE org_id = :org AND operation = 'post_entries'"""),
            {"org": org_id},
        ).all()
    # Prefixed: a client's key never collides with a key the domain derives itself.
    assert [tuple(k) for k in keys] == [("api:escrow:release:x", entry["id"])]

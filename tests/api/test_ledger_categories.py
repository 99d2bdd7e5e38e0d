"""Account categories over HTTP on a real server: create (201, Location, replay), members,
nested balances now and as of a moment, typed refusals (cycle, currency, unknown), pages, and
another organization's key seeing none of them."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
import pytest

from tests.api.support import Served, money, new_org, ok, open_account, post, transfer_body


@pytest.fixture
def client(served: Served) -> httpx.Client:
    """A client holding a fresh organization's key."""
    _org, key = new_org(served.engine)
    return served.client(key)


def _category(client: httpx.Client, code: str, side: str = "debit", **extra: object) -> str:
    body = {"code": code, "currency": "USD", "normal_side": side, **extra}
    return str(ok(post(client, "/v1/account-categories", body), 201)["id"])


def test_create_members_and_nested_balances(client: httpx.Client) -> None:
    cash, bank = open_account(client, "cash"), open_account(client, "bank")
    sales = open_account(client, "sales", "revenue")
    ok(post(client, "/v1/entries", transfer_body(cash, sales, 700)), 201)
    ok(post(client, "/v1/entries", transfer_body(bank, sales, 300)), 201)

    key = {"Idempotency-Key": "create-liquid"}
    body = {"code": "liquid", "currency": "USD", "normal_side": "debit", "name": "Liquid"}
    created = post(client, "/v1/account-categories", body, **key)
    first = ok(created, 201)
    replay = post(client, "/v1/account-categories", body, **key)
    assert ok(replay, 201) == first
    assert replay.headers["location"] == created.headers["location"]
    assert created.headers["location"] == f"/v1/account-categories/{first['id']}"
    conflict = post(client, "/v1/account-categories", {**body, "code": "other"}, **key)
    assert conflict.status_code == 409

    top = _category(client, "assets")
    ok(post(client, f"/v1/account-categories/{first['id']}/members", {"account_ids": [cash, bank]}))
    got = ok(
        post(
            client,
            f"/v1/account-categories/{top}/members",
            {"account_ids": [bank], "category_ids": [first["id"]]},
        )
    )
    assert got["object"] == "account_category"
    assert got["balance"]["posted"] == money(1000)
    assert got["balance"]["accounts"] == 2
    assert got["account_ids"] == [bank] and got["category_ids"] == [first["id"]]

    past = ok(
        client.get(
            f"/v1/account-categories/{top}",
            params={"as_of": datetime(2000, 1, 1, tzinfo=UTC).isoformat()},
        )
    )
    assert past["balance"]["posted"] == money(0) and past["balance"]["by"] == "recorded"

    removed = ok(
        post(client, f"/v1/account-categories/{top}/members/remove", {"account_ids": [bank]})
    )
    assert removed["account_ids"] == [] and removed["balance"]["posted"] == money(1000)


def test_refusals_are_typed(client: httpx.Client) -> None:
    a, b = _category(client, "a"), _category(client, "b")
    eur = open_account(client, "eur", currency="EUR")
    ok(post(client, f"/v1/account-categories/{a}/members", {"category_ids": [b]}))
    cycle = post(client, f"/v1/account-categories/{b}/members", {"category_ids": [a]})
    assert (cycle.status_code, cycle.json()["type"].rsplit("/", 1)[-1]) == (422, "category-cycle")
    mismatch = post(client, f"/v1/account-categories/{a}/members", {"account_ids": [eur]})
    assert mismatch.status_code == 422
    assert mismatch.json()["type"].endswith("category-currency-mismatch")
    missing = client.get("/v1/account-categories/00000000-0000-0000-0000-000000000000")
    assert missing.status_code == 404
    assert missing.json()["type"].endswith("account-category-not-found")
    dup = post(
        client, "/v1/account-categories", {"code": "a", "currency": "USD", "normal_side": "debit"}
    )
    assert dup.status_code == 409 and dup.json()["type"].endswith("duplicate-category-code")
    empty = post(client, f"/v1/account-categories/{a}/members", {})
    assert empty.status_code == 422
    bad = post(
        client, "/v1/account-categories", {"code": "x", "currency": "USD", "normal_side": "up"}
    )
    assert bad.status_code == 422
    cursor = client.get("/v1/account-categories", params={"starting_after": "nope"})
    assert cursor.status_code == 422


def test_pages_and_tenancy(served: Served, client: httpx.Client) -> None:
    ids = [_category(client, f"c{i}") for i in range(3)]
    first = ok(client.get("/v1/account-categories", params={"limit": 2}))
    rest = ok(
        client.get(
            "/v1/account-categories", params={"limit": 2, "starting_after": first["data"][-1]["id"]}
        )
    )
    assert sorted(c["id"] for c in first["data"] + rest["data"]) == sorted(ids)
    assert first["has_more"] and not rest["has_more"]
    _org, key = new_org(served.engine, "Other")
    other = served.client(key)
    assert ok(other.get("/v1/account-categories"))["data"] == []
    assert other.get(f"/v1/account-categories/{ids[0]}").status_code == 404
    assert (
        post(
            other, f"/v1/account-categories/{ids[0]}/members", {"category_ids": [ids[1]]}
        ).status_code
        == 404
    )

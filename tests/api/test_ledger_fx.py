"""Currency conversions over HTTP on a real server: an organization converts with its key
through the platform's FX liquidity accounts (opened by the platform), replay and conflict by
Idempotency-Key, typed refusals (no liquidity yet, same currency, a float rate, too small),
and another organization sees none of it."""

from __future__ import annotations

import httpx
import pytest

import ledger
from ledger.fx import set_fx_rate
from tests.api.support import Served, idem, money, new_org, ok, open_account, post


@pytest.fixture
def client(served: Served) -> httpx.Client:
    """A client holding a fresh organization's key, with funded EUR and empty USD and JPY
    wallets, the platform's liquidity open in EUR and USD."""
    with served.engine.begin() as conn:
        for currency in ("EUR", "USD"):
            ledger.open_fx_liquidity(conn, currency)
        set_fx_rate(conn, "EUR", "USD", "1.0843")
    _org, key = new_org(served.engine)
    return served.client(key)


def _wallets(client: httpx.Client) -> dict[str, str]:
    found = {
        cur: open_account(client, f"wallet:{cur}", "liability", currency=cur)
        for cur in ("EUR", "USD", "JPY")
    }
    cash = open_account(client, "cash:eur", "asset", currency="EUR")
    entry = {
        "lines": [
            {"account_id": cash, "side": "debit", "amount": money(100_000, "EUR")},
            {"account_id": found["EUR"], "side": "credit", "amount": money(100_000, "EUR")},
        ]
    }
    ok(post(client, "/v1/entries", entry), 201)
    return found


def test_convert_replay_and_read(client: httpx.Client) -> None:
    w = _wallets(client)
    body = {
        "source_account_id": w["EUR"],
        "target_account_id": w["USD"],
        "amount": 1000,
        "rate": "1.0843",
    }
    first = post(client, "/v1/conversions", body, **{"Idempotency-Key": "fx-1"})
    made = ok(first, 201)
    assert (made["source"], made["target"], made["rate"], made["rounding"]) == (
        money(1000, "EUR"),
        money(1084, "USD"),
        "1.0843",
        "3/10",
    )
    again = post(client, "/v1/conversions", body, **{"Idempotency-Key": "fx-1"})
    assert ok(again, 201) == made and again.headers["location"] == first.headers["location"]
    other = post(client, "/v1/conversions", {**body, "amount": 999}, **{"Idempotency-Key": "fx-1"})
    assert other.status_code == 409
    assert ok(client.get(first.headers["location"])) == made
    assert ok(client.get(f"/v1/accounts/{w['USD']}"))["balance"]["posted"] == money(1084)
    assert [c["id"] for c in ok(client.get("/v1/conversions"))["data"]] == [made["id"]]
    entry = ok(client.get(f"/v1/entries/{made['target_entry_id']}"))
    assert [line["amount"] for line in entry["lines"]] == [money(1084, "USD")] * 2


def test_refusals_are_typed(served: Served, client: httpx.Client) -> None:
    w = _wallets(client)
    other_eur = open_account(client, "other:eur", "liability", currency="EUR")

    def refused(body: dict[str, object]) -> tuple[int, str]:
        r = post(client, "/v1/conversions", body)
        return r.status_code, str(r.json().get("type", "")).rsplit("/", 1)[-1]

    base = {"source_account_id": w["EUR"], "target_account_id": w["USD"], "amount": 1000}
    assert refused({**base, "target_account_id": w["JPY"], "rate": "160"}) == (
        409,
        "fx-rate-missing",
    )
    platform = served.client(served.platform_key)
    for pair, rate in (("EUR/JPY", "160"), ("EUR/USD", "0.001")):
        set_rate = platform.put(f"/v1/fx-rates/{pair}", json={"rate": rate}, headers=idem())
        assert ok(set_rate)["rate"] == rate
    assert refused({**base, "target_account_id": w["JPY"], "rate": "160"}) == (
        409,
        "fx-liquidity-missing",
    )
    assert refused({**base, "target_account_id": other_eur, "rate": "1"}) == (422, "same-currency")
    assert refused({**base, "amount": 1, "rate": "0.001"}) == (422, "conversion-too-small")
    assert refused({**base, "amount": 1}) == (422, "conversion-too-small")
    assert refused({**base, "rate": 1.08})[0] == 422  # a JSON number: refused, never a float
    assert refused({**base, "rate": "1/0"}) == (422, "invalid-rate")
    _org, key = new_org(served.engine, "Other")
    stranger = served.client(key)
    assert ok(stranger.get("/v1/conversions"))["data"] == []
    r = post(stranger, "/v1/conversions", {**base, "rate": "1.1"})
    assert r.status_code == 404


def test_the_rate_is_the_platforms(served: Served, client: httpx.Client) -> None:
    """The review's request (1 EUR cent at "1000000") is refused with the current rate; the
    organization cannot set a rate; the rate used is always the platform's."""
    w = _wallets(client)
    base = {"source_account_id": w["EUR"], "target_account_id": w["USD"], "amount": 1}
    greedy = post(client, "/v1/conversions", {**base, "rate": "1000000"})
    assert greedy.status_code == 409, greedy.text
    problem = greedy.json()
    assert problem["type"].rsplit("/", 1)[-1] == "fx-rate-changed"
    assert problem["rate"] == "10843/10000"
    own = client.put("/v1/fx-rates/EUR/USD", json={"rate": "1000000"}, headers=idem())
    assert own.status_code == 403
    assert ok(client.get(f"/v1/accounts/{w['USD']}"))["balance"]["posted"] == money(0)
    made = ok(post(client, "/v1/conversions", {**base, "amount": 1000}), 201)
    assert (made["target"], made["rate"]) == (money(1084, "USD"), "1.0843")
    platform = served.client(served.platform_key)
    ok(platform.put("/v1/fx-rates/EUR/USD", json={"rate": "1.1"}, headers=idem()))
    stale = post(client, "/v1/conversions", {**base, "amount": 1000, "rate": "1.0843"})
    assert stale.status_code == 409 and stale.json()["rate"] == "11/10"
    again = ok(post(client, "/v1/conversions", {**base, "amount": 1000, "rate": "1.1"}), 201)
    assert again["target"] == money(1100, "USD")

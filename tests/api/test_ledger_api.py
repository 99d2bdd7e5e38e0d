"""The ledger over HTTP: accounts, entries, holds, balances (now and as of a moment, by
recording time and by effective date), statements and lists (keyset pages), the trial
balance, and money as exact integers at the top of the 64-bit range."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from urllib.parse import quote

import httpx

import ledger
from tests.api.support import (
    Served,
    money,
    ok,
    open_account,
    post,
    transfer_body,
)


def test_accounts_open_read_list_close(client: httpx.Client) -> None:
    opened = ok(
        post(
            client,
            "/v1/accounts",
            {
                "code": "cash",
                "name": "Cash at Stripe",
                "type": "asset",
                "currency": "USD",
                "metadata": {"bank": "stripe", "n": 3, "nested": {"ok": True}},
            },
        ),
        201,
    )
    assert opened["code"] == "cash"
    assert opened["name"] == "Cash at Stripe"
    assert opened["metadata"] == {"bank": "stripe", "n": 3, "nested": {"ok": True}}
    assert opened["balance"]["posted"] == money(0)
    assert opened["balance"]["normal_side"] == "debit"
    assert ok(client.get(f"/v1/accounts/{opened['id']}")) == opened

    closed = ok(post(client, f"/v1/accounts/{opened['id']}/close"))
    assert closed["closed"] is True
    listed = ok(client.get("/v1/accounts"))
    assert [a["id"] for a in listed["data"]] == [opened["id"]]
    assert listed["data"][0]["closed"] is True


def test_account_list_is_keyset_paginated(client: httpx.Client) -> None:
    ids = [open_account(client, f"acct-{i}") for i in range(5)]
    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        params: dict[str, str | int] = {"limit": 2}
        if cursor is not None:
            params["starting_after"] = cursor
        page = ok(client.get("/v1/accounts", params=params))
        assert page["object"] == "list"
        seen += [a["id"] for a in page["data"]]
        pages += 1
        if not page["has_more"]:
            break
        cursor = page["data"][-1]["id"]
    assert seen == ids
    assert pages == 3


def test_entries_post_read_list_reverse(client: httpx.Client) -> None:
    cash = open_account(client, "cash")
    sales = open_account(client, "sales", type="revenue")
    effective = datetime(2026, 1, 15, 12, tzinfo=UTC)
    first = ok(
        post(
            client,
            "/v1/entries",
            transfer_body(
                cash,
                sales,
                5_000,
                description="Ticket sale",
                metadata={"order": "o-1"},
                external_ref="sale-1",
                effective_at=effective.isoformat(),
            ),
        ),
        201,
    )
    assert first["kind"] == "standard"
    assert first["external_ref"] == "sale-1"
    assert datetime.fromisoformat(first["effective_at"]) == effective
    assert [(x["side"], x["amount"]) for x in first["lines"]] == [
        ("debit", money(5_000)),
        ("credit", money(5_000)),
    ]
    assert ok(client.get(f"/v1/entries/{first['id']}")) == first

    second = ok(post(client, "/v1/entries", transfer_body(cash, sales, 700)), 201)
    reversal = ok(post(client, f"/v1/entries/{second['id']}/reverse", {"description": "oops"}), 201)
    assert reversal["kind"] == "reversal"
    assert reversal["reverses_entry_id"] == second["id"]
    assert [(x["account_id"], x["side"]) for x in reversal["lines"]] == [
        (cash, "credit"),
        (sales, "debit"),
    ]

    listed = ok(client.get("/v1/entries", params={"limit": 2}))
    assert [e["id"] for e in listed["data"]] == [first["id"], second["id"]]
    assert listed["has_more"] is True
    rest = ok(client.get("/v1/entries", params={"starting_after": listed["data"][-1]["id"]}))
    assert [e["id"] for e in rest["data"]] == [reversal["id"]]
    assert rest["has_more"] is False
    only = ok(client.get("/v1/entries", params={"account_id": sales, "limit": 10}))
    assert len(only["data"]) == 3

    balance = ok(client.get(f"/v1/accounts/{cash}/balance"))
    assert balance["posted"] == money(5_000)
    assert balance["version"] == 3


def test_holds_create_post_in_part_void(client: httpx.Client) -> None:
    wallet = open_account(client, "wallet", type="liability", debits_must_not_exceed_credits=True)
    funding = open_account(client, "funding")
    merchant = open_account(client, "merchant", type="liability")
    ok(post(client, "/v1/entries", transfer_body(funding, wallet, 10_000)), 201)

    hold = ok(
        post(
            client,
            "/v1/holds",
            {
                "debit_account_id": wallet,
                "credit_account_id": merchant,
                "amount": money(6_000),
                "description": "pre-authorisation",
            },
        ),
        201,
    )
    assert hold["status"] == "open"
    assert ok(client.get(f"/v1/accounts/{wallet}/balance"))["available"] == money(4_000)
    posted = ok(post(client, f"/v1/holds/{hold['id']}/post", {"amount": money(2_500)}))
    assert posted["status"] == "posted"
    assert posted["posted_amount"] == money(2_500)
    entry = ok(client.get(f"/v1/entries/{posted['entry_id']}"))
    assert entry["kind"] == "hold_post"
    assert entry["hold_id"] == hold["id"]
    after = ok(client.get(f"/v1/accounts/{wallet}/balance"))
    assert (after["posted"], after["available"]) == (money(7_500), money(7_500))

    other = ok(
        post(
            client,
            "/v1/holds",
            {"debit_account_id": wallet, "credit_account_id": merchant, "amount": money(1)},
        ),
        201,
    )
    voided = ok(post(client, f"/v1/holds/{other['id']}/void"))
    assert voided["status"] == "voided"
    assert ok(client.get(f"/v1/holds/{other['id']}")) == voided


def test_balances_as_of_recording_time_and_effective_date(client: httpx.Client) -> None:
    cash = open_account(client, "cash")
    sales = open_account(client, "sales", type="revenue")
    ok(post(client, "/v1/entries", transfer_body(cash, sales, 100)), 201)
    time.sleep(0.05)
    between = datetime.now(UTC)
    time.sleep(0.05)
    backdated = (between - timedelta(days=10)).isoformat()
    ok(post(client, "/v1/entries", transfer_body(cash, sales, 50, effective_at=backdated)), 201)

    def as_of(moment: datetime, by: str) -> int:
        found = ok(
            client.get(
                f"/v1/accounts/{cash}/balance",
                params={"as_of": moment.isoformat(), "by": by},
            )
        )
        assert found["by"] == by
        return int(found["posted"]["amount"])

    assert as_of(between, "recorded") == 100
    assert as_of(between, "effective") == 150
    assert as_of(between - timedelta(days=5), "effective") == 50

    def effective(moment: datetime) -> int:
        params = {"effective_at": moment.isoformat()}
        found = ok(client.get(f"/v1/accounts/{cash}/balance", params=params))
        assert found["by"] == "effective"
        return int(found["posted"]["amount"])

    assert effective(between) == 150
    assert effective(between - timedelta(days=5)) == 50
    both = {"effective_at": between.isoformat(), "as_of": between.isoformat()}
    assert client.get(f"/v1/accounts/{cash}/balance", params=both).status_code == 422
    assert ok(client.get(f"/v1/accounts/{cash}/balance"))["posted"] == money(150)
    naive = quote(datetime.now().replace(tzinfo=None).isoformat())
    refused = client.get(f"/v1/accounts/{cash}/balance?as_of={naive}")
    assert refused.status_code == 422
    assert refused.json()["field"] == "query.as_of"


def test_statement_pages_carry_the_running_balance(client: httpx.Client) -> None:
    cash = open_account(client, "cash")
    sales = open_account(client, "sales", type="revenue")
    for amount in (100, 200, 300):
        ok(post(client, "/v1/entries", transfer_body(cash, sales, amount)), 201)
    ok(post(client, "/v1/entries", transfer_body(sales, cash, 50)), 201)
    first = ok(client.get(f"/v1/accounts/{cash}/statement", params={"limit": 3}))
    assert first["opening_balance"] == money(0)
    assert [x["balance_after"]["amount"] for x in first["lines"]] == [100, 300, 600]
    assert first["has_more"] is True
    after = first["lines"][-1]["line_id"]
    rest = ok(client.get(f"/v1/accounts/{cash}/statement", params={"starting_after": after}))
    assert rest["opening_balance"] == money(600)
    assert [(x["side"], x["balance_after"]["amount"]) for x in rest["lines"]] == [("credit", 550)]
    assert rest["has_more"] is False
    # A full last page says so: nothing follows it.
    exact = ok(client.get(f"/v1/accounts/{cash}/statement", params={"limit": 4}))
    assert len(exact["lines"]) == 4 and exact["has_more"] is False


def test_trial_balance_of_the_organization(client: httpx.Client, served: Served) -> None:
    cash = open_account(client, "cash")
    sales = open_account(client, "sales", type="revenue")
    ok(post(client, "/v1/entries", transfer_body(cash, sales, 1_234)), 201)
    for path in ("/v1/trial-balance", "/v1/reports/trial-balance"):
        report = ok(client.get(path))
        assert report["balanced"] is True
        assert report["totals"] == [{"currency": "USD", "debits": 1_234, "credits": 1_234}]
        assert {(r["code"], r["debit"], r["credit"]) for r in report["rows"]} == {
            ("cash", 1_234, 0),
            ("sales", 0, 1_234),
        }


def test_amounts_at_the_top_of_64_bits_stay_exact(client: httpx.Client) -> None:
    cash = open_account(client, "cash")
    equity = open_account(client, "equity", type="equity")
    top = ledger.MAX_AMOUNT
    entry = ok(post(client, "/v1/entries", transfer_body(cash, equity, top)), 201)
    assert entry["lines"][0]["amount"] == money(top)
    balance = ok(client.get(f"/v1/accounts/{cash}/balance"))
    assert balance["posted"]["amount"] == top == 9_223_372_036_854_775_807
    assert '"amount":9223372036854775807' in client.get(f"/v1/accounts/{cash}/balance").text
    beyond = post(client, "/v1/entries", transfer_body(cash, equity, top + 1))
    assert beyond.status_code == 422
    assert beyond.json()["field"] == "body.lines.0.amount.amount"
    as_float = post(
        client,
        "/v1/entries",
        {
            "lines": [
                {"account_id": cash, "side": "debit", "amount": {"amount": 1.5, "currency": "USD"}},
                {"account_id": equity, "side": "credit", "amount": money(1)},
            ]
        },
    )
    assert as_float.status_code == 422
    assert as_float.json()["field"] == "body.lines.0.amount.amount"

"""Issue 13 item 5 over HTTP: a hold whose expiry is not in the future, and an entry whose
lines cancel out on the same account, are refused with a typed 422 problem naming the
reason, and nothing is written (the accounts' balances and versions stay as they were)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pytest

from tests.api.support import Served, money, new_org, ok, open_account, post, transfer_body


@pytest.fixture
def client(served: Served) -> httpx.Client:
    """A client holding a fresh organization's key."""
    _org, key = new_org(served.engine)
    return served.client(key)


def _state(client: httpx.Client, *accounts: str) -> list[object]:
    return [ok(client.get(f"/v1/accounts/{a}")) for a in accounts] + [
        ok(client.get(f"/v1/accounts/{a}/balance")) for a in accounts
    ]


@pytest.mark.parametrize("ago", [timedelta(hours=1), timedelta(seconds=1)])
def test_a_hold_expiring_in_the_past_is_refused(client: httpx.Client, ago: timedelta) -> None:
    cash = open_account(client, "cash")
    sales = open_account(client, "sales", type="revenue")
    before = _state(client, cash, sales)
    expires = (datetime.now(UTC) - ago).isoformat()
    body = {
        "debit_account_id": cash,
        "credit_account_id": sales,
        "amount": money(10),
        "expires_at": expires,
    }
    refused = post(client, "/v1/holds", body)
    assert refused.status_code == 422, refused.text
    problem = refused.json()
    assert problem["type"].endswith("/hold-expiry-not-in-future")
    assert problem["detail"].startswith("A hold's expiry must lie in the future")
    assert datetime.fromisoformat(problem["expires_at"]) < datetime.fromisoformat(problem["now"])
    assert _state(client, cash, sales) == before
    # The control: the same hold a minute ahead is taken.
    ahead = {**body, "expires_at": (datetime.now(UTC) + timedelta(minutes=1)).isoformat()}
    ok(post(client, "/v1/holds", ahead), 201)


def test_an_entry_debiting_and_crediting_the_same_account_is_refused(
    client: httpx.Client,
) -> None:
    cash = open_account(client, "cash")
    sales = open_account(client, "sales", type="revenue")
    before = _state(client, cash, sales)
    for body in (
        transfer_body(cash, cash, 100),
        {
            "lines": [
                {"account_id": cash, "side": "debit", "amount": money(70)},
                {"account_id": cash, "side": "debit", "amount": money(30)},
                {"account_id": cash, "side": "credit", "amount": money(100)},
            ]
        },
    ):
        refused = post(client, "/v1/entries", body)
        assert refused.status_code == 422, refused.text
        problem = refused.json()
        assert problem["type"].endswith("/accounts-must-be-different")
        assert problem["detail"].startswith("The entry's lines cancel out on each account")
        assert problem["account_ids"] == [cash]
    assert _state(client, cash, sales) == before
    # The control: lines on the same account beside others that move money are taken.
    mixed = {
        "lines": [
            {"account_id": cash, "side": "debit", "amount": money(5)},
            {"account_id": cash, "side": "credit", "amount": money(5)},
            {"account_id": cash, "side": "debit", "amount": money(20)},
            {"account_id": sales, "side": "credit", "amount": money(20)},
        ]
    }
    ok(post(client, "/v1/entries", mixed), 201)

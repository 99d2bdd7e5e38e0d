"""`POST /v1/entries/batch`: one result per entry; a refused entry (or linked chain) fails
alone, with the problem its single-entry route gives; the batch is idempotent under its key."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest

from tests.api.support import money, ok, open_account, post, transfer_body


def _posted(client: httpx.Client, account: str) -> int:
    amount: int = ok(client.get(f"/v1/accounts/{account}/balance"))["posted"]["amount"]
    return amount


def _single_problem(client: httpx.Client, body: dict[str, Any]) -> dict[str, Any]:
    response = post(client, "/v1/entries", body)
    assert 400 <= response.status_code < 500, response.text
    problem: dict[str, Any] = response.json()
    return problem


def test_each_entry_has_its_own_result(client: httpx.Client) -> None:
    cash = open_account(client, "cash")
    sales = open_account(client, "sales", "revenue")
    wallet = open_account(client, "wallet", "liability", debits_must_not_exceed_credits=True)
    too_much = transfer_body(wallet, cash, 80)
    wrong_currency = {
        "lines": [
            {"account_id": cash, "side": "debit", "amount": money(5, "EUR")},
            {"account_id": sales, "side": "credit", "amount": money(5, "EUR")},
        ]
    }
    body = {
        "entries": [
            transfer_body(cash, wallet, 50),
            too_much,
            transfer_body(cash, sales, 7),
            wrong_currency,
        ]
    }
    key = {"Idempotency-Key": f"batch-{uuid.uuid4()}"}
    answer = ok(post(client, "/v1/entries/batch", body, **key))
    results = answer["results"]
    assert [r["status"] for r in results] == ["posted", "refused", "posted", "refused"]
    assert [r["index"] for r in results] == [0, 1, 2, 3]
    assert results[0]["entry_id"] and results[1]["entry_id"] is None
    assert _posted(client, sales) == 7 and _posted(client, wallet) == 50

    # The refusals are the problems POST /v1/entries gives for the same entry.
    for index, single in ((1, too_much), (3, wrong_currency)):
        expected = _single_problem(client, single)
        got = results[index]["problem"]
        assert (got["type"], got["status"]) == (expected["type"], expected["status"])
    assert results[1]["problem"]["type"].endswith("insufficient-funds")
    assert results[3]["problem"]["type"].endswith("currency-mismatch")

    # The same request again: the same answer, nothing posted twice.
    assert ok(post(client, "/v1/entries/batch", body, **key)) == answer
    assert _posted(client, sales) == 7 and _posted(client, wallet) == 50


def test_linked_entries_stand_or_fall_together(client: httpx.Client) -> None:
    cash = open_account(client, "cash")
    wallet = open_account(client, "wallet", "liability", debits_must_not_exceed_credits=True)
    body = {
        "entries": [
            {**transfer_body(cash, wallet, 10), "linked": True},
            transfer_body(wallet, cash, 25),  # more than the wallet holds: refuses the chain
            transfer_body(cash, wallet, 3),
        ]
    }
    results = ok(post(client, "/v1/entries/batch", body))["results"]
    assert [r["status"] for r in results] == ["refused", "refused", "posted"]
    # The entry linked to the refused one: refused with LinkedEntryFailed, naming it.
    assert 400 <= results[0]["problem"]["status"] < 500
    assert results[0]["problem"]["index"] == 1
    assert results[1]["problem"]["type"].endswith("insufficient-funds")
    assert _posted(client, wallet) == 3


@pytest.mark.parametrize(
    "body",
    [
        {"entries": []},
        {"entries": [{**transfer_body(str(uuid.uuid4()), str(uuid.uuid4()), 1), "linked": True}]},
        {"entries": [{"lines": "nope"}]},
        {"entries": [transfer_body(str(uuid.uuid4()), str(uuid.uuid4()), 1)], "extra": 1},
    ],
)
def test_a_malformed_batch_is_refused_whole_and_writes_nothing(
    client: httpx.Client, body: dict[str, Any]
) -> None:
    response = post(client, "/v1/entries/batch", body)
    assert response.status_code == 422, response.text
    assert ok(client.get("/v1/entries"))["data"] == []

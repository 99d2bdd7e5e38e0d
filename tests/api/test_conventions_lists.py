"""The API's lists by Stripe's conventions (issue 18 item 6): every list answers
`{"object": "list", "data": [...], "has_more": bool}` and pages with `limit` and one cursor,
`starting_after` (the last object's id), for accounts, entries, escrows, webhook endpoints
and deliveries; entries filter by effective date (`effective_at[gte]`, `effective_at[lt]`),
external reference and metadata, accounts by code; a cursor or filter that is not one is a
typed 422 naming the parameter. Every 201 names what it created in `Location`."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

import escrow
import outbox
from tests.api.support import (
    Served,
    money,
    new_org,
    ok,
    open_account,
    post,
    transfer_body,
)


def walk(client: httpx.Client, path: str, limit: int, **params: Any) -> tuple[list[str], int]:
    """Every id of a list, page by page (`starting_after` = the last id); and the pages."""
    seen: list[str] = []
    pages = 0
    query: dict[str, Any] = {**params, "limit": limit}
    while True:
        page = ok(client.get(path, params=query))
        assert set(page) == {"object", "data", "has_more"}
        assert page["object"] == "list"
        assert len(page["data"]) <= limit
        seen += [str(x["id"]) for x in page["data"]]
        pages += 1
        if not page["has_more"]:
            return seen, pages
        assert len(page["data"]) == limit
        query["starting_after"] = str(page["data"][-1]["id"])


def entry(client: httpx.Client, debit: str, credit: str, amount: int, **extra: Any) -> str:
    created = post(client, "/v1/entries", transfer_body(debit, credit, amount, **extra))
    return str(ok(created, 201)["id"])


def test_entries_page_by_page_and_filtered(client: httpx.Client) -> None:
    cash = open_account(client, "cash")
    sales = open_account(client, "sales", type="revenue")
    jan = datetime(2026, 1, 1, tzinfo=UTC)
    ids = [
        entry(
            client,
            cash,
            sales,
            100 + n,
            effective_at=(jan + timedelta(days=n)).isoformat(),
            external_ref=f"ref-{n}",
            metadata={"order": f"o-{n % 2}", "n": n, "vip": n == 3},
        )
        for n in range(7)
    ]
    for limit in (1, 2, 3, 7, 100):
        seen, pages = walk(client, "/v1/entries", limit)
        assert seen == ids
        assert pages == max(1, -(-len(ids) // limit))

    # effective_at[gte] <= effective_at < effective_at[lt]
    window = {
        "effective_at[gte]": (jan + timedelta(days=2)).isoformat(),
        "effective_at[lt]": (jan + timedelta(days=5)).isoformat(),
    }
    assert walk(client, "/v1/entries", 2, **window)[0] == ids[2:5]
    assert walk(client, "/v1/entries", 10, **{"effective_at[lt]": jan.isoformat()})[0] == []
    later = {"effective_at[gte]": (jan + timedelta(days=6)).isoformat()}
    assert walk(client, "/v1/entries", 10, **later)[0] == [ids[6]]

    assert walk(client, "/v1/entries", 10, external_ref="ref-4")[0] == [ids[4]]
    assert walk(client, "/v1/entries", 10, external_ref="nope")[0] == []
    odd = walk(client, "/v1/entries", 2, metadata_key="order", metadata_value="o-1")[0]
    assert odd == [ids[1], ids[3], ids[5]]
    assert walk(client, "/v1/entries", 10, metadata_key="n", metadata_value="4")[0] == [ids[4]]
    assert walk(client, "/v1/entries", 10, metadata_key="vip", metadata_value="true")[0] == [ids[3]]
    assert walk(client, "/v1/entries", 3, metadata_key="order")[0] == ids
    assert walk(client, "/v1/entries", 3, metadata_key="missing")[0] == []
    # Filters combine; a page's cursor need not match the filter.
    both = walk(client, "/v1/entries", 1, metadata_key="order", metadata_value="o-0", **window)
    assert both[0] == [ids[2], ids[4]]
    after = ok(client.get("/v1/entries", params={"starting_after": ids[0], "metadata_key": "vip"}))
    assert [e["id"] for e in after["data"]] == ids[1:]


def test_accounts_by_code_and_paged(client: httpx.Client) -> None:
    ids = [open_account(client, f"acct-{n}") for n in range(5)]
    assert walk(client, "/v1/accounts", 2)[0] == ids
    assert walk(client, "/v1/accounts", 2, code="acct-3")[0] == [ids[3]]
    assert walk(client, "/v1/accounts", 2, code="acct-9")[0] == []
    tail = ok(client.get("/v1/accounts", params={"code": "acct-1", "starting_after": ids[1]}))
    assert tail == {"object": "list", "data": [], "has_more": False}


def test_another_organizations_object_is_no_cursor(served: Served, client: httpx.Client) -> None:
    """A cursor is an object the key can see: another organization's id is refused as an
    unknown one, and reveals nothing of it."""
    _other, key = new_org(served.engine, "Other")
    with served.client(key) as other:
        theirs = open_account(other, "theirs")
        a, b = open_account(other, "a"), open_account(other, "b")
        their_entry = entry(other, a, b, 5)
    for path, cursor in (("/v1/accounts", theirs), ("/v1/entries", their_entry)):
        refused = client.get(path, params={"starting_after": cursor})
        assert refused.status_code == 422, refused.text
        assert refused.json()["field"] == "query.starting_after"


BAD_LISTS = [
    ("/v1/accounts", {"starting_after": "not-an-id"}, "query.starting_after"),
    ("/v1/accounts", {"starting_after": str(uuid.uuid4())}, "query.starting_after"),
    ("/v1/accounts", {"limit": 0}, "query.limit"),
    ("/v1/accounts", {"limit": 101}, "query.limit"),
    ("/v1/accounts", {"code": ""}, "query.code"),
    ("/v1/entries", {"starting_after": "1"}, "query.starting_after"),
    ("/v1/entries", {"starting_after": str(uuid.uuid4())}, "query.starting_after"),
    ("/v1/entries", {"effective_at[gte]": "yesterday"}, "query.effective_at[gte]"),
    ("/v1/entries", {"effective_at[lt]": "2026-01-01T00:00:00"}, "query.effective_at[lt]"),
    (
        "/v1/entries",
        {"effective_at[gte]": "2026-02-01T00:00:00Z", "effective_at[lt]": "2026-01-01T00:00:00Z"},
        "query.effective_at[lt]",
    ),
    ("/v1/entries", {"metadata_value": "x"}, "query.metadata_value"),
    ("/v1/entries", {"metadata_key": "k" * 41}, "query.metadata_key"),
    ("/v1/entries", {"external_ref": "x" * 256}, "query.external_ref"),
    ("/v1/escrows", {"starting_after": "zz"}, "query.starting_after"),
    ("/v1/escrows", {"starting_after": str(uuid.uuid4())}, "query.starting_after"),
    ("/v1/webhook-endpoints", {"starting_after": "zz"}, "query.starting_after"),
    ("/v1/webhook-endpoints", {"starting_after": str(uuid.uuid4())}, "query.starting_after"),
    ("/v1/deliveries", {"starting_after": "-1"}, "query.starting_after"),
    ("/v1/deliveries", {"starting_after": "0"}, "query.starting_after"),
    ("/v1/deliveries", {"starting_after": str(2**63)}, "query.starting_after"),
    ("/v1/deliveries", {"starting_after": "١٢"}, "query.starting_after"),
    ("/v1/deliveries", {"limit": "ten"}, "query.limit"),
]


@pytest.mark.parametrize(("path", "params", "field"), BAD_LISTS)
def test_a_bad_cursor_or_filter_is_a_typed_422(
    client: httpx.Client, path: str, params: dict[str, Any], field: str
) -> None:
    refused = client.get(path, params=params)
    assert refused.status_code == 422, refused.text
    assert refused.headers["content-type"].startswith("application/problem+json")
    problem = refused.json()
    assert problem["type"].endswith("/validation-error"), problem
    assert problem["field"] == field, problem


def test_escrows_page_by_page(served: Served) -> None:
    org, key = new_org(served.engine, "Escrows")
    ends = datetime.now(UTC) + timedelta(days=30)
    ids = []
    for n in range(5):  # one transaction each: created_at orders them
        with served.engine.begin() as conn:
            ids.append(str(escrow.open_escrow(conn, org, f"ev-{n}", "USD", ends)))
    with served.client(key) as client:
        assert walk(client, "/v1/escrows", 2)[0] == ids
        assert walk(client, "/v1/escrows", 2, event_id="ev-3")[0] == [ids[3]]
        trail = ok(client.get(f"/v1/escrows/{ids[0]}/transitions"))
        assert trail == {"object": "list", "data": [], "has_more": False}


def test_endpoints_and_deliveries_page_by_page(served: Served) -> None:
    org, key = new_org(served.engine, "Hooks")
    with served.client(key) as client:
        endpoints = [
            str(
                ok(
                    post(
                        client,
                        "/v1/webhook-endpoints",
                        {"url": served.stripe.hook_url(f"page-{n}-{uuid.uuid4().hex[:6]}")},
                    ),
                    201,
                )["id"]
            )
            for n in range(3)
        ]
        assert walk(client, "/v1/webhook-endpoints", 2)[0] == endpoints
        with served.engine.begin() as conn:
            for n in range(4):
                outbox.publish(
                    conn,
                    type="endpoint.disabled",
                    payload=outbox.EndpointDisabled(endpoint_id="x", url="https://x", reason="t"),
                    aggregate_type="test",
                    aggregate_id=f"a-{n}",
                    org_id=org,
                )
        every, pages = walk(client, "/v1/deliveries", 5)
        assert len(every) == 12
        assert pages == 3
        assert every == sorted(every, key=int, reverse=True)  # newest first
        one = walk(client, "/v1/deliveries", 3, endpoint_id=endpoints[1])[0]
        assert len(one) == 4
        assert one == [d for d in every if d in set(one)]


Check = Callable[[httpx.Client, str, dict[str, Any]], None]


def test_every_201_names_what_it_created(served: Served, client: httpx.Client) -> None:
    cash = open_account(client, "cash")
    sales = open_account(client, "sales", type="revenue")
    cases = [
        ("/v1/accounts", {"code": "x", "type": "asset", "currency": "USD"}),
        ("/v1/entries", transfer_body(cash, sales, 10)),
        (
            "/v1/holds",
            {"debit_account_id": cash, "credit_account_id": sales, "amount": money(5)},
        ),
        ("/v1/webhook-endpoints", {"url": served.stripe.hook_url(f"l-{uuid.uuid4().hex[:6]}")}),
    ]
    first_entry = None
    for path, body in cases:
        answer = post(client, path, body)
        made = ok(answer, 201)
        location = answer.headers["location"]
        assert location == f"{path}/{made['id']}"
        shown = ok(client.get(location))
        assert shown["id"] == made["id"]
        if path == "/v1/entries":
            first_entry = made["id"]
    reversal = post(client, f"/v1/entries/{first_entry}/reverse", {})
    assert reversal.headers["location"] == f"/v1/entries/{ok(reversal, 201)['id']}"

"""Organization A's key cannot read, list, write to or guess its way into organization B's
accounts, entries, holds, events, orders, tickets, escrows, webhook endpoints or deliveries:
every such id answers 404 exactly as an id that does not exist (never 200, never 403), and
nothing of B's changes. A handler that forgets its WHERE clause still sees only its own
organization's rows (row-level security under the request's role). Revoked, unknown and
malformed keys are 401; the platform's key reads everyone's."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from fastapi import APIRouter

from liventix.api import create_app, create_key, revoke_key
from liventix.api.routing import UnitOfWorkRoute
from liventix.api.unit_of_work import Uow
from tests.api.support import (
    Served,
    money,
    new_org,
    ok,
    on_sale_event,
    open_account,
    post,
    send_stripe_event,
    transfer_body,
    uvicorn_thread,
)


@dataclass
class World:
    """Organization B's rows of every kind, and A's client."""

    a: httpx.Client
    a_org: uuid.UUID
    b: httpx.Client
    b_org: uuid.UUID
    ids: dict[str, Any]


@pytest.fixture(scope="module")
def world(served: Served) -> Iterator[World]:
    """B sells a ticket (paid: escrow, issued tickets, deliveries); A has an account."""
    a_org, a_key = new_org(served.engine, "A")
    b_org, b_key = new_org(served.engine, "B")
    a, b = served.client(a_key), served.client(b_key)
    endpoint = ok(post(b, "/v1/webhook-endpoints", {"url": served.stripe.hook_url("b")}), 201)
    cash = open_account(b, "cash")
    sales = open_account(b, "sales", type="revenue")
    entry = ok(post(b, "/v1/entries", transfer_body(cash, sales, 1_000)), 201)
    hold = ok(
        post(
            b,
            "/v1/holds",
            {"debit_account_id": cash, "credit_account_id": sales, "amount": money(10)},
        ),
        201,
    )
    event = on_sale_event(b)
    checkout = ok(
        post(
            b,
            "/v1/checkouts",
            {
                "event_id": event["id"],
                "buyer_email": "b@example.com",
                "items": [{"ticket_type_id": event["ticket_types"][0]["id"], "quantity": 1}],
            },
        ),
        201,
    )
    intent = served.stripe.pay(checkout["payment_intent_id"])
    assert send_stripe_event(served, "payment_intent.succeeded", intent).status_code == 200
    served.handle_inbox()
    order = ok(b.get(f"/v1/orders/{checkout['order_id']}"))
    assert order["status"] == "paid"
    escrow = ok(b.get("/v1/escrows", params={"event_id": event["id"]}))["data"][0]
    deliveries = ok(b.get("/v1/deliveries"))["data"]
    assert deliveries
    open_account(a, "a-cash")
    ids = {
        "account": cash,
        "sales": sales,
        "entry": entry["id"],
        "hold": hold["id"],
        "event": event["id"],
        "ticket_type": event["ticket_types"][0]["id"],
        "order": order["id"],
        "ticket": order["tickets"][0]["id"],
        "code": order["tickets"][0]["code"],
        "escrow": escrow["id"],
        "endpoint": endpoint["id"],
        "delivery": deliveries[0]["id"],
    }
    try:
        yield World(a, a_org, b, b_org, ids)
    finally:
        a.close()
        b.close()


READS = [
    "/v1/accounts/{account}",
    "/v1/accounts/{account}/balance",
    "/v1/accounts/{account}/statement",
    "/v1/entries/{entry}",
    "/v1/holds/{hold}",
    "/v1/events/{event}",
    "/v1/orders/{order}",
    "/v1/tickets/{ticket}",
    "/v1/escrows/{escrow}",
    "/v1/escrows/{escrow}/transitions",
    "/v1/webhook-endpoints/{endpoint}",
    "/v1/deliveries/{delivery}",
    "/v1/deliveries/{delivery}/attempts",
    "/v1/deliveries?endpoint_id={endpoint}",
]


def _guess(path: str) -> str:
    """The same path with every id replaced by one nobody has."""
    return path.format_map(
        {
            "account": uuid.uuid4(),
            "entry": uuid.uuid4(),
            "hold": uuid.uuid4(),
            "event": uuid.uuid4(),
            "order": uuid.uuid4(),
            "ticket": uuid.uuid4(),
            "escrow": uuid.uuid4(),
            "endpoint": uuid.uuid4(),
            "delivery": 2**62,
        }
    )


def _same_problem(theirs: httpx.Response, guessed: httpx.Response) -> None:
    assert theirs.status_code == guessed.status_code == 404, (theirs.text, guessed.text)
    assert theirs.json()["type"] == guessed.json()["type"]
    assert theirs.headers["content-type"] == "application/problem+json"


@pytest.mark.parametrize("path", READS)
def test_another_organizations_ids_read_as_unknown(world: World, path: str) -> None:
    theirs = world.a.get(path.format_map(world.ids))
    _same_problem(theirs, world.a.get(_guess(path)))
    assert world.b.get(path.format_map(world.ids)).status_code == 200


WRITES: list[tuple[str, dict[str, Any] | None]] = [
    ("/v1/accounts/{account}/close", None),
    ("/v1/entries/{entry}/reverse", {}),
    ("/v1/holds/{hold}/post", {}),
    ("/v1/holds/{hold}/void", None),
    ("/v1/events/{event}/cancel", None),
    (
        "/v1/events/{event}/ticket-types",
        {
            "name": "VIP",
            "price": {"amount": 100, "currency": "USD"},
            "capacity": 1,
            "sales_start": "2026-01-01T00:00:00Z",
            "sales_end": "2099-01-01T00:00:00Z",
        },
    ),
    ("/v1/orders/{order}/refunds", {}),
    ("/v1/tickets/{ticket}/transfer", {"new_holder_email": "thief@example.com"}),
    ("/v1/webhook-endpoints/{endpoint}/rotate-secret", {}),
    ("/v1/webhook-endpoints/{endpoint}/disable", {}),
    ("/v1/webhook-endpoints/{endpoint}/enable", None),
    ("/v1/webhook-endpoints/{endpoint}/requeue", None),
    ("/v1/deliveries/{delivery}/requeue", None),
]


@pytest.mark.parametrize(("path", "body"), WRITES)
def test_another_organizations_ids_cannot_be_written(
    world: World, path: str, body: dict[str, Any] | None
) -> None:
    theirs = post(world.a, path.format_map(world.ids), body)
    _same_problem(theirs, post(world.a, _guess(path), body))


def test_another_organizations_accounts_cannot_be_used(world: World, served: Served) -> None:
    mine = ok(world.a.get("/v1/accounts"))["data"][0]["id"]
    ids = world.ids
    for body in (
        transfer_body(mine, ids["account"], 5),
        transfer_body(ids["account"], ids["sales"], 5),
    ):
        refused = post(world.a, "/v1/entries", body)
        assert refused.status_code == 404
        assert refused.json()["type"].endswith("/account-not-found")
    hold = post(
        world.a,
        "/v1/holds",
        {"debit_account_id": mine, "credit_account_id": ids["account"], "amount": money(1)},
    )
    assert hold.status_code == 404
    checkout = post(
        world.a,
        "/v1/checkouts",
        {
            "event_id": ids["event"],
            "buyer_email": "a@example.com",
            "items": [{"ticket_type_id": ids["ticket_type"], "quantity": 1}],
        },
    )
    assert checkout.status_code == 404
    assert checkout.json()["type"].endswith("/event-not-found")
    scan = post(world.a, "/v1/tickets/check-in", {"code": ids["code"], "scanner": "x"})
    assert scan.status_code == 404
    # Nothing of B's moved.
    account = ok(world.b.get(f"/v1/accounts/{ids['account']}"))
    assert account["closed"] is False
    assert account["balance"]["posted"] == money(1_000)
    assert ok(world.b.get(f"/v1/holds/{ids['hold']}"))["status"] == "open"
    assert ok(world.b.get(f"/v1/events/{ids['event']}"))["cancelled_at"] is None
    ticket = ok(world.b.get(f"/v1/tickets/{ids['ticket']}"))
    assert (ticket["status"], ticket["holder_email"]) == ("issued", "b@example.com")
    assert ok(world.b.get(f"/v1/webhook-endpoints/{ids['endpoint']}"))["enabled"] is True


LISTS = [
    ("/v1/accounts", "account"),
    ("/v1/entries", "entry"),
    ("/v1/escrows", "escrow"),
    ("/v1/webhook-endpoints", "endpoint"),
    ("/v1/deliveries", "delivery"),
]


@pytest.mark.parametrize(("path", "kind"), LISTS)
def test_lists_show_only_the_keys_organization(world: World, path: str, kind: str) -> None:
    listed = [x["id"] for x in ok(world.a.get(path, params={"limit": 100}))["data"]]
    assert world.ids[kind] not in listed
    assert world.ids[kind] in [x["id"] for x in ok(world.b.get(path))["data"]]
    filtered = ok(world.a.get("/v1/entries", params={"account_id": world.ids["account"]}))
    assert filtered["data"] == []
    report = ok(world.a.get("/v1/trial-balance"))
    assert {r["org_id"] for r in report["rows"]} <= {str(world.a_org)}


def test_the_platform_key_reads_every_organization(world: World, served: Served) -> None:
    with served.client(served.platform_key) as platform:
        assert ok(platform.get(f"/v1/accounts/{world.ids['account']}"))["org_id"] == str(
            world.b_org
        )
        assert ok(platform.get(f"/v1/orders/{world.ids['order']}"))["status"] == "paid"
        mine = ok(world.a.get("/v1/accounts"))["data"][0]["id"]
        assert ok(platform.get(f"/v1/accounts/{mine}"))["org_id"] == str(world.a_org)
        report = ok(platform.get("/v1/trial-balance"))
        assert {str(world.b_org)} <= {r["org_id"] for r in report["rows"]}


def test_a_handler_without_a_where_clause_sees_only_its_organization(
    world: World, served: Served
) -> None:
    """A deliberately careless handler: counts every row of every tenant table."""
    router = APIRouter(prefix="/v1", route_class=UnitOfWorkRoute)
    tables = (
        "payments.accounts",
        "payments.entries",
        "payments.lines",
        "payments.holds",
        "payments.escrows",
        "ticketing.orders",
        "ticketing.tickets",
        "ticketing.events",
        "messaging.endpoints",
        "messaging.deliveries",
        "messaging.attempts",
        "payments.api_idempotency",
    )

    @router.get("/careless")
    def careless(uow: Uow) -> dict[str, list[str]]:
        found: dict[str, list[str]] = {}
        with uow:
            for table in tables:
                orgs = uow.conn.execute(
                    sa.text(
                        f"SELECT DISTINCT {'scope' if 'api_' in table else 'org_id'}::text "
                        f"FROM {table}"
                        if table != "messaging.attempts"
                        else "SELECT DISTINCT d.org_id::text FROM messaging.attempts x "
                        "JOIN messaging.deliveries d ON d.id = x.delivery_id"
                    )
                ).scalars()
                found[table] = sorted(o for o in orgs if o is not None)
        return found

    app = create_app(served.engine, gateway=None, stripe_webhook_secret=None)
    app.include_router(router)
    with served.engine.begin() as conn:
        a_key = create_key(conn, world.a_org).token
        b_key = create_key(conn, world.b_org).token
    with uvicorn_thread(app) as url:
        a_sees = ok(httpx.get(f"{url}/v1/careless", headers={"Authorization": f"Bearer {a_key}"}))
        b_sees = ok(httpx.get(f"{url}/v1/careless", headers={"Authorization": f"Bearer {b_key}"}))
    for table in tables:
        assert set(a_sees[table]) <= {str(world.a_org)}, table
    # B's entries include the platform's side of its sale (the fee), in B's own entries.
    assert b_sees["payments.accounts"] == [str(world.b_org)]
    assert b_sees["ticketing.orders"] == [str(world.b_org)]
    assert b_sees["messaging.deliveries"] == [str(world.b_org)]


def test_revoked_unknown_and_malformed_keys_are_refused(served: Served) -> None:
    org, key = new_org(served.engine)
    with served.client(key) as client:
        ok(client.get("/v1/accounts"))
    key_id = None
    with served.engine.begin() as conn:
        key_id = conn.execute(
            sa.text("SELECT id FROM payments.api_keys WHERE org_id = :org"), {"org": org}
        ).scalar_one()
        assert revoke_key(conn, key_id) is True
        assert revoke_key(conn, key_id) is False
    prefix, _secret = key[len("lvx_") :].split("_")
    for token in (
        key,  # revoked
        f"lvx_{prefix}_{'0' * 48}",  # right prefix, wrong secret
        f"lvx_{'a' * 12}_{'b' * 48}",  # unknown
        "not-a-key",
        "",
    ):
        with served.client(token or None) as client:
            for refused in (
                client.get("/v1/accounts"),
                post(client, "/v1/accounts", {"code": "x", "type": "asset", "currency": "USD"}),
            ):
                assert refused.status_code == 401, token
                assert refused.headers["www-authenticate"].startswith("Bearer")
                assert refused.json()["type"] == "https://liventix.dev/problems/unauthenticated"
    with served.client(None) as anonymous:
        assert (
            anonymous.get("/v1/accounts", headers={"Authorization": "Basic abc"}).status_code == 401
        )

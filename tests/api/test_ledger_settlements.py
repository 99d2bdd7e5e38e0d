"""Settlements over HTTP on a real server: create (201 with Location, replayed under its key,
409 for another request under it), dry run, read, list, the entries covered, typed
refusals, and one organization never seeing another's settlements or transfers."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import httpx
import pytest
import sqlalchemy as sa

import escrow
import ticketing_fsm as tk
from liventix.api.keys import create_key
from tests.api.support import Served, idem, new_org, ok, open_account, post, transfer_body
from tests.ticketing_core.support import Gateway, open_world, pay, request


@pytest.fixture
def client(served: Served) -> httpx.Client:
    """A client holding a fresh organization's key."""
    _org, key = new_org(served.engine)
    return served.client(key)


def test_settle_read_list_and_refusals(served: Served, client: httpx.Client) -> None:
    cash = open_account(client, "cash", "asset")
    payable = open_account(client, "payable", "liability")
    e1 = ok(post(client, "/v1/entries", transfer_body(cash, payable, 1_000)), 201)["id"]
    e2 = ok(post(client, "/v1/entries", transfer_body(payable, cash, 250)), 201)["id"]

    dry = ok(post(client, "/v1/settlements?dry_run=true", {"account_id": payable}))
    assert dry["status"] == 201 and dry["result"]["amount"]["amount"] == 750
    assert ok(client.get("/v1/settlements"))["data"] == []

    key = idem()
    made = post(client, "/v1/settlements", {"account_id": payable, "description": "payout"}, **key)
    settlement = ok(made, 201)
    assert made.headers["location"] == f"/v1/settlements/{settlement['id']}"
    assert settlement["amount"] == {"amount": 750, "currency": "USD"}
    assert (settlement["debits"], settlement["credits"], settlement["entry_count"]) == (
        250,
        1_000,
        2,
    )
    replay = post(
        client, "/v1/settlements", {"account_id": payable, "description": "payout"}, **key
    )
    assert ok(replay, 201) == settlement
    conflict = post(client, "/v1/settlements", {"account_id": cash}, **key)
    assert conflict.status_code == 409, conflict.text

    assert ok(client.get(f"/v1/settlements/{settlement['id']}")) == settlement
    covered = ok(client.get(f"/v1/settlements/{settlement['id']}/entries"))
    assert covered["entry_ids"] == [e1, e2]
    listed = ok(client.get("/v1/settlements", params={"account_id": payable}))
    assert [s["id"] for s in listed["data"]] == [settlement["id"]]

    nothing = post(client, "/v1/settlements", {"account_id": payable})
    assert nothing.status_code == 409
    assert nothing.json()["type"].endswith("/nothing-to-settle")
    twice = post(client, "/v1/settlements", {"account_id": payable, "entry_ids": [e1]})
    assert twice.status_code == 409
    assert twice.json()["type"].endswith("/entry-already-settled")
    assert twice.json()["settlement_id"] == settlement["id"]
    elsewhere = post(client, "/v1/settlements", {"account_id": cash, "entry_ids": [e1, e1]})
    assert ok(elsewhere, 201)["entry_count"] == 1
    bad = post(client, "/v1/settlements", {"account_id": payable, "entry_ids": []})
    assert bad.status_code == 422
    future = post(
        client, "/v1/settlements", {"account_id": payable, "up_to": "2999-01-01T00:00:00Z"}
    )
    assert future.status_code == 422

    # Another organization sees none of it, and cannot settle this one's account.
    _other, other_key = new_org(served.engine, "Other Club")
    with served.client(other_key) as other:
        assert ok(other.get("/v1/settlements"))["data"] == []
        assert other.get(f"/v1/settlements/{settlement['id']}").status_code == 404
        assert other.get(f"/v1/settlements/{settlement['id']}/entries").status_code == 404
        assert post(other, "/v1/settlements", {"account_id": payable}).status_code == 404
        assert other.get("/v1/transfers/tr_nope/coverage").status_code == 404


def test_which_tickets_a_transfer_paid_for(served: Served) -> None:
    """transfer -> settlement -> entries -> orders and tickets, over HTTP, for the
    organizer's own key only."""
    engine = served.engine
    gateway = Gateway()
    with engine.begin() as conn:
        policy = escrow.Policy(hold_period=timedelta(0), connected_account="acct_1")
        world = open_world(conn, capacities=(10,), prices=(2_500,), policy=policy)
        token = create_key(conn, world.org, description="tests: coverage").token
    checkout = tk.start_checkout(engine, gateway, request(world, "k1", (2,)))
    with engine.begin() as conn:
        assert pay(conn, world, checkout, cause="evt-k1") == "issued"
        escrow_id = conn.execute(
            sa.text("SELECT id FROM payments.escrows WHERE org_id = :org"), {"org": world.org}
        ).scalar_one()
        conn.execute(
            sa.text("UPDATE payments.escrows SET event_ends_at = :t WHERE id = :id"),
            {"t": datetime.now(UTC) - timedelta(minutes=1), "id": escrow_id},
        )
        escrow.release_due(conn)
        released = escrow.get_escrow(conn, escrow_id).released
        transfer_id = f"tr_{uuid.uuid4().hex[:10]}"
        assert escrow.transfer_created(conn, transfer_id, escrow_id, released, cause="t")
        tickets = sorted(
            str(t)
            for t in conn.execute(
                sa.text("SELECT id FROM ticketing.tickets WHERE order_id = :o"),
                {"o": checkout.order_id},
            ).scalars()
        )
    with served.client(token) as client:
        found = ok(client.get(f"/v1/transfers/{transfer_id}/coverage"))
        assert found["amount"] == found["settled"] == released
        assert found["order_ids"] == [str(checkout.order_id)]
        assert sorted(found["ticket_ids"]) == tickets and len(tickets) == 2
        assert [e["kind"] for e in found["entries"]] == ["sale"]
        settlement = ok(client.get(f"/v1/settlements/{found['settlement_id']}"))
        assert settlement["amount"]["amount"] == released
    _other, other_key = new_org(engine, "Someone Else")
    with served.client(other_key) as other:
        assert other.get(f"/v1/transfers/{transfer_id}/coverage").status_code == 404

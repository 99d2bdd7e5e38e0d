"""`?dry_run=true` over HTTP on every ledger write (post, batch, reverse, hold, post hold,
void): the answer the call would give (200, its body and status) with the balances after it,
or its problem with the balances as they stand; nothing written, and neither the ledger's
key nor the API's Idempotency-Key consumed (the same key then does the real call)."""

from __future__ import annotations

from typing import Any
from uuid import uuid4

import httpx
import pytest
import sqlalchemy as sa

from tests.api.support import Served, idem, money, new_org, ok, open_account, post, transfer_body


@pytest.fixture
def client(served: Served) -> httpx.Client:
    """A client holding a fresh organization's key."""
    _org, key = new_org(served.engine)
    return served.client(key)


def _counts(served: Served) -> tuple[int, ...]:
    with served.engine.connect() as conn:
        return tuple(
            int(conn.execute(sa.text(f"SELECT count(*) FROM {t}")).scalar_one())
            for t in (
                "payments.entries",
                "payments.holds",
                "payments.hold_resolutions",
                "payments.idempotency_keys",
                "payments.api_idempotency",
            )
        )


def _posted(balances: list[dict[str, Any]]) -> dict[str, int]:
    return {b["account_id"]: b["posted"]["amount"] for b in balances}


def test_dry_runs_answer_and_write_nothing(served: Served, client: httpx.Client) -> None:
    funding = open_account(client, "funding", "equity")
    wallet = open_account(client, "wallet", "liability", debits_must_not_exceed_credits=True)
    merchant = open_account(client, "merchant", "liability")
    ok(post(client, "/v1/entries", transfer_body(funding, wallet, 1_000)), 201)
    entry = ok(post(client, "/v1/entries", transfer_body(wallet, merchant, 100)), 201)
    hold = ok(
        post(
            client,
            "/v1/holds",
            {"debit_account_id": wallet, "credit_account_id": merchant, "amount": money(50)},
        ),
        201,
    )
    before = _counts(served)
    key = idem()

    # A posting that would succeed: 200, the entry it would be, the balances after it.
    dry = ok(post(client, "/v1/entries?dry_run=true", transfer_body(wallet, merchant, 300), **key))
    assert dry["object"] == "dry_run" and dry["dry_run"] is True and dry["status"] == 201
    assert [line["amount"]["amount"] for line in dry["result"]["lines"]] == [300, 300]
    assert _posted(dry["balances"]) == {wallet: 600, merchant: 400}
    assert _counts(served) == before
    # The same Idempotency-Key then makes the real call, which answers the same.
    real = ok(post(client, "/v1/entries", transfer_body(wallet, merchant, 300), **key), 201)
    assert [x["amount"] for x in real["lines"]] == [x["amount"] for x in dry["result"]["lines"]]
    assert real["id"] != dry["result"]["id"]
    before = _counts(served)

    # A refusal: the problem the call would answer, with the shortfall and the balances.
    refused = post(client, "/v1/entries?dry_run=true", transfer_body(wallet, merchant, 5_000))
    assert refused.status_code == 422, refused.text
    problem = refused.json()
    assert problem["type"].endswith("/insufficient-funds")
    assert problem["account_id"] == wallet and problem["dry_run"] is True
    assert _posted(problem["balances"]) == {wallet: 600, merchant: 400}

    reversal = ok(post(client, f"/v1/entries/{entry['id']}/reverse?dry_run=true", {}))
    assert reversal["status"] == 201 and reversal["result"]["reverses_entry_id"] == entry["id"]
    assert _posted(reversal["balances"]) == {wallet: 700, merchant: 300}

    batch = ok(
        post(
            client,
            "/v1/entries/batch?dry_run=1",
            {
                "entries": [
                    transfer_body(wallet, merchant, 10),
                    transfer_body(wallet, merchant, 9_999),
                ]
            },
        )
    )
    statuses = [r["status"] for r in batch["result"]["results"]]
    assert statuses == ["posted", "refused"]
    assert _posted(batch["balances"]) == {wallet: 590, merchant: 410}

    held = ok(
        post(
            client,
            "/v1/holds?dry_run=true",
            {"debit_account_id": wallet, "credit_account_id": merchant, "amount": money(70)},
        )
    )
    assert held["status"] == 201 and held["result"]["amount"]["amount"] == 70
    posted_hold = ok(post(client, f"/v1/holds/{hold['id']}/post?dry_run=true", {}))
    assert posted_hold["result"]["status"] == "posted"
    assert _posted(posted_hold["balances"]) == {wallet: 550, merchant: 450}
    voided = ok(post(client, f"/v1/holds/{hold['id']}/void?dry_run=true"))
    assert voided["result"]["status"] == "voided"
    assert _counts(served) == before

    bad = post(client, "/v1/entries?dry_run=maybe", transfer_body(wallet, merchant, 1))
    assert bad.status_code == 422 and bad.json()["field"] == "query.dry_run"
    # After all that, the hold is still open and can be voided for real.
    assert ok(post(client, f"/v1/holds/{hold['id']}/void"))["status"] == "voided"


def test_a_dry_run_needs_no_key_and_other_writes_still_do(
    served: Served, client: httpx.Client
) -> None:
    """A dry run may come without an Idempotency-Key (it consumes none); a write whose route
    has no dry run is not let through by `?dry_run=true`: it is the missing key's 400 and
    writes nothing (it was a 500, or a write no key protected)."""
    funding = open_account(client, "funding", "equity")
    wallet = open_account(client, "wallet", "liability")
    before = _counts(served)
    dry = client.post("/v1/entries?dry_run=true", json=transfer_body(funding, wallet, 300))
    assert dry.status_code == 200, dry.text
    assert dry.json()["object"] == "dry_run"
    code, name = f"x-{uuid4().hex}", f"Gig {uuid4().hex}"  # the served database is shared
    for path, body in (
        ("/v1/accounts?dry_run=true", {"code": code, "type": "asset", "currency": "USD"}),
        (
            "/v1/events?dry_run=true",
            {
                "name": name,
                "currency": "USD",
                "starts_at": "2030-01-01T20:00:00Z",
                "ends_at": "2030-01-01T23:00:00Z",
            },
        ),
    ):
        refused = client.post(path, json=body)
        assert refused.status_code == 400, (path, refused.status_code, refused.text)
        assert refused.json()["type"].endswith("idempotency-key-required"), refused.text
    with served.engine.connect() as conn:
        accounts = sa.text("SELECT count(*) FROM payments.accounts WHERE code = :c")
        assert conn.execute(accounts, {"c": code}).scalar_one() == 0
        events = sa.text("SELECT count(*) FROM ticketing.events WHERE name = :n")
        assert conn.execute(events, {"n": name}).scalar_one() == 0
    assert _counts(served) == before


def test_a_dry_run_with_an_invalid_key_is_refused(served: Served, client: httpx.Client) -> None:
    """A dry run may omit the Idempotency-Key, but one it sends must match the documented
    pattern (1 to 200 visible ASCII characters): 400, as any write's (schemathesis found a
    dry run with a key outside the pattern answered 200)."""
    funding = open_account(client, "funding", "equity")
    wallet = open_account(client, "wallet", "liability")
    for bad in ("has space", "x" * 201, "caf\u00e9"):
        for path, body in (
            ("/v1/entries?dry_run=true", transfer_body(funding, wallet, 300)),
            ("/v1/entries/batch?dry_run=true", {"entries": [{"lines": []}]}),
        ):
            refused = client.post(path, json=body, headers={b"Idempotency-Key": bad.encode()})
            assert refused.status_code == 400, (path, bad, refused.status_code, refused.text)
            assert refused.json()["type"].endswith("idempotency-key-required"), refused.text

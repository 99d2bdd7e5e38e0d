"""Tamper evidence over HTTP (issue 16 item 1), on a real server: once the sealer ran, an
organization lists its own chain of checkpoints and verifies clean; after a superuser
changes one of its lines, its verification names that line; another organization's
verification stays clean."""

from __future__ import annotations

import sqlalchemy as sa

import ledger
from tests.api.support import Served, new_org, ok, open_account, post, transfer_body


def test_checkpoints_and_verification_for_the_keys_organization(served: Served) -> None:
    _org, key = new_org(served.engine, "Sealed")
    _other, other_key = new_org(served.engine, "Untouched")
    with served.client(key) as client, served.client(other_key) as other:
        cash, sales = open_account(client, "cash"), open_account(client, "sales", "revenue")
        entry = ok(post(client, "/v1/entries", transfer_body(cash, sales, 120)), 201)
        ok(post(client, "/v1/entries", transfer_body(cash, sales, 30)), 201)
        o_cash, o_sales = open_account(other, "cash"), open_account(other, "sales", "revenue")
        ok(post(other, "/v1/entries", transfer_body(o_cash, o_sales, 9)), 201)
        with served.engine.begin() as conn:
            while ledger.seal(conn).busy:  # another test's sealer: wait for it
                pass
        chain = ok(client.get("/v1/ledger/checkpoints"))
        assert [(c["scope"], c["seq"], c["entry_count"]) for c in chain["data"]] == [
            ("organization", 1, 2)
        ]
        clean = ok(client.get("/v1/ledger/verification"))
        assert (clean["clean"], clean["entries"], clean["lines"]) == (True, 2, 4)

        with served.engine.begin() as conn:
            conn.execute(sa.text("SET LOCAL session_replication_role = replica"))
            line = conn.execute(
                sa.text(
                    "UPDATE payments.lines SET amount = amount * 10 WHERE id = ("
                    " SELECT min(id) FROM payments.lines WHERE entry_id = :e) RETURNING id"
                ),
                {"e": entry["id"]},
            ).scalar_one()
        found = ok(client.get("/v1/ledger/verification"))
        assert found["clean"] is False
        first = found["mismatches"][0]
        assert (first["kind"], first["entry_id"], first["line_id"]) == (
            "line_changed",
            entry["id"],
            line,
        )
        assert ok(other.get("/v1/ledger/verification"))["clean"] is True

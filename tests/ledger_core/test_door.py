"""The write door trusts no internal field of its JSON: a caller names what it posts, never
how (hold posts and hold resolutions are the engine's), and maintenance is the platform's."""

from __future__ import annotations

import json
import uuid

import pytest
import sqlalchemy as sa

import ledger
from tests.ledger_core.conftest import ORG_A, ORG_B, OpenAccountFn, present_key, transfer


def _raw_write(conn: sa.Connection, body: dict[str, object]) -> object:
    return conn.execute(
        sa.text("SELECT payments.ledger_write(CAST(:b AS jsonb))"), {"b": json.dumps(body)}
    ).scalar_one()


def test_a_caller_cannot_post_an_entry_as_another_organizations_hold_post(
    engine: sa.Engine, app_engine: sa.Engine, open_account: OpenAccountFn
) -> None:
    a_cash = open_account(ORG_A, "cash", "asset")
    a_sales = open_account(ORG_A, "sales", "revenue")
    b_wallet = open_account(ORG_B, "wallet", "asset")
    b_merchant = open_account(ORG_B, "merchant", "liability")
    with engine.begin() as conn:
        hold = ledger.create_hold(
            conn, ORG_B, ledger.CreateHold("b-hold", b_wallet, b_merchant, 300, "USD")
        ).id
    with app_engine.begin() as conn:
        present_key(conn, ORG_A)
        result = _raw_write(
            conn,
            {
                "org_id": str(ORG_A),
                "operation": "post_entries",
                "requests": [
                    {
                        "key": "sneaky",
                        "hash": "x",
                        "kind": "hold_post",
                        "hold_id": str(hold),
                        "lines": [
                            {
                                "account_id": str(a_cash),
                                "side": "debit",
                                "amount": 5,
                                "currency": "USD",
                            },
                            {
                                "account_id": str(a_sales),
                                "side": "credit",
                                "amount": 5,
                                "currency": "USD",
                            },
                        ],
                    }
                ],
            },
        )
    entry_id = uuid.UUID(result["results"][0]["id"])  # type: ignore[index]
    with engine.begin() as conn:
        entry = ledger.get_entry(conn, entry_id)
        assert (entry.kind, entry.hold_id) == ("standard", None)
        # B can still capture its own hold
        posted = ledger.post_hold(conn, ORG_B, ledger.PostHold("b-capture", hold))
        assert ledger.get_entry(conn, posted.id).hold_id == hold
        assert ledger.get_hold(conn, hold).status == "posted"


def test_a_void_cannot_claim_to_be_an_expiry(
    engine: sa.Engine, open_account: OpenAccountFn
) -> None:
    wallet = open_account(ORG_A, "wallet", "asset")
    merchant = open_account(ORG_A, "merchant", "liability")
    with engine.begin() as conn:
        hold = ledger.create_hold(
            conn, ORG_A, ledger.CreateHold("h", wallet, merchant, 300, "USD")
        ).id
        _raw_write(
            conn,
            {
                "org_id": str(ORG_A),
                "operation": "void_hold",
                "requests": [
                    {"key": "v", "hash": "x", "hold_id": str(hold), "resolution": "expired"}
                ],
            },
        )
        assert ledger.get_hold(conn, hold).status == "voided"


def test_maintenance_refuses_a_transaction_acting_for_an_organization(
    engine: sa.Engine, open_account: OpenAccountFn
) -> None:
    cash = open_account(ORG_A, "cash", "asset")
    sales = open_account(ORG_A, "sales", "revenue")
    with engine.begin() as conn:
        ledger.post_entry(conn, ORG_A, transfer("t", cash, sales, 1))
    for call in (ledger.expire_holds, ledger.roll_up):
        with engine.connect() as conn:
            ledger.act_for(conn, ORG_A)
            with pytest.raises(ledger.PermissionDenied):
                call(conn)

"""Issue 13 item 5 through the Python API: a hold must expire in the future (by the
database's clock: checked in the ledger's door), and an entry whose lines cancel out on every
account it names moves no money and is refused before anything is sent (as TigerBeetle's
accounts_must_be_different). Neither writes anything, nor anything under its key."""

from __future__ import annotations

import uuid

import pytest
import sqlalchemy as sa

import ledger
from liventix.testing.rollback import RolledBack
from tests.ledger_core.conftest import ORG_A, OpenAccountFn, transfer
from tests.ledger_core.test_errors import db_moment_from_now, snapshot


@pytest.mark.parametrize("milliseconds", [-3_600_000, -1, 0])
def test_a_hold_expiring_now_or_before_is_refused(
    engine: sa.Engine, open_account: OpenAccountFn, milliseconds: int
) -> None:
    cash = open_account(ORG_A, "cash", "asset")
    sales = open_account(ORG_A, "sales", "revenue")
    before = snapshot(engine)
    expires = db_moment_from_now(engine, milliseconds)
    with pytest.raises(ledger.HoldExpiryNotInFuture) as info, engine.begin() as conn:
        ledger.create_hold(
            conn, ORG_A, ledger.CreateHold("past", cash, sales, 10, "USD", expires_at=expires)
        )
    assert info.value.code == "hold_expiry_not_in_future"
    assert isinstance(info.value, ledger.InvalidRequest)
    assert snapshot(engine) == before
    # The control: a minute ahead is taken, under the same key.
    ahead = db_moment_from_now(engine, 60_000)
    with engine.begin() as conn:
        hold = ledger.create_hold(
            conn, ORG_A, ledger.CreateHold("past", cash, sales, 10, "USD", expires_at=ahead)
        )
        assert ledger.get_hold(conn, hold.id).expires_at == ahead


def test_an_entry_that_cancels_out_on_the_same_account_is_refused(
    db: RolledBack, open_account: OpenAccountFn
) -> None:
    cash = open_account(ORG_A, "cash", "asset")
    sales = open_account(ORG_A, "sales", "revenue")
    before = snapshot(db)
    same = transfer("same", cash, cash, 100)
    split = ledger.PostEntry(
        idempotency_key="split",
        lines=[
            ledger.Line(cash, "debit", 60, "USD"),
            ledger.Line(sales, "debit", 40, "USD"),
            ledger.Line(cash, "credit", 60, "USD"),
            ledger.Line(sales, "credit", 40, "USD"),
        ],
    )
    for request in (same, split):
        with pytest.raises(ledger.AccountsMustBeDifferent) as info, db.begin() as conn:
            ledger.post_entry(conn, ORG_A, request)
        assert info.value.code == "accounts_must_be_different"
        assert set(info.value.account_ids) == {str(line.account_id) for line in request.lines}
    with pytest.raises(ledger.AccountsMustBeDifferent), db.begin() as conn:
        ledger.post_entries(conn, ORG_A, [transfer("ok-1", cash, sales, 5), same])
    assert snapshot(db) == before
    # The control: an entry that moves money, a self-cancelling pair among its lines, is taken.
    mixed = ledger.PostEntry(
        idempotency_key="mixed",
        lines=[
            ledger.Line(cash, "debit", 5, "USD"),
            ledger.Line(cash, "credit", 5, "USD"),
            ledger.Line(cash, "debit", 7, "USD"),
            ledger.Line(sales, "credit", 7, "USD"),
        ],
    )
    with db.begin() as conn:
        entry = ledger.post_entry(conn, ORG_A, mixed)
        assert ledger.balance(conn, cash).posted == 7
        assert ledger.get_entry(conn, entry.id).org_id == ORG_A
    assert uuid.UUID(str(entry.id))

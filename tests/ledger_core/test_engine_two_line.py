"""The fast door's two-line path (`payments.post_entry`, step 3a): one amount between two
regular accounts, both locked by one SELECT in id order and moved only once every guard holds
on the locked rows. When the second account refuses (closed, over its overdraft flag, another
currency), neither is moved and the entry is judged the long way (its typed refusal, nothing
written); the positions the path writes on each line are the account's running version and
totals."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
import sqlalchemy as sa

import ledger
from liventix.testing.rollback import RolledBack
from tests.ledger_core.conftest import ORG_A, OpenAccountFn, account_above, transfer


def _account(conn: sa.Connection, account: uuid.UUID) -> tuple[Any, ...]:
    return tuple(
        conn.execute(
            sa.text(
                "SELECT posted_debits, posted_credits, version FROM payments.accounts"
                " WHERE id = :id"
            ),
            {"id": account},
        ).one()
    )


@pytest.mark.parametrize("refusal", ["closed", "overdraft", "currency"])
def test_a_refusal_by_the_second_account_leaves_the_first_unmoved(
    db: RolledBack, open_account: OpenAccountFn, refusal: str
) -> None:
    # The lowest of eight ids, so that account_above finds a higher one (see there).
    first = min(open_account(ORG_A, f"first-{n}") for n in range(8))
    funding = open_account(ORG_A, "funding", type="liability")
    with db.begin() as conn:
        ledger.post_entry(conn, ORG_A, transfer("fund-first", first, funding, 500))
    if refusal == "closed":
        second = account_above(open_account, first, "closed")
        with db.begin() as conn:
            ledger.close_account(conn, ORG_A, ledger.CloseAccount("close-second", second))
        expected: type[Exception] = ledger.AccountClosed
    elif refusal == "overdraft":
        second = account_above(
            open_account, first, "flagged", type="liability", debits_must_not_exceed_credits=True
        )
        expected = ledger.InsufficientFunds
    else:
        second = account_above(open_account, first, "euro", currency="EUR")
        expected = ledger.CurrencyMismatch
    with db.begin() as conn:
        before = _account(conn, first)
    # The first account (lower id) is credited, then the second refuses the debit. A recorded
    # refusal (closed, funds) answers without an error in the database: the transaction goes
    # on, and would keep the first account's move unless the door undid it.
    if refusal == "currency":
        with pytest.raises(expected), db.begin() as conn:
            ledger.post_entry(conn, ORG_A, transfer("refused", second, first, 70))
    with db.begin() as conn:
        if refusal != "currency":
            with pytest.raises(expected):
                ledger.post_entry(conn, ORG_A, transfer("refused", second, first, 70))
        assert _account(conn, first) == before
        entries = conn.execute(
            sa.text("SELECT count(*) FROM payments.entries WHERE idempotency_key = 'refused'")
        ).scalar_one()
        assert entries == 0
    with db.begin() as conn:
        ledger.post_entry(conn, ORG_A, transfer("after", funding, first, 30))
        debits, credits, version = _account(conn, first)
        assert (debits, credits, version) == (before[0], before[1] + 30, before[2] + 1)


def test_each_line_carries_its_accounts_running_position(
    db: RolledBack, open_account: OpenAccountFn
) -> None:
    accounts = [open_account(ORG_A, f"run-{n}") for n in range(4)]
    amounts = [5, 7, 11, 13, 17, 19, 23, 29]
    with db.begin() as conn:
        for n, amount in enumerate(amounts):
            debit, credit = accounts[n % 4], accounts[(n + 1 + n // 4) % 4]
            ledger.post_entry(conn, ORG_A, transfer(f"run-{n}", debit, credit, amount))
        for account in accounts:
            rows = conn.execute(
                sa.text(
                    "SELECT side, amount, account_version, account_posted_debits,"
                    " account_posted_credits FROM payments.lines WHERE account_id = :a"
                    " ORDER BY id"
                ),
                {"a": account},
            ).all()
            debits = credits = 0
            for version, (side, amount, line_version, line_debits, line_credits) in enumerate(
                rows, start=1
            ):
                debits += amount if side == "debit" else 0
                credits += amount if side == "credit" else 0
                assert (line_version, line_debits, line_credits) == (version, debits, credits)
            assert _account(conn, account) == (debits, credits, len(rows))

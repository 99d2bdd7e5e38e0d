"""A refused posting leaves no trace on a balance monitor (review finding F1).

`payments.post_entry` locks the touched accounts, judges every guard on the locked rows and
moves them only once all pass: an account is never moved and put back. Before, the first
account of a two-line entry (step 3a) or every passing account of a longer one (step 3) was
moved, then undone when another refused; the account's balance-monitor trigger saw the move,
marked the monitor triggered and published `ledger.balance_monitor.triggered`, and the undo
(an older version) could not take it back. A library caller that keeps its transaction going
after the recorded refusal and commits kept both. Each case here commits after the refusal,
then posts the same money for real, which must fire the monitor once: the check can fail."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
import sqlalchemy as sa

import ledger
from liventix.testing.rollback import RolledBack
from tests.ledger_core.conftest import ORG_A, OpenAccountFn, account_above, transfer


def _events(conn: sa.Connection, monitor: uuid.UUID) -> list[tuple[str, Any, Any]]:
    rows = conn.execute(
        sa.text(
            "SELECT type, payload FROM messaging.messages WHERE aggregate_type = 'balance_monitor'"
            " AND aggregate_id = :id ORDER BY created_at, id"
        ),
        {"id": str(monitor)},
    ).all()
    return [
        (r.type.rsplit(".", 1)[1], r.payload.get("current"), r.payload.get("account_version"))
        for r in rows
    ]


def _state(conn: sa.Connection, account: uuid.UUID, monitor: uuid.UUID) -> tuple[Any, ...]:
    balance = conn.execute(
        sa.text(
            "SELECT posted_debits, posted_credits, version FROM payments.accounts WHERE id = :id"
        ),
        {"id": account},
    ).one()
    watched = conn.execute(
        sa.text("SELECT triggered, changed_version FROM payments.balance_monitors WHERE id = :id"),
        {"id": monitor},
    ).one()
    return tuple(balance), tuple(watched)


def _lines(wallet: uuid.UUID, other: uuid.UUID, *, split: bool, key: str) -> ledger.PostEntry:
    """Credit `wallet` 1200, debit `other` 1200: two lines (step 3a), or with the wallet's
    credit split in two lines (three lines: the set-based step 3)."""
    if not split:
        return transfer(key, other, wallet, 1200)
    return ledger.PostEntry(
        idempotency_key=key,
        lines=[
            ledger.Line(other, "debit", 1200, "USD"),
            ledger.Line(wallet, "credit", 1000, "USD"),
            ledger.Line(wallet, "credit", 200, "USD"),
        ],
    )


@pytest.mark.parametrize("split", [False, True], ids=["two_lines", "three_lines"])
@pytest.mark.parametrize("refusal", ["closed", "overdraft"])
def test_a_refused_posting_neither_triggers_nor_publishes(
    db: RolledBack, open_account: OpenAccountFn, refusal: str, split: bool
) -> None:
    # The lowest of eight ids, so that account_above finds a higher one (see there).
    wallet = min(open_account(ORG_A, f"wallet-{n}", "liability") for n in range(8))
    expected: type[ledger.LedgerError]
    if refusal == "closed":
        other = account_above(open_account, wallet, "closed")
        with db.begin() as conn:
            ledger.close_account(conn, ORG_A, ledger.CloseAccount("close-other", other))
        expected = ledger.AccountClosed
    else:
        other = account_above(
            open_account, wallet, "flagged", type="liability", debits_must_not_exceed_credits=True
        )
        expected = ledger.InsufficientFunds
    with db.begin() as conn:
        monitor = ledger.create_monitor(
            conn,
            ORG_A,
            ledger.CreateMonitor(
                idempotency_key="watch-wallet",
                account_id=wallet,
                balance="posted",
                operator=">=",
                value=1000,
            ),
        ).id
    assert monitor is not None

    # The caller keeps its transaction after the (recorded) refusal and commits it.
    with db.begin() as conn, pytest.raises(expected):
        ledger.post_entry(conn, ORG_A, _lines(wallet, other, split=split, key="refused"))
    with db.begin() as conn:
        assert _state(conn, wallet, monitor) == ((0, 0, 0), (False, 0))
        assert _events(conn, monitor) == []
        assert (
            conn.execute(
                sa.text("SELECT count(*) FROM payments.lines WHERE account_id IN (:w, :o)"),
                {"w": wallet, "o": other},
            ).scalar_one()
            == 0
        )

    # The same money from an account that accepts: moved, and the monitor fires, once.
    payer = account_above(open_account, wallet, "payer")
    with db.begin() as conn:
        ledger.post_entry(conn, ORG_A, _lines(wallet, payer, split=split, key="accepted"))
    version = 2 if split else 1
    with db.begin() as conn:
        assert _state(conn, wallet, monitor) == ((0, 1200, version), (True, version))
        assert _events(conn, monitor) == [("triggered", 1200, version)]
        positions = conn.execute(
            sa.text(
                "SELECT account_version, account_posted_debits, account_posted_credits"
                " FROM payments.lines WHERE account_id = :w ORDER BY account_version"
            ),
            {"w": wallet},
        ).all()
        assert [tuple(p) for p in positions] == (
            [(1, 0, 1000), (2, 0, 1200)] if split else [(1, 0, 1200)]
        )

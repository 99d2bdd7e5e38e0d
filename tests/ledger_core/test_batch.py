"""Batches of independent entries (`ledger.post_batch`, TigerBeetle's create_transfers): one
result per request, a refusal fails only its own request (or its linked chain), replays and
recorded refusals as a single posting's."""

from __future__ import annotations

import uuid

import pytest
import sqlalchemy as sa

import ledger
from liventix.testing.rollback import RolledBack, Transactions
from tests.ledger_core.conftest import ORG_A, OpenAccountFn, transfer


@pytest.fixture
def books(open_account: OpenAccountFn) -> tuple[uuid.UUID, uuid.UUID, uuid.UUID]:
    """Cash (asset), sales (revenue) and a wallet that may not go below zero."""
    cash = open_account(ORG_A, "cash", "asset")
    sales = open_account(ORG_A, "sales", "revenue")
    wallet = open_account(ORG_A, "wallet", "liability", debits_must_not_exceed_credits=True)
    return cash, sales, wallet


def _posted(db: Transactions, account: uuid.UUID) -> int:
    with db.connect() as conn:
        return ledger.balance(conn, account).posted


def _entries(db: Transactions) -> int:
    with db.connect() as conn:
        return int(conn.execute(sa.text("SELECT count(*) FROM payments.entries")).scalar_one())


def test_each_entry_stands_alone(
    db: RolledBack, books: tuple[uuid.UUID, uuid.UUID, uuid.UUID]
) -> None:
    cash, sales, wallet = books
    batch = [
        transfer("fund", cash, wallet, 50),  # the wallet holds 50
        transfer("too-much", wallet, cash, 80),  # refused: the wallet would go below zero
        transfer("sale", cash, sales, 7),
        transfer("spend", wallet, cash, 30),  # 50 - 30: fine
    ]
    with db.begin() as conn:
        results = ledger.post_batch(conn, ORG_A, batch)
    assert [r.status for r in results] == ["posted", "refused", "posted", "posted"]
    assert [r.index for r in results] == [0, 1, 2, 3]
    assert isinstance(results[1].error, ledger.InsufficientFunds)
    assert results[1].id is None
    assert _posted(db, wallet) == 20 and _posted(db, sales) == 7
    assert _entries(db) == 3

    # The same batch again: every answer replayed, the refusal recorded under its key.
    with db.begin() as conn:
        again = ledger.post_batch(conn, ORG_A, batch)
    assert [r.status for r in again] == ["replayed", "refused", "replayed", "replayed"]
    assert [r.id for r in again] == [r.id for r in results]
    assert again[1].replayed and isinstance(again[1].error, ledger.InsufficientFunds)
    assert _entries(db) == 3


def test_a_linked_chain_stands_or_falls_together(
    db: RolledBack, books: tuple[uuid.UUID, uuid.UUID, uuid.UUID]
) -> None:
    cash, sales, wallet = books
    batch = [
        transfer("alone", cash, sales, 5),
        transfer("chain-1", cash, wallet, 10),
        transfer("chain-2", wallet, cash, 25),  # refused: 10 in the wallet
        transfer("chain-3", cash, sales, 1),
        transfer("after", cash, sales, 2),
    ]
    with db.begin() as conn:
        results = ledger.post_batch(conn, ORG_A, batch, links=[False, True, True, False, False])
    assert [r.status for r in results] == ["posted", "refused", "refused", "refused", "posted"]
    assert isinstance(results[2].error, ledger.InsufficientFunds)
    for r in (results[1], results[3]):
        assert isinstance(r.error, ledger.LinkedEntryFailed)
        assert r.error.index == 2
    assert _posted(db, wallet) == 0 and _posted(db, sales) == 7
    assert _entries(db) == 2

    # A linked chain's refusal is not recorded: fixed, it posts under the same keys.
    with db.begin() as conn:
        fixed = ledger.post_batch(
            conn,
            ORG_A,
            [
                transfer("chain-1", cash, wallet, 30),
                transfer("chain-2", wallet, cash, 25),
                transfer("chain-3", cash, sales, 1),
            ],
            links=[True, True, False],
        )
    assert [r.status for r in fixed] == ["posted", "posted", "posted"]
    assert _posted(db, wallet) == 5


def test_invalid_requests_are_refused_one_by_one(
    db: RolledBack, books: tuple[uuid.UUID, uuid.UUID, uuid.UUID]
) -> None:
    cash, sales, _ = books
    unbalanced = ledger.PostEntry(
        "unbalanced",
        [ledger.Line(cash, "debit", 10, "USD"), ledger.Line(sales, "credit", 9, "USD")],
    )
    batch = [
        transfer("one", cash, sales, 1),
        unbalanced,
        transfer("one", cash, sales, 2),  # the key again
        transfer("missing", cash, uuid.uuid4(), 3),  # no such account: refused by the door
        transfer("two", cash, sales, 4),
    ]
    with db.begin() as conn:
        results = ledger.post_batch(conn, ORG_A, batch)
    assert [r.status for r in results] == ["posted", "refused", "refused", "refused", "posted"]
    assert isinstance(results[1].error, ledger.UnbalancedEntry)
    assert isinstance(results[2].error, ledger.InvalidRequest)
    assert isinstance(results[3].error, ledger.AccountNotFound)
    assert _posted(db, sales) == 5


def test_another_request_under_a_used_key_is_a_conflict_for_it_alone(
    db: RolledBack, books: tuple[uuid.UUID, uuid.UUID, uuid.UUID]
) -> None:
    cash, sales, _ = books
    with db.begin() as conn:
        ledger.post_entry(conn, ORG_A, transfer("used", cash, sales, 1))
    with db.begin() as conn:
        results = ledger.post_batch(
            conn, ORG_A, [transfer("used", cash, sales, 2), transfer("new", cash, sales, 3)]
        )
    assert isinstance(results[0].error, ledger.IdempotencyConflict)
    assert results[1].status == "posted"
    assert _posted(db, sales) == 4


def test_a_batch_whose_last_request_is_linked_is_refused_whole(
    db: RolledBack, books: tuple[uuid.UUID, uuid.UUID, uuid.UUID]
) -> None:
    cash, sales, _ = books
    with db.begin() as conn:
        with pytest.raises(ledger.InvalidRequest):
            ledger.post_batch(conn, ORG_A, [transfer("x", cash, sales, 1)], links=[True])
        with pytest.raises(ledger.InvalidRequest):
            ledger.post_batch(conn, ORG_A, [])
    assert _entries(db) == 0

"""Review F2: a high-volume account (the platform's fee revenue) is read, not locked, by every
door that posts to it; a posting whose key's INSERT waits on a concurrent holder of the same
key must not commit a line on that account when it was closed meanwhile. Two sessions, for
real: one holds the key uncommitted, the posting waits on it, the platform closes the fee
account and commits, the holder rolls back; the posting is refused (AccountClosed), nothing
moved, and a retry under the key is refused too."""

from __future__ import annotations

import uuid

import pytest
import sqlalchemy as sa

import ledger
from tests.ledger_core.conftest import (
    ORG_A,
    PLATFORM,
    OpenAccountFn,
    race_a_holder,
    transfer,
)

_KEY = "race-key"


@pytest.fixture
def accounts(open_account: OpenAccountFn) -> dict[str, uuid.UUID]:
    return {
        "cash": open_account(ORG_A, "cash", "asset"),
        "sales": open_account(ORG_A, "sales", "revenue"),
        "other": open_account(ORG_A, "other", "revenue"),
        "cash2": open_account(ORG_A, "cash2", "asset"),
        "sales2": open_account(ORG_A, "sales2", "revenue"),
        "fees": open_account(PLATFORM, "fees", "revenue", high_volume=True),
        "clearing": open_account(ORG_A, "clearing", "asset", high_volume=True),
    }


def _request(door: str, a: dict[str, uuid.UUID]) -> ledger.PostEntry:
    """A sale with its fee on the high-volume account, shaped for `door`."""
    if door == "set_based":  # three regular accounts: not post_entry's 3a, its 3
        lines = [
            ledger.Line(a["cash"], "debit", 100, "USD"),
            ledger.Line(a["sales"], "credit", 60, "USD"),
            ledger.Line(a["other"], "credit", 35, "USD"),
            ledger.Line(a["fees"], "credit", 5, "USD"),
        ]
    elif door == "usual_one_regular":  # one regular account beside two high-volume ones: 3a
        lines = [
            ledger.Line(a["clearing"], "debit", 100, "USD"),
            ledger.Line(a["sales"], "credit", 95, "USD"),
            ledger.Line(a["fees"], "credit", 5, "USD"),
        ]
    else:
        lines = [
            ledger.Line(a["cash"], "debit", 100, "USD"),
            ledger.Line(a["sales"], "credit", 95, "USD"),
            ledger.Line(a["fees"], "credit", 5, "USD"),
        ]
    # A condition sends the request to ledger_write (the long way).
    conditions = [ledger.Condition(a["cash"], version=0)] if door == "long" else []
    return ledger.PostEntry(_KEY, lines, conditions=conditions)


def _post(engine: sa.Engine, door: str, request: ledger.PostEntry) -> object:
    """Post by `door`; the result or the error raised."""
    try:
        if door == "batch":  # post_batch_fast
            with engine.begin() as conn:
                (result,) = ledger.post_batch(conn, ORG_A, [request])
            return result.error if result.error is not None else result
        return ledger.post_entry_now(engine, ORG_A, request)
    except ledger.LedgerError as exc:
        return exc


@pytest.mark.parametrize("door", ["usual", "usual_one_regular", "set_based", "long", "batch"])
def test_a_fee_account_closed_while_the_key_is_awaited(
    engine: sa.Engine, accounts: dict[str, uuid.UUID], door: str
) -> None:
    a = accounts
    request = _request(door, a)
    holder_conn = engine.connect()
    # Session 1 holds the key, uncommitted, with an entry on other accounts (the posting
    # must wait on the key, not on a regular account's row lock).
    ledger.post_entry(holder_conn, ORG_A, transfer(_KEY, a["cash2"], a["sales2"], 1))

    def close_fees() -> None:  # the platform closes the fee account while the posting waits
        with engine.begin() as conn:
            ledger.close_account(conn, PLATFORM, ledger.CloseAccount("close-fees", a["fees"]))

    outcome = race_a_holder(
        engine,
        holder_conn,
        lambda: _post(engine, door, request),
        "the key's holder",
        meanwhile=close_fees,
        commit=False,
    )
    assert isinstance(outcome, ledger.AccountClosed), outcome
    with engine.connect() as conn:
        lines_on_fees = conn.execute(
            sa.text("SELECT count(*) FROM payments.lines WHERE account_id = :a"),
            {"a": a["fees"]},
        ).scalar_one()
        assert lines_on_fees == 0
        assert ledger.balance(conn, a["cash"]).version == 0
        assert ledger.balance(conn, a["sales"]).version == 0
    # A retry under the key is refused too (the long way, which sees the account closed).
    again = _post(engine, door, request)
    assert isinstance(again, ledger.AccountClosed), again

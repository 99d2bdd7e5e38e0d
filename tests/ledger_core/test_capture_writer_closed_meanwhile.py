"""The capture's writer (`payments.post_capture_entry`, escrow's one-call capture) reads the
platform's high-volume accounts without a lock, as post_entry does: a capture whose key's
INSERT waits on a concurrent holder of the same key must not commit a line on one of them
closed meanwhile (its closed recheck after the writes; review F2's race, which
test_high_volume_closed_meanwhile drives on the other doors). Two sessions, for real: one
holds the key uncommitted, the writer waits on it, the platform closes its clearing account
and commits, the holder rolls back; the writer raises account_closed (SQLSTATE LX001, the
first closed account of the request named), nothing written; without the close it posts."""

from __future__ import annotations

import uuid

import pytest
import sqlalchemy as sa

import ledger
from ledger.requests import fingerprint
from tests.ledger_core.conftest import (
    ORG_A,
    PLATFORM,
    OpenAccountFn,
    race_a_holder,
    transfer,
)

_KEY = "capture-race-key"
_CAPTURE = sa.text(
    "SELECT payments.post_capture_entry(:org, :key, :hash, CAST(:accounts AS uuid[]),"
    " CAST(:sides AS text[]), CAST(:amounts AS bigint[]), CAST(:currencies AS text[]),"
    " 'capture', NULL, :regular, CAST(:high_volume AS uuid[]))"
)


@pytest.fixture
def accounts(open_account: OpenAccountFn) -> dict[str, uuid.UUID]:
    return {
        "escrow": open_account(ORG_A, "escrow", "liability"),
        "cash2": open_account(ORG_A, "cash2", "asset"),
        "sales2": open_account(ORG_A, "sales2", "revenue"),
        "clearing": open_account(PLATFORM, "clearing", "asset", high_volume=True),
        "fees": open_account(PLATFORM, "fees", "revenue", high_volume=True),
        "stripe": open_account(PLATFORM, "stripe", "expense", high_volume=True),
    }


def _capture(conn: sa.Connection, a: dict[str, uuid.UUID]) -> object:
    """The capture's entry through the writer: the clearing debited 1,000 and Stripe's fee 30,
    the escrow credited 980 and the platform's fee 50."""
    request = ledger.PostEntry(
        _KEY,
        [
            ledger.Line(a["clearing"], "debit", 1_000, "USD"),
            ledger.Line(a["escrow"], "credit", 980, "USD"),
            ledger.Line(a["fees"], "credit", 50, "USD"),
            ledger.Line(a["stripe"], "debit", 30, "USD"),
        ],
        description="capture",
    )
    lines = request.lines
    return conn.execute(
        _CAPTURE,
        {
            "org": ORG_A,
            "key": _KEY,
            "hash": fingerprint({**request.payload(), "key": _KEY}),
            "accounts": [str(x.account_id) for x in lines],
            "sides": [x.side for x in lines],
            "amounts": [x.amount for x in lines],
            "currencies": [x.currency for x in lines],
            "regular": a["escrow"],
            "high_volume": [str(a["clearing"]), str(a["fees"]), str(a["stripe"])],
        },
    ).scalar_one()


def _written(engine: sa.Engine, a: dict[str, uuid.UUID]) -> tuple[int, int | None]:
    """Lines on the platform's three accounts, and the escrow's version."""
    with engine.connect() as conn:
        lines = conn.execute(
            sa.text("SELECT count(*) FROM payments.lines WHERE account_id = ANY (:ids)"),
            {"ids": [a["clearing"], a["fees"], a["stripe"]]},
        ).scalar_one()
        return int(lines), ledger.balance(conn, a["escrow"]).version


@pytest.mark.parametrize("close", [True, False])
def test_a_clearing_account_closed_while_the_key_is_awaited(
    engine: sa.Engine, accounts: dict[str, uuid.UUID], close: bool
) -> None:
    a = accounts

    def capture() -> object:
        try:
            with engine.begin() as conn:
                return _capture(conn, a)
        except sa.exc.DBAPIError as exc:
            return exc

    def close_clearing() -> None:  # the platform closes its clearing account meanwhile
        with engine.begin() as conn:
            ledger.close_account(
                conn, PLATFORM, ledger.CloseAccount("close-clearing", a["clearing"])
            )

    holder_conn = engine.connect()
    # Session 1 holds the key, uncommitted, with an entry on other accounts (the writer
    # must wait on the key, not on the escrow's row lock).
    ledger.post_entry(holder_conn, ORG_A, transfer(_KEY, a["cash2"], a["sales2"], 1))
    result = race_a_holder(
        engine,
        holder_conn,
        capture,
        "the key's holder",
        meanwhile=close_clearing if close else None,
        commit=False,
    )
    if not close:
        assert isinstance(result, uuid.UUID), result
        assert _written(engine, a) == (3, 1)
        return
    error = result
    assert isinstance(error, sa.exc.DBAPIError), error
    diag = getattr(error.orig, "diag", None)
    assert getattr(error.orig, "sqlstate", None) == "LX001"
    assert diag is not None and diag.message_primary == "account_closed"
    assert str(a["clearing"]) in (diag.message_detail or "")
    assert _written(engine, a) == (0, 0)

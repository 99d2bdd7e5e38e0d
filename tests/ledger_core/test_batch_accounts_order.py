"""How the batch's fast door (`payments.post_batch_fast`) reads, locks and moves accounts
(issue 19 rule 4, docs/engine.md's one lock order): the organization's accounts, then the
platform's, each in statements of their own pinned to that organization, the regular ones
locked in id order; a batch the door declines after locking (an overdraft where an entry
leaves an account) leaves nothing moved and nothing locked in the caller's
transaction.
"""

from __future__ import annotations

import uuid
from typing import Any

import sqlalchemy as sa

import ledger
from tests.ledger_core.conftest import (
    ORG_A,
    PLATFORM,
    Doors,
    OpenAccountFn,
    bulk_accounts,
    transfer,
)
from tests.test_sharding_hot_paths import _distributed
from tests.test_sharding_reads import Plans, _walk, unpinned

_CALL = sa.text(
    "SELECT payments.post_batch_fast(:org, :keys, :keys, :descr, CAST(:meta AS jsonb[]),"
    " CAST(:eff AS timestamptz[]), CAST(:refs AS text[]), :entry_of, :accounts, :sides,"
    " CAST(:amounts AS bigint[]), :curr)"
)


def _call(conn: sa.Connection, entries: list[tuple[uuid.UUID, uuid.UUID, int]]) -> Any:
    """A raw call of the fast door for ORG_A: one two-line entry (debit, credit, amount) each."""
    n = len(entries)
    return conn.execute(
        _CALL,
        {
            "org": ORG_A,
            "keys": [f"order-{uuid.uuid4()}" for _ in entries],
            "descr": [""] * n,
            "meta": [None] * n,
            "eff": [None] * n,
            "refs": [None] * n,
            "entry_of": [i for i in range(1, n + 1) for _ in (0, 1)],
            "accounts": [a for debit, credit, _ in entries for a in (debit, credit)],
            "sides": ["debit", "credit"] * n,
            "amounts": [m for _, _, amount in entries for m in (amount, amount)],
            "curr": ["USD"] * (2 * n),
        },
    ).scalar()


def _state(conn: sa.Connection, *accounts: uuid.UUID) -> list[tuple[int, int, int]]:
    return [
        tuple(
            conn.execute(
                sa.text(
                    "SELECT posted_debits, posted_credits, version FROM payments.accounts"
                    " WHERE id = :a"
                ),
                {"a": a},
            ).one()
        )
        for a in accounts
    ]


def test_a_declined_batch_leaves_its_accounts_unmoved_and_unlocked(
    engine: sa.Engine, open_account: OpenAccountFn
) -> None:
    """The door locked both accounts before judging the lines; the wallet overdrawn where the
    second entry leaves it declines the batch, and the door's subtransaction takes back the
    locks: the caller's open transaction sees the accounts as they were, and another session
    locks them at once."""
    cash = open_account(ORG_A, "cash", "asset")
    wallet = open_account(ORG_A, "wallet", "liability", debits_must_not_exceed_credits=True)
    with engine.connect() as caller, engine.connect() as other, caller.begin():
        assert _call(caller, [(cash, wallet, 10), (wallet, cash, 15), (cash, wallet, 100)]) is None
        assert _state(caller, cash, wallet) == [(0, 0, 0), (0, 0, 0)]
        assert caller.execute(sa.text("SELECT count(*) FROM payments.lines")).scalar() == 0
        with other.begin():
            locked = other.execute(
                sa.text("SELECT id FROM payments.accounts WHERE id = ANY(:ids) FOR UPDATE NOWAIT"),
                {"ids": [cash, wallet]},
            ).all()
            assert len(locked) == 2  # NOWAIT: a lock still held by the caller raises instead
    # The same batch in funds posts by the same door.
    with engine.begin() as conn:
        assert _call(conn, [(cash, wallet, 10), (wallet, cash, 5), (cash, wallet, 100)])
        assert _state(conn, cash, wallet) == [(110, 5, 3), (5, 110, 3)]


def test_the_platforms_accounts_are_read_in_statements_of_their_own(
    engine: sa.Engine, open_account: OpenAccountFn, doors: Doors
) -> None:
    """A batch for an organization moving the platform's regular account beside its own
    (the owner's connection may): the fast door posts it, each line positioned on its
    account in request order and booked with the account's organization, and every
    statement reading or moving accounts names one organization (auto_explain's plans)."""
    cash = open_account(ORG_A, "cash", "asset")
    sales = open_account(ORG_A, "sales", "revenue")
    clearing = open_account(PLATFORM, "clearing", "liability")
    batch = [
        transfer("p-1", cash, clearing, 100),
        transfer("p-2", clearing, sales, 40),
        transfer("p-3", cash, sales, 7),
        transfer("p-4", clearing, cash, 1),
    ]
    plans = Plans(engine)
    with engine.begin() as conn:
        distributed = _distributed(conn)
    with plans.record() as got, engine.begin() as conn:
        results = ledger.post_batch(conn, ORG_A, batch)
    assert doors.taken == [True]
    assert [r.status for r in results] == ["posted"] * 4
    scans = [s for plan in got for s in unpinned(plan, distributed)]
    assert [s for s in scans if s.startswith("payments.accounts")] == []
    # One lock statement per organization (ORDER BY id under FOR NO KEY UPDATE: the rows
    # reach the lock sorted, whatever the plan), the organization's first.
    locks = [p for p in got if "FOR NO KEY UPDATE OF a" in p["Query Text"]]
    assert len(locks) == 2
    assert all(any(n["Node Type"] == "LockRows" for n in _walk(p["Plan"])) for p in locks)
    # The accounts' array scan hands the rows over in id order itself: an index scan straight
    # under the lock, no Sort. (On these few accounts the planner takes it either way: the
    # test below shows what the door's bitmap scans off changes, on 3,000 accounts.)
    for lock in locks:
        under = [
            child["Node Type"]
            for n in _walk(lock["Plan"])
            if n["Node Type"] == "LockRows"
            for child in n["Plans"]
        ]
        assert under == ["Index Scan"], under
    with engine.connect() as conn:
        assert _state(conn, cash, sales, clearing) == [(107, 1, 3), (0, 47, 2), (41, 100, 3)]
        lines = conn.execute(
            sa.text(
                "SELECT l.org_id, l.entry_org_id, l.side, l.account_version,"
                " l.account_posted_debits, l.account_posted_credits"
                " FROM payments.lines l JOIN payments.entries e ON e.id = l.entry_id"
                " WHERE l.account_id = :a ORDER BY e.idempotency_key"
            ),
            {"a": clearing},
        ).all()
    assert [tuple(x) for x in lines] == [
        (PLATFORM, ORG_A, "credit", 1, 0, 100),
        (PLATFORM, ORG_A, "debit", 2, 40, 100),
        (PLATFORM, ORG_A, "debit", 3, 41, 100),
    ]


def test_the_lock_reads_the_accounts_in_id_order_without_a_sort(
    engine: sa.Engine, orgs: None
) -> None:
    """An organization with 3,000 accounts, analysed, and a batch of 100 entries over 200 of
    them: the lock statement is an index scan straight under LockRows (its array scan hands
    the rows over in id order), not a bitmap scan of the heap's order and a Sort of every row
    locked, which the planner picks there with bitmap scans allowed (session 43)."""
    with engine.begin() as conn:
        ids = bulk_accounts(conn, ORG_A, "bulk", 3000)
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.exec_driver_sql("ANALYZE payments.accounts")
    plans = Plans(engine)
    with plans.record() as got, engine.begin() as conn:
        posted = _call(conn, [(ids[2 * i], ids[2 * i + 1], 5) for i in range(100)])
    assert posted is not None and len(posted) == 100  # the fast door posted it
    locks = [p for p in got if "FOR NO KEY UPDATE OF a" in p["Query Text"]]
    assert len(locks) == 1
    nodes = [n["Node Type"] for n in _walk(locks[0]["Plan"])]
    assert "Sort" not in nodes and not [n for n in nodes if n.startswith("Bitmap")], nodes
    with engine.connect() as conn:
        moved = conn.execute(
            sa.text("SELECT count(*) FROM payments.accounts WHERE id = ANY(:ids) AND version = 1"),
            {"ids": ids[:200]},
        ).scalar()
    assert moved == 200

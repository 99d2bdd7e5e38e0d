"""Batches (`ledger.post_batch`) as the application runs them: by an organization's database
role under row-level security, and from several connections at once.

- An organization's role, acting for it, posts a plain batch through the fast door; it cannot
  post a batch for another organization, and an entry naming another organization's account
  is refused alone (that account neither moved nor left locked).
- Batches over the same accounts in opposite orders, from two connections at once, never
  deadlock (the fast door locks the accounts in id order) and lose no movement.
- A batch's entries get time-ordered ids (UUIDv7), in request order.
"""

from __future__ import annotations

import threading
import uuid

import pytest
import sqlalchemy as sa

import ledger
from tests.ledger_core.conftest import ORG_A, ORG_B, Doors, OpenAccountFn, present_key, transfer


def _totals(engine: sa.Engine, *accounts: uuid.UUID) -> list[tuple[int, int, int, int]]:
    """Each account's posted totals, version and lines (as the owner)."""
    with engine.connect() as conn:
        return [
            tuple(
                conn.execute(
                    sa.text(
                        "SELECT a.posted_debits, a.posted_credits, a.version,"
                        " (SELECT count(*) FROM payments.lines l WHERE l.account_id = a.id)"
                        " FROM payments.accounts a WHERE a.id = :a"
                    ),
                    {"a": account},
                ).one()
            )
            for account in accounts
        ]


def test_an_organization_posts_its_own_batches_only(
    engine: sa.Engine,
    app_engine: sa.Engine,
    open_account: OpenAccountFn,
    doors: Doors,
) -> None:
    cash = open_account(ORG_A, "cash", "asset")
    sales = open_account(ORG_A, "sales", "revenue")
    theirs = open_account(ORG_B, "their-cash", "asset")
    batch = [transfer(f"own-{i}", cash, sales, 10 + i) for i in range(5)]
    with app_engine.begin() as conn:
        present_key(conn, ORG_A)
        results = ledger.post_batch(conn, ORG_A, batch)
    assert [r.status for r in results] == ["posted"] * 5
    assert doors.taken == [True]
    assert _totals(engine, cash, sales) == [(60, 0, 5, 5), (0, 60, 5, 5)]

    # A batch for another organization: the whole call is refused, nothing written.
    before = _totals(engine, cash, sales, theirs)
    with pytest.raises(ledger.OrganizationNotFound), app_engine.begin() as conn:
        present_key(conn, ORG_A)
        ledger.post_batch(conn, ORG_B, [transfer("for-b", theirs, cash, 5)])
    assert _totals(engine, cash, sales, theirs) == before

    # An entry naming another organization's account is refused alone.
    mixed = [
        transfer("mine-1", cash, sales, 1),
        transfer("theirs", theirs, sales, 2),
        transfer("mine-2", cash, sales, 3),
    ]
    with app_engine.begin() as conn:
        present_key(conn, ORG_A)
        results = ledger.post_batch(conn, ORG_A, mixed)
    assert [r.status for r in results] == ["posted", "refused", "posted"]
    assert isinstance(results[1].error, ledger.AccountNotFound)
    assert doors.taken[-1] is False  # declined by the fast door, judged the long way
    assert _totals(engine, theirs) == before[2:]
    assert _totals(engine, cash, sales) == [(64, 0, 7, 7), (0, 64, 7, 7)]
    with engine.connect() as owner, owner.begin():
        owner.execute(sa.text("SET LOCAL lock_timeout = '2s'"))
        locked = owner.execute(
            sa.text("SELECT id FROM payments.accounts WHERE id = :a FOR UPDATE NOWAIT"),
            {"a": theirs},
        ).all()
        assert len(locked) == 1


def test_overlapping_batches_from_two_connections_never_deadlock(
    engine: sa.Engine, open_account: OpenAccountFn
) -> None:
    accounts = [open_account(ORG_A, f"acct-{i}", "asset") for i in range(6)]
    rounds, size = 15, 12
    errors: list[BaseException] = []
    start = threading.Barrier(2)

    def worker(name: str, order: list[uuid.UUID]) -> None:
        try:
            start.wait(timeout=30)
            for r in range(rounds):
                batch = [
                    transfer(f"{name}-{r}-{i}", order[i % 6], order[(i + 1) % 6], 1 + i)
                    for i in range(size)
                ]
                with engine.begin() as conn:
                    results = ledger.post_batch(conn, ORG_A, batch)
                assert all(x.status == "posted" for x in results)
        except BaseException as exc:  # reported by the main thread
            errors.append(exc)

    threads = [
        threading.Thread(target=worker, args=("up", accounts)),
        threading.Thread(target=worker, args=("down", accounts[::-1])),
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors, errors[0]
    moved = 2 * rounds * sum(1 + i for i in range(size))
    totals = _totals(engine, *accounts)
    assert sum(d for d, _, _, _ in totals) == moved
    assert sum(c for _, c, _, _ in totals) == moved
    # every line moved its account once: versions count the lines
    assert all(version == lines for _, _, version, lines in totals)
    assert sum(lines for _, _, _, lines in totals) == 2 * 2 * rounds * size


def test_a_batchs_entries_get_time_ordered_ids_in_request_order(
    engine: sa.Engine, open_account: OpenAccountFn, doors: Doors
) -> None:
    cash = open_account(ORG_A, "cash", "asset")
    sales = open_account(ORG_A, "sales", "revenue")
    with engine.begin() as conn:
        results = ledger.post_batch(
            conn, ORG_A, [transfer(f"t{i}", cash, sales, 1) for i in range(50)]
        )
    ids = [r.id for r in results]
    assert doors.taken == [True]
    assert all(i is not None and i.version == 7 for i in ids)
    assert ids == sorted(ids, key=lambda i: i.bytes if i else b"")
    with engine.connect() as conn:
        for result in results[:3]:
            assert result.id is not None
            assert ledger.get_entry(conn, result.id).id == result.id

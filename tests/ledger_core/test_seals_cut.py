"""The sealer's cut (issue 16 item 1) by transaction id: `payments.entries.created_xact`
against the xmin of the sealer's snapshot, no statistics view read. An entry committed late
by a long transaction waits for a later checkpoint and is never skipped, whether the long
transaction posted before the other entries or began before them and posted after a seal."""

from __future__ import annotations

import uuid

import sqlalchemy as sa

import ledger
from liventix.testing.rollback import RolledBack
from tests.ledger_core.conftest import ORG_A, ORG_B, OpenAccountFn, transfer


def _sealed_in(conn: sa.Connection) -> dict[uuid.UUID, int]:
    rows = conn.execute(sa.text("SELECT entry_id, platform_seq FROM payments.entry_seals")).all()
    return {r.entry_id: int(r.platform_seq) for r in rows}


def _entries(conn: sa.Connection) -> set[uuid.UUID]:
    return set(conn.execute(sa.text("SELECT id FROM payments.entries")).scalars())


def test_a_long_transactions_entry_holds_the_cut_and_is_sealed_after_it_commits(
    engine: sa.Engine, open_account: OpenAccountFn
) -> None:
    cash, sales = open_account(ORG_A, "cash", "asset"), open_account(ORG_A, "sales", "revenue")
    b_cash, b_sales = open_account(ORG_B, "cash", "asset"), open_account(ORG_B, "sales", "revenue")
    with engine.begin() as conn:
        early = ledger.post_entry(conn, ORG_A, transfer("early", cash, sales, 1)).id
    with engine.connect() as slow:
        slow.begin()
        late = ledger.post_entry(slow, ORG_A, transfer("late", cash, sales, 2)).id
        after: list[uuid.UUID] = []
        for n in range(3):
            with engine.begin() as conn:
                after.append(
                    ledger.post_entry(conn, ORG_B, transfer(f"b{n}", b_cash, b_sales, 3)).id
                )
        with engine.begin() as conn:
            first = ledger.seal(conn)
        # Only the entry below the open transaction: the later ones, committed, wait behind it.
        assert (first.sealed, first.platform_seq) == (1, 1)
        with engine.begin() as conn:
            assert _sealed_in(conn) == {early: 1}
            assert ledger.seal(conn).sealed == 0  # the cut has not moved: no checkpoint
            assert ledger.verify(conn).clean
        slow.commit()
    with engine.begin() as conn:
        second = ledger.seal(conn)
        assert (second.sealed, second.platform_seq) == (4, 2)
        sealed = _sealed_in(conn)
        assert sealed == {early: 1, late: 2, **{e: 2 for e in after}}
        assert set(sealed) == _entries(conn)
        assert ledger.verify(conn).clean
        cuts = conn.execute(
            sa.text("SELECT cut_xact FROM payments.checkpoints WHERE org_id IS NULL ORDER BY seq")
        ).scalars()
        first_cut, second_cut = (int(str(c)) for c in cuts)
        assert first_cut < second_cut


def test_a_transaction_begun_before_a_seal_that_posts_after_it_goes_into_the_next(
    engine: sa.Engine, open_account: OpenAccountFn
) -> None:
    """Its transaction began before the first checkpoint's cut was taken; its entry still
    belongs to the next checkpoint, and verify does not call it unsealed."""
    cash, sales = open_account(ORG_A, "cash", "asset"), open_account(ORG_A, "sales", "revenue")
    with engine.begin() as conn:
        ledger.post_entry(conn, ORG_A, transfer("before", cash, sales, 1))
    with engine.connect() as slow:
        slow.begin()
        began = slow.execute(sa.text("SELECT now()")).scalar_one()  # no transaction id yet
        with engine.begin() as conn:
            assert ledger.seal(conn).sealed == 1
        late = ledger.post_entry(slow, ORG_A, transfer("late", cash, sales, 2)).id
        slow.commit()
    with engine.begin() as conn:
        cut_at = conn.execute(
            sa.text("SELECT cut_at FROM payments.checkpoints WHERE org_id IS NULL AND seq = 1")
        ).scalar_one()
        assert began < cut_at
        assert ledger.verify(conn).clean  # not entry_not_sealed: its transaction is above the cut
        assert ledger.seal(conn).sealed == 1
        assert _sealed_in(conn)[late] == 2
        assert ledger.verify(conn).clean


def test_the_sealer_reads_no_statistics_view(engine: sa.Engine) -> None:
    """No pg_stat_activity, no pg_read_all_stats: a role without either can own it."""
    with engine.connect() as conn:
        body = conn.execute(
            sa.text("SELECT prosrc FROM pg_proc WHERE oid = :f ::regprocedure"),
            {"f": "payments.seal(int, interval)"},
        ).scalar_one()
    assert "pg_stat" not in body
    assert "pg_read_all_stats" not in body
    assert "pg_snapshot_xmin(pg_current_snapshot())" in body


def test_an_entry_inserted_by_hand_below_the_cut_is_named_unsealed(
    db: RolledBack, open_account: OpenAccountFn
) -> None:
    """A superuser's entry stamped with an old transaction id, after the seal: no run will
    take it (its transaction is below the cut), so verify names it."""
    cash, sales = open_account(ORG_A, "cash", "asset"), open_account(ORG_A, "sales", "revenue")
    with db.begin() as conn:
        ledger.post_entry(conn, ORG_A, transfer("real", cash, sales, 5))
        assert ledger.seal(conn).sealed == 1
        conn.execute(sa.text("SET LOCAL session_replication_role = replica"))
        forged = conn.execute(
            sa.text(
                "INSERT INTO payments.entries (org_id, created_xact) VALUES (:org, '3')"
                " RETURNING id"
            ),
            {"org": ORG_A},
        ).scalar_one()
        conn.execute(sa.text("SET LOCAL session_replication_role = origin"))
        found = ledger.verify(conn)
        assert [(m.kind, m.entry_id) for m in found.mismatches] == [("entry_not_sealed", forged)]
        assert ledger.seal(conn).sealed == 0  # below the cut: never sealed after the fact

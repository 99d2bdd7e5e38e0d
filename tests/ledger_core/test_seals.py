"""Tamper evidence (issue 16 item 1) against the real database: the sealer's checkpoints,
their chains and what they publish; an untouched ledger verifies clean; every way a
superuser can rewrite history (an amount, a deleted line, an inserted balanced pair, a
reordering, a deleted entry, a changed checkpoint, a rewritten seal) is named by verify; an
entry committed after a sealer's snapshot goes into the next checkpoint."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import timedelta

import pytest
import sqlalchemy as sa

import ledger
from liventix.testing.rollback import RolledBack
from tests.ledger_core.conftest import ORG_A, ORG_B, PLATFORM, OpenAccountFn, present_key, transfer


def _post_some(db: RolledBack, open_account: OpenAccountFn) -> list[uuid.UUID]:
    cash_a = open_account(ORG_A, "cash", "asset")
    sales_a = open_account(ORG_A, "sales", "revenue")
    cash_b = open_account(ORG_B, "cash", "asset")
    sales_b = open_account(ORG_B, "sales", "revenue")
    with db.begin() as conn:
        return [
            ledger.post_entry(conn, ORG_A, transfer("a1", cash_a, sales_a, 100)).id,
            ledger.post_entry(conn, ORG_A, transfer("a2", cash_a, sales_a, 250)).id,
            ledger.post_entry(conn, ORG_B, transfer("b1", cash_b, sales_b, 70)).id,
        ]


def _published(conn: sa.Connection) -> dict[str, str]:
    rows = conn.execute(
        sa.text(
            "SELECT dedup_key, payload ->> 'hash' AS hash FROM messaging.messages"
            " WHERE type = 'ledger.checkpoint.sealed'"
        )
    ).all()
    return {r.dedup_key: r.hash for r in rows}


def test_checkpoints_chain_per_organization_and_for_the_platform(
    db: RolledBack, open_account: OpenAccountFn
) -> None:
    _post_some(db, open_account)
    with db.begin() as conn:
        first = ledger.seal(conn)
        assert (first.busy, first.sealed) == (False, 3)
        assert ledger.seal(conn).sealed == 0  # nothing new
        chain_a, _ = ledger.list_checkpoints(conn, ORG_A)
        platform, _ = ledger.list_checkpoints(conn, None)
        assert [(c.seq, c.entry_count, c.previous_hash) for c in chain_a] == [(1, 2, None)]
        assert [(c.seq, c.entry_count) for c in platform] == [(1, 3)]
        published = _published(conn)
        assert published[f"ledger.checkpoint.sealed:{ORG_A}:1"] == chain_a[0].hash
        assert published["ledger.checkpoint.sealed:platform:1"] == platform[0].hash
        cash = ledger.find_account(conn, ORG_A, "cash")
        sales = ledger.find_account(conn, ORG_A, "sales")
        assert cash is not None and sales is not None
        ledger.post_entry(conn, ORG_A, transfer("a3", cash, sales, 5))
        # The worker's cadence: nothing within min_interval of the last checkpoint.
        assert ledger.seal(conn, min_interval=timedelta(hours=1)).sealed == 0
        second = ledger.seal(conn, min_interval=timedelta(0))
        assert second.sealed == 1
        chain_a, more = ledger.list_checkpoints(conn, ORG_A)
        assert not more
        assert [c.seq for c in chain_a] == [1, 2]
        assert chain_a[1].previous_hash == chain_a[0].hash
        assert [c.seq for c in ledger.list_checkpoints(conn, ORG_B)[0]] == [1]
        result = ledger.verify(conn)
        assert result.clean, [m.describe() for m in result.mismatches]
        assert (result.entries, result.lines, result.checkpoints) == (4, 8, 5)
        assert ledger.verify(conn, ORG_A).clean


def test_an_organization_verifies_and_lists_only_its_own_chain(
    db: RolledBack, open_account: OpenAccountFn
) -> None:
    _post_some(db, open_account)
    with db.begin() as conn:
        ledger.seal(conn)
    with db.begin() as conn:
        conn.execute(sa.text("SET LOCAL ROLE liventix_app"))
        present_key(conn, ORG_B)
        mine = ledger.verify(conn, ORG_B)
        assert (mine.clean, mine.entries, mine.checkpoints) == (True, 1, 1)
        assert [c.org_id for c in ledger.list_checkpoints(conn, ORG_B)[0]] == [ORG_B]
        assert ledger.list_checkpoints(conn, ORG_A)[0] == []
        assert ledger.list_checkpoints(conn, None)[0] == []
    for org in (ORG_A, None):
        with (
            pytest.raises((ledger.OrganizationNotFound, ledger.PermissionDenied)),
            db.begin() as conn,
        ):
            conn.execute(sa.text("SET LOCAL ROLE liventix_app"))
            present_key(conn, ORG_B)
            ledger.verify(conn, org)


Tamper = Callable[[sa.Connection, list[uuid.UUID]], None]


def _first_line(conn: sa.Connection, entry: uuid.UUID) -> int:
    return int(
        conn.execute(
            sa.text("SELECT min(id) FROM payments.lines WHERE entry_id = :e"), {"e": entry}
        ).scalar_one()
    )


def _change_amount(conn: sa.Connection, entries: list[uuid.UUID]) -> None:
    conn.execute(
        sa.text("UPDATE payments.lines SET amount = amount + 1 WHERE id = :id"),
        {"id": _first_line(conn, entries[1])},
    )


def _delete_line(conn: sa.Connection, entries: list[uuid.UUID]) -> None:
    conn.execute(
        sa.text("DELETE FROM payments.lines WHERE id = :id"), {"id": _first_line(conn, entries[1])}
    )


def _insert_balanced_pair(conn: sa.Connection, entries: list[uuid.UUID]) -> None:
    conn.execute(
        sa.text("""
            INSERT INTO payments.lines (entry_id, entry_org_id, org_id, account_id, side, amount,
                                        currency, effective_at, created_at)
            SELECT entry_id, entry_org_id, org_id, account_id,
                   CASE side WHEN 'debit' THEN 'credit' ELSE 'debit' END, 40, currency,
                   effective_at, created_at
              FROM payments.lines WHERE entry_id = :e
        """),
        {"e": entries[1]},
    )


def _swap_effective_times(conn: sa.Connection, entries: list[uuid.UUID]) -> None:
    conn.execute(
        sa.text("""
            UPDATE payments.entries x SET effective_at = y.effective_at - interval '1 day'
              FROM payments.entries y WHERE x.id = :a AND y.id = :b
        """),
        {"a": entries[1], "b": entries[0]},
    )


def _swap_line_positions(conn: sa.Connection, entries: list[uuid.UUID]) -> None:
    conn.execute(
        sa.text("""
            WITH two AS (SELECT array_agg(id ORDER BY id) AS ids FROM payments.lines
                          WHERE entry_id = :e)
            UPDATE payments.lines l
               SET side = CASE l.side WHEN 'debit' THEN 'credit' ELSE 'debit' END
              FROM two WHERE l.id = ANY (two.ids)
        """),
        {"e": entries[1]},
    )


def _delete_entry(conn: sa.Connection, entries: list[uuid.UUID]) -> None:
    conn.execute(sa.text("DELETE FROM payments.lines WHERE entry_id = :e"), {"e": entries[1]})
    conn.execute(sa.text("DELETE FROM payments.entries WHERE id = :e"), {"e": entries[1]})


def _change_checkpoint(conn: sa.Connection, entries: list[uuid.UUID]) -> None:
    conn.execute(
        sa.text(
            "UPDATE payments.checkpoints SET entry_count = entry_count + 1"
            " WHERE org_id = :org AND seq = 1"
        ),
        {"org": ORG_A},
    )


def _rewrite_checkpoint_and_its_message(conn: sa.Connection, entries: list[uuid.UUID]) -> None:
    """A forger who changes a checkpoint's hash and the message: the chain breaks after it."""
    conn.execute(
        sa.text(
            "UPDATE payments.checkpoints SET hash = sha256(hash) WHERE org_id = :org AND seq = 1"
        ),
        {"org": ORG_A},
    )


def _reseal_a_changed_entry(conn: sa.Connection, entries: list[uuid.UUID]) -> None:
    """Change an amount and rewrite the entry's stored hashes to match: the checkpoint does
    not."""
    _change_amount(conn, entries)
    conn.execute(
        sa.text("""
            UPDATE payments.entry_seals s
               SET line_hashes = n.hs, hash = sha256(s.header_hash || n.joined)
              FROM (SELECT array_agg(payments.line_hash(l) ORDER BY l.id) AS hs,
                           string_agg(payments.line_hash(l), ''::bytea ORDER BY l.id) AS joined
                      FROM payments.lines l WHERE l.entry_id = :e) n
             WHERE s.entry_id = :e
        """),
        {"e": entries[1]},
    )


TAMPERING: dict[str, tuple[Tamper, str, bool]] = {
    # name: (how, the kind verify reports first, whether it names a line)
    "amount changed": (_change_amount, "line_changed", True),
    "line deleted": (_delete_line, "line_missing", True),
    "balanced pair inserted": (_insert_balanced_pair, "line_added", True),
    "entries reordered in time": (_swap_effective_times, "entry_changed", False),
    "lines' sides swapped": (_swap_line_positions, "line_changed", True),
    "entry deleted": (_delete_entry, "entry_missing", False),
    "checkpoint changed": (_change_checkpoint, "checkpoint_changed", False),
    "checkpoint hash rewritten": (_rewrite_checkpoint_and_its_message, "checkpoint_changed", False),
    "entry resealed by hand": (_reseal_a_changed_entry, "checkpoint_changed", False),
}


@pytest.mark.parametrize("name", list(TAMPERING))
def test_verify_names_every_kind_of_tampering(
    db: RolledBack, open_account: OpenAccountFn, name: str
) -> None:
    entries = _post_some(db, open_account)
    how, kind, names_line = TAMPERING[name]
    with db.begin() as conn:
        assert ledger.seal(conn).sealed == len(entries)
        assert ledger.verify(conn).clean
        # As a superuser can: with the ledger's triggers off.
        conn.execute(sa.text("SET LOCAL session_replication_role = replica"))
        how(conn, entries)
        conn.execute(sa.text("SET LOCAL session_replication_role = origin"))
        found = ledger.verify(conn)
        assert not found.clean
        first = found.first
        assert first is not None
        assert first.kind == kind, [m.describe() for m in found.mismatches]
        if kind.startswith("checkpoint"):
            assert (first.org_id, first.seq) == (ORG_A, 1)
        else:
            assert first.entry_id == entries[1]
            assert (first.line_id is not None) == names_line
        # Organization B's books were not touched: its own verification is clean.
        assert ledger.verify(conn, ORG_B).clean


def test_an_entry_committed_after_the_sealers_snapshot_goes_into_the_next_checkpoint(
    engine: sa.Engine, open_account: OpenAccountFn
) -> None:
    cash = open_account(ORG_A, "cash", "asset")
    sales = open_account(ORG_A, "sales", "revenue")
    other_cash = open_account(ORG_B, "cash", "asset")
    other_sales = open_account(ORG_B, "sales", "revenue")
    with engine.begin() as conn:
        ledger.post_entry(conn, ORG_A, transfer("early", cash, sales, 1))
    with engine.connect() as slow:
        slow.begin()
        late = ledger.post_entry(slow, ORG_A, transfer("late", cash, sales, 2)).id
        with engine.begin() as conn:
            assert ledger.seal(conn).sealed == 1  # the open transaction's entry waits
        with engine.begin() as conn:
            ledger.post_entry(conn, ORG_B, transfer("after", other_cash, other_sales, 3))
        slow.commit()
    with engine.begin() as conn:
        second = ledger.seal(conn)
        assert second.sealed == 2
        sealed_in = conn.execute(
            sa.text("SELECT checkpoint_seq FROM payments.entry_seals WHERE entry_id = :e"),
            {"e": late},
        ).scalar_one()
        assert sealed_in == 2
        assert ledger.verify(conn).clean


def test_one_sealer_at_a_time_the_other_answers_busy(
    engine: sa.Engine, open_account: OpenAccountFn
) -> None:
    cash = open_account(ORG_A, "cash", "asset")
    sales = open_account(ORG_A, "sales", "revenue")
    with engine.begin() as conn:
        ledger.post_entry(conn, ORG_A, transfer("one", cash, sales, 1))
    with engine.connect() as first:
        first.begin()
        assert ledger.seal(first).sealed == 1
        with engine.begin() as conn:
            assert ledger.seal(conn).busy
        first.commit()
    with engine.begin() as conn:
        assert [c.seq for c in ledger.list_checkpoints(conn, PLATFORM)[0]] == []
        assert [c.seq for c in ledger.list_checkpoints(conn, None)[0]] == [1]

"""Session 28's cheaper ways to keep the same rules (payments_schema.sql).

- The rules of a ledger row and its references are judged by row triggers whose WHEN skips
  them in the engine's fast doors, not by statement triggers reading a transition table
  (PostgreSQL fills a statement trigger's transition table with every inserted row whatever
  its WHEN says). A line's trigger judges its entry's balance from all the entry's lines once
  the statement has ended: an entry inserted with its balanced lines in one statement queues
  nothing; any other is judged at commit.
- The entries' three uniques (an external reference per organization, reversed once, a hold
  posted once) are partial unique indexes over the entries that name one: same names, same
  refusals.
- The accounts' pages keep room (fillfactor) so a posting's account updates are HOT.

Raw SQL by the tables' owner (the superuser), as tests/ledger_core/test_engine_references.py.
"""

from __future__ import annotations

import uuid

import pytest
import sqlalchemy as sa

import ledger
from tests.ledger_core.conftest import ORG_A, OpenAccountFn, transfer

HOT_TABLES = ("payments.lines", "payments.entries", "payments.idempotency_keys")


def test_no_ledger_trigger_reads_a_transition_table(engine: sa.Engine) -> None:
    """A transition table would copy every row the fast doors insert, WHEN or not."""
    with engine.connect() as conn:
        found = conn.execute(
            sa.text(
                "SELECT t.tgrelid::regclass::text AS rel, t.tgname,"
                " (t.tgtype & 1) = 1 AS per_row, t.tgnewtable IS NOT NULL AS transition"
                " FROM pg_trigger t"
                " WHERE t.tgrelid = ANY (CAST(:tables AS regclass[])) AND NOT t.tgisinternal"
                "   AND t.tgname IN ('lines_balanced', 'entries_have_lines',"
                "                    'idempotency_keys_org')"
                " ORDER BY 1"
            ),
            {"tables": list(HOT_TABLES)},
        ).all()
    assert [(r.rel, r.tgname, r.per_row, r.transition) for r in found] == [
        ("payments.entries", "entries_have_lines", True, False),
        ("payments.idempotency_keys", "idempotency_keys_org", True, False),
        ("payments.lines", "lines_balanced", True, False),
    ]


def _insert_entry_with_lines(
    conn: sa.Connection, lines: list[tuple[uuid.UUID, str, int]]
) -> uuid.UUID:
    """One statement: an entry of A and its USD lines, by hand."""
    entry = (
        conn.execute(
            sa.text(
                "WITH e AS (INSERT INTO payments.entries (org_id) VALUES (:org) RETURNING id)"
                " INSERT INTO payments.lines (entry_id, entry_org_id, org_id, account_id, side,"
                "   amount, currency, effective_at)"
                " SELECT e.id, :org, :org, l.account, l.side, l.amount, 'USD', now()"
                " FROM e, unnest(CAST(:accounts AS uuid[]), CAST(:sides AS text[]),"
                "                CAST(:amounts AS bigint[])) AS l(account, side, amount)"
                " RETURNING entry_id"
            ),
            {
                "org": ORG_A,
                "accounts": [a for a, _, _ in lines],
                "sides": [s for _, s, _ in lines],
                "amounts": [n for _, _, n in lines],
            },
        )
        .scalars()
        .first()
    )
    assert isinstance(entry, uuid.UUID)
    return entry


def _queued(conn: sa.Connection) -> int:
    return int(conn.execute(sa.text("SELECT count(*) FROM payments.entries_to_check")).scalar_one())


def test_an_entry_inserted_with_its_balanced_lines_queues_nothing(
    engine: sa.Engine, open_account: OpenAccountFn
) -> None:
    cash = open_account(ORG_A, "cash", "asset")
    sales = open_account(ORG_A, "sales", "revenue")
    with engine.connect() as conn:
        entry = _insert_entry_with_lines(conn, [(cash, "debit", 7), (sales, "credit", 7)])
        assert _queued(conn) == 0
        conn.commit()
    with engine.connect() as conn:
        count = conn.execute(
            sa.text("SELECT count(*) FROM payments.lines WHERE entry_id = :e"), {"e": entry}
        ).scalar_one()
    assert count == 2


@pytest.mark.parametrize("amounts", [(7, 6), (7,)], ids=["unbalanced", "one line"])
def test_an_entry_inserted_with_bad_lines_is_queued_and_refused_at_commit(
    engine: sa.Engine, open_account: OpenAccountFn, amounts: tuple[int, ...]
) -> None:
    cash = open_account(ORG_A, "cash", "asset")
    sales = open_account(ORG_A, "sales", "revenue")
    lines = [(cash, "debit", amounts[0])] + [(sales, "credit", n) for n in amounts[1:]]
    with engine.connect() as conn:
        entry = _insert_entry_with_lines(conn, lines)
        assert _queued(conn) >= 1  # judged at commit, not now
        with pytest.raises(sa.exc.DBAPIError) as info:
            conn.commit()
    assert getattr(info.value.orig, "sqlstate", None) == "LX001"
    assert ("unbalanced_entry" if len(amounts) == 2 else "too_few_lines") in str(info.value.orig)
    with engine.connect() as conn:
        gone = conn.execute(
            sa.text("SELECT count(*) FROM payments.entries WHERE id = :e"), {"e": entry}
        ).scalar_one()
    assert gone == 0


def test_the_balance_is_judged_on_the_whole_entry_line_by_line(
    engine: sa.Engine, open_account: OpenAccountFn
) -> None:
    """One line per statement: the first is queued, the entry balances at commit."""
    cash = open_account(ORG_A, "cash", "asset")
    sales = open_account(ORG_A, "sales", "revenue")
    with engine.connect() as conn:
        entry = _insert_entry_with_lines(conn, [(cash, "debit", 5)])
        conn.execute(
            sa.text(
                "INSERT INTO payments.lines (entry_id, entry_org_id, org_id, account_id, side,"
                " amount, currency, effective_at)"
                " VALUES (:e, :org, :org, :a, 'credit', 5, 'USD', now())"
            ),
            {"e": entry, "org": ORG_A, "a": sales},
        )
        conn.commit()  # balanced as a whole: accepted
        assert _queued(conn) == 0


def test_the_entries_uniques_are_partial_and_still_refuse(
    engine: sa.Engine, open_account: OpenAccountFn
) -> None:
    with engine.connect() as conn:
        rows = conn.execute(
            sa.text(
                "SELECT c.relname, i.indpred IS NOT NULL AS partial FROM pg_index i"
                " JOIN pg_class c ON c.oid = i.indexrelid"
                " WHERE i.indrelid = 'payments.entries'::regclass AND i.indisunique"
                "   AND NOT i.indisprimary"
            )
        ).all()
        partial = {r.relname: r.partial for r in rows}
    assert partial == {
        "entries_org_external_ref_key": True,
        "entries_reversed_once": True,
        "entries_hold_posted_once": True,
    }
    cash = open_account(ORG_A, "cash", "asset")
    sales = open_account(ORG_A, "sales", "revenue")
    with engine.begin() as conn:
        first = ledger.post_entry(conn, ORG_A, transfer("x1", cash, sales, 3, external_ref="r-1"))
    with pytest.raises(ledger.LedgerError) as info, engine.begin() as conn:
        ledger.post_entry(conn, ORG_A, transfer("x2", cash, sales, 3, external_ref="r-1"))
    assert info.value.code == "duplicate_external_reference"
    with engine.begin() as conn:
        ledger.post_entry(conn, ORG_A, ledger.ReverseEntry(idempotency_key="r1", entry_id=first.id))
    with pytest.raises(ledger.LedgerError) as info, engine.begin() as conn:
        ledger.post_entry(conn, ORG_A, ledger.ReverseEntry(idempotency_key="r2", entry_id=first.id))
    assert info.value.code == "entry_already_reversed"


def test_a_postings_account_updates_are_hot_on_a_full_page(
    engine: sa.Engine, open_account: OpenAccountFn
) -> None:
    """Accounts inserted in one statement fill their pages only up to the fillfactor: a
    posting's updates find room beside the row (HOT: no index entry). At fillfactor 100 the
    first page is full and the updates are not HOT."""
    with engine.begin() as conn:
        accounts = list(
            conn.execute(
                sa.text(
                    "INSERT INTO payments.accounts (org_id, code, name, type, currency)"
                    " SELECT :org, 'hot-' || g, 'hot-' || g, 'asset', 'USD'"
                    " FROM generate_series(1, 200) g RETURNING id"
                ),
                {"org": ORG_A},
            ).scalars()
        )
        first_page = [
            r.id
            for r in conn.execute(
                sa.text(
                    "SELECT id FROM payments.accounts WHERE id = ANY (:ids)"
                    " AND (ctid::text::point)[0] = (SELECT min((ctid::text::point)[0])"
                    "   FROM payments.accounts WHERE id = ANY (:ids))"
                ),
                {"ids": accounts},
            )
        ]
    assert len(first_page) >= 2
    with engine.begin() as conn:
        ledger.post_entry(conn, ORG_A, transfer("hot", first_page[0], first_page[1], 9))
        updated, hot = conn.execute(
            sa.text(
                "SELECT n_tup_upd, n_tup_hot_upd FROM pg_stat_xact_user_tables"
                " WHERE relid = 'payments.accounts'::regclass"
            )
        ).one()
    assert (updated, hot) == (2, 2)


def test_posted_entry_ids_are_time_ordered(engine: sa.Engine, open_account: OpenAccountFn) -> None:
    """post_entry and ledger_write draw UUIDv7 ids (the entries' index takes each posting at
    its right edge), as the batch door does."""
    cash = open_account(ORG_A, "cash", "asset")
    sales = open_account(ORG_A, "sales", "revenue")
    with engine.begin() as conn:
        fast = ledger.post_entry(conn, ORG_A, transfer("t1", cash, sales, 3)).id
        later = ledger.post_entry(conn, ORG_A, transfer("t2", cash, sales, 3)).id
        reversal = ledger.post_entry(
            conn, ORG_A, ledger.ReverseEntry(idempotency_key="t3", entry_id=fast)
        ).id
    assert [fast.version, later.version, reversal.version] == [7, 7, 7]
    assert fast.bytes[:6] <= later.bytes[:6] <= reversal.bytes[:6]  # milliseconds first

"""The doors find a big organization's accounts by their ids on a platform of many small
organizations (session 43, Review1). Their statements run on generic plans, where
`org_id = <a parameter>` is estimated at the accounts' rows over their organizations: a
handful on such a platform. Planned on that, the locks and the moves by ctid read the whole
organization through accounts_org_code_key and filtered it by id (every posting of an
organization with 20,000 accounts read them all twice), and the batch's UPDATE read the
batch's sums again for every account it moved. `payments.accounts.org_id`'s n_distinct
(-1/64: 64 accounts an organization, payments_schema.sql) and the batch door's settings
(no nested loop) keep both off.
"""

from __future__ import annotations

import uuid
from typing import Any

import sqlalchemy as sa

import ledger
from ledger import listing
from tests.ledger_core.conftest import (
    ORG_A,
    PLATFORM,
    Doors,
    OpenAccountFn,
    bulk_accounts,
    transfer,
)
from tests.support import present_key
from tests.test_sharding_reads import Plans, _walk

# The accounts' indexes leading with their id (a probe per id), and the one that does not.
_BY_ID = {"accounts_pkey", "accounts_id_org_currency_key"}


def _platform_of_small_organizations(engine: sa.Engine, big: int) -> list[uuid.UUID]:
    """1,500 organizations of 3 accounts each beside ORG_A's `big` accounts, analysed; ORG_A's
    account ids."""
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "INSERT INTO payments.organizations (id, name)"
                " SELECT gen_random_uuid(), 'small-' || n FROM generate_series(1, 1500) n"
            )
        )
        conn.execute(
            sa.text(
                "INSERT INTO payments.accounts (org_id, code, name, type, currency)"
                " SELECT o.id, 'a-' || n, 'a', 'asset', 'USD' FROM payments.organizations o"
                " CROSS JOIN generate_series(1, 3) n WHERE o.name LIKE 'small-%'"
            )
        )
        ids = bulk_accounts(conn, ORG_A, "big", big)
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.exec_driver_sql("ANALYZE payments.organizations")
        conn.exec_driver_sql("ANALYZE payments.accounts")
    return ids


def _accounts_nodes(plans: list[dict[str, Any]]) -> list[tuple[str, str, str]]:
    """Each scan of payments.accounts in the plans: (node type, index, statement's start)."""
    return [
        (node["Node Type"], node.get("Index Name", ""), " ".join(plan["Query Text"].split()[:4]))
        for plan in plans
        for node in _walk(plan["Plan"])
        if node.get("Relation Name") == "accounts" and node["Node Type"] != "ModifyTable"
    ]


def _by_id_or_ctid(nodes: list[tuple[str, str, str]]) -> list[tuple[str, str, str]]:
    """The scans among `nodes` that do not find the accounts by their ids or ctids."""
    return [
        n
        for n in nodes
        if not (
            n[0] == "Tid Scan" or (n[0] in ("Index Scan", "Index Only Scan") and n[1] in _BY_ID)
        )
    ]


def _three_lines(key: str, debit: uuid.UUID, credit: uuid.UUID, fee: uuid.UUID) -> ledger.PostEntry:
    """A sale of 100: 95 to `credit`, a fee of 5 to `fee`."""
    return ledger.PostEntry(
        idempotency_key=key,
        lines=[
            ledger.Line(debit, "debit", 100, "USD"),
            ledger.Line(credit, "credit", 95, "USD"),
            ledger.Line(fee, "credit", 5, "USD"),
        ],
    )


def test_postings_find_a_big_organizations_accounts_by_their_ids(
    engine: sa.Engine, open_account: OpenAccountFn
) -> None:
    """ORG_A with 2,000 accounts among 1,500 organizations of 3: a two-line posting, a sale
    with the platform's high-volume fee, and one with ORG_A's own high-volume account read
    and move their accounts by id and by ctid (before: accounts_org_code_key, the
    organization's 2,000 accounts read and filtered, in the lock and in the move)."""
    platform_fee = open_account(PLATFORM, "fees", "revenue", high_volume=True)
    own_fee = open_account(ORG_A, "tips", "revenue", high_volume=True)
    ids = _platform_of_small_organizations(engine, 2000)
    postings = [
        transfer("big-1", ids[10], ids[1900], 25),
        _three_lines("big-2", ids[20], ids[21], platform_fee),
        _three_lines("big-3", ids[30], ids[31], own_fee),
    ]
    plans = Plans(engine)
    for posting in postings:
        with plans.record() as got, engine.begin() as conn:
            result = ledger.post_entry(conn, ORG_A, posting)
        assert result.replayed is False
        nodes = _accounts_nodes(got)
        assert any("FOR NO KEY UPDATE" in p["Query Text"] for p in got)  # a fast door's lock
        assert nodes and not _by_id_or_ctid(nodes), (posting.idempotency_key, nodes)
        assert any(n[0] == "Tid Scan" for n in nodes), nodes  # the move, by ctid
    with engine.connect() as conn:
        moved = conn.execute(
            sa.text(
                "SELECT count(*) FROM payments.accounts"
                " WHERE id = ANY (:ids) AND version = 1 AND posted_debits + posted_credits > 0"
            ),
            {"ids": [ids[10], ids[1900], ids[20], ids[21], ids[30], ids[31]]},
        ).scalar()
    assert moved == 6


def test_a_batch_finds_a_big_organizations_accounts_by_their_ids(
    engine: sa.Engine, open_account: OpenAccountFn, doors: Doors
) -> None:
    """The same platform, a batch of 100 entries over 200 of ORG_A's accounts, one more
    paying the platform's high-volume fee account and one ORG_A's own high-volume account:
    the fast door posts it, its locks and its
    reads of high-volume accounts (ORG_A's, then the platform's) find the accounts by id, its
    UPDATE by ctid in a hash join with the batch's sums (before: the organization read
    whole, and a nested loop reading the sums again for each of the accounts)."""
    fees = open_account(PLATFORM, "fees", "revenue", high_volume=True)
    tips = open_account(ORG_A, "tips", "revenue", high_volume=True)
    ids = _platform_of_small_organizations(engine, 2000)
    batch = [transfer(f"b-{i}", ids[2 * i], ids[2 * i + 1], 5) for i in range(100)]
    batch.append(transfer("b-fee", ids[1000], fees, 3))
    batch.append(transfer("b-tip", ids[1001], tips, 2))
    plans = Plans(engine)
    with plans.record() as got, engine.begin() as conn:
        results = ledger.post_batch(conn, ORG_A, batch)
    assert doors.taken == [True]
    assert [r.status for r in results] == ["posted"] * 102
    nodes = _accounts_nodes(got)
    assert nodes and not _by_id_or_ctid(nodes), nodes
    # Both organizations' high-volume reads ran (ORG_A's finding its own, the platform's the
    # fee account): the fast door found every account (a missing one sends the batch the
    # long way, `doors.taken` above).
    assert len([n for n in nodes if n[2].startswith("SELECT v_accounts ||")]) == 4, nodes
    updates = [p for p in got if p["Query Text"].lstrip().startswith("UPDATE payments.accounts")]
    assert len(updates) == 1
    kinds = [n["Node Type"] for n in _walk(updates[0]["Plan"])]
    assert "Nested Loop" not in kinds and "Tid Scan" in kinds, kinds
    with engine.connect() as conn:
        moved = conn.execute(
            sa.text("SELECT count(*) FROM payments.accounts WHERE id = ANY (:ids) AND version = 1"),
            {"ids": ids[:200]},
        ).scalar()
    assert moved == 200


def test_an_organizations_entries_are_read_by_their_ids_among_many_small_organizations(
    engine: sa.Engine, app_engine: sa.Engine, open_account: OpenAccountFn
) -> None:
    """1,000 organizations of one entry each beside ORG_A's 2,000 entries, analysed: ORG_A's
    role reading 50 of its entries by id (`ledger.get_entries`, the API's read) probes
    entries_pkey. The tenant policy's `org_id = (SELECT current_org_id())` is estimated as a
    generic parameter is, at the entries over their organizations; before
    `payments.entries.org_id`'s n_distinct (-1/4096) that was three rows, and the read took
    entries_org_created through the whole organization's entries (Review2, session 43)."""
    cash = open_account(ORG_A, "cash", "asset")
    sales = open_account(ORG_A, "sales", "revenue")
    with engine.begin() as conn:
        small = [
            (uuid.UUID(str(r[0])), uuid.UUID(str(r[1])), uuid.UUID(str(r[2])))
            for r in conn.execute(
                sa.text(
                    "WITH o AS (INSERT INTO payments.organizations (id, name)"
                    "  SELECT gen_random_uuid(), 'tiny-' || n FROM generate_series(1, 1000) n"
                    "  RETURNING id),"
                    " a AS (INSERT INTO payments.accounts (org_id, code, name, type, currency)"
                    "  SELECT o.id, c, c, 'asset', 'USD' FROM o CROSS JOIN"
                    "  (VALUES ('x'), ('y')) v(c) RETURNING org_id, code, id)"
                    " SELECT x.org_id, x.id, y.id FROM a x JOIN a y"
                    "  ON y.org_id = x.org_id AND x.code = 'x' AND y.code = 'y'"
                )
            )
        ]
        for n, (org, x, y) in enumerate(small):
            ledger.post_entry(conn, org, transfer(f"tiny-{n}", x, y, 1))
    ids: list[uuid.UUID] = []
    for part in range(4):
        with engine.begin() as conn:
            batch = [transfer(f"big-{part}-{i}", cash, sales, 1) for i in range(500)]
            ids += [r.id for r in ledger.post_batch(conn, ORG_A, batch) if r.id is not None]
    assert len(ids) == 2000
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.exec_driver_sql("ANALYZE payments.entries")
    wanted = ids[700:750]
    with app_engine.begin() as conn:
        present_key(conn, ORG_A)
        entries = ledger.get_entries(conn, wanted)
        # The same statement's plan (the application's role cannot load auto_explain):
        # EXPLAIN of get_entries' own text, with the same bound parameter.
        plan: list[dict[str, Any]] = conn.execute(
            sa.text("EXPLAIN (FORMAT JSON) " + listing._ENTRIES.text), {"ids": wanted}
        ).scalar_one()
    assert [e.id for e in entries] == wanted
    # The entries' scan (an index scan, or a bitmap scan: its index is on the Bitmap Index
    # Scan node), by the primary key's ids, never the organization's index.
    indexes = [
        node.get("Index Name", node["Node Type"])
        for node in _walk(plan[0]["Plan"])
        if node.get("Relation Name") == "entries" or "Index Name" in node
    ]
    assert "entries_pkey" in indexes and "entries_org_created" not in indexes, indexes
    assert "Seq Scan" not in indexes, indexes

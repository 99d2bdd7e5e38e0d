"""The lines' primary key leads with the organization their entry is booked for,
`(entry_org_id, id)`, and serves the organization-wide reads that had an index of their own
(`lines_entry_org`, dropped in session 31: two index entries fewer per two-line entry). A
line is found by its id with its organization: the high-volume roll-up's UPDATE names both,
so it probes the primary key for each line instead of reading the lines by id alone (no index
leads with the id any more: a sequential scan, or a skip scan over every organization).
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

import ledger
from tests.ledger_core.conftest import ORG_A, ORG_B, OpenAccountFn, transfer
from tests.test_sharding_reads import Plans, _walk


def test_the_primary_key_leads_with_the_organization(engine: sa.Engine) -> None:
    """The key's columns, and no other index of the lines leading with the organization."""
    with engine.connect() as conn:
        rows = conn.execute(
            sa.text("""
                    SELECT c.relname,
                           array_agg(a.attname::text ORDER BY k.n)
                      FROM pg_index i
                      JOIN pg_class c ON c.oid = i.indexrelid
                      CROSS JOIN LATERAL unnest(i.indkey) WITH ORDINALITY k(attnum, n)
                      JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
                     WHERE i.indrelid = 'payments.lines'::regclass
                     GROUP BY c.relname
                """)
        ).all()
    indexes: dict[str, list[str]] = {str(r[0]): list(r[1]) for r in rows}
    assert indexes["lines_pkey"] == ["entry_org_id", "id"]
    leading = sorted(name for name, cols in indexes.items() if cols[0] == "entry_org_id")
    assert leading == ["lines_pkey"]


def _statement(plans: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The nodes of the roll-up's statement (its UPDATE of the lines), each once."""
    return [
        node
        for plan in plans
        if "UPDATE payments.lines" in plan["Query Text"]
        for node in _walk(plan["Plan"])
    ]


def test_the_roll_up_finds_each_line_by_its_organization_and_id(
    engine: sa.Engine, open_account: OpenAccountFn
) -> None:
    """Lines of two organizations' entries on high-volume accounts, rolled up: the UPDATE
    of the lines reads them by the primary key, both its columns in the index condition
    (before session 31: `l.id = run.id` alone, the key then being (id, entry_org_id))."""
    for org in (ORG_A, ORG_B):
        cash = open_account(org, "cash", "asset")
        fees = open_account(org, "fees", "revenue", high_volume=True)
        with engine.begin() as conn:
            for n in range(3):
                ledger.post_entry(conn, org, transfer(f"hv-{n}", cash, fees, 5))
    plans = Plans(engine)
    with plans.record() as got, engine.begin() as conn:
        ledger.act_for(conn, None)
        assert ledger.roll_up(conn) == 6
    nodes = _statement(got)
    assert nodes, "the roll-up's statement was explained"
    lines = [n for n in nodes if n.get("Relation Name") == "lines" and "Index Name" in n]
    # The select of the lines to roll up (lines_unrolled, by account), then the UPDATE's
    # probe of each of them, by the values the select gave (run.*).
    probes = [n for n in lines if "run." in n.get("Index Cond", "")]
    assert probes, [(n["Node Type"], n.get("Index Name"), n.get("Index Cond")) for n in nodes]
    for node in probes:
        assert node["Index Name"] == "lines_pkey"
        condition = node["Index Cond"]
        assert "entry_org_id = run.entry_org_id" in condition, condition
        assert "id = run.id" in condition, condition
    assert not [n for n in nodes if n["Node Type"] == "Seq Scan"]
    with engine.begin() as conn:
        versions = conn.execute(
            sa.text("SELECT count(*) FROM payments.lines WHERE account_version IS NULL")
        ).scalar_one()
    assert versions == 0

"""The batch's fast door (`payments.post_batch_fast`) reads the ledger's tables by their
indexes even when their statistics were taken while they were nearly empty (a new
deployment, a benchmark's fresh database): its statements run on generic plans
(`plan_cache_mode = force_generic_plan`), and a generic plan chosen on a table of a few rows
scanned the whole table (the keys already used: every key the organization ever used, read
by every batch until the next ANALYZE).
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

import ledger
from tests.ledger_core.conftest import ORG_A, OpenAccountFn, transfer
from tests.test_sharding_reads import Plans, _walk

_TABLES = ("accounts", "entries", "idempotency_keys", "lines")


def _seq_scans(plans: list[dict[str, Any]]) -> list[str]:
    """The ledger tables the plans read by a sequential scan, as 'table: query'."""
    return [
        f"{node['Relation Name']}: {plan['Query Text'].split()[:6]}"
        for plan in plans
        for node in _walk(plan["Plan"])
        if node["Node Type"] == "Seq Scan"
        and node.get("Schema") == "payments"
        and node["Relation Name"] in _TABLES
    ]


def test_the_fast_door_reads_by_index_on_statistics_of_nearly_empty_tables(
    engine: sa.Engine, open_account: OpenAccountFn
) -> None:
    """A few entries posted, the tables analysed (a handful of rows each), then a batch with
    an external reference: the fast door posts it, and none of its statements (the keys and
    references already used, the accounts, the moves) scans a ledger table whole. Before
    session 30 the keys' check scanned payments.idempotency_keys whole, the references' check
    payments.entries, and the accounts' lock, move and closed check payments.accounts."""
    cash = open_account(ORG_A, "cash", "asset")
    sales = open_account(ORG_A, "sales", "revenue")
    with engine.begin() as conn:
        ledger.post_batch(conn, ORG_A, [transfer(f"seed-{n}", cash, sales, 5) for n in range(3)])
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        for table in _TABLES:
            conn.exec_driver_sql(f"ANALYZE payments.{table}")
    plans = Plans(engine)
    batch = [
        transfer("sale-1", cash, sales, 100, external_ref="invoice-1"),
        transfer("sale-2", cash, sales, 40),
    ]
    with plans.record() as got, engine.begin() as conn:
        results = ledger.post_batch(conn, ORG_A, batch)
    assert [r.status for r in results] == ["posted", "posted"]
    calls = [p["Query Text"] for p in got]
    assert any("post_batch_fast(" in q for q in calls)  # the fast door took it...
    assert not any("post_batch(" in q for q in calls)  # ...and the long way was not asked
    door = [p for p in got if "post_batch_fast" not in p["Query Text"]]
    assert any("idempotency_keys" in p["Query Text"] for p in door)  # the door's own statements
    scans = _seq_scans(door)
    assert scans == [], "\n".join(scans)

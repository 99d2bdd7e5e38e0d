"""The engine's doors (`payments.post_entry`, `payments.ledger_write`) read the ledger's
tables by their indexes even when their statistics were taken while they were nearly empty (a
new deployment, a benchmark's fresh database).

Their statements run on plans cached for the session (generic ones: `plan_cache_mode =
force_generic_plan`), and a plan chosen on a table of a few rows scanned the whole table: the
accounts to lock, the keys and references already used, an entry's lines, every posting until
the next ANALYZE, each one dearer as the table grew. Both doors run with `enable_seqscan = off`
(payments_engine.sql), as the batch's fast door does (test_batch_fresh_statistics.py).
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from typing import Any

import sqlalchemy as sa

import ledger
from tests.ledger_core.conftest import ORG_A, OpenAccountFn, transfer
from tests.test_sharding_reads import Plans, _walk

_TABLES = ("accounts", "entries", "holds", "idempotency_keys", "lines")

Step = Callable[[sa.Connection], object]
_SOON = dt.timedelta(seconds=1)  # a hold that expires before the sweep


def _seq_scans(plans: list[dict[str, Any]]) -> list[str]:
    """The ledger tables the plans read by a sequential scan, as 'table: query'."""
    return [
        f"{node['Relation Name']}: {' '.join(plan['Query Text'].split())[:120]}"
        for plan in plans
        for node in _walk(plan["Plan"])
        if node["Node Type"] == "Seq Scan"
        and node.get("Schema") == "payments"
        and node["Relation Name"] in _TABLES
    ]


def _seeded(engine: sa.Engine, open_account: OpenAccountFn) -> tuple[Plans, Any, Any, Any]:
    """Two accounts, a few entries and a hold, the ledger's tables analysed (a handful of rows
    each), then every session from here on explained: (plans, cash, sales, a posted entry)."""
    cash = open_account(ORG_A, "cash", "asset")
    sales = open_account(ORG_A, "sales", "revenue")
    with engine.begin() as conn:
        seeds = [
            ledger.post_entry(conn, ORG_A, transfer(f"seed-{n}", cash, sales, 5)) for n in range(3)
        ]
        ledger.create_hold(conn, ORG_A, ledger.CreateHold("seed-hold", cash, sales, 1, "USD"))
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        for table in _TABLES:
            conn.exec_driver_sql(f"ANALYZE payments.{table}")
    return Plans(engine), cash, sales, seeds[0].id


def _run(engine: sa.Engine, plans: Plans, door: str, steps: dict[str, Step]) -> list[str]:
    """Each step in a transaction of its own; the sequential scans of the door's statements
    (those the door's call runs, not the call itself), per step."""
    scans: list[str] = []
    for name, step in steps.items():
        with plans.record() as got, engine.begin() as conn:
            step(conn)
        inside = [p for p in got if f"payments.{door}(" not in p["Query Text"]]
        assert any(f"payments.{door}(" in p["Query Text"] for p in got), name  # through the door
        assert inside, name  # its statements were explained
        scans += [f"{name}: {scan}" for scan in _seq_scans(inside)]
    return scans


def test_post_entry_reads_by_index_on_statistics_of_nearly_empty_tables(
    engine: sa.Engine, open_account: OpenAccountFn
) -> None:
    """The single posting's door, a posting with an external reference and its replay: none
    of its statements (the accounts' lock and move, the reference's check, the key's lookup)
    scans a ledger table whole. Before session 30: payments.accounts (lock and move),
    payments.entries (the reference) and payments.idempotency_keys (the replay's key)."""
    plans, cash, sales, _ = _seeded(engine, open_account)
    sale = transfer("sale-1", cash, sales, 100, external_ref="invoice-1")
    scans = _run(
        engine,
        plans,
        "post_entry",
        {
            "post": lambda c: ledger.post_entry(c, ORG_A, sale),
            "replay": lambda c: ledger.post_entry(c, ORG_A, sale),
        },
    )
    assert scans == [], "\n".join(scans)


def test_ledger_write_reads_by_index_on_statistics_of_nearly_empty_tables(
    engine: sa.Engine, open_account: OpenAccountFn
) -> None:
    """Every operation of the general door: a posting with a condition, a reversal, a hold
    created, posted and voided, an account opened and closed, and a batch the long way
    (`payments.post_batch`, for a replayed key): none of its statements (nor the checks its
    inserts fire) scans a ledger table whole. Before session 30 the keys' lookup scanned
    payments.idempotency_keys, the reversal's check payments.entries, the entry's accounts
    and lines payments.accounts and payments.lines, a hold's post payments.holds."""
    plans, cash, sales, seed = _seeded(engine, open_account)
    made: list[Any] = []  # the holds and the account the steps create, in order

    def made_by(result: ledger.WriteResult) -> ledger.WriteResult:
        made.append(result.id)
        return result

    steps: dict[str, Step] = {
        "conditions": lambda c: ledger.post_entry(
            c, ORG_A, transfer("cond-1", cash, sales, 9, conditions=[ledger.Condition(cash, gte=0)])
        ),
        "reversal": lambda c: ledger.reverse_entry(c, ORG_A, ledger.ReverseEntry("rev-1", seed)),
        "hold": lambda c: made_by(
            ledger.create_hold(c, ORG_A, ledger.CreateHold("hold-1", cash, sales, 3, "USD"))
        ),
        "post_hold": lambda c: ledger.post_hold(c, ORG_A, ledger.PostHold("hold-post", made[0])),
        "hold_again": lambda c: made_by(
            ledger.create_hold(c, ORG_A, ledger.CreateHold("hold-2", cash, sales, 3, "USD"))
        ),
        "void_hold": lambda c: ledger.void_hold(c, ORG_A, ledger.VoidHold("hold-void", made[1])),
        "open_account": lambda c: made_by(
            ledger.open_account(c, ORG_A, ledger.OpenAccount("open-spare", "spare", "asset", "USD"))
        ),
        "close_account": lambda c: ledger.close_account(
            c, ORG_A, ledger.CloseAccount("close-spare", made[2])
        ),
    }
    scans = _run(engine, plans, "ledger_write", steps)
    # A replay in a batch: the batch's long way (`payments.post_batch`) through this door.
    batch = [transfer("seed-1", cash, sales, 5), transfer("batch-1", cash, sales, 2)]
    answers: list[list[ledger.BatchResult]] = []
    scans += _run(
        engine,
        plans,
        "post_batch",
        {"batch": lambda c: answers.append(ledger.post_batch(c, ORG_A, batch))},
    )
    assert [r.status for r in answers[0]] == ["replayed", "posted"]
    assert scans == [], "\n".join(scans)


def test_the_sweep_the_roll_up_and_the_balance_read_by_index_on_fresh_statistics(
    engine: sa.Engine, open_account: OpenAccountFn
) -> None:
    """The worker's sweep of expired holds and roll-up of a high-volume account (its
    connection lives from the deployment on) and the balance as of a time: none scans a
    ledger table whole on statistics of nearly empty tables. Before session 30 the sweep
    scanned payments.holds and payments.accounts, the roll-up payments.lines and
    payments.accounts, the balance payments.lines and payments.holds. (roll_up_all's list of
    the high-volume accounts has no index to use: its own statement is left out.)"""
    cash = open_account(ORG_A, "cash", "asset")
    fees = open_account(ORG_A, "fees", "revenue", high_volume=True)
    with engine.begin() as conn:
        for n in range(3):
            ledger.post_entry(conn, ORG_A, transfer(f"seed-{n}", cash, fees, 5))
        ledger.create_hold(
            conn,
            ORG_A,
            ledger.CreateHold(
                "due", cash, fees, 1, "USD", expires_at=dt.datetime.now(dt.UTC) + _SOON
            ),
        )
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        for table in (*_TABLES, "hold_resolutions"):
            conn.exec_driver_sql(f"ANALYZE payments.{table}")
    plans = Plans(engine)
    time.sleep(_SOON.total_seconds())
    got_by: dict[str, list[dict[str, Any]]] = {}
    steps: dict[str, Step] = {
        "expire_holds": ledger.expire_holds,
        "roll_up": ledger.roll_up,
        "balance_as_of": lambda c: ledger.balance_as_of(c, cash, dt.datetime.now(dt.UTC)),
    }
    for name, step in steps.items():
        with plans.record() as got, engine.begin() as conn:
            ledger.act_for(conn, None)
            got_by[name] = got
            answers = step(conn)
        assert answers, name  # a hold expired, lines rolled up, a balance
    scans = [
        f"{name}: {scan}"
        for name, got in got_by.items()
        for scan in _seq_scans(got)
        if "WHERE a.high_volume ORDER BY" not in scan  # roll_up_all's list (see above)
    ]
    assert scans == [], "\n".join(scans)

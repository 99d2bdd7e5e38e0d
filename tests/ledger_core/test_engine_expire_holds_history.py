"""payments.expire_holds finds the due holds without reading the holds resolved before
(session 31): its search read payments.holds by expiry (holds_expiry) over every hold whose
expiry had passed, expired, posted or voided long ago included, and probed hold_resolutions
for each, so its cost grew with the ledger's history. It reads the list of open holds with
an expiry (payments.hold_expiries, kept by triggers on holds and hold_resolutions) instead.

The plans are read (auto_explain with the rows each node returned), never timed.
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest
import sqlalchemy as sa

import ledger
from tests.ledger_core.conftest import ORG_A, OpenAccountFn
from tests.ledger_core.test_errors import db_moment_from_now, wait_until_past
from tests.test_sharding_reads import Plans, _walk

_RESOLVED = 60  # holds resolved before the sweep that is read


def _holds(
    engine: sa.Engine,
    key: str,
    cash: uuid.UUID,
    sales: uuid.UUID,
    n: int,
    *,
    ms: int,
    wait: bool = True,
) -> list[uuid.UUID]:
    """`n` holds of 1 due in `ms` milliseconds, in one transaction; their due time waited
    for unless `wait` is false."""
    due = db_moment_from_now(engine, ms)
    with engine.begin() as conn:
        ids = [
            ledger.create_hold(
                conn, ORG_A, ledger.CreateHold(f"{key}-{i}", cash, sales, 1, "USD", due)
            ).id
            for i in range(n)
        ]
    if wait:
        wait_until_past(engine, due)
    return ids


def _listed(engine: sa.Engine) -> set[uuid.UUID]:
    with engine.connect() as conn:
        return set(conn.execute(sa.text("SELECT hold_id FROM payments.hold_expiries")).scalars())


def _sweep_reads(plans: list[dict[str, Any]]) -> list[tuple[str, str, int]]:
    """(node type, relation, rows returned) of every scan in the sweep's search for due
    holds (the statement locking them SKIP LOCKED)."""
    return [
        (node["Node Type"], node["Relation Name"], int(node["Actual Rows"]))
        for plan in plans
        if "SKIP LOCKED" in plan["Query Text"]
        for node in _walk(plan["Plan"])
        if "Relation Name" in node
    ]


def test_the_sweep_reads_the_open_holds_only(
    engine: sa.Engine, open_account: OpenAccountFn
) -> None:
    """Many holds expired by an earlier sweep (and a few voided), then two due: the sweep's
    search reads two holds, not the history (before: an index scan of holds_expiry
    returning every hold whose expiry had passed, 62 here)."""
    cash = open_account(ORG_A, "cash", "asset")
    sales = open_account(ORG_A, "sales", "revenue")
    expired = _holds(engine, "old", cash, sales, _RESOLVED, ms=300)
    with engine.begin() as conn:
        ledger.act_for(conn, None)
        assert ledger.expire_holds(conn) == _RESOLVED
    assert _listed(engine) == set()
    # Voided ones, their expiry far off: listed until voided.
    later = _holds(engine, "void", cash, sales, 3, ms=60_000 * 60, wait=False)
    assert _listed(engine) == set(later)
    with engine.begin() as conn:
        for hold in later:
            ledger.void_hold(conn, ORG_A, ledger.VoidHold(f"void-{hold}", hold))
    assert _listed(engine) == set()
    due = _holds(engine, "due", cash, sales, 2, ms=300)
    assert _listed(engine) == set(due)
    plans = Plans(engine)
    with plans.record() as got, engine.begin() as conn:
        conn.exec_driver_sql("SET LOCAL auto_explain.log_analyze = on")
        ledger.act_for(conn, None)
        assert ledger.expire_holds(conn) == 2
    reads = _sweep_reads(got)
    assert reads, "the sweep's search was explained"
    assert [r for r in reads if r[0] == "Seq Scan"] == []
    assert max(rows for _, _, rows in reads) <= 2, reads
    assert _listed(engine) == set()
    with engine.connect() as conn:
        kinds = conn.execute(
            sa.text("SELECT kind, count(*) FROM payments.hold_resolutions GROUP BY kind")
        ).all()
    assert dict(kinds) == {"expired": _RESOLVED + 2, "voided": 3}
    assert expired  # the history the sweep no longer reads


def test_a_hold_without_an_expiry_is_never_listed(
    engine: sa.Engine, open_account: OpenAccountFn
) -> None:
    """Only holds with an expiry are the sweep's; one posted (a resolution) leaves none."""
    cash = open_account(ORG_A, "cash", "asset")
    sales = open_account(ORG_A, "sales", "revenue")
    with engine.begin() as conn:
        hold = ledger.create_hold(conn, ORG_A, ledger.CreateHold("h", cash, sales, 5, "USD")).id
    assert _listed(engine) == set()
    timed = _holds(engine, "t", cash, sales, 1, ms=60_000 * 60, wait=False)
    with engine.begin() as conn:
        ledger.post_hold(conn, ORG_A, ledger.PostHold("p", timed[0]))
        ledger.void_hold(conn, ORG_A, ledger.VoidHold("v", hold))
    assert _listed(engine) == set()


def test_the_list_cannot_be_truncated(engine: sa.Engine, open_account: OpenAccountFn) -> None:
    """TRUNCATE of the list would unlist every open hold (none would expire again): refused,
    even for the owner (review 2, L1; at 4b9c9a8 it went through)."""
    cash = open_account(ORG_A, "cash", "asset")
    sales = open_account(ORG_A, "sales", "revenue")
    timed = _holds(engine, "t", cash, sales, 2, ms=60_000 * 60, wait=False)
    with engine.connect() as conn, pytest.raises(sa.exc.DBAPIError) as info:
        conn.execute(sa.text("TRUNCATE payments.hold_expiries"))
    assert getattr(info.value.orig, "sqlstate", None) == "LX002"
    assert _listed(engine) == set(timed)


def test_a_role_granted_the_list_by_mistake_sees_and_writes_no_row(
    engine: sa.Engine, open_account: OpenAccountFn
) -> None:
    """Row-level security with no policy: the application's role, even granted the table
    (here in a rolled-back transaction), reads nothing and inserts nothing (review 2, L1; at
    4b9c9a8 only the REVOKE stood between it and the list)."""
    cash = open_account(ORG_A, "cash", "asset")
    sales = open_account(ORG_A, "sales", "revenue")
    timed = _holds(engine, "t", cash, sales, 1, ms=60_000 * 60, wait=False)
    with engine.connect() as conn:
        conn.execute(
            sa.text("GRANT SELECT, INSERT, DELETE ON payments.hold_expiries TO liventix_app")
        )
        conn.execute(sa.text("SET LOCAL ROLE liventix_app"))
        seen = conn.execute(sa.text("SELECT count(*) FROM payments.hold_expiries")).scalar_one()
        gone = conn.execute(sa.text("DELETE FROM payments.hold_expiries")).rowcount
        with pytest.raises(sa.exc.DBAPIError) as info:
            conn.execute(
                sa.text(
                    "INSERT INTO payments.hold_expiries (hold_id, org_id, expires_at)"
                    " VALUES (:h, :org, now())"
                ),
                {"h": timed[0], "org": ORG_A},
            )
        conn.rollback()
    assert (seen, gone) == (0, 0)
    assert getattr(info.value.orig, "sqlstate", None) == "42501"
    assert _listed(engine) == set(timed)

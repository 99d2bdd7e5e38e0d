"""The README's demo: it runs on a fresh database, balances, and replays under the same run id."""

from __future__ import annotations

import uuid

import sqlalchemy as sa

import ledger
from liventix.demo import ORGANIZER_ID, PLATFORM_ID, run_demo


def test_demo_balances_and_replays(engine: sa.Engine) -> None:
    lines: list[str] = []
    tb = run_demo(engine, "t1", lines.append)
    assert tb.balanced
    assert tb.totals == {"USD": (4_675, 4_675)}
    assert any("replayed=True" in line for line in lines)
    with engine.begin() as conn:
        entries = conn.execute(sa.text("SELECT count(*) FROM payments.entries")).scalar_one()
        escrow = ledger.find_account(conn, ORGANIZER_ID, "escrow-t1")
        assert escrow is not None
        assert ledger.balance(conn, escrow).posted == 4_500

    again: list[str] = []
    run_demo(engine, "t1", again.append)
    with engine.begin() as conn:
        assert (
            conn.execute(sa.text("SELECT count(*) FROM payments.entries")).scalar_one() == entries
        )
    assert sum("(replayed" in line for line in again) == 5


def test_the_story_uses_the_platform_a_database_already_has(engine: sa.Engine) -> None:
    """On a database with a platform of its own (a season's), the story books the platform's
    side to that one: a database has one platform."""
    theirs = uuid.uuid4()
    with engine.begin() as conn:
        ledger.open_organization(conn, theirs, "Another platform", is_platform=True)
    tb = run_demo(engine, "t2", lambda line: None)
    assert tb.balanced
    with engine.begin() as conn:
        assert ledger.find_account(conn, theirs, "platform_fees-t2") is not None
        assert ledger.find_account(conn, PLATFORM_ID, "platform_fees-t2") is None

"""The README's demo: it runs on a fresh database, balances, and replays under the same run id."""

from __future__ import annotations

import sqlalchemy as sa

import ledger
from liventix.demo import ORGANIZER_ID, run_demo


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

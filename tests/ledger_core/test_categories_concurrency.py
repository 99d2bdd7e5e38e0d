"""Two sessions nesting categories in opposite directions at once: the second waits for the
first (the trigger's advisory lock per organization) and, once the first commits, is refused
with `CategoryCycle`, so no cycle is ever committed. Without the lock both would pass, each
checking a graph without the other's row."""

from __future__ import annotations

import threading
import time
import uuid

import sqlalchemy as sa

import ledger
from tests.ledger_core.conftest import ORG_A


def _create(conn: sa.Connection, code: str) -> uuid.UUID:
    return ledger.create_category(
        conn,
        ORG_A,
        ledger.CreateCategory(
            idempotency_key=f"cat-{code}", code=code, currency="USD", normal_side="debit"
        ),
    ).id


def _nest(conn: sa.Connection, parent: uuid.UUID, child: uuid.UUID) -> None:
    ledger.add_category_members(
        conn,
        ORG_A,
        ledger.CategoryMembers(
            idempotency_key=f"nest-{parent}-{child}", category_id=parent, category_ids=[child]
        ),
    )


def _someone_waits_on_an_advisory_lock(engine: sa.Engine) -> bool:
    with engine.connect() as conn:
        waiting = conn.execute(
            sa.text("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted")
        ).scalar_one()
    return bool(waiting)


def test_opposite_nestings_at_once_one_is_refused(engine: sa.Engine, orgs: None) -> None:
    with engine.begin() as conn:
        a, b = _create(conn, "a"), _create(conn, "b")
    outcome: dict[str, object] = {}

    def second() -> None:
        try:
            with engine.begin() as conn:
                _nest(conn, b, a)
            outcome["second"] = "nested"
        except ledger.CategoryCycle:
            outcome["second"] = "cycle"

    with engine.connect() as first:
        with first.begin():
            _nest(first, a, b)
            thread = threading.Thread(target=second)
            thread.start()
            for _ in range(5000):  # until the second session waits (no timing is asserted)
                if _someone_waits_on_an_advisory_lock(engine):
                    break
                time.sleep(0.005)
            else:
                raise AssertionError("the second session never waited for the first")
        thread.join()
    assert outcome == {"second": "cycle"}
    with engine.connect() as conn:
        assert ledger.get_category(conn, a).category_ids == (b,)
        assert ledger.get_category(conn, b).category_ids == ()


def _someone_waits_on_a_transaction(engine: sa.Engine) -> bool:
    with engine.connect() as conn:
        waiting = conn.execute(
            sa.text(
                "SELECT count(*) FROM pg_locks WHERE locktype = 'transactionid' AND NOT granted"
            )
        ).scalar_one()
    return bool(waiting)


def test_the_same_creation_at_once_replays_the_winner(engine: sa.Engine, orgs: None) -> None:
    """Two first sales of an organizer's events create its escrow category under one key at
    once: the second waits for the first and replays its category (not duplicate_category_code)."""
    outcome: dict[str, object] = {}

    def second() -> None:
        with engine.begin() as conn:
            made = ledger.create_category(
                conn,
                ORG_A,
                ledger.CreateCategory(
                    idempotency_key="chart-category:x",
                    code="x",
                    currency="USD",
                    normal_side="debit",
                ),
            )
        outcome["second"] = (made.id, made.replayed)

    with engine.connect() as first:
        with first.begin():
            won = ledger.create_category(
                first,
                ORG_A,
                ledger.CreateCategory(
                    idempotency_key="chart-category:x",
                    code="x",
                    currency="USD",
                    normal_side="debit",
                ),
            ).id
            thread = threading.Thread(target=second)
            thread.start()
            for _ in range(5000):  # until the second session waits (no timing is asserted)
                if _someone_waits_on_a_transaction(engine):
                    break
                time.sleep(0.005)
            else:
                raise AssertionError("the second session never waited for the first")
        thread.join()
    assert outcome == {"second": (won, True)}

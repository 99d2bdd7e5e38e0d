"""The cancel-first statements that move one order by its id (`store.orders.
MARK_CANCEL_REQUESTED`, `MARK_ASKED_AGAIN`, `RECORD_REFUSAL`) find it by its primary key, never
by the partial index on the orders awaiting payment (`orders_expiry`), also where the
statistics count no order awaiting payment. With the status written `status = 'awaiting_payment'`
(a literal: the prepared statement's generic plan is the same) the planner took that index
there and each mark read every open hold of every organization: a sweep of N expired holds
reading N times the open holds (session 38, Drift). The former condition, on the same
statistics, takes the partial index, so the check can fail."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from tests.ticketing_core.support import open_world
from ticketing_fsm.store import orders

_NOW = "status IS NOT DISTINCT FROM 'awaiting_payment'"
_FORMER = "status = 'awaiting_payment'"
_INDEXES = ("orders_expiry", "orders_pkey")


@pytest.fixture
def none_awaiting(engine: sa.Engine) -> Iterator[sa.Connection]:
    """A connection to a database whose statistics count 3,000 orders paid and none awaiting
    payment (ANALYZE saw no order held)."""
    with engine.begin() as conn:
        world = open_world(conn, capacities=(10,))
        conn.execute(
            sa.text(
                "INSERT INTO ticketing.orders (org_id, event_id, buyer_email, status,"
                " currency, amount, hold_expires_at, idempotency_key, request_hash,"
                " payment_intent_id)"
                " SELECT :org, :event, 'ann@example.com', 'paid', 'EUR', 2500,"
                " now() - interval '10 minutes', 'paid-' || g, 'h', 'pi_paid_' || g"
                " FROM generate_series(1, 3000) g"
            ),
            {"org": world.org, "event": world.event},
        )
    with engine.connect() as conn:
        conn.exec_driver_sql("ANALYZE ticketing.orders")
        yield conn
        conn.rollback()


def _indexes(conn: sa.Connection, statement: sa.TextClause) -> set[str]:
    """The indexes on the orders named in the plan of `statement`, its values bound."""
    plan = "\n".join(
        row[0]
        for row in conn.execute(
            sa.text(f"EXPLAIN {statement.text}"),
            {"id": uuid.uuid4(), "status": "processing", "pi": "pi_1"},
        )
    )
    return {name for name in _INDEXES if f" {name} on orders" in plan}


@pytest.mark.parametrize("name", ["MARK_CANCEL_REQUESTED", "MARK_ASKED_AGAIN", "RECORD_REFUSAL"])
def test_a_mark_finds_the_order_by_its_id(none_awaiting: sa.Connection, name: str) -> None:
    statement = getattr(orders, name)
    assert _NOW in statement.text
    assert _indexes(none_awaiting, statement) == {"orders_pkey"}
    former = sa.text(statement.text.replace(_NOW, _FORMER))
    assert _indexes(none_awaiting, former) == {"orders_expiry"}

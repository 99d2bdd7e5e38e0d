"""The payment's statements (`store.paying.PAY_AFTER_CAPTURE`, the payment's one round trip as
`pay_after_capture` sends it, and `PAY_AND_ISSUE_FOR_INTENT`, `PAY_AND_ISSUE`) find the order
by its keys (the intent's, or its id), never by a partial index on the orders awaiting
payment (`orders_expiry`), also where the statistics count no order awaiting payment (an
on-sale's start after a quiet period). With the order's status written `o.status = ...` the
planner took `orders_expiry` there (the smallest by its estimate) and each payment read every
hold not yet expired, of every organization, to find its one: a payment's cost growing with
the holds open at that moment (session 38: 2,001 rows removed by the filter per payment with
2,001 holds open). Checked on the plans the server makes for the statements as sent (their
parameters' values known to the planner, as for the first executions of a prepared statement);
the former condition, on the same statistics, takes the partial index, so the check can fail
(with `orders_expiry` as migrations/sql/ticketing.sql has it at be9ca54, `WHERE status =
'awaiting_payment'`, the former statements themselves take it; the sweeper's index since
then also asks `cancel_requested_at IS NULL`, which a payment never says)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
import sqlalchemy as sa

import pgdriver
from tests.ticketing_core.support import open_world
from ticketing_fsm import outcomes
from ticketing_fsm.store import paying

_NOW = "o.status IS NOT DISTINCT FROM %(order_from)s"
# The former condition, with what the sweeper's partial index may add to its predicate (the
# orders not yet asked about), so that the index stays one the planner may take.
_FORMER = "o.status = %(order_from)s AND o.cancel_requested_at IS NULL"
_INDEXES = ("orders_expiry", "orders_cancel_asked", "orders_pkey", "orders_payment_intent_id_key")


@pytest.fixture
def none_awaiting(engine: sa.Engine) -> Iterator[tuple[sa.Connection, uuid.UUID]]:
    """A connection to a database whose statistics count 3,000 orders paid and none awaiting
    payment (ANALYZE saw no order held), and the organization whose orders they are."""
    with engine.begin() as conn:
        world = open_world(conn, capacities=(10,))
        conn.execute(
            sa.text(
                "INSERT INTO ticketing.orders (org_id, event_id, buyer_email, status,"
                " currency, amount, hold_expires_at, idempotency_key, request_hash,"
                " payment_intent_id)"
                " SELECT :org, :event, 'ann@example.com', 'paid', 'EUR', 2500,"
                " now() + interval '10 minutes', 'paid-' || g, 'h', 'pi_paid_' || g"
                " FROM generate_series(1, 3000) g"
            ),
            {"org": world.org, "event": world.event},
        )
    with engine.connect() as conn:
        conn.exec_driver_sql("ANALYZE ticketing.orders")
        yield conn, world.org
        conn.rollback()


def _params(org: uuid.UUID) -> dict[str, object]:
    """The payment's parameters as `pay_after_capture` gives them; the capture's own (those of
    `escrow.CAPTURE_CALL`, typed by its casts) NULL: the plan is only asked for."""
    return {
        **dict.fromkeys(paying._PAY_AFTER_CAPTURE_NAMES),
        **outcomes._moves(),
        **paying._MAIL_PARAMS,
        "intent": "pi_1",
        "org": org,
        "order": uuid.uuid4(),
        "cause": "evt_1",
        "paid_at": None,
    }


def _indexes(conn: sa.Connection, statement: str, org: uuid.UUID) -> set[str]:
    """The indexes on the orders named in the plan of `statement` (psycopg's placeholders)
    sent as the payment sends it: numbered, its values bound."""
    numbered, names = paying._numbered(statement)
    params = _params(org)
    with pgdriver.cursor(conn, raw=True) as raw:
        raw.execute(f"EXPLAIN {numbered}".encode(), [params[name] for name in names])
        plan = "\n".join(row[0] for row in raw.fetchall())
    return {name for name in _INDEXES if f" {name} on orders" in plan}


def test_the_payment_finds_the_order_by_the_intent(
    none_awaiting: tuple[sa.Connection, uuid.UUID],
) -> None:
    conn, org = none_awaiting
    assert _indexes(conn, paying.PAY_AFTER_CAPTURE, org) == {"orders_payment_intent_id_key"}
    former = paying.PAY_AFTER_CAPTURE.replace(_NOW, _FORMER)
    assert former != paying.PAY_AFTER_CAPTURE
    assert _indexes(conn, former, org) == {"orders_expiry"}


def test_the_long_ways_find_the_order_by_its_keys(
    none_awaiting: tuple[sa.Connection, uuid.UUID],
) -> None:
    conn, org = none_awaiting
    for statement, key in (
        (paying.PAY_AND_ISSUE_FOR_INTENT, "orders_payment_intent_id_key"),
        (paying.PAY_AND_ISSUE, "orders_pkey"),
    ):
        assert _indexes(conn, statement, org) == {key}
        former = statement.replace(_NOW, _FORMER)
        assert former != statement
        assert _indexes(conn, former, org) == {"orders_expiry"}

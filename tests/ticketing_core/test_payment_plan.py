"""The payment's one-call statement (escrow's capture call with the order paid and its
tickets issued: `ticketing_fsm.store.paying.PAY_AFTER_CAPTURE`) keeps a generic plan on a
connection, as a prepared statement should, instead of being planned again at every
payment. PostgreSQL keeps a prepared statement's generic plan only when it costs no more
than the custom plans it built first; `payments.capture_card_payment` (one row, always)
is declared `ROWS 1` for that: with the planner's default guess for a set-returning
function (1,000 rows) multiplied through the statement's joins, the generic plan looked
dearer once the tables' statistics showed most tickets issued, and every payment was
planned again (~650 us of the backend's CPU; pg_stat_statements: plans = calls).
"""

from __future__ import annotations

import uuid

import pytest
import sqlalchemy as sa

import ticketing_fsm as tk
from tests.ticketing_core.support import Gateway, World, captured, open_world, request

PAID_BEFORE = 150
"""Payments before the measured ones, so that the statistics show what a selling event's
tables hold: most orders paid, most tickets issued."""
PAYMENTS = 14
"""psycopg prepares the statement at its sixth use on a connection, and PostgreSQL builds
five custom plans of a prepared statement before it weighs its generic plan."""


@pytest.fixture
def world(engine: sa.Engine) -> World:
    with engine.begin() as conn:
        return open_world(conn, capacities=(1_000,), prices=(2_500,))


def _checkouts(engine: sa.Engine, world: World, n: int) -> list[tk.Checkout]:
    gateway = Gateway()
    return [
        tk.start_checkout(engine, gateway, request(world, uuid.uuid4().hex, (2,))) for _ in range(n)
    ]


def test_the_payment_statement_is_planned_once_per_connection(
    engine: sa.Engine, world: World
) -> None:
    for n, checkout in enumerate(_checkouts(engine, world, PAID_BEFORE)):
        with engine.begin() as conn:
            assert tk.pay_for_intent(conn, captured(world, checkout), cause=f"a{n}") == "issued"
    with engine.begin() as conn:
        conn.execute(sa.text("ANALYZE"))  # as autovacuum would
    checkouts = _checkouts(engine, world, PAYMENTS)
    engine.dispose()  # a new connection: it knows the escrow's terms after one payment
    with engine.connect() as conn:
        for n, checkout in enumerate(checkouts):
            with conn.begin():
                outcome = tk.pay_for_intent(conn, captured(world, checkout), cause=f"b{n}")
            assert outcome == "issued"
        plans = conn.execute(
            sa.text(
                "SELECT generic_plans, custom_plans FROM pg_prepared_statements"
                " WHERE statement LIKE '%payments.capture_card_payment(%'"
            )
        ).one()
    assert plans.custom_plans <= 5
    assert plans.generic_plans >= PAYMENTS - 1 - 5 - 5

"""The checkout's record statements (`store.checkout.RECORD_NOW`, the API's `RECORD_AWAITING`
and `RECORD_AWAITING_PREPARED`) find the order by its primary key, never by the partial index
`orders_expiry` (`WHERE status = 'awaiting_payment'`), also where the statistics count no
order awaiting payment (an on-sale's start after a quiet period): with the condition written
`status = 'awaiting_payment'` the planner took that index there (the smallest by its
estimate), and a record then read every order held since the last ANALYZE to find its one
(the on-sale's burst: a cost per record growing with the orders held). Checked on the plans:
the generic plan of the prepared forms (the one a connection keeps), the plan of the literal
one; and the former condition takes the partial index on the same statistics, so the check
can fail."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from tests.ticketing_core.support import open_world
from ticketing_fsm.store import checkout as store

_FORMER = "status = 'awaiting_payment'"


@pytest.fixture
def none_awaiting(engine: sa.Engine) -> Iterator[sa.Connection]:
    """A connection to a database whose statistics count 3,000 orders paid and none awaiting
    payment (an on-sale's start after a quiet period: ANALYZE saw no order held), planning
    generic plans for prepared statements."""
    with engine.begin() as conn:
        world = open_world(conn, capacities=(10,))
        conn.execute(
            sa.text(
                "INSERT INTO ticketing.orders (org_id, event_id, buyer_email, status,"
                " currency, amount, hold_expires_at, idempotency_key, request_hash)"
                " SELECT :org, :event, 'ann@example.com', 'paid', 'EUR', 2500,"
                " now() + interval '10 minutes', 'paid-' || g, 'h'"
                " FROM generate_series(1, 3000) g"
            ),
            {"org": world.org, "event": world.event},
        )
    with engine.connect() as conn:
        conn.exec_driver_sql("ANALYZE ticketing.orders")
        conn.exec_driver_sql("SET plan_cache_mode = force_generic_plan")
        yield conn
        conn.rollback()


def _generic_plan(conn: sa.Connection, statement: str, arguments: str) -> str:
    """The generic plan of `statement` (libpq's placeholders) prepared, as text."""
    conn.exec_driver_sql("DEALLOCATE ALL")
    conn.exec_driver_sql(f"PREPARE record_plan AS {statement}")
    rows = conn.exec_driver_sql(f"EXPLAIN EXECUTE record_plan({arguments})").scalars()
    return "\n".join(rows)


def _indexes(plan: str) -> set[str]:
    return {name for name in ("orders_pkey", "orders_expiry") if name in plan}


def test_the_prepared_records_find_the_order_by_its_key(none_awaiting: sa.Connection) -> None:
    conn = none_awaiting
    order, org = uuid.uuid4(), uuid.uuid4()
    now_arguments = f"'{order}', 'pi_1', 'secret_1', '{org}'"
    assert _indexes(_generic_plan(conn, store.RECORD_NOW, now_arguments)) == {"orders_pkey"}
    awaiting_arguments = f"'pi_1', 'secret_1', '{order}'"
    plan = _generic_plan(conn, store.RECORD_AWAITING_PREPARED, awaiting_arguments)
    assert _indexes(plan) == {"orders_pkey"}
    # The former condition, on the same statistics: the partial index.
    former = store.RECORD_NOW.replace(store._AWAITING, _FORMER)
    assert former != store.RECORD_NOW
    assert _indexes(_generic_plan(conn, former, now_arguments)) == {"orders_expiry"}


def test_the_literal_record_finds_the_order_by_its_key(none_awaiting: sa.Connection) -> None:
    conn = none_awaiting
    order = uuid.uuid4()

    def plan(text: str) -> set[str]:
        statement = text % ("'pi_1'", "'secret_1'", order, "'pi_1'")
        return _indexes("\n".join(conn.exec_driver_sql(f"EXPLAIN {statement}").scalars()))

    assert plan(store.RECORD_AWAITING) == {"orders_pkey"}
    former = store.RECORD_AWAITING.replace(store._AWAITING, _FORMER)
    assert former != store.RECORD_AWAITING
    assert plan(former) == {"orders_expiry"}

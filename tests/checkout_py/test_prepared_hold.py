"""The Python checkout's hold of one ticket type (`store.checkout.open_and_hold_alone`) is one
prepared statement that is its own transaction (`OPEN_AND_HOLD_PREPARED`), prepared once per
connection and prepared again when psycopg's DEALLOCATE ALL (or anyone's) dropped it; a
connection whose transactions begin with options sends its BEGIN and the COMMIT with the
prepared call in one pipeline (tests/checkout_py/test_hold_after_isolation_level.py); a text
libpq would cut is never sent."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import psycopg
import pytest
import sqlalchemy as sa

import ticketing_fsm as tk
from tests.ticketing_core.support import Gateway, World, open_world, request
from ticketing_fsm import checkout as tk_checkout
from ticketing_fsm.store import checkout as store

_NAME = "ticketing_open_and_hold_checkout_for"


def _prepared(engine: sa.Engine) -> list[Any]:
    """The hold's prepared statement on the pool's connection: (its text, times run)."""
    with engine.connect() as conn:
        rows = conn.exec_driver_sql(
            "SELECT statement, generic_plans + custom_plans FROM pg_prepared_statements"
            " WHERE name = %(name)s",
            {"name": _NAME},
        ).all()
        conn.rollback()
    return [tuple(r) for r in rows]


def _left(engine: sa.Engine, world: World) -> int:
    with engine.connect() as conn:
        left = conn.execute(
            sa.text("SELECT capacity - held - sold FROM ticketing.ticket_types WHERE id = :id"),
            {"id": world.ga},
        ).scalar_one()
    return int(left)


def test_the_hold_is_prepared_once_per_connection(one_connection: sa.Engine) -> None:
    engine = one_connection
    with engine.begin() as conn:
        world = open_world(conn, capacities=(10,))
        conn.exec_driver_sql("SET synchronous_commit = on")  # the session's, as in production
    first = tk.start_checkout(engine, Gateway(), request(world, "prepared-1", (2,)))
    second = tk.start_checkout(engine, Gateway(), request(world, "prepared-2", (3,)))
    assert first.order_id != second.order_id
    assert _prepared(engine) == [(store.OPEN_AND_HOLD_PREPARED, 2)]  # before: none prepared
    assert _left(engine, world) == 5
    # A replay under the key runs the same statement and holds nothing more.
    again = tk.start_checkout(engine, Gateway(), request(world, "prepared-1", (2,)))
    assert again.replayed and again.payment_intent_id == first.payment_intent_id
    assert _prepared(engine) == [(store.OPEN_AND_HOLD_PREPARED, 3)]
    assert _left(engine, world) == 5
    # Sold out: refused, nothing held; the session's synchronous_commit untouched (the hold
    # sets it off for its own transaction only).
    with pytest.raises(tk.SoldOut):
        tk.start_checkout(engine, Gateway(), request(world, "prepared-3", (6,)))
    assert _left(engine, world) == 5
    with engine.connect() as conn:
        assert conn.exec_driver_sql("SHOW synchronous_commit").scalar_one() == "on"


def test_a_deallocated_hold_is_prepared_again(one_connection: sa.Engine) -> None:
    engine = one_connection
    with engine.begin() as conn:
        world = open_world(conn, capacities=(10,))
    tk.start_checkout(engine, Gateway(), request(world, "dealloc-1", (1,)))
    assert len(_prepared(engine)) == 1
    with engine.connect() as conn:  # as psycopg does after a rollback of its prepared ones
        conn.exec_driver_sql("DEALLOCATE ALL")
        conn.commit()
    assert _prepared(engine) == []
    # Without preparing it again: 26000 (invalid_sql_statement_name) raised.
    checkout = tk.start_checkout(engine, Gateway(), request(world, "dealloc-2", (2,)))
    assert checkout.amount == 2 * 2_500
    assert _prepared(engine) == [(store.OPEN_AND_HOLD_PREPARED, 1)]
    assert _left(engine, world) == 7


def test_a_connection_beginning_with_options_sends_its_begin(one_connection: sa.Engine) -> None:
    """psycopg's BEGIN carries the connection's isolation level; a transaction of its own would
    not: such a connection sends the BEGIN, the prepared call and the COMMIT in one pipeline
    (the transaction ran at that level: the level seen by the server is checked in
    test_hold_after_isolation_level.py). Before: a simple query, nothing prepared."""
    engine = one_connection
    with engine.begin() as conn:
        world = open_world(conn, capacities=(10,))
    raw: Any = engine.raw_connection()
    try:
        driver = raw.driver_connection
        driver.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
    finally:
        raw.close()
    item_order = tk_checkout._one_type_order(
        request(world, "options-1", (2,)), tk_checkout.DEFAULT_HOLD
    )
    assert item_order is not None
    row = store.open_and_hold_alone(engine, item_order[1])
    assert row is not None and row.held_until is not None
    raw = engine.raw_connection()
    try:
        assert raw.driver_connection is driver
        driver.isolation_level = None
    finally:
        raw.close()
    assert _prepared(engine) == [(store.OPEN_AND_HOLD_PREPARED, 1)]
    assert _left(engine, world) == 8


@pytest.mark.parametrize("field", ["buyer", "key"])
def test_a_text_holding_a_nul_is_never_sent(one_connection: sa.Engine, field: str) -> None:
    """libpq ends a text parameter at its first NUL: the hold answers None (nothing sent, the
    caller's usual way then refuses it), never a text stored cut."""
    engine = one_connection
    with engine.begin() as conn:
        world = open_world(conn, capacities=(10,))
    item_order = tk_checkout._one_type_order(
        request(world, "nul-1", (2,)), tk_checkout.DEFAULT_HOLD
    )
    assert item_order is not None
    order = {**item_order[1], field: f"{item_order[1][field]}\x00cut"}
    assert store.open_and_hold_alone(engine, order) is None
    assert _left(engine, world) == 10


def test_the_kept_row_reader_reads_as_a_fresh_one(one_connection: sa.Engine) -> None:
    """The prepared hold's row is read with a Transformer and maker kept per connection
    (`store._hold_row`): the same row as `store._row` reads from the same result, for a new
    order and for its replay; read again from the results once the statement is prepared
    again."""
    engine = one_connection
    with engine.begin() as conn:
        world = open_world(conn, capacities=(10,))
    item_order = tk_checkout._one_type_order(
        request(world, "reader-1", (2,)), tk_checkout.DEFAULT_HOLD
    )
    assert item_order is not None
    order = item_order[1]
    rows: list[tuple[Any, Any]] = []
    hold_row = store._hold_row

    def both(pooled: Any, driver: Any, result: Any) -> Any:
        kept = hold_row(pooled, driver, result)
        rows.append((kept, store._row(driver, result)))
        return kept

    monkey = pytest.MonkeyPatch()
    monkey.setattr(store, "_hold_row", both)
    try:
        new = store.open_and_hold_alone(engine, order)
        replay = store.open_and_hold_alone(engine, order)
        with engine.connect() as conn:
            conn.exec_driver_sql("DEALLOCATE ALL")
            conn.commit()
        again = store.open_and_hold_alone(engine, order)
    finally:
        monkey.undo()
    assert new.held_until is not None and new.order_id is None
    assert replay.order_id == again.order_id == order["id"] and replay.held_until is None
    assert len(rows) == 3
    for kept, fresh in rows:
        assert kept == fresh and kept._fields == fresh._fields
        assert [type(v) for v in kept] == [type(v) for v in fresh]
    assert _left(engine, world) == 8


def test_a_hold_prepared_before_its_function_changed_columns_is_prepared_again(
    one_connection: sa.Engine,
) -> None:
    """A migration replacing `ticketing.open_and_hold_checkout_for` with other result columns
    while a connection keeps the hold prepared: PostgreSQL refuses the prepared statement at
    every execution ("cached plan must not change result type", 0A000, nothing run), so it
    is deallocated, prepared again and run, and the row read with its new columns."""
    engine = one_connection
    with engine.begin() as conn:
        world = open_world(conn, capacities=(10,))
    tk.start_checkout(engine, Gateway(), request(world, "changed-1", (1,)))
    assert len(_prepared(engine)) == 1
    with engine.begin() as conn:
        definition = conn.exec_driver_sql(
            "SELECT pg_get_functiondef('ticketing.open_and_hold_checkout_for'::regproc)"
        ).scalar_one()
        widened = definition.replace("on_sale boolean)", "on_sale boolean, added integer)", 1)
        assert widened != definition
        conn.exec_driver_sql("DROP FUNCTION ticketing.open_and_hold_checkout_for")
        conn.exec_driver_sql(widened.replace("%", "%%"))
    item_order = tk_checkout._one_type_order(
        request(world, "changed-2", (2,)), tk_checkout.DEFAULT_HOLD
    )
    assert item_order is not None
    row = store.open_and_hold_alone(engine, item_order[1])  # before: 0A000 raised
    assert row is not None and row.held_until is not None and row.added is None
    assert _prepared(engine) == [(store.OPEN_AND_HOLD_PREPARED, 1)]
    assert _left(engine, world) == 7


def test_the_kept_row_reader_follows_the_sessions_time_zone(one_connection: sa.Engine) -> None:
    """The kept reader's loaders read the session's TimeZone when they are made: a pooled
    connection whose session changed it (SET TIME ZONE, committed) reads the next hold's
    `held_until` in the new zone, as a fresh reader would (review of fe027a2: before, the kept
    reader answered in the zone of its first hold)."""
    engine = one_connection
    with engine.begin() as conn:
        world = open_world(conn, capacities=(10,))
    orders = []
    for key in ("zone-1", "zone-2"):
        item_order = tk_checkout._one_type_order(
            request(world, key, (1,)), tk_checkout.DEFAULT_HOLD
        )
        assert item_order is not None
        orders.append(item_order[1])
    with engine.connect() as conn:
        conn.exec_driver_sql("SET TIME ZONE 'UTC'")
        conn.commit()
    first = store.open_and_hold_alone(engine, orders[0])
    assert first is not None and first.held_until.utcoffset() == timedelta(0)
    with engine.connect() as conn:
        conn.exec_driver_sql("SET TIME ZONE 'Asia/Tokyo'")
        conn.commit()
    second = store.open_and_hold_alone(engine, orders[1])
    assert second is not None and second.held_until.utcoffset() == timedelta(hours=9)

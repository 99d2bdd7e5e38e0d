"""The checkout's hold commits without waiting for its WAL to reach the disk
(`ticketing.hold_checkout` sets synchronous_commit off for its own transaction), and only its
own: the connection's next transaction, the checkout's record step, commits as the session
says (synchronous by default), and that commit flushes the hold's WAL with its own."""

from __future__ import annotations

import uuid

import sqlalchemy as sa

import ticketing_fsm as tk
from tests.ticketing_core.support import open_world, request
from ticketing_fsm.store import checkout as store

_HOLD = """
    SELECT hold_expires_at, seats_left, on_sale FROM ticketing.hold_checkout(
        1, :type, :event, 2500, :order, :org, 'ann@example.com', 'EUR', 2500,
        interval '10 minutes', :key, 'hash', ARRAY['code-' || :key])"""


def _setting(conn: sa.Connection) -> str:
    return str(conn.exec_driver_sql("SHOW synchronous_commit").scalar_one())


def test_the_hold_commits_asynchronously_and_only_its_own_transaction(engine: sa.Engine) -> None:
    with engine.begin() as conn:
        world = open_world(conn, capacities=(5,))
    with engine.connect() as conn:
        conn.exec_driver_sql("SET synchronous_commit = on")  # the session's, as in production
        conn.commit()
        with conn.begin():
            held = conn.execute(
                sa.text(_HOLD),
                {
                    "type": world.ga,
                    "event": world.event,
                    "order": uuid.uuid4(),
                    "org": world.org,
                    "key": "hold-1",
                },
            ).one()
            assert held.hold_expires_at is not None
            assert _setting(conn) == "off"  # this transaction's commit does not wait
        with conn.begin():
            assert _setting(conn) == "on"  # the next one (the record step) does
        left = conn.execute(
            sa.text("SELECT capacity - held - sold FROM ticketing.ticket_types WHERE id = :id"),
            {"id": world.ga},
        ).scalar_one()
        assert left == 4  # the hold committed


def test_a_refused_hold_also_leaves_the_session_setting_alone(engine: sa.Engine) -> None:
    with engine.begin() as conn:
        world = open_world(conn, capacities=(1,))
    args = {"type": world.ga, "event": world.event, "org": world.org}
    with engine.connect() as conn:
        conn.exec_driver_sql("SET synchronous_commit = on")
        conn.commit()
        with conn.begin():
            taken = conn.execute(sa.text(_HOLD), {**args, "order": uuid.uuid4(), "key": "a"})
            assert taken.one().hold_expires_at is not None
        with conn.begin():
            refused = conn.execute(
                sa.text(_HOLD), {**args, "order": uuid.uuid4(), "key": "b"}
            ).one()
            assert refused.hold_expires_at is None and refused.seats_left == 0
        with conn.begin():
            assert _setting(conn) == "on"


def test_the_api_path_holds_commits_and_leaves_the_next_transaction_synchronous(
    engine: sa.Engine,
) -> None:
    """`reserve_checkout(commit=True)`, the API's path: the hold and its commit in one round
    trip; the connection's next transaction is back to the session's setting."""
    with engine.begin() as conn:
        world = open_world(conn, capacities=(3,))
    with engine.connect() as conn:
        conn.exec_driver_sql("SET synchronous_commit = on")
        conn.commit()
        conn.begin()
        pending = tk.reserve_checkout(conn, request(world, "api-1", (2,)), commit=True)
        assert isinstance(pending, tk.PendingCheckout)
        conn.commit()  # nothing left to commit: the hold's statement committed
        with conn.begin():
            assert _setting(conn) == "on"
            order = store.recorded(conn, pending.order_id)
            assert order.status == "awaiting_payment"

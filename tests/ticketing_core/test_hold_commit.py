"""The checkout's hold commits without waiting for its WAL to reach the disk
(`ticketing.hold_checkout` sets synchronous_commit off for its own transaction), and only its
own: the connection's next transaction, the checkout's record step, commits as the session
says (synchronous by default), and that commit flushes the hold's WAL with its own."""

from __future__ import annotations

import uuid
from typing import Any

import psycopg
import pytest
import sqlalchemy as sa

import pgdriver
import ticketing_fsm as tk
from tests.ticketing_core.support import Gateway, open_world, request
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


def test_the_python_checkout_of_one_type_is_two_round_trips(
    engine: sa.Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`tk.start_checkout` of one ticket type: the hold is one round trip (the opening read
    with the hold, a prepared statement that is its own transaction:
    `store.open_and_hold_alone`), the record one (a statement that is its own transaction);
    Stripe is asked between them. Counted at the
    client: psycopg's cursors and its own commands (BEGIN, COMMIT, ROLLBACK), and the
    statements the checkout sends through libpq itself."""
    with engine.begin() as conn:
        world = open_world(conn, capacities=(5,))
    trips: list[str] = []

    def counted(name: str, send: Any) -> Any:
        def sending(*args: Any, **kwargs: Any) -> Any:
            trips.append(name)
            return send(*args, **kwargs)

        return sending

    def libpq(name: str, send: Any) -> Any:  # sent by libpq itself, unless it answers None
        def sending(*args: Any, **kwargs: Any) -> Any:
            result = send(*args, **kwargs)
            if result is not None:
                trips.append(name)
            return result

        return sending

    monkeypatch.setattr(psycopg.Cursor, "execute", counted("cursor", psycopg.Cursor.execute))
    command = psycopg.Connection._exec_command
    monkeypatch.setattr(psycopg.Connection, "_exec_command", counted("command", command))
    for name in ("open_and_hold_alone", "open_and_hold_now", "begin_with_opening"):
        monkeypatch.setattr(store, name, libpq(name, getattr(store, name)))
    monkeypatch.setattr(pgdriver, "call_alone", libpq("call_alone", pgdriver.call_alone))
    checkout = tk.start_checkout(engine, Gateway(), request(world, "two-trips", (2,)))
    assert trips == ["open_and_hold_alone", "call_alone"]
    with engine.begin() as conn:
        order = store.recorded(conn, checkout.order_id)
        assert (order.status, order.payment_intent_id) == (
            "awaiting_payment",
            checkout.payment_intent_id,
        )
        left = conn.execute(
            sa.text("SELECT capacity - held - sold FROM ticketing.ticket_types WHERE id = :id"),
            {"id": world.ga},
        ).scalar_one()
        assert left == 3
    # A retry under the key: the same checkout, in one round trip, nothing more held.
    trips.clear()
    again = tk.start_checkout(engine, Gateway(), request(world, "two-trips", (2,)))
    assert again.replayed and again.payment_intent_id == checkout.payment_intent_id
    assert trips == ["open_and_hold_alone"]
    # Sold out: refused in one round trip, nothing held.
    trips.clear()
    with pytest.raises(tk.SoldOut):
        tk.start_checkout(engine, Gateway(), request(world, "two-trips-2", (4,)))
    assert trips == ["open_and_hold_alone"]


@pytest.mark.parametrize(
    ("options", "isolation", "read_only"),
    [
        ({}, "read committed", "off"),
        ({"isolation_level": "REPEATABLE READ"}, "repeatable read", "off"),
        ({"isolation_level": "SERIALIZABLE"}, "serializable", "off"),
    ],
)
def test_the_begin_sent_with_the_first_statement_keeps_the_connections_options(
    engine: sa.Engine, options: dict[str, str], isolation: str, read_only: str
) -> None:
    """`store.begin_with_opening` (and `open_and_hold_now`) send the transaction's BEGIN
    themselves, as psycopg would, with the connection's options: made from psycopg's public
    attributes (`pgdriver.begin_command`), not its private `_get_tx_start_command`. The transaction
    it began runs at the connection's isolation level (a plain BEGIN would run at READ
    COMMITTED whatever the engine asked), and psycopg sends no second BEGIN."""
    with engine.begin() as conn:
        world = open_world(conn, capacities=(5,))
    chosen = engine.execution_options(**options) if options else engine
    with chosen.connect() as conn:
        sent = store.begin_with_opening(conn, world.org, world.event, "options", [world.ga])
        assert sent is not None
        assert conn.exec_driver_sql("SHOW transaction_isolation").scalar_one() == isolation
        assert conn.exec_driver_sql("SHOW transaction_read_only").scalar_one() == read_only
        conn.rollback()


def test_the_begin_command_as_psycopg_makes_it() -> None:
    """Every combination of the options psycopg puts in its BEGIN."""

    class Options:
        def __init__(self, isolation: Any, read_only: Any, deferrable: Any) -> None:
            self.isolation_level, self.read_only, self.deferrable = isolation, read_only, deferrable

    begin = pgdriver.begin_command
    assert begin(Options(None, None, None)) == b"BEGIN"  # type: ignore[arg-type]
    assert (
        begin(Options(psycopg.IsolationLevel.REPEATABLE_READ, True, False))  # type: ignore[arg-type]
        == b"BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY NOT DEFERRABLE"
    )
    assert (
        begin(Options(psycopg.IsolationLevel.SERIALIZABLE, False, True))  # type: ignore[arg-type]
        == b"BEGIN ISOLATION LEVEL SERIALIZABLE READ WRITE DEFERRABLE"
    )


def test_no_begin_is_sent_with_the_first_statement_in_pipeline_mode(engine: sa.Engine) -> None:
    """In psycopg's pipeline mode (libpq's pipeline status, a public attribute, says so) the
    caller goes its usual way: nothing is sent."""
    with engine.begin() as conn:
        world = open_world(conn, capacities=(5,))
    with engine.connect() as conn:
        driver: Any = conn.connection.driver_connection
        with driver.pipeline():
            assert store.begin_with_opening(conn, world.org, world.event, "p", [world.ga]) is None
        conn.rollback()

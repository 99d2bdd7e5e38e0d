"""A checkout's key and buyer e-mail must be text PostgreSQL can hold. libpq's escaping of a
literal stops at a NUL character, so the hold's one round trip (its values as literals) once
stored buyer "ann\\x00-evil@example.com" as 'ann', while the parameterised path (two ticket
types) raised an untyped psycopg.DataError. Now the decisions refuse it (InvalidRequest,
nothing written) whichever path, and the literal-building statements never send a NUL."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import DBAPIError

import ticketing_fsm as tk
from tests.ticketing_core.support import Gateway, World, counters, open_world, request
from ticketing_fsm.errors import InvalidRequest
from ticketing_fsm.store import checkout as store

EVIL = "ann\x00-evil@example.com"


def _orders(engine: sa.Engine, world: World) -> list[tuple[str, str]]:
    with engine.connect() as conn:
        rows = conn.execute(
            sa.text("SELECT idempotency_key, buyer_email FROM ticketing.orders WHERE org_id = :o"),
            {"o": world.org},
        )
        return [(r.idempotency_key, r.buyer_email) for r in rows]


@pytest.mark.parametrize(
    ("quantities", "key", "buyer"),
    [
        ((1,), "k-nul-buyer", EVIL),  # one type: the hold's literals
        ((1, 1), "k-nul-buyer", EVIL),  # two types: parameters
        ((1,), "k\x00-nul-key", "ann@example.com"),
        ((1, 1), "k\x00-nul-key", "ann@example.com"),
        ((1,), "k-surrogate", "ann\ud800@example.com"),
    ],
)
def test_a_checkout_with_text_postgresql_cannot_hold_is_refused_and_writes_nothing(
    engine: sa.Engine, quantities: tuple[int, ...], key: str, buyer: str
) -> None:
    with engine.begin() as conn:
        world = open_world(conn, capacities=(5, 5), prices=(2_500, 2_500))
    gateway = Gateway()
    with pytest.raises(InvalidRequest):
        tk.start_checkout(engine, gateway, request(world, key, quantities, buyer=buyer))
    assert _orders(engine, world) == []
    with engine.connect() as conn:
        assert [counters(conn, t).held for t in world.types] == [0, 0]
    # the same checkout with a storable e-mail goes through, stored as given
    tk.start_checkout(engine, gateway, request(world, "k-fine", quantities))
    assert _orders(engine, world) == [("k-fine", "ann@example.com")]


def _order(world: World, buyer: str, key: str) -> dict[str, object]:
    return {
        "id": uuid.uuid4(),
        "org": world.org,
        "event": world.event,
        "buyer": buyer,
        "currency": world.currency,
        "amount": 2_500,
        "hold": timedelta(minutes=10),
        "key": key,
        "hash": "hash",
        "codes": [f"code-{uuid.uuid4().hex}"],
        "n": 1,
        "type": world.ga,
        "price": 2_500,
    }


def test_the_hold_in_one_round_trip_never_sends_a_nul_as_a_literal(engine: sa.Engine) -> None:
    """`hold_insert_and_commit` answers None (nothing sent) for a text holding a NUL; the
    parameterised statement the caller then sends is refused by PostgreSQL: no path stores
    the text cut at the NUL."""
    with engine.begin() as conn:
        world = open_world(conn, capacities=(5,))
    for order in (_order(world, EVIL, "k-1"), _order(world, "ann@example.com", "k\x002")):
        with engine.connect() as conn:
            assert store.hold_insert_and_commit(conn, order) is None
            conn.rollback()
            with pytest.raises(DBAPIError), conn.begin():
                store.hold_and_insert(conn, order)
    assert _orders(engine, world) == []
    with engine.connect() as conn:
        assert counters(conn, world.ga).held == 0
        both = store.hold_insert_and_commit(conn, _order(world, "bob@example.com", "k-3"))
        assert both is not None and both[0] is not None  # a storable text goes in one trip
    assert _orders(engine, world) == [("k-3", "bob@example.com")]


def test_the_statements_for_the_authentication_round_trip_refuse_a_nul() -> None:
    """Built with a NUL, each refuses at once (libpq's escaping would cut the text)."""
    world = World(
        org=uuid.uuid4(),
        event=uuid.uuid4(),
        types=(uuid.uuid4(),),
        prices=(2_500,),
        currency="EUR",
        ends_at=datetime.now(UTC),
    )
    order = _order(world, EVIL, "k-1")
    with pytest.raises(ValueError, match="NUL"):
        store.hold_after_authentication(order, b"true")
    with pytest.raises(ValueError, match="NUL"):
        store.opening_after_authentication(world.event, "k\x00", [world.ga])
    with pytest.raises(ValueError, match="NUL"):
        store.record_after_authentication(uuid.uuid4(), "pi_1\x00", "secret")
    with pytest.raises(ValueError, match="NUL"):
        store.record_awaiting_after_authentication(uuid.uuid4(), "pi_1", "s\x00")
    items = [tk.CheckoutItem(world.ga, 1)]
    with pytest.raises(InvalidRequest):
        tk.opening_statement(world.event, "k\x00", items)
    # the public plan of the one-statement hold declines (the long way refuses it, typed)
    evil = tk.CheckoutRequest("k", world.org, world.event, EVIL, items)
    assert tk.plan_hold(evil, go=b"true") is None

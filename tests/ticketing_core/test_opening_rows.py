"""`ticketing.open_and_hold_checkout_for`'s opening read in the statements the usual checkout
needs (session 36: the order under the key alone, its event's end only for a replay, then the
event FOR SHARE with the type's price) answers the rows the one joined statement answered:
a new order's (the event, the type's price, the hold), a replay's (the order with its event's
end, the event and the price again, no hold), a type not of the event (the event, no price, no
hold), an event not found (nothing but the organization)."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import sqlalchemy as sa

from tests.ticketing_core.support import World, open_world, request
from ticketing_fsm import checkout as tk_checkout
from ticketing_fsm.store import checkout as store


def _order(world: World, key: str, **changes: Any) -> dict[str, Any]:
    one = tk_checkout._one_type_order(request(world, key, (2,)), timedelta(minutes=10))
    assert one is not None
    return {**one[1], **changes}


def test_a_new_order_then_its_replay(engine: sa.Engine) -> None:
    with engine.begin() as conn:
        world = open_world(conn, capacities=(10,), prices=(2_500,))
    order = _order(world, "rows-1")
    new = store.open_and_hold_alone(engine, order)
    assert new.acting_org == world.org and new.order_id is None and new.order_ends_at is None
    assert (new.event_id, new.currency, new.cancelled_at) == (world.event, "EUR", None)
    assert new.ends_at == world.ends_at
    assert (new.type_ids, new.prices) == ([world.ga], [2_500])
    assert new.held_until is not None and new.seats_left is None and new.on_sale is None

    replay = store.open_and_hold_alone(engine, order)
    assert (replay.order_id, replay.order_amount, replay.order_currency) == (
        order["id"],
        5_000,
        "EUR",
    )
    assert (replay.order_event_id, replay.order_ends_at) == (world.event, world.ends_at)
    assert (replay.status, replay.request_hash) == ("awaiting_payment", order["hash"])
    assert replay.hold_expires_at == new.held_until
    assert (replay.event_id, replay.prices) == (world.event, [2_500])
    assert replay.held_until is None and replay.seats_left is None


def test_a_type_not_of_the_event_and_an_event_not_found(engine: sa.Engine) -> None:
    with engine.begin() as conn:
        world = open_world(conn, capacities=(10,))
        other = open_world(conn, capacities=(10,))
    stranger = store.open_and_hold_alone(engine, _order(world, "rows-2", type=other.ga))
    assert stranger.event_id == world.event and stranger.order_id is None
    assert stranger.type_ids is None and stranger.prices is None
    assert stranger.held_until is None and stranger.seats_left is None

    nowhere = store.open_and_hold_alone(engine, _order(world, "rows-3", event=uuid.uuid4()))
    assert nowhere.acting_org == world.org
    assert (nowhere.order_id, nowhere.event_id, nowhere.prices) == (None, None, None)
    assert nowhere.held_until is None

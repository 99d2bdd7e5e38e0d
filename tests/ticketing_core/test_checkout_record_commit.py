"""`start_checkout`'s record step is begun, sent and committed in one round trip
(`record_payment_intent(..., commit=True)`, `store.checkout.record_and_commit`); its hold
commits with its statement. Committed when it returns; a second intent for the order goes on
in a new transaction (the first intent stays, the stray one's cancellation is published);
values with quotes stay literals."""

from __future__ import annotations

from typing import Any

import psycopg
import pytest
import sqlalchemy as sa

import ticketing_fsm as tk
from tests.ticketing_core.support import Gateway, messages, open_world, request
from ticketing_fsm.store import checkout as store


def _intent(engine: sa.Engine, order_id: object) -> tuple[str | None, str | None]:
    with engine.connect() as conn:
        row = conn.execute(
            sa.text("SELECT payment_intent_id, client_secret FROM ticketing.orders WHERE id = :id"),
            {"id": order_id},
        ).one()
    return row.payment_intent_id, row.client_secret


def test_the_record_is_one_round_trip_and_committed(engine: sa.Engine, monkeypatch: Any) -> None:
    with engine.begin() as conn:
        world = open_world(conn, capacities=(5,))
        pending = tk.reserve_checkout(conn, request(world, "rc-1", (2,)))
    assert isinstance(pending, tk.PendingCheckout)
    intent = tk.CreatedIntent("pi_rc_1", "pi_rc_1_secret_it's")
    sent: list[str] = []
    original = psycopg.Cursor.execute

    def counting(self: psycopg.Cursor[Any], query: Any, *args: Any, **kwargs: Any) -> Any:
        sent.append(str(query))
        return original(self, query, *args, **kwargs)

    monkeypatch.setattr(psycopg.Cursor, "execute", counting)
    with engine.connect() as conn:
        conn.begin()
        done, row = store.record_and_commit(
            conn, pending.order_id, intent.payment_intent_id, intent.client_secret
        )
        assert done and row is not None and row.status == "awaiting_payment"
        assert row.hold_expires_at == pending.hold_expires_at
        assert sent == []  # no statement through a cursor: the one simple query only
        # Committed already: another session sees it while this one has not committed.
        assert _intent(engine, pending.order_id) == ("pi_rc_1", "pi_rc_1_secret_it's")
        conn.rollback()  # nothing left to roll back
    assert _intent(engine, pending.order_id) == ("pi_rc_1", "pi_rc_1_secret_it's")


def test_start_checkout_records_in_one_round_trip_and_a_stray_intent_is_cancelled(
    engine: sa.Engine,
) -> None:
    gateway = Gateway()
    with engine.begin() as conn:
        world = open_world(conn, capacities=(5,))
    asked = request(world, "rc-2", (1,))
    checkout = tk.start_checkout(engine, gateway, asked)
    assert _intent(engine, checkout.order_id)[0] == checkout.payment_intent_id
    assert tk.start_checkout(engine, gateway, asked).replayed

    # A second intent for the order (Stripe forgot the key, say): the record sent with its
    # commit records nothing, and the rest goes on in a new transaction: the first intent
    # answered as a replay, the stray one's cancellation published and committed.
    with engine.begin() as conn:
        again = tk.reserve_checkout(conn, request(world, "rc-3", (1,)))
    assert isinstance(again, tk.PendingCheckout)
    with engine.begin() as conn:
        first = tk.record_payment_intent(conn, again, tk.CreatedIntent("pi_first", "s1"))
    with engine.begin() as conn:
        stray = tk.record_payment_intent(
            conn, again, tk.CreatedIntent("pi_stray", "s2"), commit=True
        )
    assert (stray.payment_intent_id, stray.replayed) == (first.payment_intent_id, True)
    with engine.connect() as conn:
        cancels = messages(conn, "stripe.payment_intent.cancel.requested", str(again.order_id))
    assert [m.payload["payment_intent_id"] for m in cancels] == ["pi_stray"]


def test_a_record_whose_order_expired_raises_and_commits_nothing_else(engine: sa.Engine) -> None:
    with engine.begin() as conn:
        world = open_world(conn, capacities=(5,))
        pending = tk.reserve_checkout(conn, request(world, "rc-4", (1,)))
        assert isinstance(pending, tk.PendingCheckout)
        conn.execute(
            sa.text("UPDATE ticketing.orders SET status = 'cancelled' WHERE id = :id"),
            {"id": pending.order_id},
        )
    with pytest.raises(tk.CheckoutExpired), engine.begin() as conn:
        tk.record_payment_intent(conn, pending, tk.CreatedIntent("pi_late", "s"), commit=True)

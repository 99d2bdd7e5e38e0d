"""Review F1 on the public Python API: a hold lost between the hold and the record step (its
commit does not wait for the WAL flush; a crash or a failover can lose it) makes the record
step raise `CheckoutInterrupted` with the order's id, recording nothing; the checkout run
again under the same key holds the seats again and records the same PaymentIntent."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

import ticketing_fsm as tk
from tests.ticketing_core.support import Gateway, counters, messages, open_world, request


def _lose(engine: sa.Engine, order_id: object) -> None:
    """The hold's transaction undone whole, as a crash before its WAL flush undoes it."""
    with engine.begin() as conn:
        types = conn.execute(
            sa.text("DELETE FROM ticketing.tickets WHERE order_id = :id RETURNING ticket_type_id"),
            {"id": order_id},
        ).scalars()
        for type_id in types.all():
            conn.execute(
                sa.text("UPDATE ticketing.ticket_types SET held = held - 1 WHERE id = :id"),
                {"id": type_id},
            )
        gone = conn.execute(
            sa.text("DELETE FROM ticketing.orders WHERE id = :id"), {"id": order_id}
        )
        assert gone.rowcount == 1


def test_the_record_step_of_a_lost_hold_raises_checkout_interrupted(engine: sa.Engine) -> None:
    gateway = Gateway()
    with engine.begin() as conn:
        world = open_world(conn, capacities=(4,))
    asked = request(world, "lost-hold-1", (3,))
    with engine.begin() as conn:
        pending = tk.reserve_checkout(conn, asked)
    assert isinstance(pending, tk.PendingCheckout)
    intent = tk.ask_for_intent(gateway, pending)
    _lose(engine, pending.order_id)

    with pytest.raises(tk.CheckoutInterrupted) as raised, engine.begin() as conn:
        tk.record_payment_intent(conn, pending, intent)
    assert raised.value.order_id == str(pending.order_id)
    with engine.connect() as conn:
        assert counters(conn, world.ga).held == 0
        cancels = messages(conn, "stripe.payment_intent.cancel.requested", str(pending.order_id))
    assert cancels == []  # the intent is left for the retry to record

    again = tk.start_checkout(engine, gateway, asked)
    assert (again.order_id, again.payment_intent_id) == (pending.order_id, intent.payment_intent_id)
    assert not again.replayed
    with engine.connect() as conn:
        assert counters(conn, world.ga).held == 3
    assert len(gateway.intents) == 1  # Stripe answered the key with the same intent

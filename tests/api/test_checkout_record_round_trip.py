"""The checkout's record step rides on the round trip that authenticates its transaction
(`keys.authenticate(..., then=tk.record_statement(...))`, what `UnitOfWork.send_with_opening`
sends): the PaymentIntent is recorded under the actor the key proved, and a key that does
not authenticate, or another organization's, records nothing, even on a login role that
row-level security does not bind (the tests' owner: only the statement's own condition on
`current_org_id()` stands in the way)."""

from __future__ import annotations

import sqlalchemy as sa

import ticketing_fsm as tk
from liventix.api import create_key, keys
from tests.ticketing_core.support import open_world, request
from ticketing_fsm.store import checkout as store


def _recorded(engine: sa.Engine, order_id: object) -> str | None:
    with engine.connect() as conn:
        found = conn.execute(
            sa.text("SELECT payment_intent_id FROM ticketing.orders WHERE id = :id"),
            {"id": order_id},
        ).scalar_one()
    return None if found is None else str(found)


def test_the_record_rides_on_the_authentication_and_needs_the_orders_key(
    engine: sa.Engine,
) -> None:
    with engine.begin() as conn:
        world = open_world(conn, capacities=(5,))
        token = create_key(conn, world.org, description="record").token
        other = open_world(conn, capacities=(1,))
        others_token = create_key(conn, other.org, description="other").token
        pending = tk.reserve_checkout(conn, request(world, "api:rt-1", (2,)))
    assert isinstance(pending, tk.PendingCheckout)
    intent = tk.CreatedIntent("pi_round_trip_1", "pi_round_trip_1_secret_abc'd")

    # A wrong secret: no principal, nothing sent back, and nothing recorded once committed.
    wrong = token[:-1] + ("0" if token[-1] != "0" else "1")
    with engine.connect() as conn:
        answers: list[object] = []
        principal, stored = keys.authenticate(
            conn, wrong, None, then=tk.record_statement(pending, intent), answers=answers
        )
        assert (principal, stored, answers) == (None, None, [])
        conn.commit()
    assert _recorded(engine, pending.order_id) is None

    # Another organization's key: authenticated, but the order is not its actor's.
    with engine.connect() as conn:
        answers = []
        principal, _ = keys.authenticate(
            conn, others_token, None, then=tk.record_statement(pending, intent), answers=answers
        )
        assert principal is not None and principal.org_id == other.org
        assert len(answers) == 1 and store.recorded_status(answers[0]) is None
        conn.commit()
    assert _recorded(engine, pending.order_id) is None

    # The order's key: recorded in the authentication's round trip.
    with engine.connect() as conn:
        answers = []
        principal, _ = keys.authenticate(
            conn, token, None, then=tk.record_statement(pending, intent), answers=answers
        )
        assert principal is not None and principal.org_id == world.org
        assert len(answers) == 1 and store.recorded_status(answers[0]) == "awaiting_payment"
        checkout = tk.record_payment_intent(conn, pending, intent, sent=answers[0])
        conn.commit()
    assert checkout.payment_intent_id == "pi_round_trip_1"
    assert checkout.client_secret == "pi_round_trip_1_secret_abc'd"
    assert checkout.hold_expires_at == pending.hold_expires_at
    assert _recorded(engine, pending.order_id) == "pi_round_trip_1"
    with engine.connect() as conn:
        secret = conn.execute(
            sa.text("SELECT client_secret FROM ticketing.orders WHERE id = :id"),
            {"id": pending.order_id},
        ).scalar_one()
    assert secret == "pi_round_trip_1_secret_abc'd"  # the quote escaped, stored as sent


def test_a_second_intent_sent_with_the_authentication_is_not_recorded(engine: sa.Engine) -> None:
    """The order already has its PaymentIntent: the statement records nothing, and the
    ordinary path answers the first one as a replay (and cancels the stray at Stripe)."""
    with engine.begin() as conn:
        world = open_world(conn, capacities=(5,))
        token = create_key(conn, world.org, description="record").token
        pending = tk.reserve_checkout(conn, request(world, "api:rt-2", (1,)))
    assert isinstance(pending, tk.PendingCheckout)
    first = tk.CreatedIntent("pi_first", "pi_first_secret")
    with engine.begin() as conn:
        tk.record_payment_intent(conn, pending, first)
    stray = tk.CreatedIntent("pi_stray", "pi_stray_secret")
    with engine.connect() as conn:
        answers: list[object] = []
        keys.authenticate(
            conn, token, None, then=tk.record_statement(pending, stray), answers=answers
        )
        assert len(answers) == 1 and store.recorded_status(answers[0]) is None
        checkout = tk.record_payment_intent(conn, pending, stray, sent=answers[0])
        conn.commit()
    assert (checkout.payment_intent_id, checkout.replayed) == ("pi_first", True)
    assert _recorded(engine, pending.order_id) == "pi_first"

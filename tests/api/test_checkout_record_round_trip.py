"""The checkout's record step rides on the round trip that authenticates its transaction
(`keys.authenticate(..., then=tk.record_statement(...))`, what `UnitOfWork.send_with_opening`
sends): the PaymentIntent is recorded under the actor the key proved, and a key that does
not authenticate, or another organization's, records nothing, even on a login role that
row-level security does not bind (the tests' owner: only the statement's own condition on
`current_org_id()` stands in the way)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import httpx
import pytest
import sqlalchemy as sa

import ticketing_fsm as tk
from liventix.api import create_key, keys
from liventix.stripe_gateway import StripeGateway
from tests.api.support import gateway_api, on_sale_event
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


# -- the record's lost race, sent with the authentication -----------------------------------


@dataclass
class DeadlockingGateway:
    """The real gateway; while `deadlock` is set, once Stripe answered, the order's row is
    locked from another session, which then asks for the orders table whole as soon as the
    record step waits for that row: a deadlock, which PostgreSQL breaks by failing the
    record step's statement (it waited first, so its check runs first) with 40P01."""

    inner: StripeGateway
    owner: sa.Engine
    deadlock: bool = False
    intents: list[str] = field(default_factory=list)
    threads: list[threading.Thread] = field(default_factory=list)
    locked_table: list[bool] = field(default_factory=list)

    def create_payment_intent(
        self, amount: int, currency: str, metadata: dict[str, str], idempotency_key: str
    ) -> tk.CreatedIntent:
        """Ask Stripe; then, if asked, set the deadlock up for the record step."""
        created = self.inner.create_payment_intent(amount, currency, metadata, idempotency_key)
        self.intents.append(created.payment_intent_id)
        if self.deadlock:
            self.deadlock = False
            holding = self.owner.connect()
            holding.begin()
            holding.execute(
                sa.text("SELECT 1 FROM ticketing.orders WHERE id = :id FOR UPDATE"),
                {"id": metadata[tk.META_ORDER]},
            )
            thread = threading.Thread(target=self._then_the_table, args=(holding,))
            thread.start()
            self.threads.append(thread)
        return created

    def _then_the_table(self, holding: sa.Connection) -> None:
        try:
            me = holding.execute(sa.text("SELECT pg_backend_pid()")).scalar_one()
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                with self.owner.connect() as look:
                    waiting = look.execute(
                        sa.text("""SELECT count(*) FROM pg_stat_activity
                                    WHERE pid <> :me AND wait_event_type = 'Lock'
                                      AND query LIKE '%UPDATE ticketing.orders%'"""),
                        {"me": me},
                    ).scalar_one()
                if waiting:
                    break
                time.sleep(0.01)
            holding.execute(sa.text("LOCK TABLE ticketing.orders IN ACCESS EXCLUSIVE MODE"))
            self.locked_table.append(True)
        finally:
            holding.rollback()
            holding.close()

    def create_refund(
        self, payment_intent_id: str, amount: int, metadata: dict[str, str], idempotency_key: str
    ) -> str:
        """Refunds go straight to Stripe."""
        return self.inner.create_refund(payment_intent_id, amount, metadata, idempotency_key)


@pytest.fixture
def deadlocking(
    pg_server_url: str, template_db: str
) -> Iterator[tuple[str, str, DeadlockingGateway]]:
    """An API on a database of its own, Stripe the stand-in, the owner's engine beside it."""
    with gateway_api(
        pg_server_url, template_db, "record_race", DeadlockingGateway, owner_pool=3
    ) as made:
        try:
            yield made.api, made.key, made.gateway
        finally:
            for thread in made.gateway.threads:
                thread.join(timeout=60)


def _deadlocks(engine: sa.Engine) -> int:
    with engine.connect() as conn:
        return int(
            conn.execute(
                sa.text("SELECT deadlocks FROM pg_stat_database WHERE datname = current_database()")
            ).scalar_one()
        )


def test_a_lost_race_of_the_record_sent_with_the_authentication_is_run_again(
    deadlocking: tuple[str, str, DeadlockingGateway],
) -> None:
    """The record's statement, sent in the authentication's round trip, fails with a
    deadlock: the request runs again (as it did when the statement went on its own), finds
    the held order by its key and records the same PaymentIntent: 201, not 503."""
    api, key, gateway = deadlocking
    with httpx.Client(
        base_url=api, headers={"Authorization": f"Bearer {key}"}, timeout=60
    ) as client:
        event = on_sale_event(client, capacity=5)
        type_id = event["ticket_types"][0]["id"]
        body = {
            "event_id": event["id"],
            "buyer_email": "ann@example.com",
            "items": [{"ticket_type_id": type_id, "quantity": 2}],
        }
        before = _deadlocks(gateway.owner)
        gateway.deadlock = True
        done = client.post("/v1/checkouts", json=body, headers={"Idempotency-Key": "race-1"})
        for thread in gateway.threads:
            thread.join(timeout=60)
        assert done.status_code == 201, done.text
    assert gateway.locked_table == [True]  # the other session got its lock: the record lost
    assert _deadlocks(gateway.owner) == before + 1
    first, again = gateway.intents  # asked again by the retry, under the same key
    assert done.json()["payment_intent_id"] == first == again
    assert _recorded(gateway.owner, done.json()["order_id"]) == first


def test_an_expired_hold_is_not_recorded_with_the_authentication(engine: sa.Engine) -> None:
    """The hold ran out before the record (Stripe slow, or a retry after expiry, the sweeper
    not yet by): the statement sent with the authentication records nothing, and the
    ordinary path answers CheckoutExpired, nothing recorded (Review3's L2, session 39: the
    statement's hold condition had no test)."""
    with engine.begin() as conn:
        world = open_world(conn, capacities=(5,))
        token = create_key(conn, world.org, description="record").token
        pending = tk.reserve_checkout(conn, request(world, "api:rt-expired", (1,)))
        assert isinstance(pending, tk.PendingCheckout)
        conn.execute(
            sa.text(
                "UPDATE ticketing.orders SET hold_expires_at = now() - interval '1 second'"
                " WHERE id = :id"
            ),
            {"id": pending.order_id},
        )
    intent = tk.CreatedIntent("pi_expired", "pi_expired_secret")
    with engine.connect() as conn:
        answers: list[object] = []
        principal, _ = keys.authenticate(
            conn, token, None, then=tk.record_statement(pending, intent), answers=answers
        )
        assert principal is not None and principal.org_id == world.org
        assert len(answers) == 1 and store.recorded_status(answers[0]) is None
        with pytest.raises(tk.CheckoutExpired):
            tk.record_payment_intent(conn, pending, intent, sent=answers[0])
        conn.rollback()
    assert _recorded(engine, pending.order_id) is None

"""Promise 8 for Stripe's events: the handlers that ask Stripe (a payment's charge and fee, a
charge's refunds) do it with no transaction open and no lock held.

The application's handlers (ticketing's, wrapping escrow's, as `liventix.wiring` registers
them) run in an `outbox.Worker` whose `StripeGateway` calls a Stripe-compatible server on
127.0.0.1 through the stripe library. While each request is in flight, the server looks from
a session of its own at what the worker's sessions hold: no transaction, no lock, and every
inbox row can be locked `FOR UPDATE NOWAIT`. The bookings are then checked as usual.

A `liventix worker` process killed while Stripe has not answered loses nothing: its lease
lapses and another worker process books the payment, once.
"""

from __future__ import annotations

import signal
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url

import escrow
import outbox
import ticketing_fsm
from escrow.stripe_events import META_EVENT, META_EVENT_ENDS, META_ORG
from liventix.stripe_gateway import StripeGateway, StripeSettings
from liventix.testing.stripe import Recorded, StripeStandIn, deliver
from liventix.testing.stripe import shapes as so
from tests.escrow_core.support import future, new_organizer
from tests.outbox_core.no_transaction import Probe, Seen
from tests.outbox_core.support import WorkerProcess, wait_until, worker_env

SECRET = "whsec_outside_transactions_5e3c1d2b4a69788796a5b4"


@dataclass
class Probing:
    """The Stripe stand-in, looking at the worker's sessions while it answers each API call."""

    stripe: StripeStandIn
    probe: Probe
    seen: list[tuple[str, str, Seen]] = field(default_factory=list)

    def look(self, request: Recorded) -> None:
        """Note what the worker's sessions hold while Stripe is asked `request`."""
        if request.path.startswith("/v1/"):
            self.seen.append((request.method, request.path, self.probe.look()))


@pytest.fixture
def probe(db_url: str) -> Iterator[Probe]:
    """A probe of the worker's sessions, from a connection of its own."""
    p = Probe(db_url)
    try:
        yield p
    finally:
        p.close()


@pytest.fixture
def probing(probe: Probe) -> Iterator[Probing]:
    """This test's own probing Stripe on 127.0.0.1."""
    probing = Probing(StripeStandIn(), probe)
    probing.stripe.watch(probing.look)
    probing.stripe.start()
    try:
        yield probing
    finally:
        probing.stripe.close()


def test_the_handlers_ask_stripe_with_no_transaction_open_and_no_lock_held(
    engine: sa.Engine, db_url: str, probe: Probe, probing: Probing
) -> None:
    stripe_server = probing.stripe
    with engine.begin() as conn:
        org = new_organizer(conn, escrow.Policy(hold_period=timedelta(0)))
    event_id = f"ev_{uuid.uuid4().hex[:8]}"
    metadata = {META_ORG: str(org), META_EVENT: event_id, META_EVENT_ENDS: future().isoformat()}
    payment = stripe_server.add_payment(amount=10_000, fee=320, metadata=metadata)
    stripe_server.add_refund(payment.charge_id, 2_000)
    sent = deliver(
        engine,
        so.event("payment_intent.succeeded", payment.intent),
        # Without its refunds list (API versions since 2022-11-15): the handler asks Stripe.
        so.event("charge.refunded", stripe_server.charge_without_refunds(payment.charge_id)),
        secret=SECRET,
    )

    gateway = StripeGateway(StripeSettings(api_base=stripe_server.url, max_network_retries=0))
    handlers = outbox.InboxHandlers()
    ticketing_fsm.register_stripe_handlers(gateway, into=handlers)
    worker_engine = probe.worker_engine(db_url)
    # One event at a time: a transaction the probe sees during a call is then one held
    # across it. With more at once, another event's short finish, or the loop's look for the
    # next, may be open meanwhile without waiting on the call (promise 8 holds: each
    # transaction's own thread makes no call); tests/outbox_fixes/test_inbox_concurrent_*
    # look only once every prepare waits and the loop waits for a slot.
    settings = outbox.WorkerSettings(
        retry=outbox.RetryPolicy(schedule=(0.05, 0.1, 0.2, 0.5, 1.0), jitter=0.0),
        inbox_concurrency=1,
    )
    worker = outbox.Worker(worker_engine, settings, handlers=handlers)
    ids = [d.event_id for d in sent]

    def statuses() -> list[str]:
        with engine.connect() as conn:
            return list(
                conn.execute(
                    sa.text("""SELECT status FROM messaging.inbox
                                WHERE event_id = ANY(:ids) ORDER BY event_id"""),
                    {"ids": ids},
                ).scalars()
            )

    try:
        deadline = time.monotonic() + 20
        while statuses() != ["handled", "handled"]:
            assert "dead" not in statuses()
            assert time.monotonic() < deadline, f"the events were not handled: {statuses()}"
            if not worker.handle_inbox_once():
                time.sleep(0.02)
    finally:
        worker.close()
        worker_engine.dispose()

    calls = [(method, path) for method, path, _ in probing.seen]
    assert ("GET", f"/v1/payment_intents/{payment.id}") in calls
    assert ("GET", "/v1/refunds") in calls
    for method, path, seen in probing.seen:
        assert seen.sessions > 0, f"{method} {path}: the probe found no session of the worker"
        assert seen.in_transaction == (), f"{method} {path}: a transaction was open"
        assert seen.locks == (), f"{method} {path}: locks were held"
        assert seen.inbox_lockable, f"{method} {path}: an inbox row was locked"

    with engine.connect() as conn:
        escrow_id = conn.execute(
            sa.text("SELECT id FROM payments.escrows WHERE org_id = :org AND event_id = :event"),
            {"org": org, "event": event_id},
        ).scalar_one()
        booked = escrow.get_escrow(conn, escrow_id)
        assert escrow.payment_id_for_charge(conn, payment.charge_id) == payment.id
    assert (booked.captured, booked.refunded) == (10_000, 2_000)


@dataclass
class Hanging:
    """Stripe's answers about PaymentIntents hang until released."""

    asked: threading.Event = field(default_factory=threading.Event)
    release: threading.Event = field(default_factory=threading.Event)

    def hang(self, request: Recorded) -> None:
        """Hold a PaymentIntent request until `release` (at most 60 s)."""
        if request.path.startswith("/v1/payment_intents/"):
            self.asked.set()
            self.release.wait(60)


def test_a_worker_killed_while_stripe_answers_loses_nothing(
    engine: sa.Engine, pg_server_url: str, db_url: str
) -> None:
    with engine.begin() as conn:
        org = new_organizer(conn, escrow.Policy(hold_period=timedelta(0)))
    event_id = f"ev_{uuid.uuid4().hex[:8]}"
    metadata = {META_ORG: str(org), META_EVENT: event_id, META_EVENT_ENDS: future().isoformat()}
    hanging = Hanging()
    stripe_server = StripeStandIn()
    stripe_server.watch(hanging.hang)
    stripe_server.start()
    workers: list[WorkerProcess] = []
    try:
        payment = stripe_server.add_payment(amount=7_000, fee=233, metadata=metadata)
        [sent] = deliver(
            engine, so.event("payment_intent.succeeded", payment.intent), secret=SECRET
        )
        database = make_url(db_url).database
        assert database is not None
        env = worker_env(pg_server_url, database, STRIPE_API_BASE=stripe_server.url)
        # One event at a time: right after its claim the loop waits for the slot instead of
        # looking for the next event (a transaction the check below would see).
        args = (
            "--no-periodic",
            "--poll",
            "0.05",
            "--lease",
            "1",
            "--retry-schedule",
            "0.1",
            "--inbox-concurrency",
            "1",
        )

        first = WorkerProcess(env, args)
        workers.append(first)
        first.wait_ready()
        assert hanging.asked.wait(30), first.text()
        # The worker waits on Stripe: nothing of its own is open in the database.
        with engine.connect() as conn:
            open_elsewhere = conn.execute(
                sa.text("""SELECT count(*) FROM pg_stat_activity
                            WHERE datname = current_database() AND pid <> pg_backend_pid()
                              AND xact_start IS NOT NULL""")
            ).scalar_one()
            assert open_elsewhere == 0
            conn.execute(sa.text("SELECT 1 FROM messaging.inbox FOR UPDATE NOWAIT")).all()
            conn.rollback()
        first.signal(signal.SIGKILL)
        assert first.wait(10) == -signal.SIGKILL
        hanging.release.set()

        second = WorkerProcess(env, args)
        workers.append(second)
        second.wait_ready()

        def handled() -> bool:
            with engine.connect() as conn:
                status = conn.execute(
                    sa.text("SELECT status FROM messaging.inbox WHERE event_id = :id"),
                    {"id": sent.event_id},
                ).scalar_one()
            assert status in ("pending", "handled"), second.text()
            return bool(status == "handled")

        wait_until(handled, 30, "the second worker to book the payment")
        with engine.connect() as conn:
            attempts = conn.execute(
                sa.text("SELECT attempts FROM messaging.inbox WHERE event_id = :id"),
                {"id": sent.event_id},
            ).scalar_one()
            escrow_id = conn.execute(
                sa.text("SELECT id FROM payments.escrows WHERE org_id = :org"), {"org": org}
            ).scalar_one()
            booked = escrow.get_escrow(conn, escrow_id)
        # The killed worker's attempt wrote nothing; the second one booked it, once.
        assert attempts == 1
        assert booked.captured == 7_000
        assert len(stripe_server.requests("GET", f"/v1/payment_intents/{payment.id}")) >= 2
    finally:
        hanging.release.set()
        for worker in workers:
            worker.close()
        stripe_server.close()

"""Promise 8 for Stripe's events: the handlers that ask Stripe (a payment's charge and fee, a
charge's refunds) do it with no transaction open and no lock held.

The application's handlers (ticketing's, wrapping escrow's, as `liventix.wiring` registers
them) run in an `outbox.Worker` whose `StripeGateway` calls a Stripe-compatible server on
127.0.0.1 through the stripe library. While each request is in flight, the server looks from
a session of its own at what the worker's sessions hold: no transaction, no lock, and every
inbox row can be locked `FOR UPDATE NOWAIT`. The bookings are then checked as usual.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from datetime import timedelta

import pytest
import sqlalchemy as sa

import escrow
import outbox
import ticketing_fsm
from escrow.stripe_events import META_EVENT, META_EVENT_ENDS, META_ORG
from liventix.stripe_gateway import StripeGateway, StripeSettings
from tests.escrow_core.support import future, new_organizer
from tests.fakes import stripe_objects as so
from tests.fakes.stripe_server import FakeStripe, Recorded, deliver
from tests.outbox_core.no_transaction import Probe, Seen

SECRET = "whsec_outside_transactions_5e3c1d2b4a69788796a5b4"


class ProbingStripe(FakeStripe):
    """The fake Stripe, looking at the worker's sessions while it answers each API call."""

    def __init__(self, probe: Probe) -> None:
        super().__init__()
        self.probe = probe
        self.seen: list[tuple[str, str, Seen]] = []

    def _dispatch(
        self, request: Recorded, query: list[tuple[str, str]], form: list[tuple[str, str]]
    ) -> tuple[int, so.StripeObject, dict[str, str]]:
        if request.path.startswith("/v1/"):
            self.seen.append((request.method, request.path, self.probe.look()))
        return super()._dispatch(request, query, form)


@pytest.fixture
def probe(db_url: str) -> Iterator[Probe]:
    """A probe of the worker's sessions, from a connection of its own."""
    p = Probe(db_url)
    try:
        yield p
    finally:
        p.close()


@pytest.fixture
def stripe_server(probe: Probe) -> Iterator[ProbingStripe]:
    """This test's own probing Stripe on 127.0.0.1."""
    server = ProbingStripe(probe)
    server.start()
    try:
        yield server
    finally:
        server.close()


def test_the_handlers_ask_stripe_with_no_transaction_open_and_no_lock_held(
    engine: sa.Engine, db_url: str, probe: Probe, stripe_server: ProbingStripe
) -> None:
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
    settings = outbox.WorkerSettings(
        retry=outbox.RetryPolicy(schedule=(0.05, 0.1, 0.2, 0.5, 1.0), jitter=0.0)
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

    calls = [(method, path) for method, path, _ in stripe_server.seen]
    assert ("GET", f"/v1/payment_intents/{payment.id}") in calls
    assert ("GET", "/v1/refunds") in calls
    for method, path, seen in stripe_server.seen:
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

"""A `liventix worker` process prepares many payments at once while Stripe has not answered
(issue 11), holding no transaction meanwhile; SIGKILLed then, it loses nothing: its claims
lapse within one lease of the kill, another worker process books every payment, once, and
the escrow ties out to the payments' sum.

No timing is asserted: Stripe's answers about PaymentIntents hang until the test releases
them, and the test waits (bounded) until K different PaymentIntents are asked at once, none
asked twice (a worker taking events one at a time asks one, then the same again once its
client gives up on it: the test fails there).
"""

from __future__ import annotations

import signal
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url

import escrow
from escrow.stripe_events import META_EVENT, META_EVENT_ENDS, META_ORG
from liventix.testing.stripe import Recorded, StripeStandIn, deliver
from liventix.testing.stripe import shapes as so
from tests.escrow_core.support import future, new_organizer
from tests.outbox_core.support import WorkerProcess, rows, scalar, wait_until, worker_env

SECRET = "whsec_concurrent_prepares_9b1e2d3c4a5f60718293a4b5"
K = 5
# Renewed every 2 to 3 s: a renewal's short transaction is unlikely under the probe's look.
LEASE = timedelta(seconds=6)


@dataclass
class Hanging:
    """Stripe's answers about PaymentIntents hang until released (at most 60 s); notes the
    paths asked and those hanging now."""

    release: threading.Event = field(default_factory=threading.Event)
    asked: list[str] = field(default_factory=list)
    hanging: list[str] = field(default_factory=list)
    changed: threading.Condition = field(default_factory=threading.Condition)

    def hang(self, request: Recorded) -> None:
        """Hold a PaymentIntent request until `release`."""
        if not request.path.startswith("/v1/payment_intents/") or self.release.is_set():
            return
        with self.changed:
            self.asked.append(request.path)
            self.hanging.append(request.path)
            self.changed.notify_all()
        self.release.wait(60)
        with self.changed:
            self.hanging.remove(request.path)

    def wait_at_once(self, n: int, timeout: float) -> bool:
        """Whether `n` different PaymentIntents are asked at once, each asked once (none
        asked again after the client gave up on it: the stripe library's 5 s timeout),
        within `timeout` seconds."""

        def at_once() -> bool:
            return len(set(self.hanging)) >= n and len(self.asked) == len(set(self.asked))

        with self.changed:
            return self.changed.wait_for(at_once, timeout)


@pytest.fixture
def hanging_stripe() -> Iterator[tuple[StripeStandIn, Hanging]]:
    """The Stripe stand-in on 127.0.0.1, its PaymentIntents' answers hanging."""
    hanging = Hanging()
    server = StripeStandIn()
    server.watch(hanging.hang)
    server.start()
    try:
        yield server, hanging
    finally:
        hanging.release.set()
        server.close()


def test_a_worker_killed_with_many_prepares_in_flight_loses_nothing(
    engine: sa.Engine,
    pg_server_url: str,
    db_url: str,
    hanging_stripe: tuple[StripeStandIn, Hanging],
) -> None:
    stripe_server, hanging = hanging_stripe
    with engine.begin() as conn:
        org = new_organizer(conn, escrow.Policy(hold_period=timedelta(0)))
    event_id = f"ev_{uuid.uuid4().hex[:8]}"
    metadata = {META_ORG: str(org), META_EVENT: event_id, META_EVENT_ENDS: future().isoformat()}
    amounts = [1_000 * (i + 1) for i in range(K)]
    payments = [stripe_server.add_payment(amount=a, fee=30, metadata=metadata) for a in amounts]
    sent = deliver(
        engine, *(so.event("payment_intent.succeeded", p.intent) for p in payments), secret=SECRET
    )
    ids = [d.event_id for d in sent]
    database = make_url(db_url).database
    assert database is not None
    env = worker_env(pg_server_url, database, STRIPE_API_BASE=stripe_server.url)
    args = (
        "--no-periodic",
        "--poll",
        "0.05",
        "--lease",
        str(LEASE.total_seconds()),
        "--retry-schedule",
        "0.1",
        # K: once the K-th claim has committed the loop waits for a slot, not looking for
        # more (a look, however short, is a transaction the probe below could see).
        "--inbox-concurrency",
        str(K),
    )
    workers: list[WorkerProcess] = []
    try:
        first = WorkerProcess(env, args)
        workers.append(first)
        first.wait_ready()
        assert hanging.wait_at_once(K, 60), f"{K} payments were never prepared at once"
        # The worker waits on Stripe K times over: none of its sessions is in a transaction.
        open_elsewhere = rows(
            engine,
            """SELECT state, query FROM pg_stat_activity
                WHERE datname = current_database() AND pid <> pg_backend_pid()
                  AND backend_type = 'client backend' AND xact_start IS NOT NULL""",
        )
        assert open_elsewhere == []
        claimed = rows(
            engine,
            """SELECT status, attempts, next_attempt_at > now() AS leased
                 FROM messaging.inbox WHERE event_id = ANY(:ids)""",
            ids=ids,
        )
        assert sorted(tuple(r) for r in claimed) == [("pending", 0, True)] * K

        first.signal(signal.SIGKILL)
        assert first.wait(10) == -signal.SIGKILL
        killed_at = scalar(engine, "SELECT now()")
        # Nothing renews the dead worker's claims now: each lapses within one lease.
        for r in rows(
            engine,
            "SELECT next_attempt_at FROM messaging.inbox WHERE event_id = ANY(:ids)",
            ids=ids,
        ):
            assert r.next_attempt_at <= killed_at + LEASE
        hanging.release.set()

        second = WorkerProcess(env, args)
        workers.append(second)
        second.wait_ready()

        def handled() -> bool:
            states = {
                r.status
                for r in rows(
                    engine,
                    "SELECT status FROM messaging.inbox WHERE event_id = ANY(:ids)",
                    ids=ids,
                )
            }
            assert states <= {"pending", "handled"}, second.text()
            return states == {"handled"}

        wait_until(handled, 60, "the second worker to book every payment")
    finally:
        hanging.release.set()
        for worker in workers:
            worker.close()

    # The killed worker's attempts wrote nothing; the second one booked each payment once.
    attempts = rows(
        engine, "SELECT attempts FROM messaging.inbox WHERE event_id = ANY(:ids)", ids=ids
    )
    assert [r.attempts for r in attempts] == [1] * K
    booked = rows(
        engine,
        "SELECT id, gross FROM payments.card_payments WHERE org_id = :org ORDER BY gross",
        org=org,
    )
    assert [(r.id, r.gross) for r in booked] == [
        (p.id, a) for p, a in zip(payments, amounts, strict=True)
    ]
    with engine.connect() as conn:
        escrow_id = conn.execute(
            sa.text("SELECT id FROM payments.escrows WHERE org_id = :org"), {"org": org}
        ).scalar_one()
        assert escrow.get_escrow(conn, escrow_id).captured == sum(amounts)
    for p in payments:
        assert len(stripe_server.requests("GET", f"/v1/payment_intents/{p.id}")) >= 2

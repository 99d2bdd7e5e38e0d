"""A claim's lease counts from the claim's moment, not from the start of the transaction it
is made on: the inbox's claim of a two-step event (after the next-due scan and the handler's
look on the same transaction) and its renewal, and the outbox's claim of deliveries and its
renewal, each made late in a transaction, lease for the whole of the lease asked.

No timing assertion: the transaction is made to start before the claim (pg_sleep), and the
stored lease end is compared with the database's own clock read just before the claim."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

import sqlalchemy as sa

import outbox
from outbox.dispatch import claim, renew_leases
from outbox.inbox import Claim, begin_next, renew_claim
from tests.outbox_core.support import publish_step, scalar

SOURCE = "test"
TWO = "test.fixes.lease_clock"
LEASE = timedelta(seconds=30)
POLICY = outbox.RetryPolicy(schedule=(60,), jitter=0.0)


def _late(conn: sa.Connection) -> tuple[datetime, datetime]:
    """The transaction's start and, a little later, the clock: (now(), clock_timestamp())."""
    conn.execute(sa.text("SELECT pg_sleep(0.05)"))
    row = conn.execute(sa.text("SELECT now(), clock_timestamp()")).one()
    assert row[1] > row[0]
    return row[0], row[1]


def _handlers() -> outbox.InboxHandlers:
    handlers = outbox.InboxHandlers()
    handlers.register(
        SOURCE,
        TWO,
        outbox.InboxTwoStepHandler(prepare=lambda event: None, handle=lambda c, e, d: None),
    )
    return handlers


def test_the_inbox_claim_and_its_renewal_lease_from_their_moment(engine: sa.Engine) -> None:
    event_id = f"evt_{uuid.uuid4().hex[:24]}"
    with engine.begin() as conn:
        assert outbox.store_event(conn, SOURCE, event_id, TWO, {"id": event_id})
    with engine.begin() as conn:
        started, before = _late(conn)
        taken = begin_next(conn, POLICY, _handlers(), LEASE)
        assert isinstance(taken, Claim)
        # At the old code: now() + lease, the transaction's start, before `before`.
        assert taken.until >= before + LEASE > started + LEASE
    with engine.begin() as conn:
        started, before = _late(conn)
        renewed = renew_claim(conn, taken, LEASE)
        assert renewed is not None
        assert renewed.until >= before + LEASE > started + LEASE
    stored = scalar(
        engine, "SELECT next_attempt_at FROM messaging.inbox WHERE event_id = :e", e=event_id
    )
    assert stored == renewed.until


def test_the_delivery_claim_and_its_renewal_lease_from_their_moment(engine: sa.Engine) -> None:
    mail = outbox.Email(to="buyer@example.com", subject="Lease", body="From the claim.")
    with engine.begin() as conn:
        publish_step(conn, f"lease-{uuid.uuid4().hex[:8]}", 1, emails=[mail])
    with engine.begin() as conn:
        started, before = _late(conn)
        [claimed] = claim(conn, "w", 10, LEASE)
        until = conn.execute(
            sa.text("SELECT lease_expires_at FROM messaging.deliveries WHERE id = :i"),
            {"i": claimed.id},
        ).scalar_one()
        assert until >= before + LEASE > started + LEASE
    with engine.begin() as conn:
        started, before = _late(conn)
        assert renew_leases(conn, "w", [claimed.id], [claimed.attempt], LEASE) == 1
        until = conn.execute(
            sa.text("SELECT lease_expires_at FROM messaging.deliveries WHERE id = :i"),
            {"i": claimed.id},
        ).scalar_one()
        assert until >= before + LEASE > started + LEASE

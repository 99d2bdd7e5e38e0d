"""Rows keyed by organization that are found by an outside id (issue 19 part 4; docs/scaling.md).

- Stripe's events are placed with an organization (`messaging.inbox.org_id`, set by the
  database from the payload): the one the object's metadata names (a checkout's
  PaymentIntent), else the nil uuid (the events that name none), a pure function of the
  payload. Handling a payment's event is then one organization's transaction; an event is
  still stored once, whoever inserts it, whatever org_id they give and whatever was
  registered between two deliveries.
- A Stripe transfer is recorded once, for the first organization it was recorded for,
  although its key is (id, org_id): every lookup by its id finds one row.
"""

from __future__ import annotations

import threading
import time
import uuid
from typing import Any

import pytest
import sqlalchemy as sa

import ledger
import outbox
from escrow.store import connect
from tests.ticketing_core.support import ensure_platform

NIL = uuid.UUID(int=0)


def _event(event_id: str, metadata: dict[str, Any] | None) -> dict[str, Any]:
    obj: dict[str, Any] = {"id": f"pi_{event_id}", "object": "payment_intent"}
    if metadata is not None:
        obj["metadata"] = metadata
    return {"id": event_id, "type": "payment_intent.succeeded", "data": {"object": obj}}


def _store(engine: sa.Engine, event: dict[str, Any]) -> bool:
    with engine.begin() as conn:
        return outbox.store_event(conn, "stripe", event["id"], event["type"], event)


def _placed(engine: sa.Engine) -> dict[str, uuid.UUID]:
    with engine.connect() as conn:
        rows = conn.execute(sa.text("SELECT event_id, org_id FROM messaging.inbox")).all()
    return {r.event_id: r.org_id for r in rows}


def test_an_event_is_placed_with_the_organization_its_metadata_names(
    engine: sa.Engine,
) -> None:
    org = uuid.uuid4()
    assert _store(engine, _event("evt_early", {}))  # no platform organization yet: same place
    with engine.begin() as conn:
        ensure_platform(conn)
        ledger.open_organization(conn, org, "Organizer")
    assert _store(engine, _event("evt_org", {"liventix_org_id": str(org)}))
    assert _store(engine, _event("evt_none", None))
    assert _store(engine, _event("evt_bad", {"liventix_org_id": "not-a-uuid"}))
    assert _store(engine, _event("evt_list", {"liventix_org_id": [str(org)]}))
    # Stored once, as before: a duplicate finds the same row (same payload, same placement).
    assert not _store(engine, _event("evt_org", {"liventix_org_id": str(org)}))
    with engine.begin() as conn:
        # Whatever an inserter names, the database places the event (so it is stored once).
        conn.execute(
            sa.text("""INSERT INTO messaging.inbox (source, event_id, org_id, type, payload)
                       VALUES ('stripe', 'evt_raw', :other, 't', CAST(:p AS jsonb))"""),
            {"other": uuid.uuid4(), "p": '{"data": {"object": {}}}'},
        )
    assert _placed(engine) == {
        "evt_early": NIL,
        "evt_org": org,
        "evt_none": NIL,
        "evt_bad": NIL,
        "evt_list": NIL,
        "evt_raw": NIL,
    }


def test_an_event_naming_none_is_stored_and_handled_once_across_the_platforms_registration(
    engine: sa.Engine,
) -> None:
    """Stripe redelivers an event naming no organization (a refund's) after the platform
    organization was registered: it is the same row, handled once. (When the placement fell
    back to the platform's id, read from the database, the redelivery was a second row,
    (source, event_id, platform), and its handler ran a second time.)"""
    refund = {
        "id": "evt_refund",
        "type": "charge.refunded",
        "data": {"object": {"id": "ch_1", "object": "charge", "metadata": {}}},
    }
    late = {**refund, "id": "evt_refund_late"}
    handled: list[str] = []
    handlers = outbox.InboxHandlers()
    handlers.register("stripe", "charge.refunded", lambda _c, e: handled.append(e.event_id))
    policy = outbox.RetryPolicy(schedule=(0,))

    assert _store(engine, refund)  # before the platform is registered
    assert _store(engine, late)  # stored before, first handled after the registration
    with engine.begin() as conn:
        assert outbox.handle_next(conn, policy, handlers) == "handled"
    with engine.begin() as conn:
        ensure_platform(conn)
    # Redelivered (the same signed payload) once the platform exists: nothing new stored.
    assert not _store(engine, refund)
    assert not _store(engine, late)
    while True:
        with engine.begin() as conn:
            if outbox.handle_next(conn, policy, handlers) is None:
                break
    assert sorted(handled) == ["evt_refund", "evt_refund_late"]
    with engine.connect() as conn:
        rows = conn.execute(
            sa.text("SELECT event_id, org_id, status FROM messaging.inbox ORDER BY event_id")
        ).all()
    assert [tuple(r) for r in rows] == [
        ("evt_refund", NIL, "handled"),
        ("evt_refund_late", NIL, "handled"),
    ]


def test_the_placement_reads_no_table(engine: sa.Engine) -> None:
    """messaging.inbox_org is IMMUTABLE: a function of the payload alone, so no state of the
    database (an organization registered, renamed or removed) moves an event's place."""
    with engine.connect() as conn:
        volatility = conn.execute(
            sa.text("SELECT provolatile FROM pg_proc WHERE oid = 'messaging.inbox_org'::regproc")
        ).scalar_one()
    assert volatility == "i"


def test_handling_an_event_names_its_organization(engine: sa.Engine) -> None:
    """The worker's statements after the next-due scan carry the event's org_id: the event
    read back has it, and it is marked handled (found by source, id and org_id)."""
    org = uuid.uuid4()
    with engine.begin() as conn:
        ensure_platform(conn)
        ledger.open_organization(conn, org, "Organizer")
    _store(engine, _event("evt_h", {"liventix_org_id": str(org)}))
    seen: list[outbox.InboxEvent] = []
    handlers = outbox.InboxHandlers()
    handlers.register("stripe", "payment_intent.succeeded", lambda _c, e: seen.append(e))
    with engine.begin() as conn:
        assert outbox.handle_next(conn, outbox.RetryPolicy(schedule=(0,)), handlers) == "handled"
    assert [e.org_id for e in seen] == [org]
    with engine.connect() as conn:
        status = conn.execute(
            sa.text("SELECT status FROM messaging.inbox WHERE org_id = :o"), {"o": org}
        ).scalar_one()
    assert status == "handled"


# -- transfers -----------------------------------------------------------------------------


@pytest.fixture
def two_orgs(engine: sa.Engine) -> tuple[uuid.UUID, uuid.UUID]:
    a, b = uuid.uuid4(), uuid.uuid4()
    with engine.begin() as conn:
        ledger.open_organization(conn, a, "A")
        ledger.open_organization(conn, b, "B")
    return a, b


def _record(conn: sa.Connection, org: uuid.UUID, transfer_id: str = "tr_1") -> bool:
    return connect.record_transfer(
        conn, transfer_id, org_id=org, escrow_id=None, currency="EUR", amount=1_000
    )


def test_a_transfer_is_recorded_once_whatever_organization_is_named_later(
    engine: sa.Engine, two_orgs: tuple[uuid.UUID, uuid.UUID]
) -> None:
    a, b = two_orgs
    with engine.begin() as conn:
        assert _record(conn, a)
    with engine.begin() as conn:
        # Before the guard: a second row (tr_1, b), and every lookup below failed with
        # MultipleResultsFound (the event retried until dead).
        assert not _record(conn, b)
        assert not _record(conn, a)
        locked = connect.lock_transfer(conn, "tr_1")
        assert locked == connect.Transfer(org_id=a, currency="EUR", amount=1_000, reversed=0)
        assert connect.get_transfer(conn, "tr_1") == locked
        connect.add_reversed(conn, "tr_1", 100)
        assert connect.transfer_settlement(conn, "tr_1") is None
    with engine.connect() as conn:
        rows = conn.execute(
            sa.text("SELECT org_id, reversed FROM payments.organizer_transfers")
        ).all()
    assert [(r.org_id, r.reversed) for r in rows] == [(a, 100)]


def test_two_records_of_one_transfer_wait_for_each_other(
    engine: sa.Engine, two_orgs: tuple[uuid.UUID, uuid.UUID]
) -> None:
    """The first record holds the id's lock until it commits: the second, for another
    organization, waits, then finds the first's row."""
    a, b = two_orgs
    first = engine.connect()
    first.begin()
    assert _record(first, a, "tr_2")
    outcome: list[bool] = []
    second = threading.Thread(target=lambda: outcome.append(_in_own_transaction(engine, b)))
    second.start()
    _until_waiting_on_advisory_lock(engine)
    assert second.is_alive()
    first.commit()
    first.close()
    second.join(timeout=30)
    assert outcome == [False]
    with engine.connect() as conn:
        count = conn.execute(
            sa.text("SELECT count(*) FROM payments.organizer_transfers WHERE id = 'tr_2'")
        ).scalar_one()
    assert count == 1


def _until_waiting_on_advisory_lock(engine: sa.Engine) -> None:
    """Return once a session waits on an advisory lock (polled from a session of its own,
    whose statistics snapshot is fresh each time; up to 30 s)."""
    for _ in range(300):
        with engine.connect() as conn:
            waiting = conn.execute(
                sa.text("""SELECT count(*) FROM pg_stat_activity
                            WHERE wait_event_type = 'Lock' AND wait_event = 'advisory'
                              AND datname = current_database()""")
            ).scalar_one()
        if waiting:
            return
        time.sleep(0.1)
    raise AssertionError("the second record never waited for the first")


def _in_own_transaction(engine: sa.Engine, org: uuid.UUID) -> bool:
    with engine.begin() as conn:
        return _record(conn, org, "tr_2")

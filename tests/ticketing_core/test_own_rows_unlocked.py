"""The references' checks lock only what another transaction could remove (session 34).

`ticketing.tickets_references` and `messaging.deliveries_references` lock a ticket's order
(and the ticket it replaces) and a delivery's message FOR KEY SHARE, as an enforced foreign
key's check locks it, so that a concurrent deletion waits or is seen. A row the checking
transaction wrote itself (at its top level) cannot be deleted by another before it commits
(no other sees it): it is looked up and no longer locked. That lock was a row lock (a WAL
record, the row's page dirtied again) on every checkout's order and on each of its payment's
messages. Here: a row written in the same transaction is left unlocked (its xmax stays 0: it
was this transaction's id before); a row committed by an earlier transaction, or written in a
subtransaction of this one, is still locked by the check; refusals are unchanged
(tests/ticketing_core/test_references.py holds those, and the deletion's race).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

import ledger
import ticketing_fsm as tk

ORG = uuid.UUID("00000000-0000-0000-0000-0000000000c4")
PLATFORM = uuid.UUID("00000000-0000-0000-0000-000000000001")


@dataclass(frozen=True)
class World:
    """An organization's event on sale, with one ticket type and a webhook endpoint."""

    event: uuid.UUID
    ticket_type: uuid.UUID
    endpoint: uuid.UUID


def _world(conn: sa.Connection) -> World:
    ledger.open_organization(conn, PLATFORM, "Liventix", is_platform=True)
    ledger.open_organization(conn, ORG, "Org C")
    now = datetime.now(UTC)
    event = tk.create_event(
        conn,
        ORG,
        name="Show",
        currency="USD",
        starts_at=now + timedelta(days=30),
        ends_at=now + timedelta(days=31),
    )
    ticket_type = tk.add_ticket_type(
        conn,
        ORG,
        event,
        name="General",
        price=2_500,
        capacity=100,
        sales_start=now - timedelta(hours=1),
        sales_end=now + timedelta(days=29),
    )
    endpoint: uuid.UUID = conn.execute(
        sa.text(
            "INSERT INTO messaging.endpoints (org_id, url)"
            " VALUES (:org, 'https://example.com/hook') RETURNING id"
        ),
        {"org": ORG},
    ).scalar_one()
    return World(event, ticket_type, endpoint)


def _order(conn: sa.Connection, world: World) -> uuid.UUID:
    order: uuid.UUID = conn.execute(
        sa.text(
            "INSERT INTO ticketing.orders (org_id, event_id, buyer_email, currency, amount,"
            " hold_expires_at, idempotency_key, request_hash)"
            " VALUES (:org, :event, 'ann@example.com', 'USD', 2500, now() + interval '15 min',"
            " :key, 'h') RETURNING id"
        ),
        {"org": ORG, "event": world.event, "key": uuid.uuid4().hex},
    ).scalar_one()
    return order


def _ticket(
    conn: sa.Connection, world: World, order: uuid.UUID, replaces: uuid.UUID | None = None
) -> uuid.UUID:
    ticket: uuid.UUID = conn.execute(
        sa.text(
            "INSERT INTO ticketing.tickets (order_id, org_id, event_id, ticket_type_id, code,"
            " holder_email, price, replaces) VALUES (:order, :org, :event, :type, :code,"
            " 'ann@example.com', 2500, :replaces) RETURNING id"
        ),
        {
            "order": order,
            "org": ORG,
            "event": world.event,
            "type": world.ticket_type,
            "code": uuid.uuid4().hex,
            "replaces": replaces,
        },
    ).scalar_one()
    return ticket


def _publish(conn: sa.Connection) -> list[uuid.UUID]:
    """Two messages (the second with an e-mail) and their deliveries in one call of the
    outbox's publishing (`messaging.publish_many`, as the payment's statement calls it)."""
    ids = [uuid.uuid4(), uuid.uuid4()]
    written: list[uuid.UUID] = list(
        conn.execute(
            sa.text(
                "SELECT w.id FROM messaging.publish_many(:org, :ids, :orgs,"
                " ARRAY['order.paid', 'order.paid'], ARRAY['order', 'order'], ARRAY['1', '2'],"
                " ARRAY['{}', '{}']::jsonb[], ARRAY[NULL, NULL]::text[], ARRAY[false, false],"
                " ARRAY[2]::bigint[], ARRAY['ann@example.com'], ARRAY['Hi'], ARRAY['Body'])"
                " AS w(id)"
            ),
            {"org": ORG, "ids": ids, "orgs": [ORG, ORG]},
        ).scalars()
    )
    return written


def _message(conn: sa.Connection) -> uuid.UUID:
    message_id = uuid.uuid4()
    conn.execute(
        sa.text(
            "INSERT INTO messaging.messages (id, org_id, type, aggregate_type, aggregate_id,"
            " payload) VALUES (:id, :org, 'order.paid', 'order', '1', '{}')"
        ),
        {"id": message_id, "org": ORG},
    )
    return message_id


def _delivery(conn: sa.Connection, message: uuid.UUID, endpoint: uuid.UUID) -> None:
    conn.execute(
        sa.text(
            "INSERT INTO messaging.deliveries (message_id, org_id, channel, endpoint_id,"
            " target, aggregate_key) VALUES (:m, :org, 'webhook', :e, 't', 'order:1')"
        ),
        {"m": message, "org": ORG, "e": endpoint},
    )


def _locker(conn: sa.Connection, table: str, row: uuid.UUID) -> str:
    """Who holds a lock on the row, as its xmax says: 'none', or 'this transaction'."""
    found: str = conn.execute(
        sa.text(
            f"SELECT CASE WHEN xmax = '0'::xid THEN 'none'"
            f" WHEN xmax = pg_catalog.xid(pg_current_xact_id()) THEN 'this transaction'"
            f" ELSE 'another: ' || xmax::text END FROM {table} WHERE id = :id"
        ),
        {"id": row},
    ).scalar_one()
    return found


@pytest.fixture
def world(conn: sa.Connection) -> World:
    return _world(conn)


def test_a_checkouts_own_order_is_not_locked_by_its_tickets_check(
    conn: sa.Connection, world: World
) -> None:
    """The hold writes the order, then its tickets, in one transaction (the control: a
    ticket naming an order committed before locks it, below)."""
    order = _order(conn, world)
    first = _ticket(conn, world, order)
    assert _locker(conn, "ticketing.orders", order) == "none"
    _ticket(conn, world, order, replaces=first)  # the ticket replaced: written here too
    assert _locker(conn, "ticketing.tickets", first) == "none"


def test_a_payments_own_messages_are_not_locked_by_their_deliveries_check(
    conn: sa.Connection, world: World
) -> None:
    ids = _publish(conn)
    assert len(ids) == 2
    delivered = conn.execute(
        sa.text("SELECT count(*) FROM messaging.deliveries WHERE org_id = :org"), {"org": ORG}
    ).scalar_one()
    assert delivered == 3  # two webhooks and an e-mail: the check ran over them
    assert [_locker(conn, "messaging.messages", i) for i in ids] == ["none", "none"]


def test_a_row_written_in_a_subtransaction_is_still_locked(
    conn: sa.Connection, world: World
) -> None:
    """Only the top level's own rows are left unlocked (a subtransaction's xmin is its own
    id): the lock is then taken as before."""
    with conn.begin_nested():
        order = _order(conn, world)
        message = _message(conn)
    _ticket(conn, world, order)
    _delivery(conn, message, world.endpoint)
    assert _locker(conn, "ticketing.orders", order) == "this transaction"
    assert _locker(conn, "messaging.messages", message) == "this transaction"


@pytest.fixture
def committed(committing_engine: sa.Engine) -> Iterator[tuple[sa.Engine, World]]:
    with committing_engine.begin() as conn:
        built = _world(conn)
    yield committing_engine, built


def test_rows_committed_before_are_locked_as_a_keys_check_locks_them(
    committed: tuple[sa.Engine, World],
) -> None:
    engine, world = committed
    with engine.begin() as conn:
        order = _order(conn, world)
        replaced = _ticket(conn, world, order)
        message = _message(conn)
    with engine.begin() as conn:
        _ticket(conn, world, order, replaces=replaced)
        _delivery(conn, message, world.endpoint)
        assert _locker(conn, "ticketing.orders", order) == "this transaction"
        assert _locker(conn, "ticketing.tickets", replaced) == "this transaction"
        assert _locker(conn, "messaging.messages", message) == "this transaction"

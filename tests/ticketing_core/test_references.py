"""The checkout's rows name only rows of their own organization, by raw SQL too (session 32:
the keys the database checks per checkout, cut without weakening what they hold).

The application's role, with an organization's own API key, inserts by hand an order, a
ticket, a payment's record: each naming another organization's row (or nothing) is refused
with SQLSTATE 23503, as an enforced foreign key refuses it. Session 32 declared the keys
that another key implies `NOT ENFORCED` (an order's and a card payment's organization,
implied by their event's and escrow's keys; a ticket's event, implied by its type's key,
which now names the type with its event): these tests fail if a key is dropped or left
unenforced without another holding what it held. A ticket whose event is not its type's
was accepted before (two keys, each to its own parent) and is refused now.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

import ledger
import ticketing_fsm as tk
from tests.support import acting, add_api_key

ORG_A = uuid.UUID("00000000-0000-0000-0000-0000000000a2")
ORG_B = uuid.UUID("00000000-0000-0000-0000-0000000000b2")
PLATFORM = uuid.UUID("00000000-0000-0000-0000-000000000001")
NOWHERE = uuid.UUID("00000000-0000-0000-0000-00000000dead")


@dataclass(frozen=True)
class Side:
    """One organization's event on sale, a second event, a ticket type of each, an order."""

    org: uuid.UUID
    event: uuid.UUID
    other_event: uuid.UUID
    ticket_type: uuid.UUID
    other_type: uuid.UUID
    order: uuid.UUID


def _side(conn: sa.Connection, org: uuid.UUID, name: str) -> Side:
    ledger.open_organization(conn, org, name)
    add_api_key(conn, org)
    now = datetime.now(UTC)
    events, types = [], []
    for n in range(2):
        event = tk.create_event(
            conn,
            org,
            name=f"{name} {n}",
            currency="USD",
            starts_at=now + timedelta(days=30),
            ends_at=now + timedelta(days=31),
        )
        events.append(event)
        types.append(
            tk.add_ticket_type(
                conn,
                org,
                event,
                name="General",
                price=2_500,
                capacity=100,
                sales_start=now - timedelta(hours=1),
                sales_end=now + timedelta(days=29),
            )
        )
    order = _order(conn, org, events[0])
    return Side(org, events[0], events[1], types[0], types[1], order)


def _order(conn: sa.Connection, org: uuid.UUID, event: uuid.UUID) -> uuid.UUID:
    order: uuid.UUID = conn.execute(
        sa.text(
            "INSERT INTO ticketing.orders (org_id, event_id, buyer_email, currency, amount,"
            " hold_expires_at, idempotency_key, request_hash)"
            " VALUES (:org, :event, 'ann@example.com', 'USD', 2500, now() + interval '15 min',"
            " :key, 'h') RETURNING id"
        ),
        {"org": org, "event": event, "key": uuid.uuid4().hex},
    ).scalar_one()
    return order


@pytest.fixture
def sides(conn: sa.Connection) -> tuple[Side, Side]:
    """Organizations A and B (and the platform), each with API keys, events, an order."""
    ledger.open_organization(conn, PLATFORM, "Liventix", is_platform=True)
    add_api_key(conn, None)
    return _side(conn, ORG_A, "Org A"), _side(conn, ORG_B, "Org B")


@contextmanager
def refused(conn: sa.Connection, constraint: str) -> Iterator[None]:
    """The statement inside is refused as a foreign key refuses (23503, `constraint`), in a
    savepoint of its own."""
    nested = conn.begin_nested()
    with pytest.raises(sa.exc.DBAPIError, match=constraint) as error:
        yield
    nested.rollback()
    assert getattr(error.value.orig, "sqlstate", None) == "23503"


_TICKET = sa.text(
    "INSERT INTO ticketing.tickets (order_id, org_id, event_id, ticket_type_id, code,"
    " holder_email, price) VALUES (:order, :org, :event, :type, :code, 'ann@example.com', 2500)"
)


def _ticket(
    conn: sa.Connection, org: uuid.UUID, order: uuid.UUID, event: uuid.UUID, type_: uuid.UUID
) -> None:
    conn.execute(
        _TICKET,
        {"order": order, "org": org, "event": event, "type": type_, "code": uuid.uuid4().hex},
    )


def _count(conn: sa.Connection, table: str, org: uuid.UUID) -> int:
    found: int = conn.execute(
        sa.text(f"SELECT count(*) FROM {table} WHERE org_id = :org"), {"org": org}
    ).scalar_one()
    return found


def test_a_ticket_naming_another_organizations_rows_is_refused(
    conn: sa.Connection, sides: tuple[Side, Side]
) -> None:
    a, b = sides
    before = _count(conn, "ticketing.tickets", a.org)
    with acting(conn, a.org):
        # Its own rows: written (the control).
        _ticket(conn, a.org, a.order, a.event, a.ticket_type)
        with refused(conn, "tickets_order_id_fkey"):
            _ticket(conn, a.org, b.order, a.event, a.ticket_type)
        with refused(conn, "tickets_ticket_type_id_fkey"):
            _ticket(conn, a.org, a.order, a.event, b.ticket_type)
        # Another organization's event, or none: the type's key (with its event) refuses it;
        # before session 32 the event's own key did, first.
        with refused(conn, "tickets_(ticket_type|event)_id_fkey"):
            _ticket(conn, a.org, a.order, b.event, a.ticket_type)
        with refused(conn, "tickets_(ticket_type|event)_id_fkey"):
            _ticket(conn, a.org, a.order, NOWHERE, a.ticket_type)
        assert _count(conn, "ticketing.tickets", a.org) == before + 1
    # The owner (the worker, the CLI) is held to the same keys.
    with refused(conn, "tickets_order_id_fkey"):
        _ticket(conn, a.org, b.order, a.event, a.ticket_type)
    with refused(conn, "tickets_ticket_type_id_fkey"):
        _ticket(conn, b.org, b.order, b.event, a.ticket_type)


def test_a_ticket_of_another_event_than_its_types_is_refused(
    conn: sa.Connection, sides: tuple[Side, Side]
) -> None:
    """Its event is its type's: before session 32 a ticket named its event and its type
    apart, so one of the organization's events with a type of another was written."""
    a, _ = sides
    with acting(conn, a.org), refused(conn, "tickets_ticket_type_id_fkey"):
        _ticket(conn, a.org, a.order, a.other_event, a.ticket_type)
    with refused(conn, "tickets_ticket_type_id_fkey"):
        _ticket(conn, a.org, a.order, a.event, a.other_type)


def test_an_order_naming_another_organizations_event_or_none_is_refused(
    conn: sa.Connection, sides: tuple[Side, Side]
) -> None:
    a, b = sides
    with acting(conn, a.org):
        _order(conn, a.org, a.event)  # the control
        with refused(conn, "orders_event_id_fkey"):
            _order(conn, a.org, b.event)
        with refused(conn, "orders_event_id_fkey"):
            _order(conn, a.org, NOWHERE)
    # An organization that does not exist: no event is its (its own key is implied; the
    # schema before session 32 checked it apart, and either check may come first there).
    with refused(conn, "orders_(org|event)_id_fkey"):
        _order(conn, NOWHERE, a.event)


def _escrow(conn: sa.Connection, org: uuid.UUID, event: uuid.UUID) -> uuid.UUID:
    found: uuid.UUID = conn.execute(
        sa.text(
            "INSERT INTO payments.escrows (org_id, event_id, currency, event_ends_at)"
            " VALUES (:org, :event, 'USD', now() + interval '31 days') RETURNING id"
        ),
        {"org": org, "event": str(event)},
    ).scalar_one()
    return found


_CARD_PAYMENT = sa.text(
    "INSERT INTO payments.card_payments (id, org_id, escrow_id, currency, gross, platform_fee,"
    " stripe_fee, bears_stripe_fees, refund_platform_fee)"
    " VALUES (:id, :org, :escrow, 'USD', 2500, 125, 103, false, true)"
)


def test_a_card_payment_naming_another_organizations_escrow_or_none_is_refused(
    conn: sa.Connection, sides: tuple[Side, Side]
) -> None:
    a, b = sides
    mine, theirs = _escrow(conn, a.org, a.event), _escrow(conn, b.org, b.event)

    def pay(org: uuid.UUID, escrow_id: uuid.UUID) -> None:
        conn.execute(
            _CARD_PAYMENT, {"id": f"pi_{uuid.uuid4().hex}", "org": org, "escrow": escrow_id}
        )

    with acting(conn, None):  # the platform's key may write escrow's rows
        pay(a.org, mine)  # the control
        with refused(conn, "card_payments_escrow_id_fkey"):
            pay(a.org, theirs)
    with refused(conn, "card_payments_(org|escrow)_id_fkey"):
        pay(NOWHERE, mine)
    assert _count(conn, "payments.card_payments", a.org) == 0  # the control rolled back


# -- The payment's outbox rows (session 32: their keys checked by a trigger) and escrow rows --


def _endpoint(conn: sa.Connection, org: uuid.UUID) -> uuid.UUID:
    found: uuid.UUID = conn.execute(
        sa.text(
            "INSERT INTO messaging.endpoints (org_id, url)"
            " VALUES (:org, 'https://example.com/hook') RETURNING id"
        ),
        {"org": org},
    ).scalar_one()
    return found


def _message(conn: sa.Connection, org: uuid.UUID) -> uuid.UUID:
    message_id = uuid.uuid4()
    conn.execute(
        sa.text(
            "INSERT INTO messaging.messages (id, org_id, type, aggregate_type, aggregate_id,"
            " payload) VALUES (:id, :org, 'order.paid', 'order', '1', '{}')"
        ),
        {"id": message_id, "org": org},
    )
    return message_id


_DELIVERY = (
    "INSERT INTO messaging.deliveries (message_id, org_id, channel, endpoint_id, recipient,"
    " target, aggregate_key) VALUES "
)


def _deliveries(
    conn: sa.Connection, org: uuid.UUID, *rows: tuple[uuid.UUID, uuid.UUID | None]
) -> int:
    """Deliveries of `org` in one statement: a webhook's per (message, endpoint), an
    e-mail's per (message, None)."""
    values: list[str] = []
    params: dict[str, object] = {"org": org}
    for n, (message, endpoint) in enumerate(rows):
        channel, recipient = ("webhook", None) if endpoint else ("email", "ann@example.com")
        values.append(f"(:m{n}, :org, '{channel}', :e{n}, :r{n}, 't', 'order:1')")
        params |= {f"m{n}": message, f"e{n}": endpoint, f"r{n}": recipient}
    return conn.execute(sa.text(_DELIVERY + ", ".join(values)), params).rowcount


def test_deliveries_naming_another_organizations_message_or_endpoint_are_refused(
    conn: sa.Connection, sides: tuple[Side, Side]
) -> None:
    """Checked once per statement: one bad row among good ones refuses the statement."""
    a, b = sides
    mine, theirs = _message(conn, a.org), _message(conn, b.org)
    my_hook, their_hook = _endpoint(conn, a.org), _endpoint(conn, b.org)
    with acting(conn, a.org):
        assert _deliveries(conn, a.org, (mine, my_hook), (mine, None)) == 2  # the control
        with refused(conn, "deliveries_message_id_fkey"):
            _deliveries(conn, a.org, (mine, my_hook), (theirs, None), (mine, None))
        with refused(conn, "deliveries_endpoint_id_fkey"):
            _deliveries(conn, a.org, (mine, None), (mine, their_hook))
        with refused(conn, "deliveries_message_id_fkey"):
            _deliveries(conn, a.org, (uuid.uuid4(), None))
        with refused(conn, "deliveries_endpoint_id_fkey"):
            _deliveries(conn, a.org, (mine, uuid.uuid4()))
        assert _count(conn, "messaging.deliveries", a.org) == 2
    # The owner too.
    with refused(conn, "deliveries_message_id_fkey"):
        _deliveries(conn, b.org, (mine, None))


def test_what_the_deliveries_checks_rely_on_is_refused(
    conn: sa.Connection, sides: tuple[Side, Side]
) -> None:
    """A delivery's message, endpoint and organization never change; endpoints are never
    removed nor their keys changed; messages are never truncated nor their keys changed
    (SQLSTATE LXM03): so a check without a lock cannot race a removal."""
    a, b = sides
    mine, hook = _message(conn, a.org), _endpoint(conn, a.org)
    _deliveries(conn, a.org, (mine, hook))
    for statement in (
        "UPDATE messaging.deliveries SET endpoint_id = :other WHERE org_id = :org",
        "UPDATE messaging.deliveries SET message_id = :other WHERE org_id = :org",
        "UPDATE messaging.deliveries SET org_id = :b WHERE org_id = :org",
        "DELETE FROM messaging.endpoints WHERE org_id = :org",
        "UPDATE messaging.endpoints SET id = :other WHERE org_id = :org",
        "UPDATE messaging.messages SET org_id = :b WHERE org_id = :org",
        "TRUNCATE messaging.endpoints CASCADE",
        "TRUNCATE messaging.messages CASCADE",
    ):
        nested = conn.begin_nested()
        with pytest.raises(sa.exc.DBAPIError, match="reference_change_refused") as error:
            conn.execute(sa.text(statement), {"org": a.org, "b": b.org, "other": uuid.uuid4()})
        nested.rollback()
        assert getattr(error.value.orig, "sqlstate", None) == "LXM03", statement
    # What may change still does (an endpoint's URL, a delivery's status).
    conn.execute(
        sa.text("UPDATE messaging.endpoints SET url = 'https://example.org/h' WHERE id = :id"),
        {"id": hook},
    )
    conn.execute(
        sa.text("UPDATE messaging.deliveries SET status = 'succeeded' WHERE org_id = :org"),
        {"org": a.org},
    )


def test_a_messages_deletion_takes_its_deliveries_and_their_attempts(
    conn: sa.Connection, sides: tuple[Side, Side]
) -> None:
    """As the key's ON DELETE CASCADE did (the outbox's pruning)."""
    a, _ = sides
    gone, kept = _message(conn, a.org), _message(conn, a.org)
    _deliveries(conn, a.org, (gone, None), (gone, None), (kept, None))
    conn.execute(
        sa.text(
            "INSERT INTO messaging.attempts (delivery_id, org_id, attempt, worker, started_at,"
            " duration_ms, succeeded) SELECT id, org_id, 1, 'w', now(), 1, true"
            " FROM messaging.deliveries WHERE org_id = :org"
        ),
        {"org": a.org},
    )
    conn.execute(sa.text("DELETE FROM messaging.messages WHERE id = :id"), {"id": gone})
    left = conn.execute(
        sa.text(
            "SELECT d.message_id, (SELECT count(*) FROM messaging.attempts t"
            " WHERE t.delivery_id = d.id) FROM messaging.deliveries d WHERE d.org_id = :org"
        ),
        {"org": a.org},
    ).all()
    assert [tuple(r) for r in left] == [(kept, 1)]
    assert (
        conn.execute(
            sa.text("SELECT count(*) FROM messaging.attempts WHERE org_id = :org"), {"org": a.org}
        ).scalar_one()
        == 1
    )


def _entry(conn: sa.Connection, org: uuid.UUID) -> uuid.UUID:
    """A posted entry of `org`, through the ledger's door."""
    accounts = [
        ledger.open_account(
            conn,
            org,
            ledger.OpenAccount(
                idempotency_key=f"open-{code}", code=code, type="asset", currency="USD"
            ),
        ).id
        for code in ("ref-a", "ref-b")
    ]
    posted = ledger.post_entry(
        conn,
        org,
        ledger.PostEntry(
            idempotency_key=f"ref-entry-{org}",
            lines=[
                ledger.Line(accounts[0], "debit", 100, "USD"),
                ledger.Line(accounts[1], "credit", 100, "USD"),
            ],
        ),
    )
    return posted.id


def test_escrow_rows_naming_another_organizations_escrow_or_entry_are_refused(
    conn: sa.Connection, sides: tuple[Side, Side]
) -> None:
    a, b = sides
    mine, theirs = _escrow(conn, a.org, a.event), _escrow(conn, b.org, b.event)
    my_entry, their_entry = _entry(conn, a.org), _entry(conn, b.org)
    audit = sa.text(
        "INSERT INTO payments.escrow_transitions (escrow_id, org_id, from_state, to_state,"
        " event, entry_id) VALUES (:escrow, :org, 'collecting', 'collecting', 'capture', :entry)"
    )
    record = sa.text(
        "INSERT INTO payments.card_payments (id, org_id, escrow_id, currency, gross,"
        " platform_fee, stripe_fee, bears_stripe_fees, refund_platform_fee, entry_id)"
        " VALUES (:id, :org, :escrow, 'USD', 2500, 125, 103, false, true, :entry)"
    )

    def both(escrow_id: uuid.UUID, entry: uuid.UUID | None) -> None:
        params = {"escrow": escrow_id, "org": a.org, "entry": entry}
        conn.execute(audit, params)
        conn.execute(record, {**params, "id": f"pi_{uuid.uuid4().hex}"})

    with acting(conn, None):  # the platform's key may write escrow's rows
        both(mine, my_entry)  # the control
        both(mine, None)
        for table in ("escrow_transitions", "card_payments"):
            statement = audit if table == "escrow_transitions" else record
            for escrow_id, entry, refusal in (
                (theirs, my_entry, f"{table}_escrow_id_fkey"),
                (uuid.uuid4(), None, f"{table}_escrow_id_fkey"),
                (mine, their_entry, f"{table}_entry_id_fkey"),
                (mine, uuid.uuid4(), f"{table}_entry_id_fkey"),
            ):
                with refused(conn, refusal):
                    conn.execute(
                        statement,
                        {"escrow": escrow_id, "org": a.org, "entry": entry, "id": "pi_x"},
                    )
    # A payment's record moved to another organization's escrow or entry: refused too.
    paid = f"pi_{uuid.uuid4().hex}"
    conn.execute(record, {"id": paid, "org": a.org, "escrow": mine, "entry": my_entry})
    with refused(conn, "card_payments_escrow_id_fkey"):
        conn.execute(
            sa.text("UPDATE payments.card_payments SET escrow_id = :e WHERE id = :id"),
            {"e": theirs, "id": paid},
        )
    with refused(conn, "card_payments_entry_id_fkey"):
        conn.execute(
            sa.text("UPDATE payments.card_payments SET entry_id = :e WHERE id = :id"),
            {"e": their_entry, "id": paid},
        )


def test_a_ticket_replacing_another_organizations_ticket_is_refused(
    conn: sa.Connection, sides: tuple[Side, Side]
) -> None:
    a, b = sides
    _ticket(conn, a.org, a.order, a.event, a.ticket_type)
    _ticket(conn, b.org, b.order, b.event, b.ticket_type)
    ids: dict[uuid.UUID, uuid.UUID] = dict(
        conn.execute(
            sa.text("SELECT org_id, id FROM ticketing.tickets WHERE org_id IN (:a, :b)"),
            {"a": a.org, "b": b.org},
        ).all()
    )
    replacing = sa.text(
        "INSERT INTO ticketing.tickets (order_id, org_id, event_id, ticket_type_id, code,"
        " holder_email, price, replaces) VALUES (:order, :org, :event, :type, :code,"
        " 'bo@example.com', 2500, :old)"
    )

    def replace(old: uuid.UUID) -> None:
        conn.execute(
            replacing,
            {
                "order": a.order,
                "org": a.org,
                "event": a.event,
                "type": a.ticket_type,
                "code": uuid.uuid4().hex,
                "old": old,
            },
        )

    with acting(conn, a.org):
        replace(ids[a.org])  # the control
        with refused(conn, "tickets_replaces_fkey"):
            replace(ids[b.org])
        with refused(conn, "tickets_replaces_fkey"):
            replace(uuid.uuid4())


def test_a_statement_with_one_bad_ticket_writes_none(
    conn: sa.Connection, sides: tuple[Side, Side]
) -> None:
    """The check is once per statement, over every row it inserted."""
    a, b = sides
    before = _count(conn, "ticketing.tickets", a.org)
    with acting(conn, a.org), refused(conn, "tickets_order_id_fkey"):
        conn.execute(
            sa.text(
                "INSERT INTO ticketing.tickets (order_id, org_id, event_id, ticket_type_id,"
                " code, holder_email, price) SELECT o, :org, :event, :type, md5(o::text || n),"
                " 'ann@example.com', 2500 FROM unnest(CAST(:orders AS uuid[])) WITH ORDINALITY"
                " AS x(o, n)"
            ),
            {
                "org": a.org,
                "event": a.event,
                "type": a.ticket_type,
                "orders": [a.order, a.order, b.order, a.order],
            },
        )
    assert _count(conn, "ticketing.tickets", a.org) == before


def test_what_the_tickets_checks_rely_on_is_refused(
    conn: sa.Connection, sides: tuple[Side, Side]
) -> None:
    """An order or a ticket still named by a ticket is not deleted (23503, as the keys'
    NO ACTION); a ticket's references and key, an order's key, a ticket type's key never
    change, ticket types are never deleted, orders and types never truncated (LXT01)."""
    a, b = sides
    _ticket(conn, a.org, a.order, a.event, a.ticket_type)
    old = conn.execute(
        sa.text("SELECT id FROM ticketing.tickets WHERE order_id = :o"), {"o": a.order}
    ).scalar_one()
    conn.execute(
        sa.text(
            "INSERT INTO ticketing.tickets (order_id, org_id, event_id, ticket_type_id, code,"
            " holder_email, price, replaces) VALUES (:o, :org, :e, :t, 'new-code',"
            " 'bo@example.com', 2500, :old)"
        ),
        {"o": a.order, "org": a.org, "e": a.event, "t": a.ticket_type, "old": old},
    )
    with refused(conn, "tickets_order_id_fkey"):
        conn.execute(sa.text("DELETE FROM ticketing.orders WHERE id = :o"), {"o": a.order})
    with refused(conn, "tickets_replaces_fkey"):
        conn.execute(sa.text("DELETE FROM ticketing.tickets WHERE id = :id"), {"id": old})
    params = {"org": a.org, "b": b.org, "other": uuid.uuid4(), "o": a.order, "t": a.ticket_type}
    for statement in (
        "UPDATE ticketing.tickets SET order_id = :other WHERE order_id = :o",
        "UPDATE ticketing.tickets SET ticket_type_id = :other WHERE order_id = :o",
        "UPDATE ticketing.tickets SET event_id = :other WHERE order_id = :o",
        "UPDATE ticketing.tickets SET replaces = NULL WHERE order_id = :o",
        "UPDATE ticketing.tickets SET id = :other WHERE order_id = :o AND replaces IS NULL",
        "UPDATE ticketing.orders SET id = :other WHERE id = :o",
        "UPDATE ticketing.ticket_types SET event_id = :other WHERE id = :t",
        "DELETE FROM ticketing.ticket_types WHERE id = :t",
        "TRUNCATE ticketing.ticket_types CASCADE",
        "TRUNCATE ticketing.orders CASCADE",
    ):
        nested = conn.begin_nested()
        with pytest.raises(sa.exc.DBAPIError, match="reference_change_refused") as error:
            conn.execute(sa.text(statement), params)
        nested.rollback()
        assert getattr(error.value.orig, "sqlstate", None) == "LXT01", statement
    # The owner still deletes what nothing names: the order's tickets, then the order.
    conn.execute(sa.text("DELETE FROM ticketing.tickets WHERE order_id = :o"), {"o": a.order})
    conn.execute(sa.text("DELETE FROM ticketing.orders WHERE id = :o"), {"o": a.order})


def test_a_ticket_inserted_while_its_order_is_deleted_waits_and_is_refused(
    committing_engine: sa.Engine,
) -> None:
    """The order is locked FOR KEY SHARE by the check, as the key's check locked it: the
    insert waits for the deletion's transaction (seen waiting on a lock), and once that
    commits it is refused; no ticket names a missing order."""
    with committing_engine.begin() as conn:
        ledger.open_organization(conn, PLATFORM, "Liventix", is_platform=True)
        side = _side(conn, ORG_A, "Org A")
    # The watch commits after each look: pg_stat_activity's state, query and
    # application_name are a snapshot taken at a transaction's first look and kept to its
    # end, while its wait event is read live. The watch before aac3819 looked in one
    # transaction: a first look made while the insert's backend was starting (or idle just
    # after its BEGIN) froze those columns, so that backend was seen later 'starting', with
    # no application_name, waiting on the deleter's transaction (its INSERT's wait, read
    # live), and the watch for its application_name never matched. Opening a connection
    # takes no lock and waits on no transaction (session 33: reproduced with two watchers,
    # one looking in one transaction, one committing). The insert's backend is watched by
    # its pid, its connection opened before the deletion.
    inserting = committing_engine.connect()
    insert_pid = inserting.execute(sa.text("SELECT pg_backend_pid()")).scalar_one()
    inserting.commit()
    watch = committing_engine.connect()
    watch.execute(sa.text("SELECT 1"))
    watch.commit()
    deleting = committing_engine.connect()
    deleting.begin()
    deleting.execute(sa.text("DELETE FROM ticketing.orders WHERE id = :o"), {"o": side.order})
    outcome: list[BaseException | None] = []

    def insert() -> None:
        try:
            with inserting.begin():
                _ticket(inserting, side.org, side.order, side.event, side.ticket_type)
            outcome.append(None)
        except BaseException as exc:  # reported below
            outcome.append(exc)

    thread = threading.Thread(target=insert)
    thread.start()
    try:
        for _ in range(600):
            waiting = watch.execute(
                sa.text(
                    "SELECT count(*) FROM pg_stat_activity"
                    " WHERE pid = :pid AND wait_event_type = 'Lock'"
                ),
                {"pid": insert_pid},
            ).scalar_one()
            watch.commit()
            if waiting or outcome:
                break
            threading.Event().wait(0.05)
        assert waiting == 1, f"the insert did not wait for the deletion: {outcome!r}"
    finally:
        deleting.commit()
        deleting.close()
        thread.join(60)
        inserting.close()
        watch.close()
    assert len(outcome) == 1 and isinstance(outcome[0], sa.exc.DBAPIError)
    assert "tickets_order_id_fkey" in str(outcome[0])
    with committing_engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM ticketing.tickets")).scalar_one() == 0


_ORPHAN_TICKETS = (
    "SELECT count(*) FROM ticketing.tickets t WHERE NOT EXISTS"
    " (SELECT FROM ticketing.orders o WHERE o.id = t.order_id AND o.org_id = t.org_id)"
)
_ORPHAN_DELIVERIES = (
    "SELECT count(*) FROM messaging.deliveries d WHERE NOT EXISTS"
    " (SELECT FROM messaging.messages m WHERE m.id = d.message_id AND m.org_id = d.org_id)"
)


@pytest.mark.parametrize("isolation", ["REPEATABLE READ", "SERIALIZABLE"])
@pytest.mark.parametrize("parent", ["order", "message"])
def test_a_deletion_above_read_committed_is_refused_and_orphans_nothing(
    committing_engine: sa.Engine, isolation: str, parent: str
) -> None:
    """A deleter whose snapshot predates a ticket (a delivery) committed by another
    transaction does not see it: the check (the cascade) would miss it and orphan it, where
    the key refused (cascaded). A deletion of rows at REPEATABLE READ or SERIALIZABLE is
    refused (LXT02, LXM04); one that removes nothing is not; at READ COMMITTED the same
    race is refused by the key's name (the order) or cascades (the message)."""
    with committing_engine.begin() as conn:
        ledger.open_organization(conn, PLATFORM, "Liventix", is_platform=True)
        side = _side(conn, ORG_A, "Org A")
        message = _message(conn, side.org)
    if parent == "order":
        delete, target, code = "DELETE FROM ticketing.orders WHERE id = :id", side.order, "LXT02"
    else:
        delete, target, code = "DELETE FROM messaging.messages WHERE id = :id", message, "LXM04"
    deleting = committing_engine.connect().execution_options(isolation_level=isolation)
    try:
        deleting.begin()
        deleting.execute(sa.text("SELECT 1"))  # the transaction's snapshot, taken now
        with committing_engine.begin() as conn:
            if parent == "order":
                _ticket(conn, side.org, side.order, side.event, side.ticket_type)
            else:
                _deliveries(conn, side.org, (message, None))
        # Removing nothing is no risk: not refused.
        deleting.execute(sa.text(delete), {"id": uuid.uuid4()})
        with pytest.raises(sa.exc.DBAPIError) as error:
            deleting.execute(sa.text(delete), {"id": target})
        assert getattr(error.value.orig, "sqlstate", None) == code
        assert "delete_needs_read_committed" in str(error.value)
        deleting.rollback()
    finally:
        deleting.close()
    with committing_engine.connect() as conn:
        assert conn.execute(sa.text(_ORPHAN_TICKETS)).scalar_one() == 0
        assert conn.execute(sa.text(_ORPHAN_DELIVERIES)).scalar_one() == 0
        tickets = conn.execute(sa.text("SELECT count(*) FROM ticketing.tickets")).scalar_one()
        deliveries = conn.execute(sa.text("SELECT count(*) FROM messaging.deliveries")).scalar_one()
        assert (tickets, deliveries) == ((1, 0) if parent == "order" else (0, 1))
    # The same race at READ COMMITTED: the order's deletion is refused by the key's name,
    # the message's takes its delivery with it; nothing is orphaned either way.
    deleting = committing_engine.connect().execution_options(isolation_level="READ COMMITTED")
    try:
        deleting.begin()
        deleting.execute(sa.text("SELECT 1"))
        if parent == "order":
            with pytest.raises(sa.exc.DBAPIError) as error:
                deleting.execute(sa.text(delete), {"id": target})
            assert getattr(error.value.orig, "sqlstate", None) == "23503"
            assert "tickets_order_id_fkey" in str(error.value)
            deleting.rollback()
        else:
            deleting.execute(sa.text(delete), {"id": target})
            deleting.commit()
    finally:
        deleting.close()
    with committing_engine.connect() as conn:
        assert conn.execute(sa.text(_ORPHAN_TICKETS)).scalar_one() == 0
        assert conn.execute(sa.text(_ORPHAN_DELIVERIES)).scalar_one() == 0
        assert conn.execute(sa.text("SELECT count(*) FROM messaging.deliveries")).scalar_one() == 0

"""Two-column rules that were table CHECKs are triggers now (session 35), refused as before:
SQLSTATE 23514 with the rule's name. A table's CHECKs are read from their stored text,
planned and compiled by every statement that writes the table; these rules are judged only
when a statement writes the columns they read (the sales window) or once per INSERT statement
(a delivery's shape, beside its references)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from datetime import timedelta

import psycopg
import pytest
import sqlalchemy as sa

from tests.ticketing_core.support import open_world


def _refused(conn: sa.Connection, statement: str, params: Mapping[str, object]) -> str | None:
    """The constraint named by the 23514 `statement` raises (in a savepoint rolled back)."""
    with pytest.raises(sa.exc.IntegrityError) as refused, conn.begin_nested():
        conn.execute(sa.text(statement), params)
    error = refused.value.orig
    assert isinstance(error, psycopg.errors.CheckViolation)
    assert error.diag.table_name in ("ticket_types", "deliveries")
    return error.diag.constraint_name


def test_the_sales_window_is_refused_on_insert_and_update(conn: sa.Connection) -> None:
    """A ticket type whose sales end before (or when) they start, inserted or updated so:
    ticket_types_window; the seat counts' updates are held to the capacity as before."""
    world = open_world(conn, capacities=(3,))
    where = {"id": world.ga, "org": world.org}
    row = conn.execute(
        sa.text(
            "SELECT event_id, price, currency, capacity, sales_start, sales_end"
            " FROM ticketing.ticket_types WHERE id = :id AND org_id = :org"
        ),
        where,
    ).one()
    insert = (
        "INSERT INTO ticketing.ticket_types (event_id, org_id, name, price, currency, capacity,"
        " sales_start, sales_end) VALUES (:event, :org, 'Late', :price, :currency, 5, :start,"
        " :end)"
    )
    values = {
        "event": row.event_id,
        "org": world.org,
        "price": row.price,
        "currency": row.currency,
        "start": row.sales_start,
    }
    for end in (row.sales_start, row.sales_start - timedelta(seconds=1)):
        assert _refused(conn, insert, {**values, "end": end}) == "ticket_types_window"
    conn.execute(sa.text(insert), {**values, "end": row.sales_start + timedelta(seconds=1)})
    update = "UPDATE ticketing.ticket_types SET {} WHERE id = :id AND org_id = :org"
    for change in ("sales_end = sales_start", "sales_start = sales_end + interval '1 hour'"):
        assert _refused(conn, update.format(change), where) == "ticket_types_window"
    assert _refused(conn, update.format("held = held + 4"), where) == (
        "ticket_types_within_capacity"
    )
    conn.execute(sa.text(update.format("held = held + 3, sales_end = sales_end + '1 day'")), where)


def test_a_delivery_of_the_wrong_shape_is_refused(conn: sa.Connection) -> None:
    """A webhook's delivery without an endpoint, an e-mail's without a recipient, another
    channel's with either, inserted or updated so: deliveries_webhook_has_endpoint or
    deliveries_email_has_recipient; a delivery of the right shape is written."""
    world = open_world(conn)
    endpoint = conn.execute(
        sa.text(
            "INSERT INTO messaging.endpoints (org_id, url)"
            " VALUES (:org, 'https://example.com/hook') RETURNING id"
        ),
        {"org": world.org},
    ).scalar_one()
    message = uuid.uuid4()
    conn.execute(
        sa.text(
            "INSERT INTO messaging.messages (id, org_id, type, aggregate_type, aggregate_id,"
            " payload) VALUES (:id, :org, 'order.paid', 'order', '1', CAST(:p AS jsonb))"
        ),
        {"id": message, "org": world.org, "p": json.dumps({})},
    )
    insert = (
        "INSERT INTO messaging.deliveries (message_id, org_id, channel, endpoint_id, recipient,"
        " target, aggregate_key) VALUES (:m, :org, :channel, :endpoint, :recipient, 't', 'a')"
        " RETURNING id"
    )
    base = {"m": message, "org": world.org}
    webhook, email = "deliveries_webhook_has_endpoint", "deliveries_email_has_recipient"
    for channel, end, recipient, rule in (
        ("webhook", None, None, webhook),
        ("email", endpoint, "ann@example.com", webhook),
        ("task", endpoint, None, webhook),
        ("email", None, None, email),
        ("webhook", endpoint, "ann@example.com", email),
        ("task", None, "ann@example.com", email),
    ):
        row = {**base, "channel": channel, "endpoint": end, "recipient": recipient}
        assert _refused(conn, insert, row) == rule, (channel, end, recipient)
    # A bad row among good ones refuses the whole statement.
    many = (
        "INSERT INTO messaging.deliveries (message_id, org_id, channel, endpoint_id, recipient,"
        " target, aggregate_key) VALUES (:m, :org, 'webhook', :endpoint, NULL, 't', 'a'),"
        " (:m, :org, 'email', NULL, NULL, 't', 'a')"
    )
    assert _refused(conn, many, {**base, "endpoint": endpoint}) == email
    hook = conn.execute(
        sa.text(insert), {**base, "channel": "webhook", "endpoint": endpoint, "recipient": None}
    ).scalar_one()
    mail = conn.execute(
        sa.text(insert), {**base, "channel": "email", "endpoint": None, "recipient": "a@b.c"}
    ).scalar_one()
    update = "UPDATE messaging.deliveries SET {} WHERE id = :id AND org_id = :org"
    assert _refused(conn, update.format("channel = 'email'"), {"id": hook, "org": world.org}) in (
        webhook,
        email,
    )
    assert _refused(conn, update.format("recipient = NULL"), {"id": mail, "org": world.org}) == (
        email
    )
    assert _refused(conn, update.format("channel = 'webhook'"), {"id": mail, "org": world.org}) == (
        webhook
    )
    conn.execute(
        sa.text(update.format("recipient = 'b@b.c', status = 'succeeded'")),
        {"id": mail, "org": world.org},
    )

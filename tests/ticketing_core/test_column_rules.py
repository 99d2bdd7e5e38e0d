"""The single-column rules of the checkout's hot tables are domains (session 33), no longer
table CHECKs, and the hold of one ticket type has one definition (`ticketing.hold_order`).

A table's CHECK expressions are read from their stored text, planned and compiled by every
statement that writes the table, and all checked on every UPDATE; a domain's check is kept by
the session and checked on the columns a statement assigns. These tests hold each column to
its rule (the column's own type refuses a bad value, SQLSTATE 23514, naming the domain's
constraint), an UPDATE of a hot row to the rule of the column it sets, and the hold's rule to
one function."""

from __future__ import annotations

import re

import psycopg
import pytest
import sqlalchemy as sa

from tests.ticketing_core.support import open_world

# (table, column, a value the rule refuses, the rule's constraint, a value it takes)
RULES = [
    ("ticketing.events", "name", "''", "name_not_empty", "'Hamlet'"),
    ("ticketing.ticket_types", "name", "''", "name_not_empty", "'GA'"),
    ("ticketing.ticket_types", "price", "0", "amount_positive", "1"),
    ("ticketing.ticket_types", "capacity", "0", "capacity_positive", "1"),
    ("ticketing.ticket_types", "held", "-1", "seats_not_negative", "0"),
    ("ticketing.ticket_types", "sold", "-1", "seats_not_negative", "0"),
    ("ticketing.orders", "status", "'paying'", "order_status_known", "'disputed'"),
    ("ticketing.orders", "amount", "-5", "amount_positive", "5"),
    ("ticketing.tickets", "status", "'lost'", "ticket_status_known", "'invalidated'"),
    ("ticketing.tickets", "price", "0", "amount_positive", "1"),
    ("ticketing.transitions", "subject", "'event'", "transition_subject_known", "'ticket'"),
    ("ticketing.refunds", "amount", "0", "amount_positive", "1"),
    ("payments.escrows", "state", "'open'", "escrow_state_known", "'release_requested'"),
    ("payments.escrows", "open_disputes", "-1", "escrow_count_not_negative", "0"),
    ("payments.escrows", "captured", "-1", "escrow_sum_not_negative", "0"),
    ("payments.escrows", "refunded", "-1", "escrow_sum_not_negative", "0"),
    ("payments.escrows", "charged_back", "-1", "escrow_sum_not_negative", "0"),
    ("payments.escrows", "released", "-1", "escrow_sum_not_negative", "0"),
    ("payments.card_payments", "gross", "0", "escrow_gross_positive", "1"),
    ("payments.card_payments", "platform_fee", "-1", "escrow_sum_not_negative", "0"),
    ("payments.card_payments", "stripe_fee", "-1", "escrow_sum_not_negative", "0"),
    ("payments.card_payments", "refunded", "-1", "escrow_sum_not_negative", "0"),
    ("messaging.messages", "type", "'Order.Paid'", "message_type_dotted", "'order.paid'"),
    ("messaging.messages", "type", "'orderpaid'", "message_type_dotted", "'a_b.c_d'"),
    ("messaging.deliveries", "channel", "'sms'", "delivery_channel_known", "'task'"),
    ("messaging.deliveries", "status", "'sent'", "delivery_status_known", "'cancelled'"),
    ("messaging.inbox", "status", "'done'", "inbox_status_known", "'ignored'"),
    ("messaging.inbox", "deferrals", "-1", "deferral_count_not_negative", "0"),
]


def _column_type(conn: sa.Connection, table: str, column: str) -> str:
    return str(
        conn.execute(
            sa.text(
                "SELECT format_type(a.atttypid, a.atttypmod) FROM pg_attribute a"
                " WHERE a.attrelid = CAST(:t AS regclass) AND a.attname = :c"
            ),
            {"t": table, "c": column},
        ).scalar_one()
    )


@pytest.mark.parametrize("case", RULES, ids=[f"{t}.{c}={b}" for t, c, b, _r, _g in RULES])
def test_each_column_refuses_what_its_check_refused(
    conn: sa.Connection, case: tuple[str, str, str, str, str]
) -> None:
    """The column's own type takes a good value and refuses the bad one with 23514 and the
    rule's name (as text, the column's type before, took anything)."""
    table, column, bad, rule, good = case
    kind = _column_type(conn, table, column)
    conn.exec_driver_sql(f"SELECT CAST({good} AS {kind})")
    with pytest.raises(sa.exc.IntegrityError) as refused, conn.begin_nested():
        conn.exec_driver_sql(f"SELECT CAST({bad} AS {kind})")
    error = refused.value.orig
    assert isinstance(error, psycopg.errors.CheckViolation)
    assert error.diag.constraint_name == rule


def test_an_update_of_a_hot_row_is_held_to_the_rule_of_what_it_sets(conn: sa.Connection) -> None:
    """The hold's and the payment's UPDATEs of a ticket type: a count set below zero is
    refused (the column's domain), as is one past the capacity (the table's CHECK, kept)."""
    world = open_world(conn, capacities=(3,))
    where = {"id": world.ga, "org": world.org}
    statement = "UPDATE ticketing.ticket_types SET {} WHERE id = :id AND org_id = :org"
    for update, rule in (
        ("held = held - 1", "seats_not_negative"),
        ("sold = sold - 1", "seats_not_negative"),
        ("held = held + 4", "ticket_types_within_capacity"),
    ):
        with pytest.raises(sa.exc.IntegrityError) as refused, conn.begin_nested():
            conn.execute(sa.text(statement.format(update)), where)
        error = refused.value.orig
        assert isinstance(error, psycopg.errors.CheckViolation)
        assert error.diag.constraint_name == rule
    conn.execute(sa.text(statement.format("held = held + 3")), where)


def test_the_hold_of_one_ticket_type_has_one_definition(conn: sa.Connection) -> None:
    """Of the functions in the database, only `ticketing.hold_order` holds seats (an UPDATE
    adding to a ticket type's `held`): the checkout's one-statement hold and the long way's
    call it."""
    bodies = conn.execute(
        sa.text(
            "SELECT p.oid::regprocedure::text AS name, p.prosrc FROM pg_proc p"
            " JOIN pg_namespace n ON n.oid = p.pronamespace"
            " WHERE n.nspname IN ('ticketing', 'payments', 'messaging')"
        )
    ).all()
    holding = re.compile(r"SET\s+held\s*=\s*(\w+\.)?held\s*\+", re.IGNORECASE)
    found = sorted(b.name.split("(")[0] for b in bodies if holding.search(b.prosrc))
    assert found == ["ticketing.hold_order"]
    calling = sorted(b.name.split("(")[0] for b in bodies if "ticketing.hold_order(" in b.prosrc)
    assert calling == ["ticketing.hold_checkout", "ticketing.open_and_hold_checkout_for"]

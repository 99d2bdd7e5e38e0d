"""The payment's usual case as one statement on `ticketing`'s tables, on the driver cursor:
the order paid and its held tickets issued, with their audit rows and the seat counters (and,
after escrow's capture call, their messages, through the outbox's SQL: `outbox.publish_sql`).
The amounts paid and refunded it returns are escrow's, read through the SQL expressions on
escrow's public face (`escrow.paid_sql`, `escrow.refunded_sql`), so the statement stays one
round trip while escrow keeps its tables' SQL.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping
from datetime import datetime
from typing import Any

import psycopg
from pydantic import BaseModel
from sqlalchemy import Connection

import escrow
import outbox
import pgdriver
from ticketing_fsm.messages import OrderEvent, TicketEvent, ticket_mail_parts
from ticketing_fsm.models import ORDER_FIELDS, TICKET_FIELDS
from ticketing_fsm.store.orders import paid_moment_sql

_ORDER_COLUMNS = ", ".join(f"o.{f}" for f in ORDER_FIELDS)
_TICKET_COLUMNS = ", ".join(TICKET_FIELDS)
# The payment's one round trip (`PAY_AFTER_CAPTURE`) returns from the order's and the tickets'
# updates only the columns its own parts read (the audit rows, the seat counts, the messages'
# payloads and e-mails, its answer): every column returned is carried by each node that
# reads the CTE, its descriptor built and its projection compiled at every execution
# (session 36). The other statements answer every column.
_PAID_ORDER_COLUMNS = "o.id, o.org_id, o.event_id, o.status, o.currency, o.amount"
_MOVED_TICKET_COLUMNS = (
    "id, order_id, org_id, event_id, ticket_type_id, status, code, holder_email, created_at"
)

# An order's held tickets issued together (a part of the pay-and-issue statement; `{order}`,
# the order the statement paid, `paid`): each is a compare-and-set on its status (the machine
# decided the move once for that status), with its audit row: the tickets' rows then the
# order's (`paid`'s) in one insert (session 33: one statement on ticketing.transitions where
# there were two, in the order they were written), and the ticket types' counters move the
# seats from held to sold (their rows locked in id order, as the checkout's holds lock them,
# so two payments never deadlock). The guard refuses the whole set if any ticket of the order
# is not held; `total` counts the order's tickets, so the caller also sees a ticket a
# concurrent change took out of the set.
_ISSUE_CTES = """
    moved AS (
        UPDATE ticketing.tickets
           SET status = %(ticket_to)s, version = version + 1, updated_at = now()
         WHERE order_id = {order} AND org_id = {org} AND status = %(ticket_from)s
           AND NOT EXISTS (SELECT 1 FROM ticketing.tickets x
                            WHERE x.order_id = {order} AND x.org_id = {org}
                              AND x.status <> %(ticket_from)s)
        RETURNING {returning}
    ), audit AS (
        INSERT INTO ticketing.transitions
            (org_id, subject, subject_id, from_state, to_state, event, cause)
        SELECT a.org_id, a.subject, a.id, a.from_state, a.to_state, a.event, %(cause)s
          FROM (SELECT 1 AS part, created_at, org_id, 'ticket' AS subject, id,
                       %(ticket_from)s AS from_state, %(ticket_to)s AS to_state,
                       %(ticket_event)s AS event
                  FROM moved
                UNION ALL
                SELECT 2, NULL, org_id, 'order', id, %(order_from)s, %(order_to)s,
                       %(order_event)s
                  FROM paid) a
         ORDER BY a.part, a.created_at, a.id
    ), types AS (
        SELECT tt.id, m.n
          FROM ticketing.ticket_types tt
          JOIN (SELECT ticket_type_id, count(*) AS n FROM moved GROUP BY ticket_type_id) m
            ON m.ticket_type_id = tt.id
         WHERE tt.org_id = {org}
         ORDER BY tt.id
           FOR UPDATE OF tt
    ), counted AS (
        UPDATE ticketing.ticket_types tt
           SET held = tt.held - t.n, sold = tt.sold + t.n
          FROM types t
         WHERE tt.id = t.id AND tt.org_id = {org}
    )"""


# The payment's usual case in one statement: the order, awaiting payment and paid within
# its hold (`paid_at`, `charged_at`: when Stripe says the buyer paid, the event's and the
# charge's `created`, facts of the payment, whenever the worker gets to it;
# `store.orders.paid_moment_sql` says which times are taken), its event not
# cancelled, is paid (compare-and-set on its status, the machine having
# decided `pay` for that status; its audit row), and its tickets issued as above. No row:
# the order is in another case (or not there), decided the long way. The order is named by
# its id or (`PAY_AND_ISSUE_FOR_INTENT`) by the PaymentIntent recorded on it, as Stripe's
# event names it, with the organization the payment is for (every table filtered on it,
# issue 19 part 4): the lookup of the order is then part of the same statement.
# `PAY_AFTER_CAPTURE` is the payment's one round trip: escrow's capture call first
# (`escrow.capture_call`, a CTE materialized once, read before the order is touched), then,
# only if it captured, the order paid and its tickets issued for the organization the
# payment is for (every table filtered on it, issue 19 part 4). Its first row carries the
# capture's answer, with the order's and the tickets' columns when they moved (NULL when
# not: the long way then). The amounts paid and refunded are then the capture's (its gross,
# nothing refunded: no refund can name a payment captured by this statement).
def _pay_and_issue_sql(order: str, org: str | None, capture: str | None = None) -> str:
    # `org`: the organization as a placeholder, named in every table's filter (issue 19
    # part 4); None, the order's own (found by its id alone), read from the order's row.
    in_order, in_ctes, in_paid = (
        ("o.org_id", _PAID_ORG, "p.org_id") if org is None else (org, org, org)
    )
    if capture is None:
        head, guard = "", ""
        amounts = (
            f"{escrow.paid_sql('p.payment_intent_id', in_paid)} AS o_paid,"
            f" {escrow.refunded_sql('p.payment_intent_id', in_paid)} AS o_refunded,"
        )
    else:
        head = f"cap AS MATERIALIZED (SELECT * FROM {capture}), "
        guard = "AND (SELECT c.capture_outcome FROM cap c) = 'captured'"
        amounts = ""
    # The payment's one round trip (`capture`) answers only what its usual case reads: the
    # order's id, its tickets' count and each moved ticket's id (`pay_after_capture` reads
    # the rest again when it is needed). Its ~40 columns of the order and the tickets were
    # described, projected and sent at every payment (session 34: ~78K of the backend's
    # ~6.6M instructions per checkout, callgrind).
    columns = (
        f"{', '.join(f'p.{f} AS o_{f}' for f in ORDER_FIELDS)}, {amounts} c.total, m.*"
        if capture is None
        else "p.id AS o_id, c.total, m.id, m.created_at"
    )
    issued = f"""
        SELECT {columns}
          FROM paid p
         CROSS JOIN LATERAL (SELECT count(*) AS total FROM ticketing.tickets t
                              WHERE t.order_id = p.id AND t.org_id = {in_paid}) c
          LEFT JOIN moved m ON true"""
    moved = f"{_TICKET_COLUMNS}, created_at" if capture is None else _MOVED_TICKET_COLUMNS
    if capture is None:
        final = f"{issued} ORDER BY m.created_at, m.id"
        notes = ""
    else:
        final = f"""
        SELECT c.capture_outcome, c.capture_entry,
               (SELECT written FROM published) AS notes_written, x.o_id, x.total, x.id
          FROM cap c LEFT JOIN ({issued}) x ON true
         ORDER BY x.created_at, x.id"""
        notes = f", {_NOTES}, published AS ({outbox.publish_sql('notes', in_ctes)})"
    # The order's status compared as `IS NOT DISTINCT FROM` (the same here: neither is ever
    # NULL), never `=`: with `=` the planner may prove the partial index `orders_expiry`
    # (`WHERE status = 'awaiting_payment' ...`) usable and, where its statistics count few
    # orders awaiting payment, take it over the intent's key, reading every hold not yet
    # expired (all organizations') to find this one: a payment's cost growing with the holds
    # open at that moment (an on-sale's peak). As the record's `store.checkout._AWAITING`.
    return f"""
    WITH {head}paid AS (
        UPDATE ticketing.orders o
           SET status = %(order_to)s, version = o.version + 1, updated_at = now()
         WHERE {order} AND o.status IS NOT DISTINCT FROM %(order_from)s
           AND {paid_moment_sql("%(paid_at)s", "%(charged_at)s")} <= o.hold_expires_at
           AND NOT EXISTS (SELECT 1 FROM ticketing.events e
                            WHERE e.id = o.event_id AND e.org_id = {in_order}
                              AND e.cancelled_at IS NOT NULL)
           {guard}
        RETURNING {_ORDER_COLUMNS if capture is None else _PAID_ORDER_COLUMNS}
    ), {_ISSUE_CTES.format(order="(SELECT id FROM paid)", org=in_ctes, returning=moved)}{notes}
    {final}"""


def _payload_sql(model: type[BaseModel], fields: Mapping[str, str]) -> str:
    """A message's payload as `jsonb_build_object` of the payload model's fields, each from
    its SQL expression in `fields`: the model's field names, in its order, or ValueError (at
    import: a field added, renamed or dropped on either side)."""
    if list(fields) != list(model.model_fields):
        raise ValueError(
            f"{model.__name__}'s payload in SQL names {list(fields)}, "
            f"the model {list(model.model_fields)}"
        )
    return "jsonb_build_object(" + ", ".join(f"'{k}', {v}" for k, v in fields.items()) + ")"


_TICKET_PAYLOAD = _payload_sql(
    TicketEvent,
    {
        "ticket_id": "t.id::text",
        "order_id": "t.order_id::text",
        "event_id": "t.event_id::text",
        "status": "t.status",
        "holder_email": "t.holder_email",
        "code": "t.code",
    },
)
_ORDER_PAYLOAD = _payload_sql(
    OrderEvent,
    {
        "order_id": "p.id::text",
        "event_id": "p.event_id::text",
        "status": "p.status",
        "amount": "p.amount",
        "refunded": "0",
        "currency": "p.currency",
    },
)
# The ticket e-mail's text (`messages.TICKET_MAIL_SUBJECT`, `TICKET_MAIL_BODY`), as the
# statement's parameters: the subject, the body's text before and after the code.
_MAIL_SUBJECT, _MAIL_BEFORE, _MAIL_AFTER = ticket_mail_parts()
_MAIL_PARAMS = {
    "mail_subject": _MAIL_SUBJECT,
    "mail_before": _MAIL_BEFORE,
    "mail_after": _MAIL_AFTER,
}

# The payment's messages, in the statement that issued the tickets (the payment's one round
# trip, `PAY_AFTER_CAPTURE`), as `outcomes._publish_issued` publishes them: `ticket.issued`
# for each ticket moved, oldest first, with its holder's e-mail (`messages.ticket_mail`'s
# text, given as parameters), then `order.paid`; their payloads as `lifecycle.ticket_note`
# and `order_note` make them (`TicketEvent`, `OrderEvent`, their fields named from the
# models: the order's amounts are the capture's, nothing refunded), written by the outbox's
# publishing (`outbox.publish_sql`, which checks no payload: tests/ticketing_core/
# test_pay_for_intent.py validates each one written against its registered model). None
# at all when a holder's address is not one `outbox.Email` takes (a line break, no '@'): the
# statement says how many it wrote (`notes_written`), and the handler then publishes in
# Python, which refuses it as before.
# All of them made as the arrays the outbox's publishing takes (`outbox.publish_sql`:
# `messaging.publish_many`'s arguments), by one aggregate over the
# tickets moved in their order (oldest first: the ticket notes' positions, 1..n) and the
# order's note appended (n + 1), one e-mail per ticket note (session 36: the notes made as
# rows, then aggregated again into the arrays, were ~25 more plan nodes, each initialised at
# every payment). No row, so nothing published, when no ticket moved or a holder's address
# is refused.
_NOTES = rf"""
    notes AS MATERIALIZED (
        SELECT a.ids || gen_random_uuid() AS ids, a.orgs || p.org_id AS orgs,
               a.types || 'order.paid'::text AS types,
               a.aggregate_types || 'order'::text AS aggregate_types,
               a.aggregate_ids || p.id::text AS aggregate_ids,
               a.payloads || {_ORDER_PAYLOAD} AS payloads,
               array_fill(NULL::text, ARRAY[a.n::int + 1]) AS dedups,
               array_fill(false, ARRAY[a.n::int + 1]) AS tasks,
               a.mail_of, a.mail_to, a.mail_subject, a.mail_body
          FROM paid p
         CROSS JOIN LATERAL (
                SELECT count(*) AS n,
                       array_agg(gen_random_uuid() ORDER BY t.created_at, t.id) AS ids,
                       array_agg(t.org_id ORDER BY t.created_at, t.id) AS orgs,
                       array_agg('ticket.issued'::text ORDER BY t.created_at, t.id) AS types,
                       array_agg('ticket'::text ORDER BY t.created_at, t.id) AS aggregate_types,
                       array_agg(t.id::text ORDER BY t.created_at, t.id) AS aggregate_ids,
                       array_agg({_TICKET_PAYLOAD} ORDER BY t.created_at, t.id) AS payloads,
                       array_agg(t.n ORDER BY t.created_at, t.id)
                           FILTER (WHERE t.holder_email IS NOT NULL) AS mail_of,
                       array_agg(t.holder_email ORDER BY t.created_at, t.id)
                           FILTER (WHERE t.holder_email IS NOT NULL) AS mail_to,
                       array_agg(CAST(%(mail_subject)s AS text) ORDER BY t.created_at, t.id)
                           FILTER (WHERE t.holder_email IS NOT NULL) AS mail_subject,
                       array_agg(CAST(%(mail_before)s AS text) || t.code
                                 || CAST(%(mail_after)s AS text) ORDER BY t.created_at, t.id)
                           FILTER (WHERE t.holder_email IS NOT NULL) AS mail_body,
                       bool_or(t.holder_email ~ '[\r\n]' OR strpos(t.holder_email, '@') = 0)
                           AS refused
                  FROM (SELECT m.*, row_number() OVER (ORDER BY m.created_at, m.id) AS n
                          FROM moved m) t) a
         WHERE a.n > 0 AND NOT a.refused
    )"""
_PAID_ORG = "(SELECT org_id FROM paid)"
PAY_AND_ISSUE = _pay_and_issue_sql("o.id = %(order)s", None)
PAY_AND_ISSUE_FOR_INTENT = _pay_and_issue_sql(
    "o.payment_intent_id = %(intent)s AND o.org_id = %(org)s", "%(org)s"
)
PAY_AFTER_CAPTURE = _pay_and_issue_sql(
    "o.payment_intent_id = %(intent)s AND o.org_id = %(org)s", "%(org)s", escrow.CAPTURE_CALL
)


def _numbered(statement: str) -> tuple[str, tuple[str, ...]]:
    """`statement` with PostgreSQL's own placeholders ($1, $2, ...) for psycopg's named ones
    (`%(name)s`, `%(name)b`, `%(name)t`: the same name, the same number), and the names in
    their numbers' order. ValueError for anything else psycopg would read as a placeholder
    or an escape (`%%`, `%s`, a malformed `%(`): left in, it would reach the server as it is."""
    if "%%" in statement:
        raise ValueError("a statement with a literal % is not numbered")
    names: list[str] = []

    def number(found: re.Match[str]) -> str:
        if found[1] not in names:
            names.append(found[1])
        return f"${names.index(found[1]) + 1}"

    numbered = re.sub(r"%\((\w+)\)[sbt]", number, statement)
    if "%" in numbered:
        raise ValueError(f"a placeholder left unnumbered: {numbered[numbered.index('%') :][:20]!r}")
    return numbered, tuple(names)


# The payment's statement as a raw cursor sends it (`pay_after_capture`): psycopg parses a
# statement's named placeholders at every execution when the statement is longer than 4 KB
# (it caches the parse only below that), and this one is 6.5 KB: ~300 us of client CPU per
# payment (session 31, thread time around psycopg's PostgresQuery.convert). Numbered once
# here, the statement goes as it is.
_PAY_AFTER_CAPTURE_NUMBERED, _PAY_AFTER_CAPTURE_NAMES = _numbered(PAY_AFTER_CAPTURE)
# As bytes, once: psycopg encodes a text statement at every execution, and its prepared
# statements' cache hashes the statement (5.7 KB) as a new object each time; the same bytes
# object is encoded never and hashed once (session 33: with the one cursor below, ~100k
# fewer client instructions per payment).
_PAY_AFTER_CAPTURE_SENT = _PAY_AFTER_CAPTURE_NUMBERED.encode()


# What the payment's statement no longer answers (the order's columns as `o_*`, each moved
# ticket's columns), read again after it in the same transaction, with the statement's own
# answers (the capture's, the messages written, the order's tickets counted) as they were:
# the rows `pay_after_capture` returns when its caller must name a ticket not moved or
# publish the messages itself. The rows are the statement's (the order and the tickets it
# moved are locked by its updates: nothing changed them since). Same columns, same order as
# the statement answered them before session 34.
_PAID_AGAIN = f"""
    SELECT CAST(%(capture_outcome)s AS text) AS capture_outcome,
           CAST(%(capture_entry)s AS uuid) AS capture_entry,
           CAST(%(notes_written)s AS bigint) AS notes_written,
           {", ".join(f"o.{f} AS o_{f}" for f in ORDER_FIELDS)},
           CAST(%(total)s AS bigint) AS total, m.*
      FROM ticketing.orders o
      LEFT JOIN (SELECT {_TICKET_COLUMNS}, created_at FROM ticketing.tickets
                  WHERE id = ANY(%(moved)s) AND org_id = %(org)s) m ON true
     WHERE o.id = %(order)s AND o.org_id = %(org)s
     ORDER BY m.created_at, m.id"""


def pay_after_capture(
    conn: Connection,
    call: escrow.CaptureCall,
    intent: str,
    moves: dict[str, str],
    cause: str,
    *,
    paid_at: datetime | None = None,
    charged_at: datetime | None = None,
) -> list[Any]:
    """Escrow's capture call, then (if it captured) the order the PaymentIntent is recorded
    on paid, its held tickets issued, as `moves` says, and their messages published
    (`_NOTES`), in one statement: one row per ticket moved (`notes_written`: the messages
    written; `o_id`, the order; `total`, its tickets; `id`, the ticket), or one row with the
    capture's answer alone (`capture_outcome`, `capture_entry`; `o_id` NULL) when the order
    is not in the usual case. When the order was paid but a ticket was not moved or no
    message written (the caller then names the ticket, or publishes), the rows carry the
    order's columns (`o_*`) and each moved ticket's too, read again after the statement.
    `paid_at`, `charged_at`: the event's and the charge's `created` (None: not known), the
    earlier taken as when the buyer paid (`paid_moment_sql`; neither: now), judged against
    the order's hold."""
    params = {
        **call.params,
        **moves,
        "intent": intent,
        "org": call.payment.org_id,
        "cause": cause,
        "paid_at": paid_at,
        "charged_at": charged_at,
        **_MAIL_PARAMS,
    }
    if not isinstance(conn.connection.driver_connection, psycopg.Connection):
        rows = pgdriver.fetch(conn, PAY_AFTER_CAPTURE, params)
    else:
        values = [params[name] for name in _PAY_AFTER_CAPTURE_NAMES]
        # pgdriver's raw cursor for its transaction and its errors (raised as SQLAlchemy's).
        with pgdriver.cursor(conn, raw=True) as raw:
            raw.execute(_PAY_AFTER_CAPTURE_SENT, values)
            rows = raw.fetchall()
    first = rows[0]
    moved = [r.id for r in rows if r.id is not None]
    if first.o_id is None or (first.notes_written and moved and len(moved) == first.total):
        return rows
    return pgdriver.fetch(
        conn,
        _PAID_AGAIN,
        {
            "capture_outcome": first.capture_outcome,
            "capture_entry": first.capture_entry,
            "notes_written": first.notes_written,
            "total": first.total,
            "moved": moved,
            "order": first.o_id,
            "org": call.payment.org_id,
        },
    )


def pay_and_issue(
    conn: Connection,
    order_id: uuid.UUID | None,
    intent: tuple[str, uuid.UUID] | None,
    moves: dict[str, str],
    cause: str,
    *,
    paid_at: datetime | None = None,
    charged_at: datetime | None = None,
) -> list[Any]:
    """Pay the order (by id, or by the PaymentIntent recorded on it with the organization
    the payment is for: `intent`) and issue its held tickets, as `moves` says (`order_from`,
    `order_to`, `order_event`, `ticket_from`, `ticket_to`, `ticket_event`): one row per
    ticket moved (`o_*`: the order paid, `total`: its tickets), none if the order is not in
    the usual case. `paid_at`, `charged_at`: the event's and the charge's `created`, judged
    against the hold as `pay_after_capture` says."""
    statement = PAY_AND_ISSUE if intent is None else PAY_AND_ISSUE_FOR_INTENT
    pi, org = (None, None) if intent is None else intent
    params = {
        **moves,
        "order": order_id,
        "intent": pi,
        "org": org,
        "cause": cause,
        "paid_at": paid_at,
        "charged_at": charged_at,
    }
    return pgdriver.fetch(conn, statement, params)

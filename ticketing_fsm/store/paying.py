"""The payment's usual case as one statement on `ticketing`'s tables, on the driver cursor:
the order paid and its held tickets issued, with their audit rows and the seat counters.
The amounts paid and refunded it returns are escrow's, read through the SQL expressions on
escrow's public face (`escrow.paid_sql`, `escrow.refunded_sql`), so the statement stays one
round trip while escrow keeps its tables' SQL.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import Connection

import escrow
import pgdriver
from ticketing_fsm.models import ORDER_FIELDS, TICKET_FIELDS

_ORDER_COLUMNS = ", ".join(f"o.{f}" for f in ORDER_FIELDS)
_TICKET_COLUMNS = ", ".join(TICKET_FIELDS)

# An order's held tickets issued together (a part of the pay-and-issue statement; `{order}`,
# the order the statement paid): each is a compare-and-set on its status (the machine decided
# the move once for that status), with its audit row, and the ticket types' counters move the
# seats from held to sold (their rows locked in id order, as the checkout's holds lock them,
# so two payments never deadlock). The guard refuses the whole set if any ticket of the order
# is not held; `total` counts the order's tickets, so the caller also sees a ticket a
# concurrent change took out of the set.
_ISSUE_CTES = f"""
    moved AS (
        UPDATE ticketing.tickets
           SET status = %(ticket_to)s, version = version + 1, updated_at = now()
         WHERE order_id = {{order}} AND status = %(ticket_from)s
           AND NOT EXISTS (SELECT 1 FROM ticketing.tickets x
                            WHERE x.order_id = {{order}} AND x.status <> %(ticket_from)s)
        RETURNING {_TICKET_COLUMNS}, created_at
    ), audit AS (
        INSERT INTO ticketing.transitions
            (org_id, subject, subject_id, from_state, to_state, event, cause)
        SELECT org_id, 'ticket', id, %(ticket_from)s, %(ticket_to)s, %(ticket_event)s, %(cause)s
          FROM moved ORDER BY created_at, id
    ), types AS (
        SELECT tt.id, m.n
          FROM ticketing.ticket_types tt
          JOIN (SELECT ticket_type_id, count(*) AS n FROM moved GROUP BY ticket_type_id) m
            ON m.ticket_type_id = tt.id
         ORDER BY tt.id
           FOR UPDATE OF tt
    ), counted AS (
        UPDATE ticketing.ticket_types tt
           SET held = tt.held - t.n, sold = tt.sold + t.n
          FROM types t
         WHERE tt.id = t.id
    )"""


# The payment's usual case in one statement: the order, awaiting payment within its hold
# and its event not cancelled, is paid (compare-and-set on its status, the machine having
# decided `pay` for that status; its audit row), and its tickets issued as above. No row:
# the order is in another case (or not there), decided the long way. The order is named by
# its id or (`PAY_AND_ISSUE_FOR_INTENT`) by the PaymentIntent recorded on it, as Stripe's
# event names it: the lookup of the order is then part of the same statement.
def _pay_and_issue_sql(order: str) -> str:
    return f"""
    WITH paid AS (
        UPDATE ticketing.orders o
           SET status = %(order_to)s, version = o.version + 1, updated_at = now()
         WHERE {order} AND o.status = %(order_from)s AND now() <= o.hold_expires_at
           AND NOT EXISTS (SELECT 1 FROM ticketing.events e
                            WHERE e.id = o.event_id AND e.cancelled_at IS NOT NULL)
        RETURNING {_ORDER_COLUMNS}
    ), paid_audit AS (
        INSERT INTO ticketing.transitions
            (org_id, subject, subject_id, from_state, to_state, event, cause)
        SELECT org_id, 'order', id, %(order_from)s, %(order_to)s, %(order_event)s, %(cause)s
          FROM paid
    ), {_ISSUE_CTES.format(order="(SELECT id FROM paid)")}
    SELECT {", ".join(f"p.{f} AS o_{f}" for f in ORDER_FIELDS)},
           {escrow.paid_sql("p.payment_intent_id")} AS o_paid,
           {escrow.refunded_sql("p.payment_intent_id")} AS o_refunded,
           c.total, m.*
      FROM paid p
     CROSS JOIN LATERAL (SELECT count(*) AS total FROM ticketing.tickets t
                          WHERE t.order_id = p.id) c
      LEFT JOIN moved m ON true
     ORDER BY m.created_at, m.id"""


PAY_AND_ISSUE = _pay_and_issue_sql("o.id = %(order)s")
PAY_AND_ISSUE_FOR_INTENT = _pay_and_issue_sql("o.payment_intent_id = %(intent)s")


def pay_and_issue(
    conn: Connection,
    order_id: uuid.UUID | None,
    intent: str | None,
    moves: dict[str, str],
    cause: str,
) -> list[Any]:
    """Pay the order (by id, or by the PaymentIntent recorded on it) and issue its held
    tickets, as `moves` says (`order_from`, `order_to`, `order_event`, `ticket_from`,
    `ticket_to`, `ticket_event`): one row per ticket moved (`o_*`: the order paid, `total`:
    its tickets), none if the order is not in the usual case."""
    statement = PAY_AND_ISSUE if intent is None else PAY_AND_ISSUE_FOR_INTENT
    params = {**moves, "order": order_id, "intent": intent, "cause": cause}
    return pgdriver.fetch(conn, statement, params)

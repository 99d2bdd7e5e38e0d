"""Statements on `ticketing`'s events, ticket types, orders, refunds and transitions (the
checkout's and the payment's hot statements are in `store.checkout` and `store.paying`).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Row, text

import escrow
from ticketing_fsm.models import ORDER_FIELDS, Order

ORDER_COLUMNS = ", ".join(f"o.{f}" for f in ORDER_FIELDS)

INSERT_EVENT = text("""
    INSERT INTO ticketing.events (org_id, name, currency, starts_at, ends_at)
    VALUES (:org, :name, :currency, :starts, :ends) RETURNING id""")

EVENT_CURRENCY = text("SELECT currency FROM ticketing.events WHERE id = :id AND org_id = :org")

INSERT_TICKET_TYPE = text("""
    INSERT INTO ticketing.ticket_types
        (event_id, org_id, name, price, currency, capacity, sales_start, sales_end)
    VALUES (:event, :org, :name, :price, :currency, :capacity, :start, :end)
    RETURNING id""")

# The organization and end of one of ticketing's events, by its id alone: a payment no order
# of ours has names an event and an organization in its metadata, edited at will at Stripe,
# so whose event it is must be read (as the payment's order look-up by the intent alone, not
# pinned to one organization; a rare path: ticketing_fsm/stripe_events.py).
EVENT_OF = text("SELECT org_id, ends_at FROM ticketing.events WHERE id = :id")

CANCEL_EVENT = text("""
    UPDATE ticketing.events SET cancelled_at = coalesce(cancelled_at, now())
     WHERE id = :id AND org_id = :org""")

ORDERS_OF_EVENT = text(
    "SELECT id, status FROM ticketing.orders WHERE event_id = :id ORDER BY created_at, id"
)

# The order's payment's amounts are escrow's: read through the SQL expressions on escrow's
# public face, so an order is still one round trip.
_AMOUNTS = (
    f"{escrow.paid_sql('o.payment_intent_id')} AS paid, "
    f"{escrow.refunded_sql('o.payment_intent_id')} AS refunded"
)

ORDER = f"SELECT {ORDER_COLUMNS}, {_AMOUNTS} FROM ticketing.orders o WHERE o.id = :id"


def paid_moment_sql(paid_at: str, charged_at: str) -> str:
    """When the buyer of order `o` paid, as the hold is judged by it: the earlier of
    `paid_at` (the statement's placeholder for the Stripe event's `created`) and `charged_at`
    (the charge's `created`, as Stripe answered the platform's read: when the buyer confirmed,
    a card at its success, a bank debit at its start, days before it succeeds), each taken
    only if a payment of the order can have it (not before the order was made, not after
    now); now if neither is. One rule for the payment's statement (`store.paying`) and the
    long way's read (`PAYING_ORDER`)."""

    def taken(at: str) -> str:
        cast = f"CAST({at} AS timestamptz)"
        since = "date_trunc('second', o.created_at)"
        return f"CASE WHEN {cast} BETWEEN {since} AND now() THEN {cast} END"

    # LEAST ignores NULLs: a moment not taken leaves the other, or now (never below either).
    return f"LEAST({taken(paid_at)}, {taken(charged_at)}, now())"


# The order, locked, with what decides a payment's outcome: whether its hold expired before
# the buyer paid (`paid_moment_sql`) and its event was cancelled (one round trip).
PAYING_ORDER = text(f"""
    SELECT {ORDER_COLUMNS}, {_AMOUNTS},
           {paid_moment_sql(":paid_at", ":charged_at")} > o.hold_expires_at AS expired,
           EXISTS (SELECT 1 FROM ticketing.events e
                    WHERE e.id = o.event_id AND e.cancelled_at IS NOT NULL) AS cancelled
      FROM ticketing.orders o
     WHERE o.id = :id
       FOR UPDATE OF o""")

ORDER_FOR_INTENT = text("SELECT id FROM ticketing.orders WHERE payment_intent_id = :pi")
# The order a PaymentIntent is recorded on, with what its payment is booked with: its
# organization, event and the event's end; pinned to one organization when it is known (the
# usual case: one organization's rows, one node under Citus), else by the intent alone.
PAID_BY_IN = text("""
    SELECT o.id, o.org_id, o.event_id, e.ends_at FROM ticketing.orders o
      JOIN ticketing.events e ON e.id = o.event_id AND e.org_id = o.org_id
     WHERE o.payment_intent_id = :pi AND o.org_id = :org""")
PAID_BY = text("""
    SELECT o.id, o.org_id, o.event_id, e.ends_at FROM ticketing.orders o
      JOIN ticketing.events e ON e.id = o.event_id AND e.org_id = o.org_id
     WHERE o.payment_intent_id = :pi""")

CLAIM_INTENT = text("""
    UPDATE ticketing.orders SET payment_intent_id = :pi, updated_at = now()
     WHERE id = :id AND org_id = :org AND amount = :amount AND payment_intent_id IS NULL
    RETURNING id""")

INTENT_FACTS = text("""
    SELECT o.idempotency_key, e.ends_at FROM ticketing.orders o
      JOIN ticketing.events e ON e.id = o.event_id WHERE o.id = :id""")

# Orders whose hold expired unpaid and whose PaymentIntent's cancellation was not yet asked
# for (the sweeper asks, then Stripe's answer releases the seats), locked, skipping those
# another session holds.
DUE_CANCELS = text("""
    SELECT id FROM ticketing.orders
     WHERE status = 'awaiting_payment' AND hold_expires_at < now()
       AND cancel_requested_at IS NULL
     ORDER BY hold_expires_at LIMIT :limit FOR UPDATE SKIP LOCKED""")

# The mark of a cancellation asked for: once (NULL before), on an order still awaiting its
# payment. By id: the status is compared as IS NOT DISTINCT FROM (here, in MARK_ASKED_AGAIN and
# RECORD_REFUSAL), which the planner cannot use to prove the partial index `orders_expiry`
# usable: with `=` it took that index where the statistics count few orders awaiting payment,
# each mark reading every open hold (session 38, Drift). Not a state of the order's machine
# (the order still holds its seats and still takes a payment made within its hold): the
# version is left alone.
MARK_CANCEL_REQUESTED = text("""
    UPDATE ticketing.orders SET cancel_requested_at = now(), updated_at = now()
     WHERE id = :id AND status IS NOT DISTINCT FROM 'awaiting_payment'
       AND cancel_requested_at IS NULL
    RETURNING id""")

CANCEL_REQUESTED_AT = text("SELECT cancel_requested_at FROM ticketing.orders WHERE id = :id")

# Orders still awaiting payment a grace after the latest ask to cancel their PaymentIntent,
# that Stripe did not say `succeeded` to (those wait for their payment's event), locked,
# skipping those another session holds; with Stripe's refusal, if it answered one (NULL:
# it never answered: the grace releases). A refused one (`processing`, say) once Stripe
# answered the latest ask (its task is still pending otherwise: that is the question in
# flight, so asking again waits for the answer, whatever the grace), or once that ask is
# `:stale` old unanswered (its task may be dead: the cancel task's retry policy, registered
# by the application, gives up after ~18 h, 22 h at the jitter's longest).
# (An order is asked about after its hold expired: the hold's bound, implied, lets the
# sweep walk `orders_expiry` from the oldest hold, as DUE_CANCELS does.)
OVERDUE_CANCELS = text("""
    SELECT id, cancel_refused FROM ticketing.orders
     WHERE status = 'awaiting_payment' AND hold_expires_at < now() - CAST(:grace AS interval)
       AND cancel_requested_at < now() - CAST(:grace AS interval)
       AND cancel_refused IS DISTINCT FROM 'succeeded'
       AND (cancel_refused IS NULL OR cancel_refused_at >= cancel_requested_at
            OR cancel_requested_at < now() - CAST(:stale AS interval))
     ORDER BY hold_expires_at LIMIT :limit FOR UPDATE SKIP LOCKED""")

UNANSWERED_ASK = timedelta(days=1)
"""How long an ask about an order Stripe refused to cancel before (`processing`) may stay
unanswered before it is asked again by a new task (the grace, if longer)."""

# The cancellation asked again (a new task): the grace counts from this ask.
MARK_ASKED_AGAIN = text("""
    UPDATE ticketing.orders SET cancel_requested_at = now(), updated_at = now()
     WHERE id = :id AND status IS NOT DISTINCT FROM 'awaiting_payment'
       AND cancel_requested_at IS NOT NULL
    RETURNING id""")

# Stripe's refusal of a cancel task (the intent's status), on the order still awaiting its
# payment whose own intent it is (or which has none recorded: found again by its request);
# a `succeeded` heard once stays (a later task's older view, `processing`, cannot undo it).
RECORD_REFUSAL = text("""
    UPDATE ticketing.orders
       SET cancel_refused = CASE WHEN cancel_refused = 'succeeded' THEN cancel_refused
                                 ELSE CAST(:status AS text) END,
           cancel_refused_at = now(), updated_at = now()
     WHERE id = :id AND status IS NOT DISTINCT FROM 'awaiting_payment'
       AND cancel_requested_at IS NOT NULL
       AND (payment_intent_id IS NULL OR payment_intent_id = :pi)
    RETURNING id""")

CANCEL_REFUSED = text("SELECT cancel_refused FROM ticketing.orders WHERE id = :id")

# A transition as compare-and-set on (status, version) plus its audit row, in one statement:
# the audit row is written only if the compare-and-set matched. `{table}` and `{sets}` come
# from `_TABLES` and `_CHANGEABLE` only.
MOVE = """
    WITH moved AS (
        UPDATE {table}
           SET status = :to, version = version + 1, updated_at = now() {sets}
         WHERE id = :id AND status = :from AND version = :version
        RETURNING id)
    INSERT INTO ticketing.transitions
        (org_id, subject, subject_id, from_state, to_state, event, cause)
    SELECT :org, :subject, id, :from, :to, :event, :cause FROM moved"""
_TABLES = {"order": "ticketing.orders", "ticket": "ticketing.tickets"}
_CHANGEABLE = frozenset({"cancel_reason", "checked_in_by", "checked_in_at"})

AUDIT = text("""
    INSERT INTO ticketing.transitions
        (org_id, subject, subject_id, from_state, to_state, event, cause)
    VALUES (:org, :subject, :id, :from, :to, :event, :cause)""")

REFUND_BY_KEY = text("""
    SELECT id, request_hash FROM ticketing.refunds
     WHERE org_id = :org AND idempotency_key = :key""")

INSERT_REFUND = text("""
    INSERT INTO ticketing.refunds (org_id, order_id, amount, reason, idempotency_key, request_hash)
    VALUES (:org, :order, :amount, :reason, :key, :hash) RETURNING id""")

REFUND = text("SELECT id, org_id, order_id, amount, reason FROM ticketing.refunds WHERE id = :id")

REFUNDS_ASKED = text("SELECT coalesce(sum(amount), 0) FROM ticketing.refunds WHERE order_id = :id")

REFUND_FOR_REASON = text(
    "SELECT 1 FROM ticketing.refunds WHERE order_id = :id AND reason = :reason"
)

NOW = text("SELECT now()")


def insert_event(
    conn: Connection,
    org_id: uuid.UUID,
    *,
    name: str,
    currency: str,
    starts_at: datetime,
    ends_at: datetime,
) -> uuid.UUID:
    """A new event's id."""
    params = {"org": org_id, "name": name, "currency": currency, "starts": starts_at}
    event_id: uuid.UUID = conn.execute(INSERT_EVENT, {**params, "ends": ends_at}).scalar_one()
    return event_id


def event_currency(conn: Connection, org_id: uuid.UUID, event_id: uuid.UUID) -> str | None:
    """The organization's event's currency (None: no such event of the organization)."""
    found: str | None = conn.execute(
        EVENT_CURRENCY, {"id": event_id, "org": org_id}
    ).scalar_one_or_none()
    return found


def event_of(conn: Connection, event_id: uuid.UUID) -> Row[Any] | None:
    """The event's organization and end (a row of org_id and ends_at), whichever
    organization's it is; None if ticketing has no such event."""
    return conn.execute(EVENT_OF, {"id": event_id}).first()


def insert_ticket_type(conn: Connection, params: Mapping[str, Any]) -> uuid.UUID:
    """A new ticket type's id (`params` as INSERT_TICKET_TYPE's)."""
    type_id: uuid.UUID = conn.execute(INSERT_TICKET_TYPE, dict(params)).scalar_one()
    return type_id


def cancel_event(conn: Connection, org_id: uuid.UUID, event_id: uuid.UUID) -> bool:
    """Mark the event cancelled (once); False if the organization has no such event."""
    return bool(conn.execute(CANCEL_EVENT, {"id": event_id, "org": org_id}).rowcount)


def orders_of_event(conn: Connection, event_id: uuid.UUID) -> list[Any]:
    """The event's orders' ids and statuses, oldest first."""
    return list(conn.execute(ORDERS_OF_EVENT, {"id": event_id}).all())


def _order(row: Any) -> Order:
    fields = {f: getattr(row, f) for f in ORDER_FIELDS}
    return Order(**fields, paid=int(row.paid), refunded=int(row.refunded))


def order(conn: Connection, order_id: uuid.UUID, *, lock: bool = False) -> Order | None:
    """The order (locked if asked) with its payment's amounts, or None."""
    statement = text(ORDER + (" FOR UPDATE OF o" if lock else ""))
    row = conn.execute(statement, {"id": order_id}).first()
    return None if row is None else _order(row)


def paying_order(
    conn: Connection,
    order_id: uuid.UUID,
    paid_at: datetime | None = None,
    *,
    charged_at: datetime | None = None,
) -> tuple[Order, bool, bool] | None:
    """The order locked, whether its hold expired before the buyer paid (`paid_moment_sql`:
    the earlier of `paid_at` and `charged_at` it takes; None for both: now) and whether its
    event was cancelled."""
    params = {"id": order_id, "paid_at": paid_at, "charged_at": charged_at}
    row = conn.execute(PAYING_ORDER, params).first()
    return None if row is None else (_order(row), bool(row.expired), bool(row.cancelled))


def order_for_intent(conn: Connection, payment_intent_id: str) -> uuid.UUID | None:
    """The order the PaymentIntent is recorded on."""
    found: uuid.UUID | None = conn.execute(
        ORDER_FOR_INTENT, {"pi": payment_intent_id}
    ).scalar_one_or_none()
    return found


def paid_by(
    conn: Connection, payment_intent_id: str, org_id: uuid.UUID | None = None
) -> Row[Any] | None:
    """The order the PaymentIntent is recorded on (in `org_id` if given), as a row of its id,
    org_id, event_id and the event's ends_at; None if none."""
    if org_id is None:
        return conn.execute(PAID_BY, {"pi": payment_intent_id}).first()
    return conn.execute(PAID_BY_IN, {"pi": payment_intent_id, "org": org_id}).first()


def claim_intent(
    conn: Connection, order_id: uuid.UUID, org_id: uuid.UUID, amount: int, payment_intent_id: str
) -> uuid.UUID | None:
    """Record the PaymentIntent on the order if it waits for an intent of this amount."""
    params = {"pi": payment_intent_id, "id": order_id, "org": org_id, "amount": amount}
    found: uuid.UUID | None = conn.execute(CLAIM_INTENT, params).scalar_one_or_none()
    return found


def intent_facts(conn: Connection, order_id: uuid.UUID) -> Any:
    """The order's checkout key and its event's end (what its PaymentIntent request names)."""
    return conn.execute(INTENT_FACTS, {"id": order_id}).one()


def due_cancels(conn: Connection, limit: int) -> list[uuid.UUID]:
    """Orders whose hold expired unpaid, their PaymentIntent's cancellation not yet asked
    for, locked (skipping those another session holds)."""
    return list(conn.execute(DUE_CANCELS, {"limit": limit}).scalars().all())


def mark_cancel_requested(conn: Connection, order_id: uuid.UUID) -> bool:
    """Note that the order's PaymentIntent's cancellation was asked for; False if it was
    already, or the order no longer awaits its payment."""
    return conn.execute(MARK_CANCEL_REQUESTED, {"id": order_id}).first() is not None


def cancel_requested_at(conn: Connection, order_id: uuid.UUID) -> datetime | None:
    """When the sweeper asked Stripe to cancel the order's PaymentIntent (None: never)."""
    found: datetime | None = conn.execute(
        CANCEL_REQUESTED_AT, {"id": order_id}
    ).scalar_one_or_none()
    return found


def overdue_cancels(
    conn: Connection, grace: timedelta, limit: int
) -> list[tuple[uuid.UUID, str | None]]:
    """Orders still awaiting payment `grace` after the latest ask to cancel their intent and
    not said `succeeded` by Stripe (a refused one once Stripe answered that ask, or once it
    is `UNANSWERED_ASK` old), locked (skipping those another session holds), each with
    Stripe's refusal (None: Stripe never answered)."""
    params = {"grace": grace, "stale": max(grace, UNANSWERED_ASK), "limit": limit}
    rows = conn.execute(OVERDUE_CANCELS, params).all()
    return [(row.id, row.cancel_refused) for row in rows]


def mark_asked_again(conn: Connection, order_id: uuid.UUID) -> bool:
    """Note the cancellation asked again now; False if the order no longer awaits payment."""
    return conn.execute(MARK_ASKED_AGAIN, {"id": order_id}).first() is not None


def record_refusal(
    conn: Connection, order_id: uuid.UUID, payment_intent_id: str | None, status: str
) -> bool:
    """Note Stripe's refusal to cancel (the intent's `status`) on the order awaiting payment
    whose intent it is; False otherwise (nothing written)."""
    params = {"id": order_id, "pi": payment_intent_id, "status": status}
    return conn.execute(RECORD_REFUSAL, params).first() is not None


def cancel_refused(conn: Connection, order_id: uuid.UUID) -> str | None:
    """Stripe's latest refusal to cancel the order's intent (None: none heard)."""
    found: str | None = conn.execute(CANCEL_REFUSED, {"id": order_id}).scalar_one_or_none()
    return found


def move(
    conn: Connection,
    subject: str,
    row: Any,
    to: str,
    event: str,
    *,
    cause: str | None,
    changes: Mapping[str, Any] | None = None,
) -> bool:
    """Persist `row`'s move to `to` as compare-and-set plus its audit row; False if the row
    is no longer as read (a lost race)."""
    changes = dict(changes or {})
    if not _CHANGEABLE.issuperset(changes):
        raise ValueError(f"not a changeable column: {sorted(set(changes) - _CHANGEABLE)}")
    sets = "".join(f", {k} = :{k}" for k in changes)
    done = conn.execute(
        text(MOVE.format(table=_TABLES[subject], sets=sets)),
        {
            **changes,
            "to": to,
            "id": row.id,
            "from": row.status,
            "version": row.version,
            "org": row.org_id,
            "subject": subject,
            "event": event,
            "cause": cause,
        },
    ).rowcount
    return bool(done == 1)


def audit(
    conn: Connection,
    org_id: uuid.UUID,
    subject: str,
    subject_id: uuid.UUID,
    *,
    moved: tuple[str, str, str],
    cause: str | None,
) -> None:
    """An audit row for a move done otherwise (`moved`: from, to, event)."""
    source, to, event = moved
    conn.execute(
        AUDIT,
        {
            "org": org_id,
            "subject": subject,
            "id": subject_id,
            "from": source,
            "to": to,
            "event": event,
            "cause": cause,
        },
    )


def refund_by_key(conn: Connection, org_id: uuid.UUID, key: str) -> Any:
    """The refund stored under the key (its id and request hash), or None."""
    return conn.execute(REFUND_BY_KEY, {"org": org_id, "key": key}).first()


def insert_refund(conn: Connection, params: Mapping[str, Any]) -> uuid.UUID:
    """A new refund's id (`params` as INSERT_REFUND's)."""
    refund_id: uuid.UUID = conn.execute(INSERT_REFUND, dict(params)).scalar_one()
    return refund_id


def refund_request(conn: Connection, refund_id: uuid.UUID) -> Any:
    """The refund stored under this id (its organization, order, amount and reason), or None."""
    return conn.execute(REFUND, {"id": refund_id}).first()


def refunds_asked(conn: Connection, order_id: uuid.UUID) -> int:
    """What the platform asked Stripe to refund of the order."""
    return int(conn.execute(REFUNDS_ASKED, {"id": order_id}).scalar_one())


def refund_asked_for(conn: Connection, order_id: uuid.UUID, reason: str) -> bool:
    """Whether a refund for this reason was asked for the order."""
    return conn.execute(REFUND_FOR_REASON, {"id": order_id, "reason": reason}).first() is not None


def now(conn: Connection) -> datetime:
    """The database's time (the transaction's start)."""
    found: datetime = conn.execute(NOW).scalar_one()
    return found

"""Ticketing use cases: events and ticket types, the payment's outcome, hold expiry,
refunds, transfers, check-in and event cancellation (the checkout is `ticketing_fsm.checkout`).
Each takes the caller's connection and never commits; money moves only through escrow (and
Stripe, through outbox tasks).

Orders and tickets move through their machines; every move is a compare-and-set on (status,
version) plus an audit row, and publishes its outbox messages in the same transaction.
Capacity lives in the ticket type's `held` and `sold` counters under a CHECK: a hold is a
conditional UPDATE, so two buyers can never get the last seat.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, text
from statemachine import StateMachine
from statemachine.exceptions import TransitionNotAllowed

import escrow
import outbox
from pgdriver import fetch
from ticketing_fsm.checkout import (
    META_ORDER,
    META_ORG,
    intent_request,
    new_ticket_code,
    publish_intent_cancel,
)
from ticketing_fsm.errors import (
    AlreadyCheckedIn,
    EventNotFound,
    IdempotencyConflict,
    InvalidRequest,
    InvalidTransition,
    OrderNotFound,
    TicketNotFound,
)
from ticketing_fsm.machines import OrderMachine, TicketMachine
from ticketing_fsm.messages import OrderEvent, RefundRequested, TicketEvent


@dataclass(frozen=True)
class Ticket:
    """A ticket as stored."""

    id: uuid.UUID
    order_id: uuid.UUID
    org_id: uuid.UUID
    event_id: uuid.UUID
    ticket_type_id: uuid.UUID
    status: str
    code: str
    holder_email: str
    price: int
    replaces: uuid.UUID | None
    checked_in_at: datetime | None
    checked_in_by: str | None
    version: int


@dataclass(frozen=True)
class Order:
    """An order as stored, with what the ledger says was paid and refunded."""

    id: uuid.UUID
    org_id: uuid.UUID
    event_id: uuid.UUID
    buyer_email: str
    status: str
    currency: str
    amount: int
    payment_intent_id: str | None
    hold_expires_at: datetime
    cancel_reason: str | None
    version: int
    paid: int
    refunded: int


_TICKET_COLUMNS = (
    "id, order_id, org_id, event_id, ticket_type_id, status, code, holder_email, price, "
    "replaces, checked_in_at, checked_in_by, version"
)
_TICKET_FIELDS = tuple(c.strip() for c in _TICKET_COLUMNS.split(","))
_ORDER_COLUMNS = (
    "o.id, o.org_id, o.event_id, o.buyer_email, o.status, o.currency, o.amount, "
    "o.payment_intent_id, o.hold_expires_at, o.cancel_reason, o.version"
)


class _Row:
    """The machines' view of a row: its status and the facts the guards read."""

    nothing_refunded = False
    something_refunded = False

    def __init__(self, status: str, **facts: Any) -> None:
        self.status = status
        self.__dict__.update(facts)


@functools.lru_cache(maxsize=512)
def _decide(
    machine: type[StateMachine], state: str, event: str, facts: tuple[tuple[str, Any], ...]
) -> str | None:
    """Where `event` takes a row in `state`, by the machine (None: not allowed). The machines
    are pure, their guards read only the facts given: the answer is the same every time,
    so it is asked once per (state, event, facts) and remembered."""
    model = _Row(state, **dict(facts))
    try:
        machine(model=model, state_field="status").send(event)
    except TransitionNotAllowed:
        return None
    return str(model.status)


def _target(
    subject: str,
    row: Ticket | Order,
    machine: type[StateMachine],
    event: str,
    facts: dict[str, Any] | None = None,
) -> str:
    """The state `event` takes the row to, or InvalidTransition."""
    target = _decide(machine, row.status, event, tuple(sorted((facts or {}).items())))
    if target is None:
        raise InvalidTransition(
            subject=subject, subject_id=str(row.id), state=row.status, event=event
        )
    return target


def _move(
    conn: Connection,
    subject: str,
    row: Ticket | Order,
    machine: type[StateMachine],
    event: str,
    *,
    cause: str | None,
    changes: dict[str, Any] | None = None,
    facts: dict[str, Any] | None = None,
) -> str:
    """Run `event` through the machine; persist as compare-and-set plus an audit row (one
    statement: the audit row is written only if the compare-and-set matched)."""
    target = _target(subject, row, machine, event, facts)
    changes = dict(changes or {})
    sets = "".join(f", {k} = :{k}" for k in changes)
    table = "ticketing.orders" if subject == "order" else "ticketing.tickets"
    done = conn.execute(
        text(f"""WITH moved AS (
                     UPDATE {table}
                        SET status = :to, version = version + 1, updated_at = now() {sets}
                      WHERE id = :id AND status = :from AND version = :version
                     RETURNING id)
                 INSERT INTO ticketing.transitions
                     (org_id, subject, subject_id, from_state, to_state, event, cause)
                 SELECT :org, :subject, id, :from, :to, :event, :cause FROM moved"""),
        {
            **changes,
            "to": target,
            "id": row.id,
            "from": row.status,
            "version": row.version,
            "org": row.org_id,
            "subject": subject,
            "event": event,
            "cause": cause,
        },
    ).rowcount
    if done != 1:
        raise InvalidTransition(
            subject=subject, subject_id=str(row.id), state=row.status, event=event
        )
    return target


# -- events ---------------------------------------------------------------------------------


def create_event(
    conn: Connection,
    org_id: uuid.UUID,
    *,
    name: str,
    currency: str,
    starts_at: datetime,
    ends_at: datetime,
) -> uuid.UUID:
    """Create an event of the organization."""
    event_id: uuid.UUID = conn.execute(
        text("""INSERT INTO ticketing.events (org_id, name, currency, starts_at, ends_at)
                VALUES (:org, :name, :currency, :starts, :ends) RETURNING id"""),
        {"org": org_id, "name": name, "currency": currency, "starts": starts_at, "ends": ends_at},
    ).scalar_one()
    return event_id


def add_ticket_type(
    conn: Connection,
    org_id: uuid.UUID,
    event_id: uuid.UUID,
    *,
    name: str,
    price: int,
    capacity: int,
    sales_start: datetime,
    sales_end: datetime,
) -> uuid.UUID:
    """Add a ticket type (price in minor units of the event's currency) to an event."""
    if type(price) is not int or price <= 0 or type(capacity) is not int or capacity <= 0:
        raise InvalidRequest(reason="price and capacity are positive integers")
    event = conn.execute(
        text("SELECT currency FROM ticketing.events WHERE id = :id AND org_id = :org"),
        {"id": event_id, "org": org_id},
    ).first()
    if event is None:
        raise EventNotFound(event_id=str(event_id))
    type_id: uuid.UUID = conn.execute(
        text("""INSERT INTO ticketing.ticket_types
                    (event_id, org_id, name, price, currency, capacity, sales_start, sales_end)
                VALUES (:event, :org, :name, :price, :currency, :capacity, :start, :end)
                RETURNING id"""),
        {
            "event": event_id,
            "org": org_id,
            "name": name,
            "price": price,
            "currency": event.currency,
            "capacity": capacity,
            "start": sales_start,
            "end": sales_end,
        },
    ).scalar_one()
    return type_id


# -- reading --------------------------------------------------------------------------------


def _ticket(row: Any) -> Ticket:
    return Ticket(**row._asdict())


def tickets_of(conn: Connection, order_id: uuid.UUID, *, lock: bool = False) -> list[Ticket]:
    """The order's tickets (void ones included), oldest first."""
    rows = conn.execute(
        text(f"""SELECT {_TICKET_COLUMNS} FROM ticketing.tickets WHERE order_id = :id
                  ORDER BY created_at, id {"FOR UPDATE" if lock else ""}"""),
        {"id": order_id},
    ).all()
    return [_ticket(r) for r in rows]


def get_order(conn: Connection, order_id: uuid.UUID, *, lock: bool = False) -> Order:
    """The order, with the amounts paid and refunded as the ledger's escrow booked them."""
    row = conn.execute(
        text(f"""SELECT {_ORDER_COLUMNS},
                        coalesce(p.gross, 0) AS paid,
                        coalesce((SELECT sum(r.amount) FROM payments.card_refunds r
                                   WHERE r.payment_id = o.payment_intent_id AND NOT r.failed), 0)
                            AS refunded
                   FROM ticketing.orders o
                   LEFT JOIN payments.card_payments p ON p.id = o.payment_intent_id
                  WHERE o.id = :id {"FOR UPDATE OF o" if lock else ""}"""),
        {"id": order_id},
    ).first()
    if row is None:
        raise OrderNotFound(order_id=str(order_id))
    data = row._asdict()
    data["paid"] = int(data["paid"])
    data["refunded"] = int(data["refunded"])
    return Order(**data)


def order_for_payment(
    conn: Connection,
    payment_intent_id: str,
    metadata: Mapping[str, object] | None = None,
    amount: int | None = None,
) -> uuid.UUID | None:
    """The order a PaymentIntent pays for, if it is one of ours. An intent the checkout never
    recorded (it crashed, or the hold expired, between Stripe's answer and the record) is
    found by its metadata's order, which must still be waiting for an intent of exactly this
    amount; it is then recorded on the order, so its payment issues or is refunded."""
    found: uuid.UUID | None = conn.execute(
        text("SELECT id FROM ticketing.orders WHERE payment_intent_id = :pi"),
        {"pi": payment_intent_id},
    ).scalar_one_or_none()
    if found is not None or not metadata or amount is None:
        return found
    try:
        claimed = uuid.UUID(str(metadata.get(META_ORDER)))
        org = uuid.UUID(str(metadata.get(META_ORG)))
    except ValueError:
        return None  # not an order of ours: metadata is not trusted further
    recorded: uuid.UUID | None = conn.execute(
        text("""UPDATE ticketing.orders SET payment_intent_id = :pi, updated_at = now()
                 WHERE id = :id AND org_id = :org AND amount = :amount
                   AND payment_intent_id IS NULL
                RETURNING id"""),
        {"pi": payment_intent_id, "id": claimed, "org": org, "amount": amount},
    ).scalar_one_or_none()
    return recorded


# -- messages -------------------------------------------------------------------------------


def _order_note(order: Order, kind: str, status: str | None = None) -> outbox.Message:
    """The `kind` message about the order as given (its status `status` if given)."""
    return outbox.Message(
        type=kind,
        payload=OrderEvent(
            order_id=str(order.id),
            event_id=str(order.event_id),
            status=status or order.status,
            amount=order.amount,
            refunded=order.refunded,
            currency=order.currency,
        ),
        aggregate_type="order",
        aggregate_id=str(order.id),
        org_id=order.org_id,
    )


def _ticket_note(
    ticket: Ticket, kind: str, status: str, emails: Sequence[outbox.Email] = ()
) -> outbox.Message:
    """The `kind` message about the ticket, now `status`."""
    return outbox.Message(
        type=kind,
        payload=TicketEvent(
            ticket_id=str(ticket.id),
            order_id=str(ticket.order_id),
            event_id=str(ticket.event_id),
            status=status,
            holder_email=ticket.holder_email,
            code=ticket.code,
        ),
        aggregate_type="ticket",
        aggregate_id=str(ticket.id),
        org_id=ticket.org_id,
        emails=emails,
    )


def _order_message(conn: Connection, order: Order, kind: str) -> None:
    outbox.publish_many(conn, [_order_note(get_order(conn, order.id), kind)])


def _ticket_message(
    conn: Connection, ticket: Ticket, kind: str, status: str, emails: Sequence[outbox.Email] = ()
) -> None:
    outbox.publish_many(conn, [_ticket_note(ticket, kind, status, emails)])


# -- the payment's outcome ------------------------------------------------------------------


# The order, locked, with what decides the payment's outcome: whether its hold expired and
# its event was cancelled (one round trip).
_PAYING_ORDER = text(f"""
    SELECT {_ORDER_COLUMNS},
           coalesce(p.gross, 0) AS paid,
           coalesce((SELECT sum(r.amount) FROM payments.card_refunds r
                      WHERE r.payment_id = o.payment_intent_id AND NOT r.failed), 0) AS refunded,
           now() > o.hold_expires_at AS expired,
           EXISTS (SELECT 1 FROM ticketing.events e
                    WHERE e.id = o.event_id AND e.cancelled_at IS NOT NULL) AS cancelled
      FROM ticketing.orders o
      LEFT JOIN payments.card_payments p ON p.id = o.payment_intent_id
     WHERE o.id = :id
       FOR UPDATE OF o""")

# An order's held tickets issued together (a part of `_PAY_AND_ISSUE`; `{order}`, the
# order the statement paid): each is a
# compare-and-set on its status (the machine decided the move once for that status), with
# its audit row, and the ticket types' counters move the seats from held to sold (their
# rows locked in id order, as the checkout's holds lock them, so two payments never
# deadlock). The guard refuses the whole set if any ticket of the order is not held;
# `total` counts the order's tickets, so the caller also sees a ticket a concurrent change
# took out of the set.
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

_ORDER_FIELDS = [c.strip().removeprefix("o.") for c in _ORDER_COLUMNS.split(",")]


# The payment's usual case in one statement: the order, awaiting payment within its hold
# and its event not cancelled, is paid (compare-and-set on its status, the machine having
# decided `pay` for that status; its audit row), and its tickets issued as above. No row:
# the order is in another case (or not there), decided the long way. The order is named by
# its id or (`_PAY_AND_ISSUE_FOR_INTENT`) by the PaymentIntent recorded on it, as Stripe's
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
    SELECT {", ".join(f"p.{f} AS o_{f}" for f in _ORDER_FIELDS)},
           coalesce((SELECT cp.gross FROM payments.card_payments cp
                      WHERE cp.id = p.payment_intent_id), 0) AS o_paid,
           coalesce((SELECT sum(r.amount) FROM payments.card_refunds r
                      WHERE r.payment_id = p.payment_intent_id AND NOT r.failed), 0)
               AS o_refunded,
           c.total, m.*
      FROM paid p
     CROSS JOIN LATERAL (SELECT count(*) AS total FROM ticketing.tickets t
                          WHERE t.order_id = p.id) c
      LEFT JOIN moved m ON true
     ORDER BY m.created_at, m.id"""


_PAY_AND_ISSUE = _pay_and_issue_sql("o.id = %(order)s")
_PAY_AND_ISSUE_FOR_INTENT = _pay_and_issue_sql("o.payment_intent_id = %(intent)s")


def payment_succeeded(conn: Connection, order_id: uuid.UUID, *, cause: str) -> str:
    """The order's payment succeeded (escrow has booked it): issue the tickets; a payment
    for an order already cancelled or expired is refunded in full. Returns what happened."""
    if _pay_and_issue(conn, order_id, cause):
        return "issued"
    row = conn.execute(_PAYING_ORDER, {"id": order_id}).first()
    if row is None:
        raise OrderNotFound(order_id=str(order_id))
    data = row._asdict()
    expired, cancelled = data.pop("expired"), data.pop("cancelled")
    data["paid"], data["refunded"] = int(data["paid"]), int(data["refunded"])
    order = Order(**data)
    if order.status == "awaiting_payment":
        if not expired and not cancelled:
            # The order changed between the two statements (a concurrent change rolled
            # back, say): it is locked now, so paying it again cannot miss.
            if not _pay_and_issue(conn, order_id, cause):
                raise InvalidTransition(
                    subject="order", subject_id=str(order.id), state=order.status, event="pay"
                )
            return "issued"
        reason = "event cancelled" if cancelled else "hold expired before the payment"
        _release(conn, order, reason, cause)
        order = get_order(conn, order_id, lock=True)
    if order.status == "cancelled":
        refunded = conn.execute(
            text(
                "SELECT 1 FROM ticketing.refunds WHERE order_id = :id AND reason = 'late payment'"
            ),
            {"id": order.id},
        ).first()
        if refunded is None:
            _request_refund(conn, order, order.amount, "late payment", key=f"late:{order.id}")
            return "refunded"
    return "unchanged"


def _pay_and_issue(
    conn: Connection, order_id: uuid.UUID | None, cause: str, *, intent: str | None = None
) -> bool:
    """The usual case in two statements: the order (named by its id, or by the PaymentIntent
    recorded on it) awaiting payment within its hold, its event not cancelled, is paid, its
    tickets issued and the messages written. False if there is no such order, or it is in
    another case (nothing written)."""
    order_to = _decide(OrderMachine, "awaiting_payment", "pay", ())
    ticket_to = _decide(TicketMachine, "held", "issue", ())
    assert order_to is not None and ticket_to is not None, "paying issues held tickets"
    rows = fetch(
        conn,
        _PAY_AND_ISSUE if intent is None else _PAY_AND_ISSUE_FOR_INTENT,
        {
            "order": order_id,
            "intent": intent,
            "order_from": "awaiting_payment",
            "order_to": order_to,
            "order_event": "pay",
            "ticket_from": "held",
            "ticket_to": ticket_to,
            "ticket_event": "issue",
            "cause": cause,
        },
    )
    if not rows:
        return False
    first = rows[0]._asdict()
    order = Order(**{f: first[f"o_{f}"] for f in (*_ORDER_FIELDS, "paid", "refunded")})
    order = dataclasses.replace(order, paid=int(order.paid), refunded=int(order.refunded))
    _publish_issued(conn, order, _issued_tickets(conn, order, rows))
    return True


def payment_succeeded_for_intent(
    conn: Connection,
    payment_intent_id: str,
    *,
    cause: str,
    metadata: Mapping[str, object] | None = None,
    amount: int | None = None,
) -> str | None:
    """A PaymentIntent succeeded (escrow has booked it): `payment_succeeded` for the order it
    pays for, found as `order_for_payment` finds it; None if it pays for no order of ours.
    The usual case (the intent recorded on an order awaiting payment within its hold) finds
    the order in the statement that pays it: two statements in all."""
    if _pay_and_issue(conn, None, cause, intent=payment_intent_id):
        return "issued"
    order = order_for_payment(conn, payment_intent_id, metadata, amount)
    if order is None:
        return None
    return payment_succeeded(conn, order, cause=cause)


def _issued_tickets(conn: Connection, order: Order, rows: Sequence[Any]) -> list[Ticket]:
    """The tickets an issue statement moved, oldest first. A ticket not held (moved by a
    concurrent change, say) refuses the issue with InvalidTransition naming it, as `_move`
    refuses a lost race: the caller's transaction rolls back, no ticket is issued alone."""
    moved = [r for r in rows if r.id is not None]
    if not moved or len(moved) != rows[0].total:
        # The ticket the issue could not move (as it is now): the culprit to name.
        other = conn.execute(
            text("""SELECT id, status FROM ticketing.tickets
                     WHERE order_id = :order AND NOT (id = ANY(CAST(:moved AS uuid[])))
                     ORDER BY status = 'held', created_at, id"""),
            {"order": order.id, "moved": [r.id for r in moved]},
        ).first()
        raise InvalidTransition(
            subject="ticket" if other else "order",
            subject_id=str(other.id if other else order.id),
            state=other.status if other else order.status,
            event="issue",
        )
    return [Ticket(**{f: getattr(r, f) for f in _TICKET_FIELDS}) for r in moved]


def _publish_issued(conn: Connection, order: Order, tickets: Sequence[Ticket]) -> None:
    """`ticket.issued` for each ticket (with its e-mail), then `order.paid`: one statement."""
    outbox.publish_many(
        conn,
        [
            *(
                _ticket_note(
                    t,
                    "ticket.issued",
                    t.status,
                    [
                        outbox.Email(
                            to=t.holder_email,
                            subject="Your ticket",
                            body=f"Your ticket code is {t.code}. Show it at the door.",
                        )
                    ],
                )
                for t in tickets
            ),
            _order_note(order, "order.paid"),
        ],
    )


def _release(
    conn: Connection,
    order: Order,
    reason: str,
    cause: str,
    *,
    cancel_intent: bool = False,
) -> None:
    _move(
        conn, "order", order, OrderMachine, "cancel", cause=cause, changes={"cancel_reason": reason}
    )
    counts: dict[uuid.UUID, int] = {}
    for t in tickets_of(conn, order.id, lock=True):
        if t.status == "held":
            _move(conn, "ticket", t, TicketMachine, "release", cause=cause)
            counts[t.ticket_type_id] = counts.get(t.ticket_type_id, 0) + 1
    for type_id, n in sorted(counts.items()):
        conn.execute(
            text("UPDATE ticketing.ticket_types SET held = held - :n WHERE id = :id"),
            {"n": n, "id": type_id},
        )
    _order_message(conn, order, "order.cancelled")
    if cancel_intent:
        _cancel_intent(conn, order, reason)


def _cancel_intent(conn: Connection, order: Order, reason: str) -> None:
    """Ask Stripe (an outbox task) to cancel the unpaid order's PaymentIntent, so the buyer
    cannot pay for seats no longer held; an intent never recorded is found by its request."""
    row = conn.execute(
        text("""SELECT o.idempotency_key, e.ends_at FROM ticketing.orders o
                  JOIN ticketing.events e ON e.id = o.event_id WHERE o.id = :id"""),
        {"id": order.id},
    ).one()
    publish_intent_cancel(
        conn,
        order_id=order.id,
        org_id=order.org_id,
        payment_intent_id=order.payment_intent_id,
        intent=intent_request(
            org_id=order.org_id,
            event_id=order.event_id,
            event_ends_at=row.ends_at,
            order_id=order.id,
            idempotency_key=row.idempotency_key,
            amount=order.amount,
            currency=order.currency,
        ),
        reason=reason,
    )


def payment_failed(conn: Connection, order_id: uuid.UUID, *, cause: str) -> bool:
    """The payment failed or was cancelled: release the hold. False if nothing was held."""
    order = get_order(conn, order_id, lock=True)
    if order.status != "awaiting_payment":
        return False
    _release(conn, order, "payment failed or cancelled", cause)
    return True


def cancel_order(conn: Connection, org_id: uuid.UUID, order_id: uuid.UUID, *, cause: str) -> Order:
    """The buyer gives up before paying: the hold is released at once. A payment that still
    arrives for the order is refunded in full, like any late payment."""
    order = get_order(conn, order_id, lock=True)
    if order.org_id != org_id:
        raise OrderNotFound(order_id=str(order_id))
    if order.status != "awaiting_payment":
        raise InvalidTransition(
            subject="order", subject_id=str(order.id), state=order.status, event="cancel"
        )
    _release(conn, order, "cancelled by the buyer", cause, cancel_intent=True)
    return get_order(conn, order_id)


def expire_holds(conn: Connection, limit: int = 100) -> int:
    """Release the holds of orders whose hold expired unpaid; returns how many."""
    due = (
        conn.execute(
            text("""SELECT id FROM ticketing.orders
                 WHERE status = 'awaiting_payment' AND hold_expires_at < now()
                 ORDER BY hold_expires_at LIMIT :limit FOR UPDATE SKIP LOCKED"""),
            {"limit": limit},
        )
        .scalars()
        .all()
    )
    for order_id in due:
        _release(
            conn,
            get_order(conn, order_id, lock=True),
            "hold expired",
            "hold sweeper",
            cancel_intent=True,
        )
    return len(due)


# -- refunds, disputes ----------------------------------------------------------------------


def _refund_hash(order_id: uuid.UUID, ticket_ids: Sequence[uuid.UUID] | None, reason: str) -> str:
    body = [str(order_id), None if ticket_ids is None else sorted(map(str, ticket_ids)), reason]
    return hashlib.sha256(json.dumps(body).encode()).hexdigest()


def _request_refund(
    conn: Connection,
    order: Order,
    amount: int,
    reason: str,
    *,
    key: str,
    request_hash: str | None = None,
) -> uuid.UUID:
    refund_id: uuid.UUID = conn.execute(
        text("""INSERT INTO ticketing.refunds
                    (org_id, order_id, amount, reason, idempotency_key, request_hash)
                VALUES (:org, :order, :amount, :reason, :key, :hash) RETURNING id"""),
        {
            "org": order.org_id,
            "order": order.id,
            "amount": amount,
            "reason": reason,
            "key": key,
            "hash": request_hash or _refund_hash(order.id, None, reason),
        },
    ).scalar_one()
    assert order.payment_intent_id is not None
    outbox.publish(
        conn,
        type="stripe.refund.requested",
        payload=RefundRequested(
            refund_id=str(refund_id),
            order_id=str(order.id),
            payment_intent_id=order.payment_intent_id,
            amount=amount,
            currency=order.currency,
            reason=reason,
        ),
        aggregate_type="order",
        aggregate_id=str(order.id),
        org_id=order.org_id,
        task=True,
    )
    return refund_id


def refund_tickets(
    conn: Connection,
    org_id: uuid.UUID,
    order_id: uuid.UUID,
    ticket_ids: Sequence[uuid.UUID] | None,
    *,
    idempotency_key: str,
    reason: str = "requested by the buyer",
) -> uuid.UUID:
    """Refund some of an order's tickets (None: all still valid). The tickets are refunded at
    once; Stripe is asked for the refund (an outbox task) and escrow books it when Stripe
    confirms. A retry under the same key returns the same refund; the same key for another
    refund is an IdempotencyConflict."""
    digest = _refund_hash(order_id, ticket_ids, reason)
    existing = conn.execute(
        text("""SELECT id, request_hash FROM ticketing.refunds
                 WHERE org_id = :org AND idempotency_key = :key"""),
        {"org": org_id, "key": idempotency_key},
    ).first()
    if existing is not None:
        if existing.request_hash != digest:
            raise IdempotencyConflict(idempotency_key=idempotency_key)
        found: uuid.UUID = existing.id
        return found
    order = get_order(conn, order_id, lock=True)
    if order.org_id != org_id:
        raise OrderNotFound(order_id=str(order_id))
    tickets = [
        t for t in tickets_of(conn, order.id, lock=True) if t.status in ("issued", "checked_in")
    ]
    if ticket_ids is not None:
        wanted = set(ticket_ids)
        chosen = [t for t in tickets if t.id in wanted]
        if len(chosen) != len(wanted):
            raise TicketNotFound(
                ticket=",".join(sorted(str(i) for i in wanted - {t.id for t in chosen}))
            )
        tickets = chosen
    if not tickets:
        raise InvalidTransition(
            subject="order", subject_id=str(order.id), state=order.status, event="refund"
        )
    remaining = len([t for t in tickets_of(conn, order.id) if t.status in ("issued", "checked_in")])
    event = "refund_all" if remaining == len(tickets) else "refund_part"
    _move(conn, "order", order, OrderMachine, event, cause=reason)
    _refund_tickets(conn, tickets, reason)
    refund_id = _request_refund(
        conn, order, sum(t.price for t in tickets), reason, key=idempotency_key, request_hash=digest
    )
    _order_message(conn, order, "order.refunded")
    return refund_id


def settle_order(conn: Connection, order_id: uuid.UUID, *, cause: str) -> str:
    """Bring a paid order to the state its payment's facts imply, whatever order Stripe's
    events came in: the facts are escrow's (what was captured and refunded, what the
    payment's disputes came to) and ticketing's own (the refunds the platform asked for).

    - a dispute lost: the order is refunded and its valid tickets invalidated;
    - a dispute open: the order is disputed;
    - otherwise a disputed order is back: paid, or partially refunded if money went back;
    - refunds nobody asked of the platform (Stripe's Dashboard, another integration): a
      full refund refunds the order and voids its valid tickets, a partial one leaves them
      valid and the order partially refunded; the organizer is told by webhook and e-mail.

    Returns the order's status. Orders not yet paid, or cancelled, are left alone."""
    order = get_order(conn, order_id, lock=True)
    if order.payment_intent_id is None or order.status in ("awaiting_payment", "cancelled"):
        return order.status
    outcome = escrow.dispute_outcome(conn, order.payment_intent_id)
    if outcome in ("open", "lost") and order.status in ("paid", "partially_refunded"):
        _move(conn, "order", order, OrderMachine, "dispute", cause=cause)
        _order_message(conn, order, "order.disputed")
        order = get_order(conn, order_id, lock=True)
    if outcome == "lost" and order.status == "disputed":
        _lose_dispute(conn, order, cause)
        return "refunded"
    if outcome != "open" and order.status == "disputed":
        something = order.refunded > 0 or any(
            t.status == "refunded" for t in tickets_of(conn, order.id)
        )
        _move(
            conn,
            "order",
            order,
            OrderMachine,
            "dispute_won",
            cause=cause,
            facts={"nothing_refunded": not something, "something_refunded": something},
        )
        order = get_order(conn, order_id, lock=True)
    if order.status in ("paid", "partially_refunded"):
        _refunded_elsewhere(conn, order, cause)
        order = get_order(conn, order_id)
    return order.status


def _lose_dispute(conn: Connection, order: Order, cause: str) -> None:
    _move(conn, "order", order, OrderMachine, "dispute_lost", cause=cause)
    counts: dict[uuid.UUID, int] = {}
    for t in tickets_of(conn, order.id, lock=True):
        if t.status in ("issued", "checked_in"):
            _move(conn, "ticket", t, TicketMachine, "invalidate", cause=cause)
            counts[t.ticket_type_id] = counts.get(t.ticket_type_id, 0) + 1
            _ticket_message(conn, t, "ticket.invalidated", "invalidated")
    for type_id, n in sorted(counts.items()):
        conn.execute(
            text("UPDATE ticketing.ticket_types SET sold = sold - :n WHERE id = :id"),
            {"n": n, "id": type_id},
        )


def _refund_tickets(conn: Connection, tickets: Sequence[Ticket], cause: str) -> None:
    """Refund these valid tickets: each moves and is announced, their seats are free again."""
    counts: dict[uuid.UUID, int] = {}
    for t in tickets:
        _move(conn, "ticket", t, TicketMachine, "refund", cause=cause)
        counts[t.ticket_type_id] = counts.get(t.ticket_type_id, 0) + 1
        _ticket_message(conn, t, "ticket.refunded", "refunded")
    for type_id, n in sorted(counts.items()):
        conn.execute(
            text("UPDATE ticketing.ticket_types SET sold = sold - :n WHERE id = :id"),
            {"n": n, "id": type_id},
        )


def _refunded_elsewhere(conn: Connection, order: Order, cause: str) -> None:
    """Refunds made outside the platform reach the order: the money refunded beyond what
    the platform asked for (its own refunds moved the order when asked)."""
    asked: int = conn.execute(
        text("SELECT coalesce(sum(amount), 0) FROM ticketing.refunds WHERE order_id = :id"),
        {"id": order.id},
    ).scalar_one()
    if order.refunded <= asked or order.paid <= 0:
        return
    full = order.refunded >= order.paid
    # A partial refund of an order already partially refunded moves no state (its amounts
    # come from the ledger), but the organizer is still told of it below.
    if full or order.status == "paid":
        event = "refund_all" if full else "refund_part"
        _move(conn, "order", order, OrderMachine, event, cause=cause)
    if full:
        valid = [
            t for t in tickets_of(conn, order.id, lock=True) if t.status in ("issued", "checked_in")
        ]
        _refund_tickets(conn, valid, cause)
    fresh = get_order(conn, order.id)
    policy = escrow.get_policy(conn, order.org_id)
    emails = (
        [
            outbox.Email(
                to=policy.payout_email,
                subject="A refund was made outside Liventix",
                body=(
                    f"Order {order.id} was refunded {fresh.refunded} of {fresh.paid} "
                    f"(minor units of {fresh.currency}) outside the platform; "
                    + ("its tickets are void." if full else "its tickets stay valid.")
                ),
            )
        ]
        if policy.payout_email
        else []
    )
    outbox.publish(
        conn,
        type="order.refunded",
        payload=OrderEvent(
            order_id=str(fresh.id),
            event_id=str(fresh.event_id),
            status=fresh.status,
            amount=fresh.amount,
            refunded=fresh.refunded,
            currency=fresh.currency,
        ),
        aggregate_type="order",
        aggregate_id=str(fresh.id),
        org_id=fresh.org_id,
        emails=emails,
        # Told once per amount refunded, however often and in whatever order Stripe's
        # events about it arrive.
        dedup_key=f"order.refunded-elsewhere:{fresh.id}:{fresh.refunded}",
    )


def dispute_opened(conn: Connection, order_id: uuid.UUID, *, cause: str) -> bool:
    """A chargeback was opened on the order's payment (escrow has recorded it): the order
    follows what the payment's disputes come to. True if the order is now disputed."""
    return settle_order(conn, order_id, cause=cause) == "disputed"


def dispute_closed(conn: Connection, order_id: uuid.UUID, won: bool, *, cause: str) -> bool:
    """A chargeback closed (escrow has recorded it): the order follows what the payment's
    disputes come to; won, the order is back; lost, its tickets are invalidated. True if
    the order left `disputed`."""
    del won  # the outcome is escrow's fact, not this event's
    return settle_order(conn, order_id, cause=cause) != "disputed"


# -- transfer, check-in, cancellation -------------------------------------------------------


def _lock_ticket(conn: Connection, org_id: uuid.UUID, where: str, value: object) -> Ticket:
    row = conn.execute(
        text(
            f"SELECT {_TICKET_COLUMNS} FROM ticketing.tickets"
            f" WHERE {where} = :v AND org_id = :org FOR UPDATE"
        ),
        {"v": value, "org": org_id},
    ).first()
    if row is None:
        raise TicketNotFound(ticket=str(value))
    return _ticket(row)


def transfer_ticket(
    conn: Connection, org_id: uuid.UUID, ticket_id: uuid.UUID, new_holder: str, *, cause: str
) -> Ticket:
    """Give an issued ticket to a new holder: the old code is void, a new ticket is issued."""
    if "@" not in new_holder:
        raise InvalidRequest(reason="the new holder needs an e-mail address")
    # The order first, then the ticket: the order every other path (refund, dispute,
    # cancellation) locks in, so a transfer racing them waits instead of deadlocking.
    order_id = conn.execute(
        text("SELECT order_id FROM ticketing.tickets WHERE id = :id AND org_id = :org"),
        {"id": ticket_id, "org": org_id},
    ).scalar_one_or_none()
    if order_id is None:
        raise TicketNotFound(ticket=str(ticket_id))
    get_order(conn, order_id, lock=True)
    old = _lock_ticket(conn, org_id, "id", ticket_id)
    _move(conn, "ticket", old, TicketMachine, "transfer_away", cause=cause)
    row = conn.execute(
        text(f"""INSERT INTO ticketing.tickets
                     (order_id, org_id, event_id, ticket_type_id, status, code, holder_email,
                      price, replaces)
                 VALUES (:order, :org, :event, :type, 'issued', :code, :holder, :price, :old)
                 RETURNING {_TICKET_COLUMNS}"""),
        {
            "order": old.order_id,
            "org": old.org_id,
            "event": old.event_id,
            "type": old.ticket_type_id,
            "code": new_ticket_code(),
            "holder": new_holder,
            "price": old.price,
            "old": old.id,
        },
    ).one()
    new = _ticket(row)
    conn.execute(
        text("""INSERT INTO ticketing.transitions
                    (org_id, subject, subject_id, from_state, to_state, event, cause)
                VALUES (:org, 'ticket', :id, 'held', 'issued', 'issue', :cause)"""),
        {"org": new.org_id, "id": new.id, "cause": f"transfer of {old.id}"},
    )
    _ticket_message(
        conn,
        new,
        "ticket.transferred",
        "issued",
        [outbox.Email(to=new_holder, subject="A ticket for you", body=f"Your code is {new.code}.")],
    )
    return new


def check_in(conn: Connection, org_id: uuid.UUID, code: str, scanner: str) -> Ticket:
    """Check a ticket in at the door, once; a second scan says who scanned it and when."""
    ticket = _lock_ticket(conn, org_id, "code", code)
    if ticket.status == "checked_in":
        raise AlreadyCheckedIn(
            ticket_id=str(ticket.id),
            checked_in_at=str(ticket.checked_in_at),
            checked_in_by=str(ticket.checked_in_by),
        )
    _move(
        conn,
        "ticket",
        ticket,
        TicketMachine,
        "check_in",
        cause=f"scanned by {scanner}",
        changes={
            "checked_in_by": scanner,
            "checked_in_at": conn.execute(text("SELECT now()")).scalar_one(),
        },
    )
    _ticket_message(conn, ticket, "ticket.checked_in", "checked_in")
    return _lock_ticket(conn, org_id, "id", ticket.id)


def cancel_event(conn: Connection, org_id: uuid.UUID, event_id: uuid.UUID) -> int:
    """Cancel an event: sales stop, unpaid orders are cancelled, every paid order refunded.
    Returns how many orders were refunded."""
    done = conn.execute(
        text("""UPDATE ticketing.events SET cancelled_at = coalesce(cancelled_at, now())
                 WHERE id = :id AND org_id = :org"""),
        {"id": event_id, "org": org_id},
    ).rowcount
    if not done:
        raise EventNotFound(event_id=str(event_id))
    refunded = 0
    orders = conn.execute(
        text(
            "SELECT id, status FROM ticketing.orders WHERE event_id = :id ORDER BY created_at, id"
        ),
        {"id": event_id},
    ).all()
    for o in orders:
        if o.status == "awaiting_payment":
            _release(
                conn,
                get_order(conn, o.id, lock=True),
                "event cancelled",
                "event cancelled",
                cancel_intent=True,
            )
        elif o.status in ("paid", "partially_refunded", "disputed"):
            refund_tickets(
                conn,
                org_id,
                o.id,
                None,
                idempotency_key=f"event-cancelled:{o.id}",
                reason="event cancelled",
            )
            refunded += 1
    return refunded

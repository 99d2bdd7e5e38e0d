"""The checkout, in three steps so that no lock and no transaction is held while Stripe answers.

1. `reserve_checkout` (a short transaction of its own): the seats are held and the order and
   its tickets stored, with the hold's expiry. The ticket type's counter row, the one row
   every buyer of a hot ticket type writes, is locked by the last statement and the commit
   only: its conditional UPDATE with the order's insert (one statement), then the commit.
2. `ask_for_intent` (no transaction open): Stripe creates the PaymentIntent, under an
   idempotency key derived from the checkout's key, with metadata naming the order.
3. `record_payment_intent` (a second short transaction): the PaymentIntent is recorded on
   the order; the buyer gets its client secret.

Every crash point between them is safe:
- after 1, before 3: the order waits with no PaymentIntent; a retry under the same key finds
  it and continues at 2 (Stripe answers the same key with the same PaymentIntent); without a
  retry the hold expires (`service.expire_holds`), which frees the seats and asks Stripe,
  through an outbox task, to cancel the PaymentIntent, found again by its key;
- a PaymentIntent paid although never recorded is found by its metadata's order, which must
  still be waiting for exactly that payment (`service.order_for_payment`): within the hold it
  issues the tickets, after it the payment is refunded in full, like any late payment;
- after 3, the order is an ordinary order awaiting payment.

`start_checkout` runs the three steps, each as its own unit of work, for callers that hold an
engine (the demo, the benchmarks, tests); the HTTP API runs them inside its request.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Engine, text

import outbox
import pgdriver
from ticketing_fsm.errors import (
    CheckoutExpired,
    EventNotFound,
    IdempotencyConflict,
    InvalidRequest,
    NotOnSale,
    SoldOut,
    TicketTypeNotFound,
)
from ticketing_fsm.messages import IntentCancelRequested
from ticketing_fsm.ports import CreatedIntent, PaymentGateway

DEFAULT_HOLD = timedelta(minutes=10)
_ORDER_IDS = uuid.UUID("6f1c3e52-4a7d-4f1e-9a59-2b7c0c6a2e11")

# PaymentIntent metadata: escrow finds its escrow by the first three, ticketing its order.
META_ORG = "liventix_org_id"
META_EVENT = "liventix_event_id"
META_EVENT_ENDS = "liventix_event_ends_at"
META_ORDER = "liventix_order_id"


@dataclass(frozen=True)
class CheckoutItem:
    """So many tickets of one type."""

    ticket_type_id: uuid.UUID
    quantity: int


@dataclass(frozen=True)
class CheckoutRequest:
    """A buyer's checkout: the tickets wanted, under the caller's idempotency key."""

    idempotency_key: str
    org_id: uuid.UUID
    event_id: uuid.UUID
    buyer_email: str
    items: Sequence[CheckoutItem]

    def fingerprint(self) -> str:
        """SHA-256 of the request without its key."""
        body = {
            "org": str(self.org_id),
            "event": str(self.event_id),
            "buyer": self.buyer_email,
            "items": sorted((str(i.ticket_type_id), i.quantity) for i in self.items),
        }
        return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()


@dataclass(frozen=True)
class Checkout:
    """What the front end needs to take the payment."""

    order_id: uuid.UUID
    amount: int
    currency: str
    payment_intent_id: str
    client_secret: str
    hold_expires_at: datetime
    replayed: bool


@dataclass(frozen=True)
class IntentRequest:
    """The PaymentIntent an order asks Stripe for: the same order always asks the very same
    request under the same key, so Stripe answers every retry with one PaymentIntent."""

    amount: int
    currency: str
    metadata: dict[str, str]
    idempotency_key: str


@dataclass(frozen=True)
class PendingCheckout:
    """Seats held and the order stored (committed); its PaymentIntent not yet recorded."""

    order_id: uuid.UUID
    amount: int
    currency: str
    hold_expires_at: datetime
    intent: IntentRequest


def order_id_for(org_id: uuid.UUID, idempotency_key: str) -> uuid.UUID:
    """The order's id, derived from its checkout key."""
    return uuid.uuid5(_ORDER_IDS, f"{org_id}:{idempotency_key}")


def intent_request(
    *,
    org_id: uuid.UUID,
    event_id: uuid.UUID,
    event_ends_at: datetime,
    order_id: uuid.UUID,
    idempotency_key: str,
    amount: int,
    currency: str,
) -> IntentRequest:
    """The PaymentIntent request of an order (pure: the order's facts decide it)."""
    return IntentRequest(
        amount=amount,
        currency=currency,
        metadata={
            META_ORG: str(org_id),
            META_EVENT: str(event_id),
            META_EVENT_ENDS: event_ends_at.isoformat(),
            META_ORDER: str(order_id),
        },
        idempotency_key=f"checkout:{org_id}:{idempotency_key}",
    )


def new_ticket_code() -> str:
    """A ticket's code: unguessable, URL-safe."""
    return secrets.token_urlsafe(12)


# The checkout's own statements run on the connection's driver cursor (`pgdriver.cursor`): for
# statements this short, SQLAlchemy's compilation and result set-up cost more CPU than the
# round trip. psycopg's placeholders; psycopg prepares each after its fifth use.

# The same key at once from two callers: the second waits here for the first's commit, then
# (its next statement taking a new snapshot) finds its order.
_LOCK = "SELECT pg_advisory_xact_lock(hashtextextended(%(lock)s, 0))"

# In one statement: the order stored under the key (with its event's end), and for a new
# one the event, locked FOR SHARE (a cancellation of the event waits for this checkout and
# is seen by it), and the prices of the ticket types asked for, in id order.
_OPENING = """
    WITH e AS (
        SELECT id, currency, ends_at, cancelled_at FROM ticketing.events
         WHERE id = %(event)s AND org_id = %(org)s FOR SHARE
    ), o AS (
        SELECT o.id, o.amount, o.currency, o.payment_intent_id, o.client_secret,
               o.hold_expires_at, o.request_hash, o.status, o.event_id, oe.ends_at
          FROM ticketing.orders o JOIN ticketing.events oe ON oe.id = o.event_id
         WHERE o.org_id = %(org)s AND o.idempotency_key = %(key)s
    )
    SELECT o.id AS order_id, o.amount AS order_amount, o.currency AS order_currency,
           o.payment_intent_id, o.client_secret, o.hold_expires_at, o.request_hash,
           o.status, o.event_id AS order_event_id, o.ends_at AS order_ends_at,
           e.id AS event_id, e.currency, e.ends_at, e.cancelled_at,
           p.type_ids, p.prices
      FROM (VALUES (1)) AS one (x)
      LEFT JOIN o ON true
      LEFT JOIN e ON true
      LEFT JOIN LATERAL (
          SELECT array_agg(t.id ORDER BY t.id) AS type_ids,
                 array_agg(t.price ORDER BY t.id) AS prices
            FROM ticketing.ticket_types t
           WHERE t.id = ANY(%(ids)s::uuid[]) AND t.event_id = %(event)s
      ) p ON true"""

# The order and its tickets in one statement, once the seats are held.
_INSERT_ORDER = """
    WITH o AS (
        INSERT INTO ticketing.orders
            (id, org_id, event_id, buyer_email, currency, amount, hold_expires_at,
             idempotency_key, request_hash)
        VALUES (%(id)s, %(org)s, %(event)s, %(buyer)s, %(currency)s, %(amount)s,
                now() + %(hold)s, %(key)s, %(hash)s)
        RETURNING id, hold_expires_at
    ), t AS (
        INSERT INTO ticketing.tickets
            (order_id, org_id, event_id, ticket_type_id, code, holder_email, price)
        SELECT o.id, %(org)s, %(event)s, t.type_id, t.code, %(buyer)s, t.price
          FROM o, unnest(%(types)s::uuid[], %(codes)s::text[], %(prices)s::bigint[])
               AS t(type_id, code, price)
    )
    SELECT hold_expires_at FROM o"""

# A checkout of one ticket type (nearly every one): the hold, the order and its tickets in one
# statement, so the hot row is locked by that statement and the commit only. Nothing is
# inserted when the hold is refused (no row).
_HOLD_AND_INSERT = """
    WITH h AS (
        UPDATE ticketing.ticket_types SET held = held + %(n)s
         WHERE id = %(type)s AND event_id = %(event)s AND price = %(price)s
           AND now() >= sales_start AND now() < sales_end
           AND held + sold + %(n)s <= capacity
        RETURNING id
    ), o AS (
        INSERT INTO ticketing.orders
            (id, org_id, event_id, buyer_email, currency, amount, hold_expires_at,
             idempotency_key, request_hash)
        SELECT %(id)s::uuid, %(org)s::uuid, %(event)s::uuid, %(buyer)s::text,
               %(currency)s::text, %(amount)s::bigint, now() + %(hold)s::interval,
               %(key)s::text, %(hash)s::text
          FROM h
        RETURNING id, hold_expires_at
    ), t AS (
        INSERT INTO ticketing.tickets
            (order_id, org_id, event_id, ticket_type_id, code, holder_email, price)
        SELECT o.id, %(org)s, %(event)s, %(type)s, t.code, %(buyer)s, %(price)s
          FROM o, unnest(%(codes)s::text[]) AS t(code)
    )
    SELECT hold_expires_at FROM o"""

# The hot row: the seats are held by a conditional UPDATE, followed only by the order's
# insert and the commit. The price is checked again so a changed price cannot slip between
# read and hold.
_HOLD = """
    UPDATE ticketing.ticket_types SET held = held + %(n)s
     WHERE id = %(id)s AND event_id = %(event)s AND price = %(price)s
       AND now() >= sales_start AND now() < sales_end
       AND held + sold + %(n)s <= capacity"""

_UNHOLD = text("UPDATE ticketing.ticket_types SET held = held - :n WHERE id = :id")

_RECORDED = text("""
    SELECT org_id, status, payment_intent_id, client_secret, hold_expires_at
      FROM ticketing.orders WHERE id = :id""")

_DIAGNOSE = text("""
    SELECT capacity - held - sold AS left,
           now() >= sales_start AND now() < sales_end AS on_sale
      FROM ticketing.ticket_types WHERE id = :id AND event_id = :event""")

_RECORD = """
    UPDATE ticketing.orders
       SET payment_intent_id = %(pi)s, client_secret = %(secret)s, updated_at = now()
     WHERE id = %(id)s AND (payment_intent_id IS NULL OR payment_intent_id = %(pi)s)
    RETURNING status, hold_expires_at"""


def _validate(request: CheckoutRequest) -> None:
    if not request.items or any(
        type(i.quantity) is not int or i.quantity <= 0 for i in request.items
    ):
        raise InvalidRequest(reason="a checkout asks for one or more tickets of each type")
    if len({i.ticket_type_id for i in request.items}) != len(request.items):
        raise InvalidRequest(reason="a checkout names each ticket type once")
    if not request.idempotency_key or "@" not in request.buyer_email:
        raise InvalidRequest(reason="a checkout needs an idempotency key and a buyer e-mail")


def _existing(request: CheckoutRequest, digest: str, row: Any) -> Checkout | PendingCheckout:
    """The checkout already stored under the request's key (`row`: `_OPENING`'s)."""
    if row.request_hash != digest:
        raise IdempotencyConflict(idempotency_key=request.idempotency_key)
    if row.payment_intent_id is not None:
        return Checkout(
            order_id=row.order_id,
            amount=row.order_amount,
            currency=row.order_currency,
            payment_intent_id=row.payment_intent_id,
            client_secret=row.client_secret,
            hold_expires_at=row.hold_expires_at,
            replayed=True,
        )
    if row.status != "awaiting_payment":
        raise CheckoutExpired(order_id=str(row.order_id), status=row.status)
    return PendingCheckout(
        order_id=row.order_id,
        amount=row.order_amount,
        currency=row.order_currency,
        hold_expires_at=row.hold_expires_at,
        intent=intent_request(
            org_id=request.org_id,
            event_id=row.order_event_id,
            event_ends_at=row.order_ends_at,
            order_id=row.order_id,
            idempotency_key=request.idempotency_key,
            amount=row.order_amount,
            currency=row.order_currency,
        ),
    )


def reserve_checkout(
    conn: Connection, request: CheckoutRequest, *, hold: timedelta = DEFAULT_HOLD
) -> Checkout | PendingCheckout:
    """Step 1: store the order and its tickets and hold the seats until the hold expires.
    The caller commits at once. A key seen before returns its checkout (its PaymentIntent
    recorded) or its pending checkout (not yet: go on to step 2); a refusal (sold out, not
    on sale) raises and the caller's transaction must roll back.

    Three statements for one ticket type: the key's lock, the order's and the event's reads
    in one, the hold with the order's insert in one; then the caller's commit. Several
    ticket types are held one by one, in id order (two checkouts never deadlock), then the
    order is inserted."""
    _validate(request)
    digest = request.fingerprint()
    items = sorted(request.items, key=lambda i: i.ticket_type_id)
    with pgdriver.cursor(conn) as cursor:
        cursor.execute(_LOCK, {"lock": f"checkout:{request.org_id}:{request.idempotency_key}"})
        cursor.execute(
            _OPENING,
            {
                "org": request.org_id,
                "event": request.event_id,
                "key": request.idempotency_key,
                "ids": [i.ticket_type_id for i in items],
            },
        )
        opening = cursor.fetchone()
    if opening is None:  # one row, always
        raise RuntimeError("the checkout's opening read returned no row")
    if opening.order_id is not None:
        return _existing(request, digest, opening)
    if opening.event_id is None:
        raise EventNotFound(event_id=str(request.event_id))
    prices: dict[uuid.UUID, int] = dict(
        zip(opening.type_ids or (), opening.prices or (), strict=True)
    )
    for item in items:
        if item.ticket_type_id not in prices:
            raise TicketTypeNotFound(ticket_type_id=str(item.ticket_type_id))
        if opening.cancelled_at is not None:
            raise NotOnSale(ticket_type_id=str(item.ticket_type_id))
    amount = sum(prices[i.ticket_type_id] * i.quantity for i in items)
    order_id = order_id_for(request.org_id, request.idempotency_key)
    order = {
        "id": order_id,
        "org": request.org_id,
        "event": request.event_id,
        "buyer": request.buyer_email,
        "currency": opening.currency,
        "amount": amount,
        "hold": hold,
        "key": request.idempotency_key,
        "hash": digest,
        "types": [i.ticket_type_id for i in items for _n in range(i.quantity)],
        "codes": [new_ticket_code() for i in items for _n in range(i.quantity)],
        "prices": [prices[i.ticket_type_id] for i in items for _n in range(i.quantity)],
    }
    if len(items) == 1:
        item = items[0]
        with pgdriver.cursor(conn) as cursor:
            cursor.execute(
                _HOLD_AND_INSERT,
                {
                    **order,
                    "n": item.quantity,
                    "type": item.ticket_type_id,
                    "price": prices[item.ticket_type_id],
                },
            )
            inserted = cursor.fetchone()
        if inserted is None:
            _refuse(conn, request.event_id, item)
    else:
        _hold_seats(conn, request.event_id, items, prices)
        with pgdriver.cursor(conn) as cursor:
            cursor.execute(_INSERT_ORDER, order)
            inserted = cursor.fetchone()
    if inserted is None:
        raise RuntimeError("the order's insert returned no row")
    expires: datetime = inserted.hold_expires_at
    return PendingCheckout(
        order_id=order_id,
        amount=amount,
        currency=opening.currency,
        hold_expires_at=expires,
        intent=intent_request(
            org_id=request.org_id,
            event_id=request.event_id,
            event_ends_at=opening.ends_at,
            order_id=order_id,
            idempotency_key=request.idempotency_key,
            amount=amount,
            currency=opening.currency,
        ),
    )


def _hold_seats(
    conn: Connection,
    event_id: uuid.UUID,
    items: Sequence[CheckoutItem],
    prices: dict[uuid.UUID, int],
) -> None:
    """Hold each item's seats (in ticket type order, so two checkouts never deadlock); on a
    refusal the holds already taken are given back before the refusal is raised."""
    taken: list[CheckoutItem] = []
    for item in items:
        with pgdriver.cursor(conn) as cursor:
            cursor.execute(
                _HOLD,
                {
                    "n": item.quantity,
                    "id": item.ticket_type_id,
                    "event": event_id,
                    "price": prices[item.ticket_type_id],
                },
            )
            held = cursor.rowcount
        if held != 1:
            for done in taken:
                conn.execute(_UNHOLD, {"n": done.quantity, "id": done.ticket_type_id})
            _refuse(conn, event_id, item)
        taken.append(item)


def _refuse(conn: Connection, event_id: uuid.UUID, item: CheckoutItem) -> None:
    row = conn.execute(_DIAGNOSE, {"id": item.ticket_type_id, "event": event_id}).first()
    if row is None:
        raise TicketTypeNotFound(ticket_type_id=str(item.ticket_type_id))
    if not row.on_sale:
        raise NotOnSale(ticket_type_id=str(item.ticket_type_id))
    if row.left >= item.quantity:
        # Enough seats, but the price changed between the read and the hold.
        raise InvalidRequest(reason=f"the price of {item.ticket_type_id} changed; retry")
    raise SoldOut(
        ticket_type_id=str(item.ticket_type_id), requested=item.quantity, available=row.left
    )


def ask_for_intent(gateway: PaymentGateway, pending: PendingCheckout) -> CreatedIntent:
    """Step 2, with no transaction open: Stripe's PaymentIntent for the pending checkout
    (the same one on every retry, by its key)."""
    req = pending.intent
    return gateway.create_payment_intent(
        req.amount, req.currency, req.metadata, idempotency_key=req.idempotency_key
    )


def record_payment_intent(
    conn: Connection, pending: PendingCheckout, intent: CreatedIntent
) -> Checkout:
    """Step 3: record the PaymentIntent on its order. If the hold expired meanwhile, the
    buyer is told with CheckoutExpired: the expiry has asked Stripe to cancel the intent
    (found again by its key), and a payment that still comes finds its order by metadata and
    is refunded in full."""
    with pgdriver.cursor(conn) as cursor:
        cursor.execute(
            _RECORD,
            {
                "id": pending.order_id,
                "pi": intent.payment_intent_id,
                "secret": intent.client_secret,
            },
        )
        row = cursor.fetchone()
    if row is None:
        return _first_intent(conn, pending, intent)
    if row.status != "awaiting_payment":
        raise CheckoutExpired(order_id=str(pending.order_id), status=row.status)
    return Checkout(
        order_id=pending.order_id,
        amount=pending.amount,
        currency=pending.currency,
        payment_intent_id=intent.payment_intent_id,
        client_secret=intent.client_secret,
        hold_expires_at=row.hold_expires_at,
        replayed=False,
    )


def _first_intent(conn: Connection, pending: PendingCheckout, stray: CreatedIntent) -> Checkout:
    """Another attempt recorded its PaymentIntent first (Stripe forgot the key, or answered
    two racing attempts apart): the first recorded stays the order's, as a replay; the stray
    one is cancelled at Stripe (an outbox task), so it can never be paid."""
    row = conn.execute(_RECORDED, {"id": pending.order_id}).one()
    publish_intent_cancel(
        conn,
        order_id=pending.order_id,
        org_id=row.org_id,
        payment_intent_id=stray.payment_intent_id,
        intent=pending.intent,
        reason="a second PaymentIntent for one order",
    )
    if row.status != "awaiting_payment":
        raise CheckoutExpired(order_id=str(pending.order_id), status=row.status)
    return Checkout(
        order_id=pending.order_id,
        amount=pending.amount,
        currency=pending.currency,
        payment_intent_id=row.payment_intent_id,
        client_secret=row.client_secret,
        hold_expires_at=row.hold_expires_at,
        replayed=True,
    )


def publish_intent_cancel(
    conn: Connection,
    *,
    order_id: uuid.UUID,
    org_id: uuid.UUID,
    payment_intent_id: str | None,
    intent: IntentRequest,
    reason: str,
) -> None:
    """Ask Stripe, through an outbox task on the caller's transaction, to cancel an order's
    PaymentIntent; one never recorded (`payment_intent_id` None) is found again by `intent`,
    its creation request."""
    outbox.publish(
        conn,
        type="stripe.payment_intent.cancel.requested",
        payload=IntentCancelRequested(
            order_id=str(order_id),
            payment_intent_id=payment_intent_id,
            intent_amount=intent.amount,
            intent_currency=intent.currency,
            intent_metadata=intent.metadata,
            intent_idempotency_key=intent.idempotency_key,
            reason=reason,
        ),
        aggregate_type="order",
        aggregate_id=str(order_id),
        org_id=org_id,
        task=True,
    )


def start_checkout(
    engine: Engine,
    gateway: PaymentGateway,
    request: CheckoutRequest,
    *,
    hold: timedelta = DEFAULT_HOLD,
) -> Checkout:
    """The whole checkout as three units of work: hold (commit), ask Stripe with no
    transaction open, record (commit). A retry under the same key returns the same order
    and PaymentIntent and holds nothing more."""
    with engine.begin() as conn:
        reserved = reserve_checkout(conn, request, hold=hold)
    if isinstance(reserved, Checkout):
        return reserved
    intent = ask_for_intent(gateway, reserved)
    with engine.begin() as conn:
        return record_payment_intent(conn, reserved, intent)

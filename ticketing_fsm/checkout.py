"""The checkout, in three steps so that no lock and no transaction is held while Stripe answers.

1. `reserve_checkout` (a short transaction of its own): the seats are held and the order and
   its tickets stored, with the hold's expiry. The ticket type's counter row, the one row
   every buyer of a hot ticket type writes, is locked by the last statement and the commit
   only: its conditional UPDATE with the order's insert (one statement), then the commit,
   which (over the API: `ticketing.hold_checkout`) does not wait for the WAL flush; the
   record step's synchronous commit makes the hold durable before anything is answered.
2. `ask_for_intent` (no transaction open): Stripe creates the PaymentIntent, under an
   idempotency key derived from the checkout's key, with metadata naming the order.
3. `record_payment_intent` (a second short transaction): the PaymentIntent is recorded on
   the order; the buyer gets its client secret. The API sends the record's statement in the
   round trip that authenticates the transaction (`record_statement`).

Every crash point between them is safe:
- after 1, before 3: the order waits with no PaymentIntent; a retry under the same key finds
  it and continues at 2 (Stripe answers the same key with the same PaymentIntent); without a
  retry the hold expires (`outcomes.expire_holds`), which asks Stripe, through an outbox
  task, to cancel the PaymentIntent, found again by its key, and frees the seats on Stripe's
  answer; a retry after the hold expired (by the database's clock, the sweeper run or not
  yet) records nothing and is told CheckoutExpired, as is a checkout whose Stripe call
  outlasted the hold: every record statement records only within the hold;
- a PaymentIntent paid although never recorded is found by its metadata's order, which must
  still be waiting for exactly that payment (`outcomes.order_for_payment`): within the hold it
  issues the tickets, after it the payment is refunded in full, like any late payment;
- the hold itself lost after 1 (its commit does not wait for the WAL flush: a crash or a
  failover of the database before the flush): 3 finds no order and raises
  `CheckoutInterrupted` (the API: 503 with Retry-After), recording nothing; nobody was
  answered for the hold. A retry under the same key holds the seats again under the same
  order id (derived from the key) and Stripe answers the same key with the same
  PaymentIntent, which 3 then records; without a retry, that PaymentIntent's client secret
  was never given out, so nobody can pay it. A retry with another body (or at a price
  changed since) holds again, but Stripe refuses its key with other parameters (the
  gateway raises Stripe's idempotency error; the API answers 409): that hold expires unpaid;
- after 3, the order is an ordinary order awaiting payment.

`start_checkout` runs the three steps, each as its own unit of work, for callers that hold an
engine (the demo, the benchmarks, tests), in two round trips to the database for a checkout
of one ticket type: step 1 as one simple query (BEGIN, `ticketing.open_and_hold_checkout_for`,
COMMIT), step 3 as one statement that is its own transaction. The HTTP API runs them inside
its request, each step
in one round trip to the database with its authentication and its commit where it can: step 1
as `plan_hold` (one statement, `ticketing.open_and_hold_checkout`, for a checkout of one ticket
type planned for the organization the key last authenticated for), step 3 as
`record_awaiting_statement` (the record, which the API sends with the answer stored under the
request's key); anything unexpected goes the long way (`reserve_checkout`,
`record_payment_intent`), which finds why. The crash points above are the same.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, NoReturn

from sqlalchemy import Connection, Engine
from sqlalchemy.exc import DBAPIError

from ticketing_fsm import decisions, store
from ticketing_fsm.decisions import (
    META_EVENT,
    META_EVENT_ENDS,
    META_ORDER,
    META_ORG,
    CheckoutItem,
    CheckoutRequest,
    IntentRequest,
)
from ticketing_fsm.errors import (
    CheckoutExpired,
    CheckoutInterrupted,
    EventNotFound,
    IdempotencyConflict,
    InvalidRequest,
)
from ticketing_fsm.lifecycle import new_ticket_code, publish_intent_cancel
from ticketing_fsm.ports import CreatedIntent, PaymentGateway

__all__ = [
    "DEFAULT_HOLD",
    "KEY_TAKEN",
    "META_EVENT",
    "META_EVENT_ENDS",
    "META_ORDER",
    "META_ORG",
    "Checkout",
    "CheckoutItem",
    "CheckoutRequest",
    "IntentRequest",
    "PendingCheckout",
    "PlannedHold",
    "ask_for_intent",
    "key_taken",
    "opening_statement",
    "plan_hold",
    "planned_hold_result",
    "record_awaiting_statement",
    "record_payment_intent",
    "record_statement",
    "reserve_checkout",
    "start_checkout",
]

DEFAULT_HOLD = timedelta(minutes=10)
KEY_TAKEN = frozenset({"orders_pkey", "orders_key"})
"""The unique constraints a checkout's order meets when the same key's order was inserted
by a concurrent checkout first (its id is derived from the key: either may be met first)."""


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
class PendingCheckout:
    """Seats held and the order stored (committed); its PaymentIntent not yet recorded."""

    order_id: uuid.UUID
    amount: int
    currency: str
    hold_expires_at: datetime
    intent: IntentRequest


def _pending(
    request: CheckoutRequest,
    *,
    order_id: uuid.UUID,
    event_id: uuid.UUID,
    event_ends_at: datetime,
    amount: int,
    currency: str,
    hold_expires_at: datetime,
) -> PendingCheckout:
    """The held order, with the PaymentIntent request Stripe is asked under its key."""
    return PendingCheckout(
        order_id=order_id,
        amount=amount,
        currency=currency,
        hold_expires_at=hold_expires_at,
        intent=decisions.intent_request(
            org_id=request.org_id,
            event_id=event_id,
            event_ends_at=event_ends_at,
            order_id=order_id,
            idempotency_key=request.idempotency_key,
            amount=amount,
            currency=currency,
        ),
    )


def _existing(request: CheckoutRequest, digest: str, row: Any) -> Checkout | PendingCheckout:
    """The checkout already stored under the request's key (`row`: the opening read's)."""
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
    # Pending, its hold perhaps over (the opening's rows carry no clock to tell): it goes on
    # to Stripe (the same intent, by its key) and its record, which records only within the
    # hold, tells CheckoutExpired. A recorded checkout (above) replays, expired or not.
    return _pending(
        request,
        order_id=row.order_id,
        event_id=row.order_event_id,
        event_ends_at=row.order_ends_at,
        amount=row.order_amount,
        currency=row.order_currency,
        hold_expires_at=row.hold_expires_at,
    )


def _order_params(
    request: CheckoutRequest,
    items: Sequence[CheckoutItem],
    prices: dict[uuid.UUID, int],
    *,
    currency: str,
    hold: timedelta,
) -> dict[str, Any]:
    """The new order's and its tickets' parameters (one ticket per seat, in type order)."""
    seats = [i for i in items for _n in range(i.quantity)]
    return {
        "id": decisions.order_id_for(request.org_id, request.idempotency_key),
        "org": request.org_id,
        "event": request.event_id,
        "buyer": request.buyer_email,
        "currency": currency,
        "amount": sum(prices[i.ticket_type_id] * i.quantity for i in items),
        "hold": hold,
        "key": request.idempotency_key,
        "hash": request.fingerprint(),
        "types": [i.ticket_type_id for i in seats],
        "codes": [new_ticket_code() for _i in seats],
        "prices": [prices[i.ticket_type_id] for i in seats],
    }


def opening_statement(
    event_id: uuid.UUID, idempotency_key: str, items: Sequence[CheckoutItem]
) -> Callable[[Callable[[bytes], bytes]], bytes]:
    """Step 1's first statement, for a caller that sends it in the round trip that opens the
    transaction (the API: with its authentication), for a checkout of `items` of the event
    under the key: given the connection's escaping of a literal, the statement; its result
    goes to `reserve_checkout` as `sent`. It reads for the organization the transaction
    proved it acts for, nothing otherwise (and locks nothing then). InvalidRequest for a key
    PostgreSQL's text cannot hold (as `reserve_checkout`)."""
    decisions.validate_key(idempotency_key)
    type_ids = sorted({i.ticket_type_id for i in items})
    return store.checkout.opening_after_authentication(event_id, idempotency_key, type_ids)


def reserve_checkout(
    conn: Connection,
    request: CheckoutRequest,
    *,
    hold: timedelta = DEFAULT_HOLD,
    commit: bool = False,
    sent: Any = None,
) -> Checkout | PendingCheckout:
    """Step 1: store the order and its tickets and hold the seats until the hold expires.
    The caller commits at once; with `commit`, the hold of one ticket type commits the
    caller's transaction itself, in the same round trip (the hot row is then locked on the
    server alone: `store.checkout.hold_insert_and_commit`), refused or not, and the caller's
    commit finds nothing left to commit. A key seen before returns its checkout (its PaymentIntent
    recorded) or its pending checkout (not yet: go on to step 2); a refusal (sold out, not
    on sale) raises and the caller's transaction must roll back.

    Two statements for one ticket type: the order's and the event's reads in one, the hold
    with the order's insert in one; then the caller's commit. Several ticket types are held
    one by one, in id order (two checkouts never deadlock), then the order is inserted. The
    same key at once from two callers: the second's insert fails on the key's unique
    constraint (`KEY_TAKEN`, `key_taken`), its transaction rolls back with its hold, and run
    again it finds the first's order. `sent`: the result of `opening_statement`, sent
    already in this transaction (when it did not read for the request's organization, the
    ordinary statement runs)."""
    decisions.validate_checkout(request)
    items = sorted(request.items, key=lambda i: i.ticket_type_id)
    opening = None if sent is None else store.checkout.opened(conn, sent, request.org_id)
    if opening is None:
        opening = store.checkout.open_checkout(
            conn,
            request.org_id,
            request.event_id,
            request.idempotency_key,
            [i.ticket_type_id for i in items],
        )
    if opening.order_id is not None:
        return _existing(request, request.fingerprint(), opening)
    if opening.event_id is None:
        raise EventNotFound(event_id=str(request.event_id))
    prices = dict(zip(opening.type_ids or (), opening.prices or (), strict=True))
    amount = decisions.priced(items, prices, cancelled=opening.cancelled_at is not None)
    order = _order_params(request, items, prices, currency=opening.currency, hold=hold)
    if len(items) == 1:
        (item,) = items
        price = prices[item.ticket_type_id]
        args = {**order, "n": item.quantity, "type": item.ticket_type_id, "price": price}
        inserted = _hold_one(conn, request.org_id, request.event_id, item, args, commit=commit)
    else:
        _hold_seats(conn, request.org_id, request.event_id, items, prices)
        inserted = store.checkout.insert_order(conn, order)
    if inserted is None:
        raise RuntimeError("the order's insert returned no row")
    return _pending(
        request,
        order_id=order["id"],
        event_id=request.event_id,
        event_ends_at=opening.ends_at,
        amount=amount,
        currency=opening.currency,
        hold_expires_at=inserted.hold_expires_at,
    )


@dataclass(frozen=True)
class PlannedHold:
    """A checkout of one ticket type, planned to be held in one statement sent after the
    authentication (`plan_hold`): the statement for `UnitOfWork.send_with_opening`, and what
    `planned_hold_result` needs to read its result."""

    request: CheckoutRequest
    item: CheckoutItem
    order_id: uuid.UUID
    statement: Callable[[Callable[[bytes], bytes]], bytes]


def plan_hold(
    request: CheckoutRequest, *, go: bytes, hold: timedelta = DEFAULT_HOLD
) -> PlannedHold | None:
    """Step 1 as one statement, for a caller that sends it in the round trip that opens and
    authenticates the transaction and ends that round trip with its COMMIT (the API): the
    opening read and, for a new order, the hold with the order and its tickets, for the
    request's organization (`ticketing.open_and_hold_checkout`). It does nothing unless the
    transaction proved it acts for that organization and the caller's SQL condition `go`
    holds (the API's: the key may write and nothing is stored under the request's key).
    None for a checkout of several ticket types (`reserve_checkout` holds them one by one).
    Its result goes to `planned_hold_result`. None too for a request that does not
    validate: `reserve_checkout` refuses it, in a transaction."""
    try:
        decisions.validate_checkout(request)
    except InvalidRequest:
        return None
    one = _one_type_order(request, hold)
    if one is None:
        return None
    item, order = one
    statement = store.checkout.hold_after_authentication(order, go)
    return PlannedHold(request=request, item=item, order_id=order["id"], statement=statement)


def _one_type_order(
    request: CheckoutRequest, hold: timedelta
) -> tuple[CheckoutItem, dict[str, Any]] | None:
    """A checkout of one ticket type: its item, and the order held in one statement
    (`ticketing.open_and_hold_checkout_for`'s arguments); None for several types."""
    if len(request.items) != 1:
        return None
    (item,) = request.items
    return item, {
        "id": decisions.order_id_for(request.org_id, request.idempotency_key),
        "org": request.org_id,
        "event": request.event_id,
        "type": item.ticket_type_id,
        "n": item.quantity,
        "buyer": request.buyer_email,
        "hold": hold,
        "key": request.idempotency_key,
        "hash": request.fingerprint(),
        "codes": [new_ticket_code() for _n in range(item.quantity)],
    }


def planned_hold_result(
    conn: Connection, planned: PlannedHold, sent: Any
) -> Checkout | PendingCheckout | None:
    """What `plan_hold`'s statement did, from its result `sent` (read only: the caller's
    transaction is committed, nothing more may run in it): the pending checkout it held, or
    the key's checkout found (pending, or its PaymentIntent recorded); a refusal raises why
    (the hold wrote nothing); None when it did nothing (not sent, or its conditions did not
    hold): run `reserve_checkout` in another transaction."""
    return _held(conn, planned.request, planned.item, planned.order_id, sent)


def _held(
    conn: Connection, request: CheckoutRequest, item: CheckoutItem, order_id: uuid.UUID, sent: Any
) -> Checkout | PendingCheckout | None:
    """What `ticketing.open_and_hold_checkout_for` did (or `open_and_hold_checkout`, which
    calls it), from its libpq result `sent`, as `planned_hold_result` says."""
    row = None if sent is None else store.checkout.held(conn, sent)
    return _held_row(request, item, order_id, row)


def _held_row(
    request: CheckoutRequest, item: CheckoutItem, order_id: uuid.UUID, row: Any
) -> Checkout | PendingCheckout | None:
    """What `ticketing.open_and_hold_checkout_for` did, from its row as `store.checkout.held`
    reads it (None: it did nothing), as `planned_hold_result` says."""
    if row is None:
        return None
    if row.order_id is not None:
        return _existing(request, request.fingerprint(), row)
    if row.event_id is None:
        raise EventNotFound(event_id=str(request.event_id))
    prices = dict(zip(row.type_ids or (), row.prices or (), strict=True))
    amount = decisions.priced([item], prices, cancelled=row.cancelled_at is not None)
    if row.held_until is None:
        raise decisions.refusal(item, row.seats_left, bool(row.on_sale))
    return _pending(
        request,
        order_id=order_id,
        event_id=request.event_id,
        event_ends_at=row.ends_at,
        amount=amount,
        currency=row.currency,
        hold_expires_at=row.held_until,
    )


def _hold_one(
    conn: Connection,
    org_id: uuid.UUID,
    event_id: uuid.UUID,
    item: CheckoutItem,
    args: dict[str, Any],
    *,
    commit: bool,
) -> Any:
    """One ticket type's hold with the order's insert (committed too with `commit`, where the
    driver allows): the order's row; a refusal raises why."""
    if commit:
        both = store.checkout.hold_insert_and_commit(conn, args)
        if both is not None:
            inserted, diagnosis = both
            if inserted is None:
                raise _refusal(item, diagnosis)
            return inserted
    inserted = store.checkout.hold_and_insert(conn, args)
    if inserted is None:
        _refuse(conn, org_id, event_id, item)
    return inserted


def _hold_seats(
    conn: Connection,
    org_id: uuid.UUID,
    event_id: uuid.UUID,
    items: Sequence[CheckoutItem],
    prices: dict[uuid.UUID, int],
) -> None:
    """Hold each item's seats (in ticket type order, so two checkouts never deadlock); on a
    refusal the holds already taken are given back before the refusal is raised."""
    taken: list[CheckoutItem] = []
    for item in items:
        price = prices[item.ticket_type_id]
        if not store.checkout.hold(
            conn, org_id, event_id, item.ticket_type_id, n=item.quantity, price=price
        ):
            for done in taken:
                store.checkout.unhold(conn, org_id, done.ticket_type_id, done.quantity)
            _refuse(conn, org_id, event_id, item)
        taken.append(item)


def _refuse(
    conn: Connection, org_id: uuid.UUID, event_id: uuid.UUID, item: CheckoutItem
) -> NoReturn:
    """Raise why the item's hold was refused (the ticket type as it is now decides)."""
    raise _refusal(item, store.checkout.diagnose(conn, org_id, event_id, item.ticket_type_id))


def _refusal(item: CheckoutItem, row: Any) -> Exception:
    """Why the item's hold was refused, from `diagnose`'s row (None: not of the event)."""
    return decisions.refusal(item, None if row is None else row.left, bool(row and row.on_sale))


def ask_for_intent(gateway: PaymentGateway, pending: PendingCheckout) -> CreatedIntent:
    """Step 2, with no transaction open: Stripe's PaymentIntent for the pending checkout
    (the same one on every retry, by its key)."""
    req = pending.intent
    return gateway.create_payment_intent(
        req.amount, req.currency, req.metadata, idempotency_key=req.idempotency_key
    )


def record_statement(
    pending: PendingCheckout, intent: CreatedIntent
) -> Callable[[Callable[[bytes], bytes]], bytes]:
    """Step 3's statement for a caller that sends it in the round trip that opens the
    transaction (the API: with its authentication): given the connection's escaping of a
    literal, the statement; its result goes to `record_payment_intent` as `sent`. It records
    nothing unless the transaction proved it acts for the order's organization."""
    return store.checkout.record_after_authentication(
        pending.order_id, intent.payment_intent_id, intent.client_secret
    )


def record_awaiting_statement(
    pending: PendingCheckout, intent: CreatedIntent
) -> tuple[Checkout, Callable[[Callable[[bytes], bytes]], bytes]]:
    """Step 3 as one statement, for a caller that sends it in the round trip that opens and
    authenticates the transaction, with the answer stored and the commit (the API): the
    checkout it answers when it records, and the statement, which records the PaymentIntent
    only on the order of the organization the transaction proved, still awaiting payment
    with no other intent recorded, and returns one row then; no row: it recorded nothing,
    run `record_payment_intent` in another transaction (it finds why)."""
    checkout = Checkout(
        order_id=pending.order_id,
        amount=pending.amount,
        currency=pending.currency,
        payment_intent_id=intent.payment_intent_id,
        client_secret=intent.client_secret,
        hold_expires_at=pending.hold_expires_at,  # set by the hold; never changed since
        replayed=False,
    )
    statement = store.checkout.record_awaiting_after_authentication(
        pending.order_id, intent.payment_intent_id, intent.client_secret
    )
    return checkout, statement


def record_payment_intent(
    conn: Connection, pending: PendingCheckout, intent: CreatedIntent, *, sent: Any = None
) -> Checkout:
    """Step 3: record the PaymentIntent on its order, only while its hold runs (by the
    database's clock). If the hold expired meanwhile, swept or not yet (the order released,
    or its intent's cancellation asked for: the order still holds its seats until Stripe
    answers; or nothing done yet), the buyer is told with CheckoutExpired and nothing is
    recorded (raised in the caller's transaction, which must roll back): the sweeper asks
    (or has asked) Stripe to cancel the intent (found again by its key), and a payment that
    still comes after the hold finds its order by metadata and is refunded in full. An
    intent recorded in time stays the order's (its checkout replays, promise 5). `sent`: the
    result of `record_statement`, sent already in this transaction; when it recorded
    nothing, the ordinary statement runs (and finds why)."""
    status = None if sent is None else store.checkout.recorded_status(sent)
    if status is not None:
        hold_expires_at = pending.hold_expires_at  # set by the hold; never changed since
    else:
        row = store.checkout.record_intent(
            conn, pending.order_id, intent.payment_intent_id, intent.client_secret
        )
        if row is None:
            return _first_intent(conn, pending, intent)
        status, hold_expires_at = row.status, row.hold_expires_at
        # Swept (its seats await Stripe's answer), or its hold over and not yet swept: the
        # record is undone with the caller's transaction; the intent is the sweeper's to cancel.
        if row.cancel_requested_at is not None or row.late:
            raise CheckoutExpired(order_id=str(pending.order_id), status=status)
    if status != "awaiting_payment":
        raise CheckoutExpired(order_id=str(pending.order_id), status=status)
    return Checkout(
        order_id=pending.order_id,
        amount=pending.amount,
        currency=pending.currency,
        payment_intent_id=intent.payment_intent_id,
        client_secret=intent.client_secret,
        hold_expires_at=hold_expires_at,
        replayed=False,
    )


def _first_intent(conn: Connection, pending: PendingCheckout, stray: CreatedIntent) -> Checkout:
    """Another attempt recorded its PaymentIntent first (Stripe forgot the key, or answered
    two racing attempts apart): the first recorded stays the order's, as a replay; the stray
    one is cancelled at Stripe (an outbox task), so it can never be paid. No order at all:
    the hold was lost (`CheckoutInterrupted`)."""
    row = store.checkout.recorded(conn, pending.order_id)
    if row is None:
        # The hold's commit does not wait for the WAL flush: a crash or a failover between
        # it and this step can lose it (nobody was answered for it). Nothing is recorded and
        # the intent is left alone: a retry under the key holds again, under the same order
        # id, and Stripe answers the same key with this same PaymentIntent, which it then
        # records; cancelling it would hand that retry a cancelled intent. Its client secret
        # was never given out, so without a retry nobody can pay it.
        raise CheckoutInterrupted(order_id=str(pending.order_id))
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


def start_checkout(
    engine: Engine,
    gateway: PaymentGateway,
    request: CheckoutRequest,
    *,
    hold: timedelta = DEFAULT_HOLD,
) -> Checkout:
    """The whole checkout as three units of work: hold (commit), ask Stripe with no
    transaction open, record (commit). A retry under the same key returns the same order
    and PaymentIntent and holds nothing more. As over the API, the hold of one ticket type
    is one round trip, a transaction of its own (not waiting for the WAL flush; the
    record's synchronous commit flushes it before anything is returned). The
    record is one statement that is its
    own transaction (`store.checkout.record_now`, one round trip) when it records; anything
    else (another intent recorded first, the hold expired or lost) goes the usual way
    (`record_payment_intent`), which finds why."""
    reserved = _reserve(engine, request, hold)
    if isinstance(reserved, Checkout):
        return reserved
    intent = ask_for_intent(gateway, reserved)
    # The organization the order was held for (its intent's metadata names the same one).
    if store.checkout.record_now(
        engine, reserved.order_id, request.org_id, intent.payment_intent_id, intent.client_secret
    ):
        return Checkout(
            order_id=reserved.order_id,
            amount=reserved.amount,
            currency=reserved.currency,
            payment_intent_id=intent.payment_intent_id,
            client_secret=intent.client_secret,
            hold_expires_at=reserved.hold_expires_at,  # set by the hold; never changed since
            replayed=False,
        )
    with engine.begin() as conn:
        return record_payment_intent(conn, reserved, intent)


def key_taken(exc: BaseException) -> bool:
    """Whether `exc` is the lost race of two checkouts under one key (the order's insert met
    `KEY_TAKEN`): run the checkout again, it finds the winner's order."""
    orig = getattr(exc, "orig", None)
    diag = getattr(orig, "diag", None)
    return (
        getattr(orig, "sqlstate", None) == "23505"
        and getattr(diag, "constraint_name", None) in KEY_TAKEN
    )


def _reserve(
    engine: Engine, request: CheckoutRequest, hold: timedelta
) -> Checkout | PendingCheckout:
    """Step 1 as its own unit of work, run again after losing the key's race once. A
    checkout of one ticket type is one round trip: the opening read with the hold
    (`ticketing.open_and_hold_checkout_for`) as one prepared statement that is its own
    transaction, on a connection of the engine's pool with no SQLAlchemy `Connection` around
    it (`store.checkout.open_and_hold_alone`). Otherwise (several types, or where that cannot be
    sent) two: the opening read goes with the BEGIN (`store.checkout.begin_with_opening`),
    the hold with the COMMIT."""
    decisions.validate_checkout(request)  # before anything is sent
    type_ids = sorted({i.ticket_type_id for i in request.items})
    for attempt in (1, 2):
        try:
            one = _one_type_order(request, hold)
            if one is not None:
                item, order = one
                row = store.checkout.open_and_hold_alone(engine, order)
                if row is not None:
                    held = _held_row(request, item, order["id"], row)
                    if held is None:  # a row naming the organization: never None
                        raise RuntimeError("the checkout's hold returned no row")
                    return held
            with engine.begin() as conn:
                sent = store.checkout.begin_with_opening(
                    conn, request.org_id, request.event_id, request.idempotency_key, type_ids
                )
                return reserve_checkout(conn, request, hold=hold, commit=True, sent=sent)
        except DBAPIError as exc:
            if attempt == 2 or not key_taken(exc):
                raise
    raise AssertionError("unreachable: the second attempt returns or raises")

"""The checkout's statements on `ticketing`'s tables (the hold, the order and its tickets, the
PaymentIntent's record), on the connection's driver cursor (`pgdriver`): for statements this
short, SQLAlchemy's compilation and result set-up cost more CPU than the round trip.
psycopg's placeholders; psycopg prepares each after its fifth use.

Some statements are sent with their values as SQL literals (text escaped by libpq for the
connection). libpq's escaping stops at a NUL character, so such a statement would store a
text cut there: no text holding a NUL is ever written as a literal. The hold's one round trip
(`hold_insert_and_commit`) then answers None (the caller goes the parameterised way, where
PostgreSQL refuses the NUL); the statements built for the authentication's round trip
refuse it (ValueError) when they are built. The checkout's decisions refuse such a key or
e-mail before any of this (`decisions.validate_checkout`, InvalidRequest).
"""

from __future__ import annotations

import collections
import hashlib
import select
import time
import uuid
from collections.abc import Callable, Mapping
from typing import Any, cast

import psycopg
from psycopg.errors import error_from_result
from sqlalchemy import Connection, Engine
from sqlalchemy.exc import DBAPIError

import pgdriver

# In one statement, the checkout's first: the order stored under the key (with its event's
# end), and for a new one the event, locked FOR SHARE (a cancellation of the event waits for
# this checkout and is seen by it), and the prices of the ticket types asked for, in id order.
# No lock on the key: the same key at once from two callers both find no order, and the
# second's insert of the order waits for the first's commit and fails on `orders_key` (a
# unique violation: its hold is undone with its transaction, and the caller runs it again,
# which then finds the first's order).
OPENING = """
    WITH e AS (
        SELECT id, currency, ends_at, cancelled_at FROM ticketing.events
         WHERE id = %(event)s AND org_id = %(org)s FOR SHARE
    ), o AS (
        SELECT o.id, o.amount, o.currency, o.payment_intent_id, o.client_secret,
               o.hold_expires_at, o.request_hash, o.status, o.event_id, oe.ends_at
          FROM ticketing.orders o
          JOIN ticketing.events oe ON oe.id = o.event_id AND oe.org_id = %(org)s
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
                 array_agg(t.price::bigint ORDER BY t.id) AS prices
            FROM ticketing.ticket_types t
           WHERE t.id = ANY(%(ids)s::uuid[]) AND t.event_id = %(event)s
             AND t.org_id = %(org)s
      ) p ON true"""

# The order and its tickets in one statement, once the seats are held.
INSERT_ORDER = """
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
# statement, so the hot row is locked by that statement and the commit only; the hold's rule
# is `ticketing.hold_order`'s (its one definition, as every hold of one type; the caller's
# commit waits for the flush, as before). Nothing is inserted when the hold is refused (no row).
HOLD_AND_INSERT = """
    SELECT h.hold_expires_at
      FROM ticketing.hold_order(
               %(n)s::int, %(type)s::uuid, %(event)s::uuid, %(price)s::bigint, %(id)s::uuid,
               %(org)s::uuid, %(buyer)s::text, %(currency)s::text, %(amount)s::bigint,
               %(hold)s::interval, %(key)s::text, %(hash)s::text, %(codes)s::text[]) h
     WHERE h.hold_expires_at IS NOT NULL"""

# HOLD_AND_INSERT (with the refusal's diagnosis) as `ticketing.hold_checkout`, and the
# caller's commit, in one round trip (`hold_insert_and_commit`): one simple query, the values
# as literals; the function's plans are kept by the session.
_HOLD_ARGS = (
    ("n", "int", "%d"),
    ("type", "uuid", "'%s'"),
    ("event", "uuid", "'%s'"),
    ("price", "bigint", "%d"),
    ("id", "uuid", "'%s'"),
    ("org", "uuid", "'%s'"),
    ("buyer", "text", "%s"),
    ("currency", "text", "%s"),
    ("amount", "bigint", "%d"),
    ("hold", "interval", "'%r seconds'"),
    ("key", "text", "%s"),
    ("hash", "text", "%s"),
    ("codes", "text[]", "ARRAY[%s]::text[]"),
)
HOLD_AND_COMMIT = (
    "SELECT hold_expires_at, seats_left AS left, on_sale FROM ticketing.hold_checkout ("
    + ", ".join(f"{form}::{kind}" for _name, kind, form in _HOLD_ARGS)
    + "); COMMIT"
)

# The hot row: the seats are held by a conditional UPDATE, followed only by the order's
# insert and the commit. The price is checked again so a changed price cannot slip between
# read and hold.
HOLD = """
    UPDATE ticketing.ticket_types SET held = held + %(n)s
     WHERE id = %(id)s AND org_id = %(org)s AND event_id = %(event)s AND price = %(price)s
       AND now() >= sales_start AND now() < sales_end
       AND held + sold + %(n)s <= capacity"""

UNHOLD = """
    UPDATE ticketing.ticket_types SET held = held - %(n)s WHERE id = %(id)s AND org_id = %(org)s"""

RECORDED = """
    SELECT org_id, status, payment_intent_id, client_secret, hold_expires_at
      FROM ticketing.orders WHERE id = %(id)s"""

DIAGNOSE = """
    SELECT capacity - held - sold AS left,
           now() >= sales_start AND now() < sales_end AS on_sale
      FROM ticketing.ticket_types
     WHERE id = %(id)s AND org_id = %(org)s AND event_id = %(event)s"""

# The long way's record, which finds why the short ones recorded nothing: it records, and
# says whether it recorded the intent for the first time after the hold expired (`late`: by
# the database's clock, as `_IN_HOLD`; the caller then refuses and rolls back); an intent
# recorded in time and recorded again (a racing attempt under the same key) is not late.
RECORD = """
    UPDATE ticketing.orders
       SET payment_intent_id = %(pi)s, client_secret = %(secret)s, updated_at = now()
     WHERE id = %(id)s AND (payment_intent_id IS NULL OR payment_intent_id = %(pi)s)
    RETURNING status, hold_expires_at, cancel_requested_at,
              old.payment_intent_id IS NULL AND hold_expires_at < now() AS late"""


# The records below find the order by its primary key, never by the partial index
# `orders_expiry` (`WHERE status = 'awaiting_payment'`): written `status = 'awaiting_payment'`,
# the condition proves that index's predicate, and the planner takes it whenever the
# statistics count none or few orders awaiting payment (an on-sale's start after a quiet
# period: the index is then the smallest by its estimate), the generic plan and the API's
# literal statements alike. The record then read every order awaiting payment to find its
# one: a cost growing with the orders held, in the on-sale's burst, until the next ANALYZE
# (one process, 2,000 orders held and unpaid since an ANALYZE that saw none: 638 us of
# executor per record, 81 us by the key; load 5-7). `IS NOT DISTINCT FROM`
# (the same rule: status is NOT NULL) proves no index predicate, so the key is the only index
# the condition can use. Where few orders wait (bench.checkout: each paid at once) the partial
# index was the cheaper scan (~+27K backend instructions per record by the key, cachegrind).
_AWAITING = "status IS NOT DISTINCT FROM 'awaiting_payment'"

# A record happens only while the order's hold runs, by the database's clock (issue 11,
# Review2's L5 of session 38): a checkout retried under its key after the hold expired, or
# whose Stripe call outlasted the hold, records nothing and is told CheckoutExpired, before
# the sweeper has run as after (`cancel_requested_at`). The bound is the sweeper's (an order
# is expired once `hold_expires_at < now()`). Its intent, made at Stripe, is the sweeper's
# to cancel (found again by its creation request). No index serves `hold_expires_at` but
# the partial `orders_expiry`, whose predicate `_AWAITING` does not prove: the key stays the
# plan (tests/ticketing_core/test_record_by_key.py).
_IN_HOLD = "hold_expires_at >= now()"

# RECORD as a transaction of its own (`record_now`): one round trip, committed by the server
# as the statement ends (synchronously: the hold's commit, which did not wait for the WAL
# flush, is durable once this returns). Only an order of the organization, still awaiting
# payment with no other intent recorded and no cancellation asked for by the hold sweeper
# (its hold expired: `cancel_requested_at`), its hold still running (`_IN_HOLD`), is
# recorded; anything else records nothing,
# for the caller's usual unit of work to decide (it finds why).
RECORD_NOW = f"""
    UPDATE ticketing.orders
       SET payment_intent_id = $2, client_secret = $3, updated_at = now()
     WHERE id = $1::uuid AND org_id = $4::uuid AND {_AWAITING}
       AND cancel_requested_at IS NULL AND {_IN_HOLD}
       AND (payment_intent_id IS NULL OR payment_intent_id = $2)
    RETURNING status"""
_RECORD_NOW_NAME = "ticketing_record_" + hashlib.sha256(RECORD_NOW.encode()).hexdigest()[:12]


# RECORD with its values as literals, sent in the round trip that begins the record step's
# transaction and authenticates it (`record_after_authentication`). It names the actor the
# authentication proved (`current_org_id()`), so that a key that did not authenticate, whose
# statement then runs with no actor proved, records nothing whatever the role. An order whose
# cancellation the hold sweeper asked for records nothing here either (RECORD finds why).
RECORD_AUTHENTICATED = f"""
    UPDATE ticketing.orders
       SET payment_intent_id = %s, client_secret = %s, updated_at = now()
     WHERE id = '%s' AND org_id = (SELECT ticketing.current_org_id())
       AND cancel_requested_at IS NULL AND {_IN_HOLD}
       AND (payment_intent_id IS NULL OR payment_intent_id = %s)
    RETURNING status"""


def record_after_authentication(
    order_id: uuid.UUID, intent_id: str, secret: str
) -> Callable[[Callable[[bytes], bytes]], bytes]:
    """RECORD for the authentication's round trip: given the connection's escaping of a
    literal, the statement (its result read by `recorded_status`)."""
    order = uuid.UUID(str(order_id))  # its canonical form only: no quote can occur
    _no_nul(intent_id, secret)

    def statement(escape: Callable[[bytes], bytes]) -> bytes:
        pi, client_secret = _literal(escape, intent_id), _literal(escape, secret)
        return (RECORD_AUTHENTICATED % ("%s", "%s", order, "%s")).encode() % (
            pi,
            client_secret,
            pi,
        )

    return statement


# RECORD_AUTHENTICATED for a caller that ends the round trip with the answer stored and its
# COMMIT (`record_awaiting_after_authentication`): it records only an order still awaiting
# payment with no other intent recorded, and returns a row only then; anything else records
# nothing and returns no row (the caller then finds why, the usual way).
RECORD_AWAITING = f"""
    UPDATE ticketing.orders
       SET payment_intent_id = %s, client_secret = %s, updated_at = now()
     WHERE id = '%s' AND org_id = (SELECT ticketing.current_org_id())
       AND {_AWAITING} AND cancel_requested_at IS NULL AND {_IN_HOLD}
       AND (payment_intent_id IS NULL OR payment_intent_id = %s)
    RETURNING status"""


# RECORD_AWAITING with libpq's placeholders ($1 the intent, $2 its client secret, $3 the
# order), for a caller that prepares it and runs it after the authentication in one pipeline
# (`RecordStatement`).
RECORD_AWAITING_PREPARED = f"""
    UPDATE ticketing.orders
       SET payment_intent_id = $1::text, client_secret = $2::text, updated_at = now()
     WHERE id = $3::uuid AND org_id = (SELECT ticketing.current_org_id())
       AND {_AWAITING} AND cancel_requested_at IS NULL AND {_IN_HOLD}
       AND (payment_intent_id IS NULL OR payment_intent_id = $1::text)
    RETURNING status"""


class RecordStatement:
    """RECORD_AWAITING for the authentication's round trip, in two forms: called with the
    connection's escaping of a literal, the statement with its values as literals; or
    prepared (`name`, `text`: RECORD_AWAITING_PREPARED) and run with `parameters`. Same
    statement, same row (one when it recorded, none otherwise)."""

    __slots__ = ("_intent", "_order", "_secret")

    name = b"ticketing_record_awaiting_" + (
        hashlib.sha256(RECORD_AWAITING_PREPARED.encode()).hexdigest()[:12].encode()
    )
    """The prepared form's name (its text's)."""
    text = RECORD_AWAITING_PREPARED.encode()
    """The prepared form's statement."""

    def __init__(self, order_id: uuid.UUID, intent_id: str, secret: str) -> None:
        self._order = uuid.UUID(str(order_id))  # its canonical form only: no quote can occur
        _no_nul(intent_id, secret)
        self._intent = intent_id
        self._secret = secret

    def __call__(self, escape: Callable[[bytes], bytes]) -> bytes:
        pi, client_secret = _literal(escape, self._intent), _literal(escape, self._secret)
        return (RECORD_AWAITING % ("%s", "%s", self._order, "%s")).encode() % (
            pi,
            client_secret,
            pi,
        )

    def parameters(self, encoding: str) -> list[bytes]:
        """The prepared form's parameters as libpq's text (no text holds a NUL: refused when
        made)."""
        return [
            self._intent.encode(encoding),
            self._secret.encode(encoding),
            str(self._order).encode(),
        ]


def record_awaiting_after_authentication(
    order_id: uuid.UUID, intent_id: str, secret: str
) -> RecordStatement:
    """RECORD_AWAITING for the authentication's round trip: given the connection's escaping
    of a literal, the statement (one row when it recorded, none otherwise); or its prepared
    form (`RecordStatement`)."""
    return RecordStatement(order_id, intent_id, secret)


def recorded_status(result: Any) -> str | None:
    """The order's status from `record_after_authentication`'s result (a libpq result);
    None when it recorded nothing (another intent recorded first, not the actor's order)."""
    if result.status != psycopg.pq.ExecStatus.TUPLES_OK or result.ntuples != 1:
        return None
    value = result.get_value(0, 0)
    return None if value is None else bytes(value).decode()


# OPENING for the round trip that begins the hold's transaction and authenticates it
# (`opening_after_authentication`), as `ticketing.open_checkout` (its plan kept by the
# session; the statement sent with literals would be planned each time): the organization is
# the actor the authentication proved (answered as `acting_org`: the caller checks it is the
# request's). Run with no actor proved (a key that did not authenticate) it reads nothing and
# locks nothing.
OPENING_AUTHENTICATED = "SELECT * FROM ticketing.open_checkout('%(event)s'::uuid, %(key)s, %(ids)s)"


def opening_after_authentication(
    event_id: uuid.UUID, key: str, type_ids: list[uuid.UUID]
) -> Callable[[Callable[[bytes], bytes]], bytes]:
    """OPENING for the authentication's round trip: given the connection's escaping of a
    literal, the statement (its result read by `opened`)."""
    event = uuid.UUID(str(event_id))  # canonical forms only: no quote can occur
    ids = "ARRAY[" + ", ".join(f"'{uuid.UUID(str(t))}'" for t in type_ids) + "]::uuid[]"
    _no_nul(key)

    def statement(escape: Callable[[bytes], bytes]) -> bytes:
        text = OPENING_AUTHENTICATED % {"event": event, "ids": ids, "key": "%s"}
        return text.encode() % _literal(escape, key)

    return statement


_ROWS: dict[tuple[str, ...], Any] = {}


def _no_nul(*texts: str) -> None:
    """ValueError if a text holds a NUL: escaped as a literal it would be cut there."""
    if any("\x00" in t for t in texts):
        raise ValueError("a text holding a NUL character cannot be sent as a literal")


def _literal(escape: Callable[[bytes], bytes], value: str) -> bytes:
    """`value` as an SQL literal by the connection's `escape` (never a text holding a NUL,
    which libpq's escaping would cut: ValueError)."""
    _no_nul(value)
    return bytes(escape(value.encode()))


# A checkout of one ticket type for the authentication's round trip, which the caller ends
# with its COMMIT (`hold_after_authentication`): `ticketing.open_and_hold_checkout`, the opening
# read and the hold in one statement, for the organization the order was planned for (it
# does nothing unless the transaction proved it acts for it, and the caller's condition
# `go` holds). Values as literals: uuids in their canonical form, integers and the interval
# formatted, text escaped by the driver for the connection.
_OPEN_AND_HOLD_ARGS = (
    "'%(org)s'::uuid, '%(event)s'::uuid, '%(type)s'::uuid, %(n)d, '%(order)s'::uuid,"
    " %(buyer)s, '%(hold)r seconds'::interval, %(key)s, %(hash)s, ARRAY[%(codes)s]::text[]"
)
HOLD_AUTHENTICATED = (
    "SELECT * FROM ticketing.open_and_hold_checkout(%(go)s, " + _OPEN_AND_HOLD_ARGS + ")"
)


def _canonical(value: Any) -> uuid.UUID:
    """`value` as a UUID (its text is then canonical: no quote can occur); ValueError if it
    is not one."""
    return value if type(value) is uuid.UUID else uuid.UUID(str(value))


def _open_and_hold_values(
    order: Mapping[str, Any],
) -> Callable[[Callable[[bytes], bytes]], dict[str, Any]]:
    """The values of `_OPEN_AND_HOLD_ARGS` for `order` (as `_HOLD_ARGS`'s, without price,
    currency and amount, which the function reads), given the connection's escaping of a
    literal. ValueError (when called) for a text holding a NUL."""
    fixed = {
        "org": _canonical(order["org"]),  # canonical forms only: no quote can occur
        "event": _canonical(order["event"]),
        "type": _canonical(order["type"]),
        "order": _canonical(order["id"]),
        "n": int(order["n"]),
        "hold": float(order["hold"].total_seconds()),
    }
    _no_nul(order["buyer"], order["key"], order["hash"], *order["codes"])

    def values(escape: Callable[[bytes], bytes]) -> dict[str, Any]:
        def text(value: str) -> str:
            return _literal(escape, value).decode()

        return {
            **fixed,
            "buyer": text(order["buyer"]),
            "key": text(order["key"]),
            "hash": text(order["hash"]),
            "codes": ", ".join(text(c) for c in order["codes"]),
        }

    return values


# HOLD_AUTHENTICATED with libpq's placeholders (`OPEN_AND_HOLD_PREPARED`'s parameters), the
# caller's condition `go` written in: for a caller that prepares it once per connection and
# runs it after the authentication in one pipeline (the API's hold: `HoldStatement`).
HOLD_AUTHENTICATED_PREPARED = (
    "SELECT * FROM ticketing.open_and_hold_checkout(%s, $1::uuid, $2::uuid, $3::uuid, $4::int,"
    " $5::uuid, $6::text, $7::interval, $8::text, $9::text, $10::text[])"
)


class HoldStatement:
    """HOLD_AUTHENTICATED for the authentication's round trip, in two forms: called with the
    connection's escaping of a literal, the statement with its values as literals (a simple
    query's); or prepared (`name`, `text`: HOLD_AUTHENTICATED_PREPARED with the caller's
    condition) and run with `parameters`. Same function, same arguments, same row (read by
    `held`)."""

    __slots__ = ("_go", "_order", "_values", "name", "text")

    def __init__(self, order: Mapping[str, Any], go: bytes) -> None:
        self._values = _open_and_hold_values(order)  # ValueError for a text holding a NUL
        self._order = order
        self._go = go.decode()
        self.text = (HOLD_AUTHENTICATED_PREPARED % self._go).encode()
        """The prepared form's statement."""
        self.name = (
            b"ticketing_open_and_hold_" + hashlib.sha256(self.text).hexdigest()[:12].encode()
        )
        """The prepared form's name (its text's: another condition is another statement)."""

    def __call__(self, escape: Callable[[bytes], bytes]) -> bytes:
        return (HOLD_AUTHENTICATED % {**self._values(escape), "go": self._go}).encode()

    def parameters(self, encoding: str) -> list[bytes] | None:
        """The prepared form's parameters as libpq's text (None where text parameters cannot
        carry them: a text holding a NUL, an id that is not a UUID)."""
        return _hold_parameters(self._order, encoding)


def hold_after_authentication(order: Mapping[str, Any], go: bytes) -> HoldStatement:
    """HOLD_AUTHENTICATED for the authentication's round trip (`order` as
    `_open_and_hold_values`'s; `go`: the caller's SQL condition for doing anything): given the
    connection's escaping of a literal, the statement (its result read by `held`); or its
    prepared form (`HoldStatement`)."""
    return HoldStatement(order, go)


# A checkout of one ticket type for the organization the caller names (the Python API's:
# `ticketing_fsm.start_checkout`), as `ticketing.open_and_hold_checkout_for`, between the
# transaction's BEGIN and its COMMIT: one simple query, one round trip
# (`open_and_hold_now`).
OPEN_AND_HOLD = "SELECT * FROM ticketing.open_and_hold_checkout_for(" + _OPEN_AND_HOLD_ARGS + ")"


def _idle_driver(conn: Connection) -> psycopg.Connection[Any] | None:
    """The psycopg connection under `conn`, its transaction begun on SQLAlchemy's side
    (nothing sent: the caller's commit finds nothing left to commit), if the caller may send
    the transaction's BEGIN itself (`pgdriver.begin_command`) with its first statement: psycopg, not
    autocommit, not in pipeline mode (libpq's status: psycopg's pipeline enters it), no
    transaction begun on the server. None otherwise. Public API only: psycopg sends its BEGIN
    when the server's transaction status is idle, so it sends none after ours."""
    if not conn.in_transaction():
        conn.begin()
    driver = conn.connection.driver_connection
    if (
        not isinstance(driver, psycopg.Connection)
        or driver.autocommit
        or driver.pgconn.pipeline_status != psycopg.pq.PipelineStatus.OFF
        or driver.pgconn.transaction_status != psycopg.pq.TransactionStatus.IDLE
    ):
        return None
    return driver


def _exchange(
    invalidate: Callable[[Exception | None], Any],
    driver: psycopg.Connection[Any],
    sql: bytes | Callable[[psycopg.pq.abc.PGconn], None],
) -> list[psycopg.pq.abc.PGresult]:
    """Send `sql` (a simple query: one round trip; or, a callable, what it sends on libpq's
    connection: `_hold_prepared`'s prepared statement, alone or in a pipeline ended by one
    Sync) on `conn`'s psycopg connection
    `driver` and read all its results, under the connection's lock, as psycopg runs a
    statement but with libpq's public calls (psycopg.pq): the wait for the server is a poll() on the
    socket, which releases the GIL, so the process's other threads run while the statement
    waits (on a hot ticket type's row lock, say). Not PQgetResult's own wait: psycopg's C
    build calls it holding the GIL. Interrupted while the statement runs (KeyboardInterrupt,
    or any error out of the wait), the server is asked to cancel it and its results are
    read, as psycopg's own wait does: the connection is then in a failed transaction, for
    the caller's rollback; the interruption is raised. If the server does not answer the
    cancel within 5 s (or the wait is interrupted again) the connection's state is unknown:
    it is closed and invalidated (`invalidate`: the SQLAlchemy Connection's, or the pooled
    connection's; the caller's rollback then discards it, the pool never hands it out
    again), and the interruption raised. A pipeline interrupted anywhere (while it was
    being sent, its Sync perhaps not yet; or with its results read up to its Sync's but
    libpq not yet out of pipeline mode, where the status is no longer active) is ended by a
    Sync of ours, its results read and pipeline mode left: the connection goes back usable
    (its transaction, if one was left open or failed, for the caller's rollback), or, where
    that fails or the connection is lost, closed and invalidated as above. Never handed
    back in pipeline mode: every later statement on it would fail ("PQsendQuery not
    allowed in pipeline mode"), the pool's reset rollback sending nothing."""
    pgconn = driver.pgconn
    closed: BaseException | None = None
    gone = False  # libpq found the connection lost (not closed on purpose here)
    with driver.lock:
        try:  # an interruption right after the query went out is one while it runs
            if isinstance(sql, bytes):
                pgconn.send_query(sql)
            else:
                sql(pgconn)
            return _results(pgconn, None)
        except BaseException as interrupted:
            pipelined = pgconn.pipeline_status != psycopg.pq.PipelineStatus.OFF
            if pipelined or pgconn.transaction_status == psycopg.pq.TransactionStatus.ACTIVE:
                try:
                    if pgconn.status != psycopg.pq.ConnStatus.OK:
                        raise interrupted  # lost: nothing to read, the state unknown
                    if pgconn.transaction_status == psycopg.pq.TransactionStatus.ACTIVE:
                        driver.cancel_safe(timeout=5.0)
                    if pipelined:
                        _leave_pipeline(pgconn, 5.0)
                    else:
                        _results(pgconn, 5.0)
                except BaseException:  # no answer, or interrupted again: state unknown
                    gone = pgconn.status != psycopg.pq.ConnStatus.OK
                    pgconn.finish()
                    closed = interrupted
            if closed is None:
                raise
    # Out of the driver's lock: SQLAlchemy closes the driver's connection as it invalidates.
    # The reason given only for a lost connection: one closed on purpose is no server loss
    # for the pool (liventix.database).
    invalidate(closed if gone and isinstance(closed, Exception) else None)
    raise closed


def _results(
    pgconn: psycopg.pq.abc.PGconn, timeout: float | None, *, leave: bool = True
) -> list[psycopg.pq.abc.PGresult]:
    """Flush what `send_query` left and read the results until libpq's last (None), waiting
    in poll() (GIL released) whenever libpq would block; TimeoutError after `timeout` s. In
    libpq's pipeline mode, every statement's results up to the (next) Sync's (not
    returned), and the pipeline mode left (unless not `leave`)."""
    pipeline = pgconn.pipeline_status != psycopg.pq.PipelineStatus.OFF
    deadline = None if timeout is None else time.monotonic() + timeout
    poller = select.poll()
    poller.register(pgconn.socket, select.POLLIN | select.POLLOUT)
    while pgconn.flush():  # a non-blocking connection (psycopg's): the query may not be out
        if _ready(poller, deadline) & select.POLLIN:
            pgconn.consume_input()  # the server may be waiting for us to read first
    poller.modify(pgconn.socket, select.POLLIN)
    results: list[psycopg.pq.abc.PGresult] = []
    while True:
        while pgconn.is_busy():
            _ready(poller, deadline)
            pgconn.consume_input()  # raises OperationalError on a lost connection
        result = pgconn.get_result()  # not busy: answers at once
        if result is None:
            if pipeline:
                continue  # the end of one statement's results
            return results
        if pipeline and result.status == psycopg.pq.ExecStatus.PIPELINE_SYNC:
            if leave:
                pgconn.exit_pipeline_mode()
            return results
        results.append(result)


def _leave_pipeline(pgconn: psycopg.pq.abc.PGconn, timeout: float) -> None:
    """Leave the libpq pipeline an interruption left `pgconn` in, its results read (and
    dropped) up to its last Sync's: at once where nothing is left to send or read; else
    after a Sync of ours (the pipeline's own may not have been sent: without one the
    server keeps its answers), reading to each Sync's result (the pipeline's own, then
    ours) until libpq lets it out. TimeoutError after `timeout` s, psycopg.Error where
    libpq refuses."""
    if _left_pipeline(pgconn):
        return
    pgconn.pipeline_sync()
    deadline = time.monotonic() + timeout
    while True:
        _results(pgconn, max(0.0, deadline - time.monotonic()), leave=False)
        if _left_pipeline(pgconn):
            return


def _left_pipeline(pgconn: psycopg.pq.abc.PGconn) -> bool:
    """Whether libpq left pipeline mode (it refuses while a result or a Sync is due)."""
    try:
        pgconn.exit_pipeline_mode()
    except psycopg.OperationalError:
        if pgconn.status != psycopg.pq.ConnStatus.OK:
            raise
        return False
    return True


def _ready(poller: select.poll, deadline: float | None) -> int:
    """The socket's events once it has any (POLLERR, POLLHUP included)."""
    while True:
        wait = None if deadline is None else max(0, int((deadline - time.monotonic()) * 1000))
        events = poller.poll(wait)
        if events:
            return events[0][1]
        if deadline is not None and time.monotonic() >= deadline:
            raise TimeoutError("no answer from the server")


def open_and_hold_now(conn: Connection, order: Mapping[str, Any]) -> Any:
    """Begin the connection's transaction (as psycopg would: its BEGIN with the connection's
    options), run OPEN_AND_HOLD for `order` (as `_open_and_hold_values`'s) and commit, in one
    round trip: the statement's libpq result, for `held`. The transaction is committed
    whatever the statement answered (a replay or a refused hold wrote nothing); an error
    leaves it failed, for the caller to roll back (raised as `DBAPIError`). None, with
    nothing sent, where it cannot go so (another driver, a transaction already begun on
    the server, autocommit, a text holding a NUL): the caller's usual way then."""
    driver = _idle_driver(conn)
    if driver is None:
        return None
    try:
        values = _open_and_hold_values(order)
    except ValueError:
        return None
    pgconn = driver.pgconn
    escape = psycopg.pq.Escaping(pgconn).escape_literal
    sql = b"; ".join(
        (
            pgdriver.begin_command(driver),
            (OPEN_AND_HOLD % values(lambda value: bytes(escape(value)))).encode(),
            b"COMMIT",
        )
    )
    with pgdriver.cursor(conn):  # the driver's errors raised as SQLAlchemy's, as for any
        results = _exchange(conn.invalidate, driver, sql)
        for result in results:  # a simple query stops at its first error: the last result
            if result.status == psycopg.pq.ExecStatus.FATAL_ERROR:
                raise error_from_result(result, encoding=driver.info.encoding)
        if pgconn.status != psycopg.pq.ConnStatus.OK:
            raise psycopg.OperationalError(pgconn.get_error_message(driver.info.encoding))
    return results[1]


# `open_and_hold_alone`'s statement: OPEN_AND_HOLD's call with libpq's placeholders and text
# parameters, prepared once per connection (`_PREPARED_HOLD`) and run as a transaction of its
# own (extended protocol: the server commits it at the Sync that ends it), or, on a connection
# whose transactions begin with options, between psycopg's BEGIN and a COMMIT in one pipeline.
# The simple query with its values as literals was parsed and planned again at every call, and
# its BEGIN and COMMIT were two more statements (session 34: the hold's backend CPU ~400 ->
# ~325 us, its client CPU ~14 us less, interleaved).
OPEN_AND_HOLD_PREPARED = (
    "SELECT * FROM ticketing.open_and_hold_checkout_for($1::uuid, $2::uuid, $3::uuid, $4::int,"
    " $5::uuid, $6::text, $7::interval, $8::text, $9::text, $10::text[])"
)
_OPEN_AND_HOLD_NAME = b"ticketing_open_and_hold_checkout_for"
_PREPARED_HOLD = "ticketing_fsm.store.checkout.prepared_hold"
"""The key, in the pooled connection's `info`, of the libpq connection on which
`OPEN_AND_HOLD_PREPARED` was prepared (a reconnected one has another)."""
_NO_SUCH_STATEMENT = b"26000"  # invalid_sql_statement_name
_RESULT_TYPE_CHANGED = (b"0A000", b"RevalidateCachedQuery")
"""A prepared statement whose result's columns changed since it was prepared (a migration
replaced the function with other columns): it fails so at every execution until it is
prepared again. Told by its SQLSTATE and the server function that raised it, which are never
translated (the message, "cached plan must not change result type", is under lc_messages)."""
_STYLES = (b"TimeZone", b"DateStyle", b"IntervalStyle")
_HOLD_ROW = "ticketing_fsm.store.checkout.hold_row"
"""The key, in the pooled connection's `info`, of what reads `OPEN_AND_HOLD_PREPARED`'s row
on it (`_hold_row`): its libpq connection, a psycopg Transformer of the connection's
adapters, the row's column names and maker, the session's `_STYLES` when it was made; dropped
whenever the statement is prepared."""


def _hold_parameters(order: Mapping[str, Any], encoding: str) -> list[bytes] | None:
    """`OPEN_AND_HOLD_PREPARED`'s parameters for `order` (as `_open_and_hold_values`'s), as
    libpq's text; None for a text holding a NUL (a text parameter ends at its first NUL in
    libpq: it would be stored cut) or an id that is not a UUID."""
    texts = (order["buyer"], order["key"], order["hash"], *order["codes"])
    if any("\x00" in t for t in texts):
        return None
    try:
        ids = [_canonical(order[name]) for name in ("org", "event", "type", "id")]
    except ValueError:
        return None
    org, event, type_id, order_id = (str(i).encode() for i in ids)
    return [
        org,
        event,
        type_id,
        b"%d" % int(order["n"]),
        order_id,
        order["buyer"].encode(encoding),
        b"%r seconds" % float(order["hold"].total_seconds()),
        order["key"].encode(encoding),
        order["hash"].encode(encoding),
        pgdriver.array_literal(order["codes"]).encode(encoding),
    ]


def _hold_prepared(
    pooled: Any, driver: psycopg.Connection[Any], values: list[bytes], begin: bytes | None
) -> list[psycopg.pq.abc.PGresult]:
    """`OPEN_AND_HOLD_PREPARED` run with `values` on the pooled connection as a transaction of
    its own (`begin` None: its result the first), or between `begin` and a COMMIT in one
    libpq pipeline (its result the second), prepared first if it is not yet on this libpq
    connection, or no longer (psycopg sends DEALLOCATE ALL after the rollback of a transaction
    in which it prepared statements of its own: the execution then fails with 26000 having
    run nothing, and the statement is prepared again and run), or prepared with other result
    columns than the function now has (a migration replaced it: the execution fails having
    run nothing, the statement is deallocated, prepared again and run); the transaction
    `begin` began, failed, is rolled back first. Its results; the driver's error raised
    (psycopg.Error). The statement is prepared in a round trip of its own, never in the
    pipeline before `begin`: a Parse takes a snapshot in the implicit transaction it opens,
    and a BEGIN after it in the same pipeline would take that transaction over and fail to
    set its isolation level (25001; see `liventix.api.keys._open_pipelined`)."""
    pgconn = driver.pgconn
    results: list[psycopg.pq.abc.PGresult] = []
    for _attempt in (1, 2):
        if pooled.info.get(_PREPARED_HOLD) is not pgconn:
            pooled.info.pop(_HOLD_ROW, None)  # its columns are read again from its results
            # Noted before its Parse goes: an interruption (or error) after the Parse went,
            # the statement noted as missing, would make every later prepare on this
            # connection fail (42P05, it exists); noted as there, not there, its next
            # execution fails with 26000 and it is prepared again, as after psycopg's
            # DEALLOCATE ALL.
            pooled.info[_PREPARED_HOLD] = pgconn
            _sent_alone(
                pooled,
                driver,
                lambda c: c.send_prepare(_OPEN_AND_HOLD_NAME, OPEN_AND_HOLD_PREPARED.encode()),
            )
        results = _exchange(pooled.invalidate, driver, _hold_sender(values, begin))
        failed = [
            (
                r.error_field(psycopg.pq.DiagnosticField.SQLSTATE),
                r.error_field(psycopg.pq.DiagnosticField.SOURCE_FUNCTION),
            )
            for r in results
            if r.status == psycopg.pq.ExecStatus.FATAL_ERROR
        ]
        deallocated = any(code == _NO_SUCH_STATEMENT for code, _where in failed)
        if not deallocated and _RESULT_TYPE_CHANGED not in failed:
            break
        if pgconn.transaction_status == psycopg.pq.TransactionStatus.INERROR:
            _sent_alone(pooled, driver, b"ROLLBACK")  # the transaction `begin` began
        if not deallocated:
            _sent_alone(pooled, driver, b"DEALLOCATE " + _OPEN_AND_HOLD_NAME)
        pooled.info.pop(_PREPARED_HOLD, None)
    return results


def _hold_sender(
    values: list[bytes], begin: bytes | None
) -> Callable[[psycopg.pq.abc.PGconn], None]:
    """What sends `OPEN_AND_HOLD_PREPARED`'s execution with `values` (for `_exchange`): alone,
    or in one libpq pipeline after `begin` and before a COMMIT, ended by one Sync."""
    if begin is None:
        return lambda c: c.send_query_prepared(_OPEN_AND_HOLD_NAME, values)

    def send(c: psycopg.pq.abc.PGconn) -> None:
        c.enter_pipeline_mode()
        c.send_query_params(begin, None)
        c.send_query_prepared(_OPEN_AND_HOLD_NAME, values)
        c.send_query_params(b"COMMIT", None)
        c.pipeline_sync()

    return send


def _sent_alone(
    pooled: Any,
    driver: psycopg.Connection[Any],
    sql: bytes | Callable[[psycopg.pq.abc.PGconn], None],
) -> None:
    """`sql` exchanged on its own (`_exchange`); its error raised (psycopg.Error)."""
    for result in _exchange(pooled.invalidate, driver, sql):
        if result.status == psycopg.pq.ExecStatus.FATAL_ERROR:
            raise error_from_result(result, encoding=driver.info.encoding)


def _hold_row(pooled: Any, driver: psycopg.Connection[Any], result: Any) -> Any:
    """`OPEN_AND_HOLD_PREPARED`'s one row, as `_row` reads it, with the Transformer and row
    maker kept on the pooled connection (`_HOLD_ROW`): a new Transformer looks up a loader
    for each of the row's columns, and the names are read from the result column by column
    (session 34: ~13 of `_row`'s ~19 us)."""
    if result.status != psycopg.pq.ExecStatus.TUPLES_OK or result.ntuples != 1:
        return None
    kept = pooled.info.get(_HOLD_ROW)
    # The loaders of times and intervals read the session's TimeZone, DateStyle and
    # IntervalStyle when they are made: a session that changed one gets new ones.
    styles = tuple(driver.pgconn.parameter_status(name) for name in _STYLES)
    if (
        kept is None
        or kept[0] is not driver.pgconn
        or len(kept[2]) != result.nfields
        or kept[4] != styles
    ):
        names = tuple(bytes(result.fname(n) or b"").decode() for n in range(result.nfields))
        maker = _ROWS.get(names)
        if maker is None:
            maker = _ROWS[names] = collections.namedtuple("Opening", names)._make  # type: ignore[attr-defined]
        kept = (driver.pgconn, psycopg.adapt.Transformer(driver), names, maker, styles)
        pooled.info[_HOLD_ROW] = kept
    _pgconn, transformer, _names, maker, _styles = kept
    transformer.set_pgresult(result)
    return transformer.load_row(0, maker)


def open_and_hold_alone(engine: Engine, order: Mapping[str, Any]) -> Any:
    """`open_and_hold_now` as a transaction of its own on a connection of the engine's pool,
    taken without a SQLAlchemy `Connection` around it (as `pgdriver.call_alone`: its begin,
    commit and close cost more client CPU than the round trip): the opening read with the
    hold (`ticketing.open_and_hold_checkout_for`) as one prepared statement that is its own
    transaction (`OPEN_AND_HOLD_PREPARED`), committed whatever the function answered; its
    row, as `held` reads it. A connection whose transactions begin with options (an
    isolation level, read only, deferrable: psycopg's BEGIN carries them, a transaction of
    its own would not) sends psycopg's BEGIN, the prepared statement's execution and the
    COMMIT in one libpq pipeline instead: the hold runs at the connection's level, still
    prepared. Such is every pooled connection once used with SQLAlchemy's
    `conn.execution_options(isolation_level=...)`: its reset leaves psycopg READ COMMITTED
    written out, and psycopg's BEGIN carries it from then on (before, the hold went there as
    a simple query with its values as literals, parsed and planned at every call, for the
    connection's life). One round trip either way. An error is raised as
    `DBAPIError` (a lost connection invalidated), the transaction rolled back. None, with
    nothing sent, where it cannot go so (as `open_and_hold_now`, and on an engine carrying
    connection characteristics, such as `engine.execution_options(isolation_level=...)`,
    which a raw connection skips): the caller's usual unit of work then."""
    if pgdriver.has_characteristics(engine):
        return None
    pooled = pgdriver.raw_connection(engine)  # a refused connect raised as SQLAlchemy's
    try:
        driver = pooled.driver_connection
        if (
            not isinstance(driver, psycopg.Connection)
            or driver.autocommit
            or driver.pgconn.pipeline_status != psycopg.pq.PipelineStatus.OFF
            or driver.pgconn.transaction_status != psycopg.pq.TransactionStatus.IDLE
        ):
            return None
        pgconn = driver.pgconn
        encoding = driver.info.encoding
        values = _hold_parameters(order, encoding)
        if values is None:
            return None
        begin: bytes | None = pgdriver.begin_command(driver)
        if begin == b"BEGIN":
            begin = None  # a transaction of its own begins so
        try:
            results = _hold_prepared(pooled, driver, values, begin)
            for result in results:  # a query stops at its first error: the last result
                if result.status == psycopg.pq.ExecStatus.FATAL_ERROR:
                    raise error_from_result(result, encoding=encoding)
            if pgconn.status != psycopg.pq.ConnStatus.OK:
                raise psycopg.OperationalError(pgconn.get_error_message(encoding))
        except psycopg.Error as error:
            # Invalidated already (`_exchange`: a pipeline on a lost connection): no driver
            # connection left for the dialect to look at.
            lost = not pooled.is_valid or engine.dialect.is_disconnect(
                cast(Any, error), pooled, None
            )
            if lost and pooled.is_valid:
                pooled.invalidate(error)
            raise DBAPIError.instance(
                None, None, error, psycopg.Error, connection_invalidated=lost
            ) from error
        row = _hold_row(pooled, driver, results[0 if begin is None else 1])
        if row is None or row.acting_org is None:  # one row, always, naming the organization
            raise RuntimeError("the checkout's hold returned no row")
        return row
    finally:
        pooled.close()


def held(conn: Connection, result: Any) -> Any:
    """`hold_after_authentication`'s row (`open_checkout`'s columns, then `held_until`,
    `seats_left`, `on_sale`), read from its libpq result (nothing is sent on `conn`: its
    transaction may be committed already); None when the function did nothing (the
    caller's condition failed, or the transaction did not prove it acts for the order's
    organization)."""
    row = _row(conn.connection.driver_connection, result)
    return None if row is None or row.acting_org is None else row


def opened(conn: Connection, result: Any, org_id: uuid.UUID) -> Any:
    """`opening_after_authentication`'s row (as `open_checkout`'s), read from its libpq
    result; None when it is not the request's organization's (the platform's key acts for
    the platform organization, which `current_org_id()` does not name): read it again."""
    row = _row(conn.connection.driver_connection, result)
    return row if row is not None and row.acting_org == org_id else None


def _row(driver: Any, result: Any) -> Any:
    """The one row of a libpq result (None: not one row), loaded with `driver`'s adapters
    (None: the default ones; a timestamptz is then given in UTC)."""
    if result.status != psycopg.pq.ExecStatus.TUPLES_OK or result.ntuples != 1:
        return None
    transformer = psycopg.adapt.Transformer(driver)
    transformer.set_pgresult(result)
    names = tuple(bytes(result.fname(n) or b"").decode() for n in range(result.nfields))
    maker = _ROWS.get(names)
    if maker is None:
        maker = _ROWS[names] = collections.namedtuple("Opening", names)._make  # type: ignore[attr-defined]
    return transformer.load_row(0, maker)


# The opening read as `ticketing.open_checkout_for`, with the transaction's BEGIN before it
# in one simple query (`begin_with_opening`): values as literals (uuids in their canonical
# form, the key escaped by the driver for the connection), the function's plan kept by the
# session.
OPENING_FOR = "SELECT * FROM ticketing.open_checkout_for('%s'::uuid, '%s'::uuid, %s, %s)"


def begin_with_opening(
    conn: Connection,
    org_id: uuid.UUID,
    event_id: uuid.UUID,
    key: str,
    type_ids: list[uuid.UUID],
) -> Any:
    """Begin the connection's transaction (as psycopg would: its BEGIN with the
    connection's options) and send the opening read for the organization in the same round
    trip; its libpq result, for `opened` (and `reserve_checkout`'s `sent`). None, with
    nothing sent, where it cannot go so (another driver than psycopg, a transaction already
    begun on the server, autocommit): the usual `open_checkout` then. A driver error rolls
    the transaction back with the caller's (it is raised as `DBAPIError`)."""
    driver = _idle_driver(conn)
    if driver is None or "\x00" in key:
        return None
    escape = psycopg.pq.Escaping(driver.pgconn).escape_literal
    ids = "ARRAY[" + ", ".join(f"'{uuid.UUID(str(t))}'" for t in type_ids) + "]::uuid[]"
    statement = OPENING_FOR % (uuid.UUID(str(org_id)), uuid.UUID(str(event_id)), "%s", ids)
    sql = pgdriver.begin_command(driver) + b"; " + statement.encode() % escape(key.encode())
    encoding = driver.info.encoding
    try:
        # The last result: the opening's, or the first error.
        results = _exchange(conn.invalidate, driver, sql)
        if not results or results[-1].status != psycopg.pq.ExecStatus.TUPLES_OK:
            if not results or driver.pgconn.status != psycopg.pq.ConnStatus.OK:
                raise psycopg.OperationalError(driver.pgconn.get_error_message(encoding))
            raise error_from_result(results[-1], encoding=encoding)
    except psycopg.Error as error:
        # Invalidated already when the exchange closed the connection (conn.connection
        # would then refuse to reconnect inside the failed transaction).
        if not conn.invalidated and conn.dialect.is_disconnect(
            cast(Any, error), conn.connection, None
        ):
            conn.invalidate(error)
        lost = conn.invalidated
        raise DBAPIError.instance(
            None, None, error, psycopg.Error, connection_invalidated=lost
        ) from error
    return results[-1]


def open_checkout(
    conn: Connection, org_id: uuid.UUID, event_id: uuid.UUID, key: str, type_ids: list[uuid.UUID]
) -> Any:
    """The order stored under the key, the event (FOR SHARE) and the asked ticket types'
    prices: one statement, one row."""
    params = {"org": org_id, "event": event_id, "key": key, "ids": type_ids}
    row = pgdriver.first(conn, OPENING, params)
    if row is None:  # one row, always
        raise RuntimeError("the checkout's opening read returned no row")
    return row


def hold_and_insert(conn: Connection, order: Mapping[str, Any]) -> Any:
    """One ticket type's hold with the order and its tickets (`order` as INSERT_ORDER's plus
    `n`, `type`, `price`): its row, or None when the hold is refused (nothing written)."""
    return pgdriver.first(conn, HOLD_AND_INSERT, order)


def hold_insert_and_commit(conn: Connection, order: Mapping[str, Any]) -> tuple[Any, Any] | None:
    """`hold_and_insert`, and the caller's transaction committed, in one round trip: one
    simple query of `ticketing.hold_checkout` and the commit. The hot ticket type's row is
    then locked on the server alone from the hold to the commit, never while the client
    takes the hold's answer and sends its commit (under load, a wait for its turn at the GIL
    that every other buyer of the type waited behind). Returns (the order's row or None when
    the hold was refused, the refusal's diagnosis as `diagnose`'s or None); the transaction
    is committed either way (a refused hold wrote nothing); an error rolls back and commits
    nothing. None, with nothing done, on another driver than psycopg, or for a text that
    cannot be sent as a literal (a NUL, which libpq's escaping would cut): `hold_and_insert`
    (its values as parameters), then the caller's commit."""
    driver = conn.connection.driver_connection
    if not isinstance(driver, psycopg.Connection):
        return None
    statement = _hold_statement(driver, order)
    if statement is None:
        return None
    with pgdriver.cursor(conn) as cursor:
        cursor.execute(statement)
        row = cursor.fetchone()
    if row is None:
        return None, None  # not the event's ticket type
    return (row, None) if row.hold_expires_at is not None else (None, row)


def _hold_statement(driver: psycopg.Connection[Any], order: Mapping[str, Any]) -> bytes | None:
    """HOLD_AND_COMMIT with `order`'s values as literals (text escaped by the driver for
    this connection; uuids, integers and the interval formatted: no quote can occur); None
    when a text holds a NUL (libpq's escaping stops at it: the text would be stored cut),
    for the caller to send its values as parameters."""
    texts = [order[name] for name, kind, _form in _HOLD_ARGS if kind == "text"]
    texts += [v for name, kind, _form in _HOLD_ARGS if kind == "text[]" for v in order[name]]
    if any("\x00" in t for t in texts):
        return None
    escape = psycopg.pq.Escaping(driver.pgconn).escape_literal

    def text(value: str) -> str:
        return _literal(escape, value).decode()

    values: list[Any] = []
    for name, kind, _form in _HOLD_ARGS:
        value = order[name]
        if kind == "text":
            value = text(value)
        elif kind == "text[]":
            value = ", ".join(text(v) for v in value)
        elif kind == "uuid":
            value = uuid.UUID(str(value))  # its canonical form only
        elif kind == "interval":
            value = float(value.total_seconds())
        else:
            value = int(value)
        values.append(value)
    return (HOLD_AND_COMMIT % tuple(values)).encode()


def insert_order(conn: Connection, order: Mapping[str, Any]) -> Any:
    """The order and its tickets (seats already held); its row (`hold_expires_at`)."""
    return pgdriver.first(conn, INSERT_ORDER, order)


def hold(
    conn: Connection,
    org_id: uuid.UUID,
    event_id: uuid.UUID,
    type_id: uuid.UUID,
    *,
    n: int,
    price: int,
) -> bool:
    """Hold `n` seats of the type at `price`, if on sale and left; False if refused."""
    params = {"n": n, "id": type_id, "org": org_id, "event": event_id, "price": price}
    return pgdriver.execute(conn, HOLD, params) == 1


def unhold(conn: Connection, org_id: uuid.UUID, type_id: uuid.UUID, n: int) -> None:
    """Give back `n` held seats of the type."""
    pgdriver.execute(conn, UNHOLD, {"n": n, "id": type_id, "org": org_id})


def diagnose(conn: Connection, org_id: uuid.UUID, event_id: uuid.UUID, type_id: uuid.UUID) -> Any:
    """The ticket type's seats left and whether it is on sale now (None: not of the event)."""
    return pgdriver.first(conn, DIAGNOSE, {"id": type_id, "org": org_id, "event": event_id})


def record_intent(conn: Connection, order_id: uuid.UUID, intent_id: str, secret: str) -> Any:
    """Record the PaymentIntent on the order (unless another is recorded): the order's status,
    hold's expiry, the sweeper's ask and whether this recorded it first after the hold
    expired (`late`: the caller must refuse and roll back), or None if another intent was
    recorded first."""
    params = {"id": order_id, "pi": intent_id, "secret": secret}
    return pgdriver.first(conn, RECORD, params)


def record_now(
    engine: Engine, order_id: uuid.UUID, org_id: uuid.UUID, intent_id: str, secret: str
) -> bool:
    """Record the PaymentIntent on the order awaiting payment as a transaction of its own,
    committed when this returns (`RECORD_NOW`); False if nothing was recorded (or the
    driver cannot send it so): the caller's usual unit of work then (`record_intent`). It
    acts as the engine's role may outside a transaction (an application role, whose proof is
    transaction-local, records nothing)."""
    params = (str(order_id), intent_id, secret, str(org_id))
    try:
        row = pgdriver.call_alone(engine, _RECORD_NOW_NAME, RECORD_NOW, params)
    except TypeError:
        return False
    return row is not None


def recorded(conn: Connection, order_id: uuid.UUID) -> Any:
    """The order's status and the PaymentIntent recorded on it; None when there is no such
    order (its hold was lost: see `checkout.CheckoutInterrupted`)."""
    return pgdriver.first(conn, RECORDED, {"id": order_id})

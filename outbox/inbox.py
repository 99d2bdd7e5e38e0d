"""The inbox: events from outside (Stripe's webhooks), stored once and handled once.

`store_event` runs on the caller's transaction: a duplicate (same source and event id) is
acknowledged and ignored. It is for the schema's owner (the worker, tools, tests): the
application's roles may not add to the inbox by hand. They present the raw body and its
signature to `receive_signed_event`, which the database checks against the source's signing
secret (registered by the owner with `set_inbox_secret`, readable by no other role) before it
stores the event: a compromised application connection cannot forge an event. Handlers
must tolerate any arrival order (Stripe guarantees none).

A handler is either one step, `handler(conn, event)`, run in the transaction that marks the
event handled, or two (`TwoStepHandler`): `prepare(event)` fetches what the event does not
carry (from Stripe) with no transaction open and returns plain data, then
`handle(conn, event, data)` runs in the transaction that marks the event handled. No lock and
no transaction is held across the network (promise 8). A two-step handler may also `look`: a
short read on the claim's transaction, before the prepare, whose notes (`InboxEvent.hints`)
the prepare and the handle see (what the event does not say and the database does: whether
a payment is one of ours, so its prepare asks Stripe for its fee).

The worker handles an event in at most three short transactions:
1. `begin_next` locks the next due event (`FOR UPDATE SKIP LOCKED`). No handler: ignored. A
   one-step handler runs there and then (no network, so no reason to split). A two-step
   handler's event is looked at (its `look`, if any) and claimed instead: its
   `next_attempt_at` moves one lease ahead, so other workers skip it, and the transaction
   commits.
2. With no transaction open, the worker runs `prepare` (extending the lease while it runs).
3. `finish_claimed` locks the row again (`FOR UPDATE`), checks it is still pending and still
   under this claim (its `next_attempt_at` is the claim's: a fencing token, since a later claim
   can only set a later one), runs `handle` with the prepared data and marks it handled;
   `fail_claimed` records a failed prepare. A failure is rolled back to a savepoint and the
   event retried with backoff, dead after the last attempt, or at once for a failure no
   retry can mend (`outbox.retries.PermanentFailure`, which a package's error may mix in).
A transient failure (a deadlock, a serialization failure, a lock not available: SQLSTATE
40P01, 40001, 55P03, `outbox.retries.transient_sqlstate`) is not an attempt: the server
answered and nothing is wrong with the event. It is rolled back the same way and the event
deferred (status "deferred"): due again after a short wait growing with its `deferrals`
(`RetryPolicy.deferral`), its `attempts` unchanged, so it is tried again in a transaction of
its own, the other's locks gone. An outside service that says it is busy (a handler's
error mixing in `outbox.retries.TransientFailure`: the gateway's for Stripe's 429) is not an
attempt either: the event is deferred seconds, growing, jittered by half, at least the
service's Retry-After (`RetryPolicy.busy_deferral`), so a burst that met Stripe's rate limit
comes back spread out in seconds, not on the schedule's minutes. Past the policy's bound a
transient failure counts as an attempt again, so an event that never stops losing races still
ends dead (a busy service's past its schedule: the last wait again, for a day from the event's
receipt, then counted, `RetryPolicy.busy_for`). One met outside the handler's savepoint (the
relock's `FOR UPDATE`, the outcome's update, COMMIT and the constraint triggers deferred
to it) rolls the whole transaction back, the outcome with it: the worker records it in a
transaction of its own (`fail_rolled_back`), under the same bound.
A worker that dies between the steps leaves a lapsing lease: another worker claims the event
again and its own finish wins; the dead one's, if it ever comes, finds the claim gone ("lost").
One worker has up to `WorkerSettings.inbox_concurrency` events between steps 1 and 3 at once
(`outbox.worker`): while their prepares wait on Stripe it claims the next, so events of one
worker overlap as those of two workers always could; handlers assume no order among them.

Each event is placed with an organization (`org_id`, set by the database from the payload
alone: the one its object's metadata names, else the nil uuid, so a redelivery is placed as
the first delivery was and stored once), and every statement on it after
the next-due scan names it: handling a payment's event is one organization's transaction
(docs/scaling.md). The next-due scan reads every organization's events: the relay's
statement, run per shard under Citus.

`handle_next` does the whole of it on the caller's connection and transaction, the prepare
included: for tests and tools whose prepares do no I/O, never for the worker.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any, Generic, TypeVar

from sqlalchemy import Connection, Row, text
from sqlalchemy.exc import DBAPIError

from outbox.errors import InboxNotConfigured, InvalidSignature
from outbox.retries import RetryPolicy, permanent, transient, transient_sqlstate

T = TypeVar("T")

# The row's org_id is the database's (messaging.inbox_org, from the payload).
_STORE = text("""
    INSERT INTO messaging.inbox (source, event_id, type, payload)
    VALUES (:source, :id, :type, CAST(:payload AS jsonb))
    ON CONFLICT (source, event_id, org_id) DO NOTHING
    RETURNING event_id
""")

# On the primary key's leading columns (source, event_id): every organization's, as the
# relay's scan; the owner's (the catch-up of a source's list).
_STORED_IDS = text("""
    SELECT DISTINCT event_id FROM messaging.inbox
     WHERE source = :source AND event_id = ANY(CAST(:ids AS text[]))
""")

_RECEIVE_SIGNED = text("""
    SELECT event_id, event_type, stored
      FROM messaging.receive_signed_event(:source, :body, :signature)
""")

_SET_SECRET = text("SELECT messaging.set_inbox_secret(:source, :secret, :tolerance)")

# The relay's scan, over every organization's events: under Citus, run per shard by each
# node's worker (docs/scaling.md step 4). Every statement after it names the event's org_id.
_NEXT_DUE = text("""
    SELECT source, event_id, org_id, type, payload, received_at, attempts
      FROM messaging.inbox
     WHERE status = 'pending' AND next_attempt_at <= now()
     ORDER BY next_attempt_at, received_at
     LIMIT 1
       FOR UPDATE SKIP LOCKED
""")

# The claim's lease is its next_attempt_at: due again (to anyone) once it lapses. It counts
# from the claim's moment (clock_timestamp()), not from its transaction's start (now()): the
# claim comes after the next-due scan and the handler's look on that transaction, and the
# lease the prepare gets is the whole of :lease however long they took. The renewal too.
_CLAIM = text("""
    UPDATE messaging.inbox SET next_attempt_at = clock_timestamp() + :lease
     WHERE source = :source AND event_id = :id AND org_id = :org
    RETURNING next_attempt_at
""")

_RENEW = text("""
    UPDATE messaging.inbox SET next_attempt_at = clock_timestamp() + :lease
     WHERE source = :source AND event_id = :id AND org_id = :org
       AND status = 'pending' AND next_attempt_at = :until
    RETURNING next_attempt_at
""")

_RELOCK = text("""
    SELECT attempts FROM messaging.inbox
     WHERE source = :source AND event_id = :id AND org_id = :org
       AND status = 'pending' AND next_attempt_at = :until
       FOR UPDATE
""")

_IGNORED = text("""
    UPDATE messaging.inbox
       SET status = 'ignored', handled_at = now(), attempts = attempts + 1,
           last_error = 'no handler registered for this type'
     WHERE source = :source AND event_id = :id AND org_id = :org
""")

# A counted failure: due again after the backoff (:delay), or dead (NULL). The backoff
# counts from the failure (clock_timestamp()), not from the transaction's start (now()), as
# a deferral's wait does: the handler ran on this transaction, and the time it took (a lock
# waited for, a slow statement) must not come off the wait.
_FAILED = text("""
    UPDATE messaging.inbox
       SET status = CASE WHEN CAST(:delay AS float8) IS NULL THEN 'dead' ELSE 'pending' END,
           attempts = attempts + 1,
           next_attempt_at = clock_timestamp()
               + make_interval(secs => coalesce(CAST(:delay AS float8), 0)),
           last_error = :error
     WHERE source = :source AND event_id = :id AND org_id = :org
""")

# A transient failure's deferral, not counted: due again after the wait for this deferral
# (:waits, one per deferral of the bound); no row once the bound is reached, unless the event
# is younger than :unbounded_for seconds (a busy service's, `RetryPolicy.busy_for`; 0 for a
# lost race), which waits the last again. The wait counts from the failure
# (clock_timestamp()), not from the transaction's start (now()): a handler that waited out
# its lock_timeout still waits its deferral.
_DEFERRED = text("""
    UPDATE messaging.inbox
       SET deferrals = deferrals + 1,
           next_attempt_at = clock_timestamp() + make_interval(
               secs => (CAST(:waits AS float8[]))[
                   least(deferrals + 1, cardinality(CAST(:waits AS float8[])))]),
           last_error = :error
     WHERE source = :source AND event_id = :id AND org_id = :org
       AND (deferrals < cardinality(CAST(:waits AS float8[]))
            OR received_at > clock_timestamp() - make_interval(secs => :unbounded_for))
    RETURNING deferrals
""")

# The row a step took, locked again in a transaction of its own after that step's
# transaction failed whole (`fail_rolled_back`), if still as the step took it: pending and
# not counted since, and due (a one-step event, or a two-step one not yet claimed) or still
# under the step's claim. FOR NO KEY UPDATE, the lock the recording's UPDATE takes anyway:
# a foreign key's check on the row (FOR KEY SHARE) does not hold it up.
_RETAKE_DUE = text("""
    SELECT attempts FROM messaging.inbox
     WHERE source = :source AND event_id = :id AND org_id = :org
       AND status = 'pending' AND attempts = :attempts AND next_attempt_at <= now()
       FOR NO KEY UPDATE
""")

_RETAKE_CLAIMED = text("""
    SELECT attempts FROM messaging.inbox
     WHERE source = :source AND event_id = :id AND org_id = :org
       AND status = 'pending' AND attempts = :attempts AND next_attempt_at = :until
       FOR NO KEY UPDATE
""")

_HANDLED = text("""
    UPDATE messaging.inbox
       SET status = 'handled', handled_at = now(), attempts = attempts + 1, last_error = NULL
     WHERE source = :source AND event_id = :id AND org_id = :org
""")


@dataclass(frozen=True)
class InboxEvent:
    """A stored event as a handler sees it."""

    source: str
    event_id: str
    type: str
    payload: dict[str, Any]
    received_at: datetime
    attempts: int
    org_id: uuid.UUID | None = None
    """The organization the inbox placed the event with (the one its object's metadata
    names, else the nil uuid); None for an event built outside the inbox."""
    hints: Mapping[str, Any] = field(default_factory=dict)
    """What a two-step handler's `look` noted for its prepare and handle (else empty)."""


Handler = Callable[[Connection, InboxEvent], None]


@dataclass(frozen=True)
class TwoStepHandler(Generic[T]):
    """A handler that needs the network: `prepare(event)` runs with no transaction open and
    returns plain data; `handle(conn, event, data)` runs in the transaction that marks the
    event handled. Either may raise to have the event retried."""

    prepare: Callable[[InboxEvent], T]
    handle: Callable[[Connection, InboxEvent, T], None]
    look: Callable[[Connection, InboxEvent], InboxEvent] | None = None
    """Optional: a short read on the claim's transaction (no network), before the prepare:
    returns the event as the prepare and the handle see it (`hints` added)."""


AnyHandler = Handler | TwoStepHandler[Any]


class Handlers:
    """Which handler takes which (source, type): the application wires one at its edge; a
    test may build its own and hand it to the worker."""

    def __init__(self) -> None:
        self._by_type: dict[tuple[str, str], AnyHandler] = {}

    def register(
        self, source: str, event_type: str, handler: AnyHandler, *, replace: bool = False
    ) -> None:
        """Handle events of this source and type with `handler` (one step or two)."""
        existing = self._by_type.get((source, event_type))
        if existing is not None and existing is not handler and not replace:
            raise ValueError(f"a handler for {source} {event_type} is already registered")
        self._by_type[(source, event_type)] = handler

    def get(self, source: str, event_type: str) -> AnyHandler | None:
        """The registered handler, if any."""
        return self._by_type.get((source, event_type))

    def types(self, source: str) -> list[str]:
        """The event types of `source` a handler is registered for, sorted."""
        return sorted(t for s, t in self._by_type if s == source)


DEFAULT_HANDLERS = Handlers()
"""The process's handlers, used when none are given."""


def register_handler(
    source: str, event_type: str, handler: AnyHandler, *, replace: bool = False
) -> None:
    """Register a handler in the process's default handlers."""
    DEFAULT_HANDLERS.register(source, event_type, handler, replace=replace)


def handler_for(source: str, event_type: str) -> AnyHandler | None:
    """The handler registered in the process's default handlers, if any."""
    return DEFAULT_HANDLERS.get(source, event_type)


def stored_event_ids(conn: Connection, source: str, event_ids: list[str]) -> set[str]:
    """Which of `event_ids` the inbox already holds for `source` (any organization): a reader
    of a source's own list skips them without a statement each (the owner's)."""
    rows = conn.execute(_STORED_IDS, {"source": source, "ids": event_ids}).scalars()
    return {str(r) for r in rows}


def store_event(
    conn: Connection, source: str, event_id: str, event_type: str, payload: dict[str, Any]
) -> bool:
    """Store an event on the caller's transaction; False if it was already stored."""
    row = conn.execute(
        _STORE,
        {"source": source, "id": event_id, "type": event_type, "payload": json.dumps(payload)},
    ).first()
    return row is not None


@dataclass(frozen=True)
class Received:
    """What the database stored of a signed event."""

    event_id: str
    event_type: str
    stored: bool
    """False for a duplicate (already in the inbox)."""


def receive_signed_event(conn: Connection, source: str, body: str, signature: str) -> Received:
    """Store an event once the database has checked its signature (Stripe's scheme: `t=...,
    v1=...`, HMAC-SHA256 of `t.body`) against the source's registered secret.

    For the application's roles, on the caller's transaction. Raises `InboxNotConfigured`
    (no secret registered) or `InvalidSignature` (a missing, wrong, stale or future signature,
    or a body that is no event); nothing is stored then."""
    try:
        row = conn.execute(
            _RECEIVE_SIGNED, {"source": source, "body": body, "signature": signature}
        ).one()
    except DBAPIError as exc:
        diag = getattr(exc.orig, "diag", None)
        if getattr(exc.orig, "sqlstate", None) != "LXI01" or diag is None:
            raise
        detail = diag.message_detail or ""
        if diag.message_primary == "inbox_not_configured":
            raise InboxNotConfigured(source=source) from exc
        raise InvalidSignature(reason=f"the database refused the event: {detail}") from exc
    return Received(event_id=row.event_id, event_type=row.event_type, stored=row.stored)


def set_inbox_secret(
    conn: Connection, source: str, secret: str | None, *, tolerance_s: int = 300
) -> None:
    """Register (None: forget) the secret the database checks `source`'s signatures with.
    The schema's owner only; on the caller's transaction."""
    conn.execute(_SET_SECRET, {"source": source, "secret": secret, "tolerance": tolerance_s})


@dataclass(frozen=True)
class Claim:
    """An event a worker holds under lease while its handler's prepare runs."""

    event: InboxEvent
    handler: TwoStepHandler[Any]
    until: datetime
    """The lease's end, as stored in `next_attempt_at`: the claim's fencing token."""


def _key(event: InboxEvent) -> dict[str, Any]:
    return {"source": event.source, "id": event.event_id, "org": event.org_id}


def _event(row: Row[Any], attempts: int) -> InboxEvent:
    return InboxEvent(
        source=row.source,
        event_id=row.event_id,
        type=row.type,
        payload=row.payload,
        received_at=row.received_at,
        attempts=attempts,
        org_id=row.org_id,
    )


def next_due(conn: Connection) -> InboxEvent | None:
    """Lock the next due event (`FOR UPDATE SKIP LOCKED`) on the caller's transaction; None
    if none is due."""
    row = conn.execute(_NEXT_DUE).first()
    return None if row is None else _event(row, row.attempts + 1)


def _deferred(
    conn: Connection,
    event: InboxEvent,
    waits: list[float | None],
    exc: Exception,
    *,
    why: str,
    unbounded_for: float,
) -> bool:
    """Defer the event, not counted (`_DEFERRED`); False past the bound."""
    error = f"deferred ({why}): {type(exc).__name__}: {exc}"[:1000]
    params = {**_key(event), "waits": waits, "error": error, "unbounded_for": unbounded_for}
    return conn.execute(_DEFERRED, params).first() is not None


def _failed(conn: Connection, policy: RetryPolicy, event: InboxEvent, exc: Exception) -> str:
    """Record a failure on the caller's transaction (the handler's work rolled back): a
    transient one within the policy's bound defers the event ("deferred", not an attempt):
    a busy service's (`outbox.retries.TransientFailure`) by `RetryPolicy.busy_deferral` (past
    its schedule a minute at a time, for `RetryPolicy.busy_for` from receipt), a lost
    race's (`transient_sqlstate`) by `RetryPolicy.deferral`;
    a permanent one (`outbox.retries.PermanentFailure`) is an attempt and the last ("dead"),
    any other is an attempt ("retrying", or "dead" after the last)."""
    if permanent(exc):
        error = f"{type(exc).__name__}: {exc}"[:1000]
        conn.execute(_FAILED, {**_key(event), "delay": None, "error": error})
        return "dead"
    busy = transient(exc)
    if busy is not None and policy.busy_deferrals:
        n = len(policy.busy_deferrals)
        waits = [policy.busy_deferral(k, busy.retry_after) for k in range(1, n + 1)]
        if _deferred(conn, event, waits, exc, why="busy", unbounded_for=policy.busy_for):
            return "deferred"
    code = transient_sqlstate(exc)
    if code is not None and policy.deferrals:
        waits = [policy.deferral(k) for k in range(1, len(policy.deferrals) + 1)]
        if _deferred(conn, event, waits, exc, why=code, unbounded_for=0):
            return "deferred"
    delay = policy.delay(event.attempts, None if busy is None else busy.retry_after)
    error = f"{type(exc).__name__}: {exc}"[:1000]
    conn.execute(_FAILED, {**_key(event), "delay": delay, "error": error})
    return "dead" if delay is None else "retrying"


def _run(
    conn: Connection, policy: RetryPolicy, event: InboxEvent, apply: Callable[[], None]
) -> str:
    """Run a handler's transactional step under a savepoint and mark the outcome."""
    savepoint = conn.begin_nested()
    try:
        apply()
    except Exception as exc:
        savepoint.rollback()
        return _failed(conn, policy, event, exc)
    savepoint.commit()
    conn.execute(_HANDLED, _key(event))
    return "handled"


def _run_one_step(
    conn: Connection, policy: RetryPolicy, event: InboxEvent, handler: Handler | None
) -> str:
    if handler is None:
        conn.execute(_IGNORED, _key(event))
        return "ignored"
    return _run(conn, policy, event, lambda: handler(conn, event))


def handle_next(
    conn: Connection, policy: RetryPolicy, handlers: Handlers | None = None
) -> str | None:
    """Handle one due event on the caller's transaction; returns its status, None if idle.

    A two-step handler's prepare runs here too, under the row's lock: for tests and tools
    whose prepares do no I/O. The worker uses `begin_next` and `finish_claimed` instead."""
    event = next_due(conn)
    if event is None:
        return None
    handler = (handlers or DEFAULT_HANDLERS).get(event.source, event.type)
    if not isinstance(handler, TwoStepHandler):
        return _run_one_step(conn, policy, event, handler)
    two_step: TwoStepHandler[Any] = handler
    looked = _look(conn, policy, event, two_step)
    if isinstance(looked, str):
        return looked
    event = looked
    try:
        data = two_step.prepare(event)
    except Exception as exc:
        return _failed(conn, policy, event, exc)
    return _run(conn, policy, event, lambda: two_step.handle(conn, event, data))


def _look(
    conn: Connection, policy: RetryPolicy, event: InboxEvent, handler: TwoStepHandler[Any]
) -> InboxEvent | str:
    """The event as the handler's `look` returns it (under a savepoint), or the status of
    its failure (recorded as a prepare's)."""
    if handler.look is None:
        return event
    savepoint = conn.begin_nested()
    try:
        looked = handler.look(conn, event)
    except Exception as exc:
        savepoint.rollback()
        return _failed(conn, policy, event, exc)
    savepoint.commit()
    return looked


def begin_next(
    conn: Connection, policy: RetryPolicy, handlers: Handlers | None, lease: timedelta
) -> str | Claim | None:
    """Take the next due event on the caller's transaction: handle it at once if its handler
    is one step (its status), claim it for `lease` if two (the caller commits, prepares with
    no transaction open, then calls `finish_claimed`), None if nothing is due."""
    event = next_due(conn)
    return None if event is None else begin(conn, policy, handlers, lease, event)


def begin(
    conn: Connection,
    policy: RetryPolicy,
    handlers: Handlers | None,
    lease: timedelta,
    event: InboxEvent,
) -> str | Claim:
    """`begin_next` for an event `next_due` took on the caller's transaction (the worker
    keeps the event, to record a failure of the transaction itself: `fail_rolled_back`)."""
    handler = (handlers or DEFAULT_HANDLERS).get(event.source, event.type)
    if not isinstance(handler, TwoStepHandler):
        return _run_one_step(conn, policy, event, handler)
    looked = _look(conn, policy, event, handler)
    if isinstance(looked, str):
        return looked
    until = conn.execute(_CLAIM, {**_key(event), "lease": lease}).scalar_one()
    return Claim(event=looked, handler=handler, until=until)


def renew_claim(conn: Connection, claim: Claim, lease: timedelta) -> Claim | None:
    """Extend a claim still held (same token) by `lease`; None if it was lost."""
    until = conn.execute(
        _RENEW, {**_key(claim.event), "until": claim.until, "lease": lease}
    ).scalar_one_or_none()
    return None if until is None else replace(claim, until=until)


def _relock(conn: Connection, claim: Claim) -> bool:
    """Lock the claimed row again; False if the claim lapsed and another took the event."""
    row = conn.execute(_RELOCK, {**_key(claim.event), "until": claim.until}).first()
    return row is not None


def finish_claimed(conn: Connection, policy: RetryPolicy, claim: Claim, data: Any) -> str:
    """Run a claimed event's transactional step with its prepared data, on the caller's
    transaction; its status, or "lost" (nothing written) if the claim is no longer held."""
    if not _relock(conn, claim):
        return "lost"
    event, handler = claim.event, claim.handler
    return _run(conn, policy, event, lambda: handler.handle(conn, event, data))


def fail_claimed(conn: Connection, policy: RetryPolicy, claim: Claim, exc: Exception) -> str:
    """Record a claimed event's failed prepare (retry with backoff, or dead); "lost" if the
    claim is no longer held."""
    if not _relock(conn, claim):
        return "lost"
    return _failed(conn, policy, claim.event, exc)


def fail_rolled_back(
    conn: Connection,
    policy: RetryPolicy,
    event: InboxEvent,
    exc: Exception,
    *,
    until: datetime | None = None,
) -> str:
    """Record `exc` for an event whose step's transaction failed whole, on a transaction of
    the caller's begun after it (the worker's): a transient failure met outside the
    handler's savepoint (a lock not available on the row's relock, a deadlock or a
    serialization failure on the outcome's update or at COMMIT, in a constraint trigger
    deferred to it) rolls back the outcome with the work, so nothing counted it. Deferred or
    counted as `_failed` does (so the bound applies: dead after the last attempt), if the
    row is still as the step took it: pending, not counted since, and due (`until` None: a
    one-step event, or a two-step one before its claim) or under the claim `until`; else
    "lost", nothing written (another worker has it)."""
    params = {**_key(event), "attempts": event.attempts - 1}
    if until is None:
        retaken = conn.execute(_RETAKE_DUE, params).first()
    else:
        retaken = conn.execute(_RETAKE_CLAIMED, {**params, "until": until}).first()
    if retaken is None:
        return "lost"
    return _failed(conn, policy, event, exc)

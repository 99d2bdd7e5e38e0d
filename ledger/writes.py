"""Writes to the ledger: each use case is one call of the ledger's door on the caller's
connection (one round trip), inside the caller's transaction; none of them commits, but
`post_entry_now`, a posting that is its own unit of work (the door's one statement as its own
transaction: one round trip in all, no BEGIN and no COMMIT).

A single standard entry without conditions (the usual posting) goes through the fast door,
`payments.post_entry`, with typed arguments; every other write through
`payments.ledger_write(jsonb)`. Both store the same fingerprint under the key, so a request
replays the same whichever door first took it. Batches (`post_batch`, `post_entries`) are in
`ledger.batches`.

The fast door is called through libpq itself (`pgdriver.call`, `pgdriver.call_alone`: text
parameters, the row as text), whose client CPU is a fraction of psycopg's cursor and of
SQLAlchemy's execution (measured on one round trip: ~12, ~70 and ~135 us); the other doors
through the connection's psycopg cursor (`pgdriver`). What SQLAlchemy's execution would do
around a call is kept: the transaction begins as it would have, driver errors are wrapped in
its exception classes, and a lost connection is invalidated.

Database errors are translated here, once, into `ledger.errors` with `raise ... from`.
"""

from __future__ import annotations

import hashlib
import json
import random
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, TypeVar
from uuid import UUID

import psycopg
from psycopg.rows import tuple_row
from sqlalchemy import Connection, Engine, text
from sqlalchemy.exc import DBAPIError

import pgdriver
from ledger.errors import (
    AccountNotFound,
    DuplicateExternalReference,
    IdempotencyConflict,
    InvalidRequest,
    LostRace,
    OrganizationNotFound,
    PermissionDenied,
    error_from_code,
)
from ledger.models import WriteResult
from ledger.requests import (
    CloseAccount,
    CreateHold,
    OpenAccount,
    PostEntry,
    PostHold,
    Request,
    ReverseEntry,
    VoidHold,
    canonical_json,
    fingerprint,
    plain_post,
    uuid_text,
)

_WRITE = "SELECT payments.ledger_write(%s::jsonb)"
_BATCH = "SELECT payments.post_batch(%s::jsonb)"
# The line arrays go as array literals in text ('{a,b}'), built here: every element is
# validated first (UUIDs, 'debit'/'credit', integers, ISO 4217 codes), so none needs quoting,
# and psycopg's array dumpers (a type lookup and a dump per element) are not run. Measured
# (bench scratch, same run): 243 -> 163 us of client CPU per call against the binary arrays.
_POST_ONE = (
    "SELECT status, id, replayed, code, details FROM payments.post_entry(%s::uuid, %s, %s,"
    " %s::uuid[], %s::text[], %s::bigint[], %s::text[], %s, %s::jsonb, %s::timestamptz, %s)"
)
# The same call with libpq's placeholders, prepared once per connection under a name that
# changes with its text (pgdriver.call): the usual way of a single posting.
_POST_ONE_LIBPQ = _POST_ONE.replace("%s", "$%d") % tuple(range(1, 12))
_POST_ONE_NAME = "ledger_post_entry_" + hashlib.sha256(_POST_ONE_LIBPQ.encode()).hexdigest()[:12]
# Whether the caller's role is the schema's owner (asked only after a refusal: `_trusted`).
_TRUSTED = text("SELECT payments._trusted_caller()")

# A unit of work of the call's own (`alone`) that lost a race (a deadlock, a serialization
# failure) is tried up to `_ATTEMPTS` times in all, after a pause before each rerun
# (`_pause`: 10-20 ms, then 20-40 ms).
_ATTEMPTS = 3
_AGAIN = frozenset({"40P01", "40001"})
_PAUSE_S = 0.02
_PAUSE_CAP_S = 0.05
_sleep = time.sleep  # a module attribute, so that a test can see the pauses asked for

T = TypeVar("T")


@contextmanager
def translated_errors() -> Iterator[None]:
    """Turn the database's ledger errors (SQLSTATE LX001) into typed `LedgerError`s."""
    try:
        yield
    except DBAPIError as exc:
        raise _translate(exc) from exc


def _translate(exc: DBAPIError) -> Exception:
    orig = exc.orig
    sqlstate = getattr(orig, "sqlstate", None)
    diag = getattr(orig, "diag", None)
    if sqlstate == "LX001" and diag is not None:
        details = json.loads(diag.message_detail or "{}")
        return error_from_code(diag.message_primary or "ledger_error", details)
    if sqlstate == "23503" and diag is not None:
        constraint = diag.constraint_name or ""
        if constraint.endswith("org_id_fkey"):
            return OrganizationNotFound(org_id=None)
        if "account" in constraint:
            return AccountNotFound(account_id=None)
    if sqlstate == "42501":  # the role lacks the privilege (writes go through the door only)
        return PermissionDenied(reason=diag.message_primary if diag is not None else "")
    return exc


def _write(
    conn: Connection, org_id: UUID, requests: Sequence[Request], *, record_failure: bool
) -> list[WriteResult]:
    if not requests:
        raise InvalidRequest("nothing to write")
    operation = requests[0].operation
    payloads = []
    for request in requests:
        payload = request.payload()
        payload["hash"] = fingerprint(payload)
        payloads.append(payload)
    keys = [p["key"] for p in payloads]
    if len(set(keys)) != len(keys):
        raise InvalidRequest("each request of a batch needs its own idempotency key")
    refs = [p["external_ref"] for p in payloads if p.get("external_ref")]
    if len(set(refs)) != len(refs):
        raise InvalidRequest("each entry of a batch needs its own external reference")
    body = {
        "org_id": str(org_id),
        "operation": operation,
        "record_failure": record_failure,
        "requests": payloads,
    }
    with translated_errors():
        answer = _call_door(conn, canonical_json(body))
    results = []
    for item in answer["results"]:
        if item["status"] == "failed":
            raise error_from_code(item["code"], item["details"])
        results.append(WriteResult(id=UUID(item["id"]), replayed=item["replayed"]))
    return results


def _call_door(conn: Connection, request: str) -> dict[str, Any]:
    """`payments.ledger_write(request)` on the connection's driver cursor."""
    answer: dict[str, Any] = _one_row(conn, _WRITE, (request,))[0]
    return answer


def _one_row(conn: Connection, statement: str, params: tuple[Any, ...]) -> tuple[Any, ...]:
    """The one row `statement` returns, run on the connection's driver cursor (`pgdriver`)."""
    found = pgdriver.first(conn, statement, params)
    if found is None:  # the door's functions return a row, always
        raise RuntimeError("the ledger's door returned no row")
    return tuple(found)


def _driver_row(conn: Connection, statement: str, params: tuple[Any, ...]) -> tuple[Any, ...]:
    """The one row `statement` returns, as a plain tuple (no named-tuple class built per
    row), on the connection's psycopg cursor (`pgdriver.cursor`); other drivers go through
    `pgdriver.first`."""
    if not isinstance(conn.connection.driver_connection, psycopg.Connection):
        return _one_row(conn, statement, params)
    with pgdriver.cursor(conn, row_factory=tuple_row) as cursor:
        cursor.execute(statement, params)
        found = cursor.fetchone()
    if found is None:  # the door's functions return a row, always
        raise RuntimeError("the ledger's door returned no row")
    return tuple(found)


def _array(items: Sequence[object]) -> str:
    """A PostgreSQL array literal of validated elements that need no quoting."""
    return "{" + ",".join(map(str, items)) + "}"


def _post_params(org_id: UUID, request: PostEntry) -> tuple[str | None, ...]:
    """The fast door's arguments, as text: a plain entry's without its payload
    (`plain_post`: the same text, about a third of the client CPU), any other's from it."""
    plain = plain_post(request)
    if plain is not None:
        return (uuid_text(org_id), *plain)
    payload = request.payload()
    lines = payload["lines"]
    return (
        str(org_id),
        payload["key"],
        fingerprint(payload),
        _array([line["account_id"] for line in lines]),
        _array([line["side"] for line in lines]),
        _array([line["amount"] for line in lines]),
        _array([line["currency"] for line in lines]),
        payload["description"],
        canonical_json(payload["metadata"]) if payload["metadata"] else None,
        payload["effective_at"],
        payload["external_ref"],
    )


def _post_one(
    bind: Connection | Engine, org_id: UUID, request: PostEntry, *, alone: bool = False
) -> WriteResult:
    """One standard entry without conditions through the fast door: in the connection's
    transaction, or (`alone`) as a transaction of its own (see `post_entry_now`)."""
    params = _post_params(org_id, request)
    # The driver's errors are translated as `translated_errors` does, by a plain try (the
    # context manager's generator was ~1 us of every posting's client CPU, session 44).
    try:
        try:
            if alone:
                row = pgdriver.call_alone(bind, _POST_ONE_NAME, _POST_ONE_LIBPQ, params)
            else:
                assert isinstance(bind, Connection)
                row = pgdriver.call(bind, _POST_ONE_NAME, _POST_ONE_LIBPQ, params)
        except TypeError:
            # Another driver, or a NUL in a text: the cursor's way (which refuses that).
            if isinstance(bind, Engine):
                with bind.begin() as conn:
                    return _answer(_driver_row(conn, _POST_ONE, params))
            if alone:
                with bind.begin():
                    return _answer(_driver_row(bind, _POST_ONE, params))
            return _answer(_driver_row(bind, _POST_ONE, params))
    except DBAPIError as exc:
        if _constraint_of(exc) == "entries_org_external_ref_key":
            # A concurrent entry took the reference between the door's check and its insert.
            raise DuplicateExternalReference(
                external_ref=request.external_ref, entry_id=None
            ) from exc
        raise _translate(exc) from exc
    if row is None:  # the door's function returns a row, always
        raise RuntimeError("the ledger's door returned no row")
    status, entry_id, flag, code, details = row
    if status != "failed":
        return WriteResult(id=UUID(entry_id), replayed=flag == "t")
    raise _refused(code, None if details is None else json.loads(details))


def _answer(row: tuple[Any, ...]) -> WriteResult:
    status, entry_id, replayed, code, details = row
    if status == "failed":
        raise _refused(code, details)
    return WriteResult(id=UUID(str(entry_id)), replayed=bool(replayed))


def _refused(code: Any, details: Any) -> Exception:
    """The typed error of a refusal the door answered (its code and details, as stored with
    the key); details that are not an object (none stored) give the error without them."""
    return error_from_code(str(code), details if isinstance(details, dict) else {})


def _constraint_of(exc: DBAPIError) -> str | None:
    diag = getattr(exc.orig, "diag", None)
    return None if diag is None else diag.constraint_name


def post_entry(conn: Connection, org_id: UUID, request: PostEntry | ReverseEntry) -> WriteResult:
    """Post one balanced entry (or a reversal); a refusal is remembered under its key.

    A transaction that posts for two organizations (or otherwise locks accounts outside the
    doors' one order, docs/engine.md) may deadlock with another: the victim's call raises the
    database's error as it is (`sqlalchemy.exc.OperationalError`, SQLSTATE 40P01, not a
    `LedgerError`: nothing was refused) at the first deadlock, and its transaction is
    aborted; run the unit of work again (the API does: a lost race). Neither way runs it
    again itself: the usual way runs in no subtransaction, and the long way
    (`payments.ledger_write`: a reversal, conditions, a line of 2**40 or more) does not
    retry a deadlock in its subtransaction, whose rollback could not release what the
    caller's earlier postings hold (each retry deadlocked again).
    """
    if isinstance(request, PostEntry) and not request.conditions:
        return _post_one(conn, org_id, request)
    return _write(conn, org_id, [request], record_failure=True)[0]


def alone(bind: Engine | Connection, names: tuple[str, str], once: Callable[[], T]) -> T:
    """Run `once`, a unit of work wholly this call's own on `bind` (`post_entry_now`,
    `post_batch_now`: committed, or rolled back whole, before it returns), as such a call
    fails.

    A deadlock or serialization failure (40P01, 40001) rolled all of it back and left the
    caller holding nothing, so it is run again after a short jittered pause (`_pause`), up to
    `_ATTEMPTS` times in all; then `LostRace` is raised from the last one (the driver's
    error as its `__cause__`: `outbox.retries.transient_sqlstate` still reads it). An
    `OrganizationNotFound` met by a role that is not the schema's owner becomes
    `PermissionDenied`: such a role acts for an organization only inside a transaction
    where it presented the organization's proof (transaction-local), which a call that is
    its own unit of work cannot have; it posts with `names[1]` (`names[0]` is this call)."""
    for attempt in range(1, _ATTEMPTS + 1):
        try:
            return once()
        except DBAPIError as exc:
            sqlstate = getattr(exc.orig, "sqlstate", None)
            if sqlstate not in _AGAIN:
                raise
            if attempt == _ATTEMPTS:
                raise LostRace(sqlstate=sqlstate, attempts=attempt) from exc
            _sleep(_pause(attempt))  # nothing held: the unit of work was rolled back
        except OrganizationNotFound as exc:
            if not _trusted(bind):
                raise PermissionDenied(
                    reason=f"{names[0]} acts outside a transaction, as the schema's owner"
                    f" only: an application role posts with {names[1]} in a transaction"
                    " where it presented its organization's proof"
                ) from exc
            raise
    raise AssertionError("unreachable")  # pragma: no cover


def _pause(attempt: int) -> float:
    """Seconds to wait before running a lost race's unit of work again, after its
    `attempt`-th try: jittered (half to all of a bound), the bound growing from 20 ms and
    kept within 50 ms, so that the transactions that deadlocked do not meet again at once."""
    return random.uniform(0.5, 1.0) * min(_PAUSE_CAP_S, _PAUSE_S * 2.0 ** (attempt - 1))


def _trusted(bind: Engine | Connection) -> bool:
    """Whether the bind's role is the schema's owner (or has its rights): asked only after a
    refusal, in a transaction of its own."""
    if isinstance(bind, Engine):
        with bind.connect() as conn:
            return bool(conn.execute(_TRUSTED).scalar_one())
    with bind.begin():
        return bool(bind.execute(_TRUSTED).scalar_one())


def post_entry_now(
    bind: Engine | Connection, org_id: UUID, request: PostEntry | ReverseEntry
) -> WriteResult:
    """Post one entry (or a reversal) as its own unit of work: committed when this returns.

    One round trip for a standard entry without conditions: the door's one statement is the
    whole transaction (no BEGIN, no COMMIT; the commit-time checks run as it ends), instead of
    three for `with engine.begin(): post_entry(...)`; any other request goes that way.
    `bind`: an engine (a connection of its pool, for the call), or a connection with no
    transaction open (a worker's own, kept: no pool checkout and checkin either). For a
    posting that stands alone (a worker's, the CLI's, a service's); to post with other writes
    in one transaction, `post_entry` on the caller's connection. It acts as the connection's
    role may outside a transaction: the schema's owner; an application role acts for an
    organization only inside a transaction (its proof is transaction-local), so it posts with
    `post_entry`: here it gets `PermissionDenied`, not `OrganizationNotFound` (the
    organization may well exist). A refusal remembered under its key is committed with the
    key. The unit of work being wholly this call's, a deadlock or serialization failure runs
    it again after a short pause, 3 tries in all, then raises `LostRace` (`alone`), never
    the driver's error.
    """
    return alone(bind, ("post_entry_now", "post_entry"), lambda: _entry_now(bind, org_id, request))


def _entry_now(
    bind: Engine | Connection, org_id: UUID, request: PostEntry | ReverseEntry
) -> WriteResult:
    """One try of `post_entry_now`."""
    if isinstance(request, PostEntry) and not request.conditions:
        return _post_one(bind, org_id, request, alone=True)
    if isinstance(bind, Engine):
        with bind.begin() as conn:
            return post_entry(conn, org_id, request)
    with bind.begin():
        return post_entry(bind, org_id, request)


def reverse_entry(conn: Connection, org_id: UUID, request: ReverseEntry) -> WriteResult:
    """Reverse an entry once, by a new entry with the sides swapped that names it."""
    return _write(conn, org_id, [request], record_failure=True)[0]


def create_hold(conn: Connection, org_id: UUID, request: CreateHold) -> WriteResult:
    """Reserve an amount (pending) against the accounts' overdraft flags; returns the hold id."""
    return _write(conn, org_id, [request], record_failure=True)[0]


def post_hold(conn: Connection, org_id: UUID, request: PostHold) -> WriteResult:
    """Post a hold in full or in part; returns the id of the entry it posted."""
    return _write(conn, org_id, [request], record_failure=True)[0]


def void_hold(conn: Connection, org_id: UUID, request: VoidHold) -> WriteResult:
    """Void a hold, releasing its amount; returns the hold id."""
    return _write(conn, org_id, [request], record_failure=True)[0]


def open_account(conn: Connection, org_id: UUID, request: OpenAccount) -> WriteResult:
    """Open an account for the organization; returns the account id."""
    return _write(conn, org_id, [request], record_failure=True)[0]


def close_account(conn: Connection, org_id: UUID, request: CloseAccount) -> WriteResult:
    """Close an account: no more postings or holds on it."""
    return _write(conn, org_id, [request], record_failure=True)[0]


def open_organization(
    conn: Connection, org_id: UUID, name: str, *, is_platform: bool = False
) -> UUID:
    """Register an organization (the platform when is_platform); idempotent by its id."""
    if not name:
        raise InvalidRequest("an organization needs a name")
    with translated_errors():
        row = conn.execute(
            text(
                "INSERT INTO payments.organizations (id, name, is_platform) "
                "VALUES (:id, :name, :platform) ON CONFLICT (id) DO NOTHING RETURNING id"
            ),
            {"id": org_id, "name": name, "platform": is_platform},
        ).first()
        if row is None:
            existing = conn.execute(
                text("SELECT name, is_platform FROM payments.organizations WHERE id = :id"),
                {"id": org_id},
            ).one()
            if (existing.name, existing.is_platform) != (name, is_platform):
                raise IdempotencyConflict(idempotency_key=str(org_id))
    return org_id


def expire_holds(conn: Connection, limit: int = 1000) -> int:
    """Expire every open hold whose expiry has passed (up to `limit`); returns how many."""
    with translated_errors():
        return int(
            conn.execute(
                text("SELECT payments.expire_holds(:limit)"), {"limit": limit}
            ).scalar_one()
        )


def roll_up(conn: Connection, limit: int = 100_000) -> int:
    """Give high-volume accounts' new lines their version and running totals; returns how many."""
    with translated_errors():
        return int(
            conn.execute(text("SELECT payments.roll_up_all(:limit)"), {"limit": limit}).scalar_one()
        )


def act_for(conn: Connection, org_id: UUID | None) -> None:
    """Act for `org_id` (None: the platform) for the rest of this transaction.

    For trusted callers only (the schema's owner: the worker, the inbox's handlers, the CLI):
    `payments.act_for` marks the transaction with a proof that row-level security and the
    ledger's door verify. The application's roles may not call it; they act for an
    organization only by presenting its API key (`payments.authenticate`). Raises
    PermissionDenied for them.
    """
    with translated_errors():
        conn.execute(
            text("SELECT payments.act_for(CAST(:org AS uuid))"),
            {"org": None if org_id is None else str(org_id)},
        )

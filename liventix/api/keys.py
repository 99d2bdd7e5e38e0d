"""API keys: their format, creation, listing and revocation (the CLI's), and authentication
(the API's).

A key reads `lvx_<prefix>_<secret>`: twelve hex digits that find the row, then 48 hex digits
of secret. Only the secret's SHA-256 is stored (a fast hash is enough for 192 random bits);
the database compares it (`payments.authenticate`: digests, never secrets). A key belongs to
one organization, or (org_id NULL) is the platform's. Revoking stamps `revoked_at`; a revoked
key authenticates no more.

A key has a scope (`payments.api_keys.scope`): `full`, or `read_only` (finance: reads
everything its organization may, writes nothing); `payments.authenticate` answers it with the
key. A key's use is recorded to the minute (`last_used_at`): the first request a process
authenticates with a key in a minute records it by `payments.touch_api_key`, in a thread and
on a connection of its own, outside the request's transaction (a read's transaction rolls
back): no request waits for it, nor for a connection for it.
"""

from __future__ import annotations

import hashlib
import logging
import re
import secrets
import select
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, Protocol, cast, runtime_checkable

import psycopg
import psycopg.errors
import psycopg.generators
from psycopg import pq
from sqlalchemy import Connection, Engine, text
from sqlalchemy.exc import DBAPIError, SQLAlchemyError

import ledger
import pgdriver

KEY_PREFIX = "lvx_"
_KEY = re.compile(r"^lvx_([0-9a-f]{12})_([0-9a-f]{48})$")

Scope = Literal["full", "read_only"]
SCOPES: tuple[Scope, ...] = ("full", "read_only")
TOUCH_EVERY = 60.0
"""Seconds between two records of a key's use by one process (the database keeps a minute
too, whatever the number of processes)."""

_log = logging.getLogger(__name__)


class KeyNotFound(Exception):
    """No such API key."""

    def __init__(self, key_id: uuid.UUID) -> None:
        self.key_id = key_id
        super().__init__(f"no API key {key_id}")


@dataclass(frozen=True)
class Principal:
    """Who a request acts as: an organization (its key), or the platform (org_id None)."""

    key_id: uuid.UUID
    org_id: uuid.UUID | None
    key_scope: Scope = "full"

    @property
    def read_only(self) -> bool:
        """True for a read-only key (refused every write)."""
        return self.key_scope == "read_only"

    @property
    def is_platform(self) -> bool:
        """True for the platform's key."""
        return self.org_id is None

    @property
    def scope(self) -> str:
        """The idempotency scope: the organization's id, or 'platform'."""
        return "platform" if self.org_id is None else str(self.org_id)


@dataclass(frozen=True)
class CreatedKey:
    """A new key: its id, and the full token (shown once, never stored)."""

    id: uuid.UUID
    org_id: uuid.UUID | None
    token: str
    scope: Scope = "full"


@dataclass(frozen=True)
class KeyInfo:
    """A key as `liventix keys list` shows it (never its secret)."""

    id: uuid.UUID
    org_id: uuid.UUID | None
    prefix: str
    scope: Scope
    description: str
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


def _scope(value: str) -> Scope:
    return "read_only" if value == "read_only" else "full"


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def parse_token(token: str) -> tuple[str, str] | None:
    """(prefix, secret) of a well-formed token, else None."""
    match = _KEY.match(token)
    return (match.group(1), match.group(2)) if match else None


def create_key(
    conn: Connection,
    org_id: uuid.UUID | None,
    *,
    description: str = "",
    scope: Scope = "full",
) -> CreatedKey:
    """Create a key for an organization (which must exist) or, with None, for the platform;
    `scope` is `full` or `read_only`."""
    if scope not in SCOPES:
        raise ValueError(f"a key's scope is one of {', '.join(SCOPES)}, not {scope}")
    if org_id is not None and not ledger.organization_exists(conn, org_id):
        raise ledger.OrganizationNotFound(org_id=str(org_id))
    prefix = secrets.token_hex(6)
    secret = secrets.token_hex(24)
    key_id: uuid.UUID = conn.execute(
        text("""INSERT INTO payments.api_keys (org_id, prefix, secret_sha256, description, scope)
                VALUES (:org, :prefix, :digest, :description, :scope) RETURNING id"""),
        {
            "org": org_id,
            "prefix": prefix,
            "digest": _digest(secret),
            "description": description,
            "scope": scope,
        },
    ).scalar_one()
    return CreatedKey(key_id, org_id, f"{KEY_PREFIX}{prefix}_{secret}", scope)


# The owner's read of the key table (the CLI's).
_LIST = text("""
    SELECT k.id, k.org_id, k.prefix, k.scope, k.description, k.created_at, k.last_used_at,
           k.revoked_at
      FROM payments.api_keys k
     WHERE (CAST(:org AS uuid) IS NULL OR k.org_id = :org)
       AND (NOT :platform OR k.org_id IS NULL)
       AND (:revoked OR k.revoked_at IS NULL)
     ORDER BY k.created_at, k.id
""")


def list_keys(
    conn: Connection,
    *,
    org_id: uuid.UUID | None = None,
    platform: bool = False,
    revoked: bool = False,
) -> list[KeyInfo]:
    """The keys, oldest first: every organization's and the platform's, or one
    organization's (`org_id`), or the platform's (`platform`); revoked ones with `revoked`."""
    rows = conn.execute(_LIST, {"org": org_id, "platform": platform, "revoked": revoked})
    return [
        KeyInfo(
            id=r.id,
            org_id=r.org_id,
            prefix=r.prefix,
            scope=_scope(r.scope),
            description=r.description,
            created_at=r.created_at,
            last_used_at=r.last_used_at,
            revoked_at=r.revoked_at,
        )
        for r in rows
    ]


def revoke_key(conn: Connection, key_id: uuid.UUID) -> bool:
    """Revoke a key; False if it was already revoked. Raises KeyNotFound."""
    done = conn.execute(
        text("""UPDATE payments.api_keys SET revoked_at = now()
                 WHERE id = :id AND revoked_at IS NULL RETURNING id"""),
        {"id": key_id},
    ).first()
    if done is not None:
        return True
    exists = conn.execute(
        text("SELECT 1 FROM payments.api_keys WHERE id = :id"), {"id": key_id}
    ).first()
    if exists is None:
        raise KeyNotFound(key_id)
    return False


@dataclass(frozen=True)
class StoredAnswer:
    """The answer stored under an Idempotency-Key, and the request it answered."""

    method: str
    path: str
    request_sha256: str
    status: int
    content_type: str
    response: str
    location: str | None = None
    """The `Location` header of a 201 (None for any other answer)."""


# One round trip opens a request: `payments.authenticate` (run with its owner's rights: the
# application's roles cannot read the key table) checks the secret against the key's hash,
# marks the transaction as acting for the key's organization, or the platform, with a proof
# only it and the owner can issue (row-level security verifies it), and answers what is stored
# under the request's Idempotency-Key in the key's scope. The role is assumed here, after the
# function ran (set_config(..., true) is SET LOCAL). No row: unknown, wrong or revoked key.
# It also notes, for the transaction, whether the key may write and nothing is stored under
# the key yet (`FRESH_WRITE`): a statement sent after it in the same round trip that writes
# and commits there (the checkout's hold) does nothing otherwise, so that neither a replay nor
# a read-only key (both refused once the round trip is back) ever writes.
_OPEN = """
    SELECT a.key_id, a.org_id, a.key_scope, a.method, a.path, a.request_sha256, a.status,
           a.content_type, a.response, a.location,
           set_config('role', CASE WHEN a.org_id IS NULL THEN 'liventix_platform'
                                   ELSE 'liventix_app' END, true) AS role,
           set_config('liventix.fresh_write',
                      CASE WHEN a.key_scope = 'full' AND a.method IS NULL THEN 'on' ELSE ''
                      END, true) AS fresh_write
      FROM payments.authenticate(%(prefix)s, %(secret)s, %(key)s) a
"""

FRESH_WRITE = b"current_setting('liventix.fresh_write', true) = 'on'"
"""SQL: true when the transaction's key authenticated (in this transaction), may write, and
found nothing stored under the request's Idempotency-Key (see `_OPEN`)."""


# _OPEN sent with the transaction's BEGIN, as one simple query (the values as literals escaped
# by the driver for this connection): a request's first round trip both begins and
# authenticates (`_open_with_begin`).
_BEGIN_AND_OPEN = (
    b"%b; "  # the BEGIN psycopg would send (`pgdriver.begin_command`)
    + _OPEN.replace("%(prefix)s", "%b")
    .replace("%(secret)s", "%b")
    .replace("%(key)s", "%b::text")
    .encode()
)


@dataclass(frozen=True)
class _Opened:
    """`_OPEN`'s row, read from its text."""

    key_id: uuid.UUID
    org_id: uuid.UUID | None
    key_scope: str
    method: str | None
    path: str | None
    request_sha256: str | None
    status: int | None
    content_type: str | None
    response: str | None
    location: str | None


def _text(result: pq.abc.PGresult, column: int) -> str | None:
    value = result.get_value(0, column)
    return None if value is None else bytes(value).decode()


def _opened(result: pq.abc.PGresult) -> _Opened | None:
    if result.ntuples == 0:
        return None
    t = [_text(result, n) for n in range(10)]
    if t[0] is None or t[2] is None:
        raise RuntimeError("payments.authenticate answered a key without its id or scope")
    return _Opened(
        key_id=uuid.UUID(t[0]),
        org_id=None if t[1] is None else uuid.UUID(t[1]),
        key_scope=t[2],
        method=t[3],
        path=t[4],
        request_sha256=t[5],
        status=None if t[6] is None else int(t[6]),
        content_type=t[7],
        response=t[8],
        location=t[9],
    )


_NOT_SENT: Any = object()


class StatementFailed(Exception):
    """The statement sent after the authentication (`authenticate`'s `then`) failed, the
    key having authenticated: `error` is its failure as SQLAlchemy raises a driver's error,
    the caller's own to answer as if the statement had run on its own (a lost race is run
    again, not a database unavailable)."""

    def __init__(self, error: DBAPIError) -> None:
        self.error = error
        super().__init__(str(error))


Escape = Callable[[bytes], bytes]
"""The connection's escaping of a value as an SQL literal (libpq's, for its encoding)."""
Then = Callable[[Escape], bytes]
"""A statement sent in the authentication's round trip, after it (`authenticate`'s `then`),
written by the caller with its values as literals escaped by the connection."""


@runtime_checkable
class PreparedThen(Protocol):
    """A `Then` that can also go as a prepared statement (`store.checkout.HoldStatement`, the
    checkout's hold): its name and text (libpq's placeholders, text parameters) and its
    parameters. Sent with the COMMIT (`authenticate`'s `commit`), it goes prepared in one
    pipeline with the BEGIN, the authentication (prepared too) and the COMMIT
    (`_open_pipelined`)."""

    @property
    def name(self) -> bytes:
        """The prepared statement's name (the same text, the same name)."""
        ...

    @property
    def text(self) -> bytes:
        """The prepared statement's text."""
        ...

    def __call__(self, escape: Escape) -> bytes: ...

    def parameters(self, encoding: str) -> Sequence[bytes | None] | None:
        """The parameters as libpq's text, None for NULL (None: they cannot go so; the
        literal form goes)."""
        ...


def _beginning_driver(
    conn: Connection, prefix: str, secret: str, idempotency_key: str | None
) -> psycopg.Connection[Any] | None:
    """The psycopg connection under `conn`, its transaction begun on SQLAlchemy's side, when
    the opening may send the transaction's BEGIN itself (see `_open_with_begin`); else None."""
    if not conn.in_transaction():
        conn.begin()  # SQLAlchemy's side of it (sends nothing): the caller commits it
    driver = conn.connection.driver_connection
    # Its isolation level, read-only and deferrable characteristics go in the BEGIN it sends,
    # as psycopg's (`pgdriver.begin_command`): a pooled connection once used for a
    # REPEATABLE READ read-only report keeps an explicit READ COMMITTED after SQLAlchemy's
    # reset, and took the long way for good (found by the session-35 checkout client's
    # profile: +160 us of client CPU per hold, and the hold planned per call).
    if not isinstance(driver, psycopg.Connection) or (
        driver.autocommit or driver.pgconn.transaction_status != pq.TransactionStatus.IDLE
    ):
        return None
    if any("\x00" in v for v in (prefix, secret, idempotency_key or "")):
        # libpq's escaping stops at a NUL: such a text would be cut, not refused. (Over HTTP
        # a header cannot hold one; a library caller can.) The usual way refuses it.
        return None
    return driver


def _open_with_begin(
    conn: Connection,
    prefix: str,
    secret: str,
    idempotency_key: str | None,
    *,
    then: Then | None = None,
    answers: list[Any] | None = None,
    commit: bool = False,
) -> Any:
    """`_OPEN` as the transaction's first statement, sent with its BEGIN in one round trip
    (and `then` after it, its result appended to `answers`, when the key authenticated; with
    `commit`, then the transaction's COMMIT: as one pipeline of prepared statements when
    `then` has a prepared form, `_open_pipelined`);
    `_NOT_SENT` (nothing done) when psycopg would begin the transaction otherwise (another
    driver, a transaction already begun, autocommit): `_OPEN` then goes the usual way, and
    `then` not at all. The BEGIN carries the driver's isolation level, read-only and
    deferrable characteristics, as psycopg's would."""
    driver = _beginning_driver(conn, prefix, secret, idempotency_key)
    if driver is None:
        return _NOT_SENT
    # Not isinstance(then, PreparedThen): a runtime protocol check costs ~30 us.
    if commit and then is not None and hasattr(then, "parameters"):
        found = _open_pipelined(
            conn,
            driver,
            (prefix, secret, idempotency_key),
            then=cast(PreparedThen, then),
            answers=answers,
        )
        if found is not _NOT_SENT:
            return found
    pgconn = driver.pgconn
    escape = pq.Escaping(pgconn).escape_literal
    key = b"NULL" if idempotency_key is None else escape(idempotency_key.encode())
    statement = _BEGIN_AND_OPEN % (
        pgdriver.begin_command(driver),
        escape(prefix.encode()),
        escape(secret.encode()),
        key,
    )
    if then is not None:
        statement += b"; " + then(lambda value: bytes(escape(value)))
        if commit:
            statement += b"; COMMIT"
    failed = -1  # which statement failed: BEGIN 0, the authentication 1, `then` 2
    try:
        with pgdriver.cursor(conn):  # the driver's errors raised as SQLAlchemy's, as for any
            with driver.lock:
                pgconn.send_query(statement)
                results = driver.wait(psycopg.generators.execute(pgconn))
            opening = results[1] if len(results) > 1 else None
            if (
                then is not None
                and opening is not None
                and opening.status == pq.ExecStatus.TUPLES_OK
                and opening.ntuples == 0
            ):
                # Unknown or revoked: `then` ran with no actor proved (found nothing, or was
                # refused its table): the answer is 401 whatever it did; the caller rolls back.
                return None
            for n, result in enumerate(results):
                if result.status == pq.ExecStatus.FATAL_ERROR:
                    failed = n
                    raise psycopg.errors.error_from_result(result, encoding=driver.info.encoding)
    except DBAPIError as exc:
        if then is not None and failed >= 2:
            # The key authenticated and the caller's statement failed, or the commit it ended
            # with (a simple query stops at its first error: it is the last result).
            raise StatementFailed(exc) from exc
        raise
    if then is not None and answers is not None:
        answers.append(results[2])
    return _opened(results[1])


# _OPEN with libpq's placeholders, prepared once per connection for the pipelined opening
# (`_open_pipelined`).
_OPEN_PREPARED = (
    _OPEN.replace("%(prefix)s", "$1").replace("%(secret)s", "$2").replace("%(key)s", "$3::text")
).encode()
_OPEN_NAME = b"liventix_authenticate_" + hashlib.sha256(_OPEN_PREPARED).hexdigest()[:12].encode()
_PIPELINE_PREPARED = "liventix.api.keys.pipeline_prepared"
"""The key, in the pooled connection's `info`, of (the libpq connection, the names
`_open_pipelined` prepared on it): a reconnected connection has another libpq connection."""
_NO_SUCH_STATEMENT = b"26000"  # invalid_sql_statement_name
_ALREADY_PREPARED = b"42P05"  # duplicate_prepared_statement
_RESULT_TYPE_CHANGED = (b"0A000", b"RevalidateCachedQuery")
"""A prepared statement whose result's columns changed since it was prepared (a migration
replaced a function with other columns): refused at every execution, having run nothing,
until it is prepared again. Told by its SQLSTATE and the server function raising it, never
translated (the message is under lc_messages)."""
_KEPT_PREPARED = 16
"""Statements `_open_pipelined` keeps prepared on one connection at most: the opening and the
API's few handlers' statements (two today). A `then` whose statement is not prepared there
once the connection holds this many goes as the literal simple query instead (`_NOT_SENT`):
a caller varying its statement's text (`ticketing_fsm.plan_hold`'s `go` is part of the
text) cannot make a connection prepare without bound (review of cb9a95a, LOW). None is ever
released: a statement first met after that goes literal for the connection's life (a cost in
speed only; with today's constant texts a connection holds three)."""
_ATTEMPTS = 3
"""Pipelines sent at most for one opening: the usual one, and again after finding a statement
deallocated behind our back (psycopg's DEALLOCATE ALL after a rollback on a connection where
it prepared statements of its own), or prepared with result columns that changed."""


def _open_pipelined(
    conn: Connection,
    driver: psycopg.Connection[Any],
    credentials: tuple[str, str, str | None],
    *,
    then: PreparedThen,
    answers: list[Any] | None,
) -> Any:
    """`_open_with_begin` with `then` and the COMMIT as one libpq pipeline of prepared
    statements: BEGIN, `_OPEN` (prepared), `then` (prepared), COMMIT, and one Sync: one round
    trip, with the statements' Parse messages after the BEGIN on the connection's first use
    of them.
    The server runs them in order and skips everything after an error up to the Sync, as
    the simple query did; nothing is parsed or planned again per call. A statement found
    deallocated (26000) or prepared with other result columns (0A000) ran nothing: the
    transaction is rolled back and the pipeline sent again with the statement prepared
    again (at most `_ATTEMPTS` pipelines). `_NOT_SENT` when `then`'s parameters cannot go
    as libpq's text (the caller sends the literal form)."""
    encoding = driver.info.encoding
    values = then.parameters(encoding)
    if values is None:
        return _NOT_SENT
    prefix, secret, idempotency_key = credentials
    opening: list[bytes | None] = [
        prefix.encode(encoding),
        secret.encode(encoding),
        None if idempotency_key is None else idempotency_key.encode(encoding),
    ]
    pooled = conn.connection
    pgconn = driver.pgconn
    kept = pooled.info.get(_PIPELINE_PREPARED)
    if kept is None or kept[0] is not pgconn:
        kept = pooled.info[_PIPELINE_PREPARED] = (pgconn, set())
    prepared: set[bytes] = kept[1]
    if then.name not in prepared and len(prepared) >= _KEPT_PREPARED:
        return _NOT_SENT
    texts = {_OPEN_NAME: _OPEN_PREPARED, then.name: then.text}
    stale: set[bytes] = set()
    for attempt in range(1, _ATTEMPTS + 1):
        steps: list[tuple[str, bytes]] = []
        if pgconn.transaction_status != pq.TransactionStatus.IDLE:
            steps.append(("rollback", b""))  # a failed attempt's transaction
        # The BEGIN before any Parse: a Parse of a query takes a snapshot in the implicit
        # transaction it opens, which a BEGIN later in the pipeline takes over, and its
        # ISOLATION LEVEL (another than the session's default) or [NOT] DEFERRABLE then fails
        # with 25001, "must be called before any query". Prepared statements are not
        # transactional: one prepared in a transaction that rolls back stays prepared.
        steps.append(("begin", b""))
        steps += [("deallocate", name) for name in sorted(stale)]
        steps += [("prepare", name) for name in texts if name not in prepared]
        steps += [("open", _OPEN_NAME), ("then", then.name), ("commit", b"")]
        results = _pipeline(conn, driver, steps, {"texts": texts, "open": opening, "then": values})
        stale = set()
        for (step, name), result in zip(steps, results, strict=True):
            if step == "prepare" and result.status == pq.ExecStatus.COMMAND_OK:
                prepared.add(name)
        if attempt == _ATTEMPTS or not _prepare_again(steps, results, prepared, stale):
            return _pipelined_opening(driver, steps, results, answers)
    raise AssertionError("unreachable: the last attempt returns")


def _prepare_again(
    steps: list[tuple[str, bytes]],
    results: list[pq.abc.PGresult],
    prepared: set[bytes],
    stale: set[bytes],
) -> bool:
    """Whether the pipeline failed only because a statement must be prepared again (see
    `_open_pipelined`), noting which in `prepared` (the names on the connection) and
    `stale` (the names to deallocate first)."""
    for (step, name), result in zip(steps, results, strict=True):
        if result.status != pq.ExecStatus.FATAL_ERROR:
            continue
        code = result.error_field(pq.DiagnosticField.SQLSTATE)
        where = result.error_field(pq.DiagnosticField.SOURCE_FUNCTION)
        if step in ("open", "then") and code == _NO_SUCH_STATEMENT:
            # Deallocated: usually all at once (DEALLOCATE ALL), so after the opening's
            # failure both are prepared again (one still there answers its Parse with 42P05
            # on the next attempt: noted as prepared); `then` failing, the opening ran.
            if step == "open":
                prepared.clear()
            prepared.discard(name)
            return True
        if step in ("open", "then") and (code, where) == _RESULT_TYPE_CHANGED:
            prepared.discard(name)
            stale.add(name)
            return True
        if step == "prepare" and code == _ALREADY_PREPARED:
            prepared.add(name)
            return True
        return False  # everything after the first error up to the Sync was skipped
    return False


def _stale_statement(result: pq.abc.PGresult) -> bool:
    """Whether `result` is a prepared statement's refusal that ran nothing and that preparing
    it again mends: deallocated (26000) or prepared with other result columns (0A000)."""
    code = result.error_field(pq.DiagnosticField.SQLSTATE)
    where = result.error_field(pq.DiagnosticField.SOURCE_FUNCTION)
    return code == _NO_SUCH_STATEMENT or (code, where) == _RESULT_TYPE_CHANGED


def _pipelined_opening(
    driver: psycopg.Connection[Any],
    steps: list[tuple[str, bytes]],
    results: list[pq.abc.PGresult],
    answers: list[Any] | None,
) -> Any:
    """What `_open_pipelined`'s last pipeline answers, read as `_open_with_begin` reads its
    simple query's results."""
    found = dict(zip((step for step, _name in steps), results, strict=True))
    opening = found["open"]
    if opening.status == pq.ExecStatus.TUPLES_OK and opening.ntuples == 0:
        return None  # unknown or revoked: `then` did nothing; the answer is 401
    for (step, name), result in zip(steps, results, strict=True):
        if result.status != pq.ExecStatus.FATAL_ERROR:
            continue
        stale = step in ("open", "then") and _stale_statement(result)
        error = cast(
            DBAPIError,
            DBAPIError.instance(
                None,
                None,
                psycopg.errors.error_from_result(result, encoding=driver.info.encoding),
                psycopg.Error,
            ),
        )
        # A statement still deallocated or stale after the last attempt (the opening's or
        # `then`'s alike) ran nothing: the database answered as unavailable (503), not as the
        # handler's failure, which a 26000 would have made a 500 (review of be4da92, LOW).
        if not stale and (step in ("then", "commit") or (step == "prepare" and name != _OPEN_NAME)):
            raise StatementFailed(error) from error.orig
        raise error from error.orig
    if answers is not None:
        answers.append(found["then"])
    return _opened(opening)


def _pipeline(
    conn: Connection,
    driver: psycopg.Connection[Any],
    steps: list[tuple[str, bytes]],
    sent: dict[str, Any],
) -> list[pq.abc.PGresult]:
    """Send `steps` in one libpq pipeline ended by a Sync (`sent`: the statements' `texts` by
    name, the parameters of `open` and `then`) and read one result per step,
    under the connection's lock, waiting in poll() (the GIL released). A failure of the
    exchange itself (a lost connection, an interruption) leaves the connection's state
    unknown: it is closed and invalidated, and the error raised as SQLAlchemy's."""
    pgconn = driver.pgconn
    try:
        with driver.lock:
            pgconn.enter_pipeline_mode()
            for step, name in steps:
                if step == "prepare":
                    pgconn.send_prepare(name, sent["texts"][name])
                elif step in ("open", "then"):
                    pgconn.send_query_prepared(name, sent[step])
                elif step == "deallocate":
                    pgconn.send_query_params(b"DEALLOCATE " + name, None)
                elif step == "begin":  # as psycopg would begin it, with its options
                    pgconn.send_query_params(pgdriver.begin_command(driver), None)
                else:  # rollback, commit
                    pgconn.send_query_params(step.upper().encode(), None)
            pgconn.pipeline_sync()
            results = _pipeline_results(pgconn)
            pgconn.exit_pipeline_mode()
    except BaseException as exc:
        # The reason given only when libpq found the connection gone: an interruption or
        # libpq's own refusal closed on purpose is no server loss for the pool
        # (liventix.database).
        gone = pgconn.status == pq.ConnStatus.BAD
        if not gone:
            pgconn.finish()
        conn.invalidate(exc if gone and isinstance(exc, Exception) else None)
        if isinstance(exc, psycopg.Error):
            raise DBAPIError.instance(
                None, None, exc, psycopg.Error, connection_invalidated=True
            ) from exc
        raise
    if len(results) != len(steps):
        raise RuntimeError(f"a pipeline of {len(steps)} statements answered {len(results)}")
    return results


def _pipeline_results(pgconn: pq.abc.PGconn) -> list[pq.abc.PGresult]:
    """Flush the pipeline and read its results up to the Sync's, one per statement."""
    poller = select.poll()
    poller.register(pgconn.socket, select.POLLIN | select.POLLOUT)
    while pgconn.flush():  # a non-blocking connection (psycopg's): the pipeline may not be out
        if poller.poll()[0][1] & select.POLLIN:
            pgconn.consume_input()  # the server may be waiting for us to read first
    poller.modify(pgconn.socket, select.POLLIN)
    results: list[pq.abc.PGresult] = []
    while True:
        while pgconn.is_busy():
            poller.poll()
            pgconn.consume_input()  # raises OperationalError on a lost connection
        result = pgconn.get_result()
        if result is None:
            continue  # the end of one statement's results
        if result.status == pq.ExecStatus.PIPELINE_SYNC:
            return results
        results.append(result)


def authenticate(
    conn: Connection,
    token: str,
    idempotency_key: str | None = None,
    *,
    then: Then | None = None,
    answers: list[Any] | None = None,
    record_use: bool = True,
    commit: bool = False,
) -> tuple[Principal | None, StoredAnswer | None]:
    """Authenticate `token` and act as its principal for the rest of the transaction:
    `liventix_app` acting for the key's organization, `liventix_platform` acting for the
    platform for the platform's key (docs/tenancy.md). Returns the principal (None: refuse
    with 401 and roll back) and the answer stored under `idempotency_key`.

    `then`, a statement of the caller's, goes in the same round trip right after the
    authentication, under the role and actor it set; its result (a libpq result) is
    appended to `answers`. It must be harmless when the key does not authenticate (then it
    runs with no actor proved: a write must name `current_org_id()` in its condition); its
    result is then dropped. Where the round trip cannot carry it, nothing is appended: the
    caller runs its statement the usual way. When it fails (the key authenticated),
    `StatementFailed` carries its error. With `commit`, the transaction's COMMIT ends the
    round trip after `then` (a `PreparedThen` goes prepared, in a pipeline: `_open_pipelined`).
    `record_use=False`: the key's last use is not recorded from `conn`'s engine (a read
    replica's, which cannot write: the caller checked the key on the primary, which recorded
    it)."""
    parsed = parse_token(token)
    if parsed is None:
        return None, None
    prefix, secret = parsed
    row = _open_with_begin(
        conn, prefix, secret, idempotency_key, then=then, answers=answers, commit=commit
    )
    if row is _NOT_SENT:
        params = {"prefix": prefix, "secret": secret, "key": idempotency_key}
        row = pgdriver.first(conn, _OPEN, params)
    if row is None:
        return None, None
    stored = None
    if row.method is not None:
        stored = StoredAnswer(
            method=row.method,
            path=row.path,
            request_sha256=row.request_sha256,
            status=row.status,
            content_type=row.content_type,
            response=row.response,
            location=row.location,
        )
    if record_use:
        _USES.note(conn.engine, row.key_id, prefix, secret)
    if row.org_id is not None and _ORGS.get(prefix) != row.org_id:
        _ORGS[prefix] = row.org_id
    return Principal(key_id=row.key_id, org_id=row.org_id, key_scope=_scope(row.key_scope)), stored


_ORGS: dict[str, uuid.UUID] = {}
"""Each key's organization (by its prefix), as this process last authenticated it."""


def organization_of(token: str) -> uuid.UUID | None:
    """The organization of the token's key, as this process authenticated it before (None:
    not yet, or the platform's key, or a malformed token). A hint only: a key's organization
    never changes, but only the database's authentication proves who a request acts for
    (a statement planned for this organization checks that it is the one proved)."""
    parsed = parse_token(token)
    return None if parsed is None else _ORGS.get(parsed[0])


class _Uses:
    """When this process last recorded each key's use (monotonic seconds)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._last: dict[uuid.UUID, float] = {}

    def note(self, engine: Engine, key_id: uuid.UUID, prefix: str, secret: str) -> None:
        """Record the key's use unless this process did within `TOUCH_EVERY` seconds, in a
        thread of its own: the request, its transaction open, never waits for the pool."""
        now = time.monotonic()
        with self._lock:
            if now - self._last.get(key_id, -TOUCH_EVERY) < TOUCH_EVERY:
                return
            self._last[key_id] = now
        threading.Thread(
            target=_touch,
            args=(engine, key_id, prefix, secret),
            name="liventix-key-use",
            daemon=True,
        ).start()


def _touch(engine: Engine, key_id: uuid.UUID, prefix: str, secret: str) -> None:
    """`payments.touch_api_key` on a connection of its own, committed at once; a failure is
    logged, never a request's."""
    try:
        with engine.connect() as conn:
            conn.exec_driver_sql(
                "SELECT payments.touch_api_key(%(prefix)s, %(secret)s)",
                {"prefix": prefix, "secret": secret},
            )
            conn.commit()
    except SQLAlchemyError:
        _log.warning("could not record the use of API key %s", key_id, exc_info=True)


_USES = _Uses()

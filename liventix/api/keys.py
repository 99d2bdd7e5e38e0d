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
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

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
    b"BEGIN; "
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


def _open_with_begin(
    conn: Connection,
    prefix: str,
    secret: str,
    idempotency_key: str | None,
    *,
    then: Then | None = None,
    answers: list[Any] | None = None,
) -> Any:
    """`_OPEN` as the transaction's first statement, sent with its BEGIN in one round trip
    (and `then` after it, its result appended to `answers`, when the key authenticated);
    `_NOT_SENT` (nothing done) when psycopg would begin the transaction otherwise (another
    driver, a transaction already begun, autocommit, an isolation level or a read-only
    transaction asked of the driver): `_OPEN` then goes the usual way, and `then` not at
    all."""
    if not conn.in_transaction():
        conn.begin()  # SQLAlchemy's side of it (sends nothing): the caller commits it
    driver = conn.connection.driver_connection
    if not isinstance(driver, psycopg.Connection) or (
        driver.autocommit
        or driver.pgconn.transaction_status != pq.TransactionStatus.IDLE
        or driver.isolation_level is not None
        or driver.read_only is not None
        or driver.deferrable is not None
    ):
        return _NOT_SENT
    if any("\x00" in v for v in (prefix, secret, idempotency_key or "")):
        # libpq's escaping stops at a NUL: such a text would be cut, not refused. (Over HTTP
        # a header cannot hold one; a library caller can.) The usual way refuses it.
        return _NOT_SENT
    pgconn = driver.pgconn
    escape = pq.Escaping(pgconn).escape_literal
    key = b"NULL" if idempotency_key is None else escape(idempotency_key.encode())
    statement = _BEGIN_AND_OPEN % (escape(prefix.encode()), escape(secret.encode()), key)
    if then is not None:
        statement += b"; " + then(lambda value: bytes(escape(value)))
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


def authenticate(
    conn: Connection,
    token: str,
    idempotency_key: str | None = None,
    *,
    then: Then | None = None,
    answers: list[Any] | None = None,
    record_use: bool = True,
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
    `StatementFailed` carries its error. `record_use=False`: the key's last use is not
    recorded from `conn`'s engine (a read replica's, which cannot write: the caller checked
    the key on the primary, which recorded it)."""
    parsed = parse_token(token)
    if parsed is None:
        return None, None
    prefix, secret = parsed
    row = _open_with_begin(conn, prefix, secret, idempotency_key, then=then, answers=answers)
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

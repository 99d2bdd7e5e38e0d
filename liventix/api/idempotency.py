"""HTTP idempotency: the `Idempotency-Key` of a write, the request's fingerprint, the answer
stored under the key, and what a request finds there (a replay, or 409).

A write's key is checked before anything touches the database (visible ASCII, 1 to 200
characters). The answer stored under it is fetched by the same statement that authenticates
the request (`keys.authenticate`: one round trip), in the key's scope (its organization, or
the platform). The same method, path and body replay the stored answer with
`Idempotency-Replayed: true` (and, for a 201, the `Location` first answered); anything else
under the key is 409 `idempotency-key-reused`.

The answer is stored by the unit of work's commit, in the transaction of the work it answers
(`UnitOfWork.commit`), so both are there or neither; a domain refusal is stored in a
transaction of its own after the work rolled back (`liventix.api.failures`). The table,
`payments.api_idempotency`, is the API's own.
"""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any, cast

import psycopg
from sqlalchemy import Connection
from starlette.requests import Request
from starlette.responses import Response

import pgdriver
from liventix.api import keys, problems

IDEMPOTENCY_HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotency-Replayed"
LOCATION_HEADER = "Location"
IDEMPOTENCY_KEY_PATTERN = r"^[!-~]{1,200}$"
"""Visible ASCII, 1 to 200 characters: what an Idempotency-Key may be."""
_KEY_RE = re.compile(IDEMPOTENCY_KEY_PATTERN)
DOMAIN_KEY_PREFIX = "api:"
"""Prefix of the domain's idempotency keys derived from the header: API keys never collide
with the keys the domain derives itself (`stripe:capture:...`, `escrow:release:...`)."""

NOT_JSON: Any = object()
"""What `parse` answers for a body that is not JSON."""


def parse(body: bytes) -> Any:
    """The body as JSON (None when empty), or NOT_JSON."""
    try:
        return json.loads(body) if body else None
    except (ValueError, RecursionError):  # the depth limit (api.limits) comes first
        return NOT_JSON


def request_sha256(body: bytes, parsed: Any = NOT_JSON) -> str:
    """SHA-256 of the body as canonical JSON (key order and spacing do not count), or of the
    raw bytes when it is not JSON."""
    if parsed is NOT_JSON:
        parsed = parse(body)
    if parsed is NOT_JSON:
        return hashlib.sha256(body).hexdigest()
    canonical = json.dumps(parsed, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(canonical.encode()).hexdigest()


def key_of(request: Request) -> str | None:
    """The request's Idempotency-Key when it has a valid one, else None."""
    key = request.headers.get(IDEMPOTENCY_HEADER)
    return key if key is not None and _KEY_RE.match(key) else None


def keyless_dry_run(request: Request) -> bool:
    """A write asked as a dry run (`?dry_run=true`), which may come without an
    Idempotency-Key: it writes nothing and consumes no key. It must never commit."""
    return request.method == "POST" and request.query_params.get("dry_run", "").lower() in (
        "true",
        "1",
    )


def missing_key(request: Request) -> Response:
    """400: a write without a valid Idempotency-Key."""
    return problems.problem_response(
        problems.IDEMPOTENCY_KEY_MISSING,
        "Idempotency-Key: 1 to 200 visible ASCII characters, required on POST",
        instance=request.url.path,
        field=IDEMPOTENCY_HEADER,
    )


def answer_stored(
    request: Request, stored: keys.StoredAnswer, key: str, digest: str
) -> tuple[Response, bool]:
    """What a request finds under its key: (the stored answer to replay, True), or (409 for
    a key first used for another request, False)."""
    if (stored.method, stored.path, stored.request_sha256) != (
        request.method,
        request.url.path,
        digest,
    ):
        conflict = problems.problem_response(
            problems.IDEMPOTENCY_KEY_REUSED,
            f"the key was first used for {stored.method} {stored.path} with another body",
            instance=request.url.path,
            idempotency_key=key,
        )
        return conflict, False
    headers = {REPLAYED_HEADER: "true"}
    if stored.location is not None:
        headers[LOCATION_HEADER] = stored.location
    replay = Response(
        content=stored.response.encode(),
        status_code=stored.status,
        media_type=stored.content_type,
        headers=headers,
    )
    return replay, True


def location_of(response: Response) -> str | None:
    """The `Location` a 201 answers (stored with it, so that its replay answers it too)."""
    return response.headers.get(LOCATION_HEADER)


_STORE = """
    INSERT INTO payments.api_idempotency
        (scope, key, method, path, request_sha256, status, content_type, response, location)
    VALUES (%(scope)s, %(key)s, %(method)s, %(path)s, %(digest)s, %(status)s, %(ctype)s,
            %(response)s::json, %(location)s)
"""


_STORE_AND_COMMIT = (
    b"INSERT INTO payments.api_idempotency"
    b" (scope, key, method, path, request_sha256, status, content_type, response, location)"
    b" VALUES (%b, %b, %b, %b, %b, %d, %b, %b::json, %b); COMMIT"
)


def store_and_commit(
    conn: Connection,
    *,
    principal: keys.Principal,
    key: str,
    request: Request,
    digest: str,
    response: Response,
) -> bool:
    """Store `response` under the key and commit the caller's transaction, in one round trip
    (the two statements as one simple query, the values as literals escaped by the driver
    for this connection): a write's last round trip is its commit. If the insert fails the
    commit is not run, and the error is raised as `store`'s is; the ledger's deferred
    checks raise theirs at the commit. False (nothing done) on another driver than
    psycopg: `store`, then the caller's commit."""
    driver = conn.connection.driver_connection
    if not isinstance(driver, psycopg.Connection) or not conn.in_transaction():
        return False
    escape = psycopg.pq.Escaping(driver.pgconn).escape_literal
    statement = _STORE_AND_COMMIT % _literals(
        escape, principal=principal, key=key, request=request, digest=digest, response=response
    )
    with pgdriver.cursor(conn) as cursor:
        cursor.execute(statement)
    return True


def _literals(
    escape: keys.Escape,
    *,
    principal: keys.Principal,
    key: str,
    request: Request,
    digest: str,
    response: Response,
) -> tuple[bytes | int, ...]:
    """The stored answer's values as SQL literals, in `_STORE`'s column order (scope, key,
    method, path, request_sha256, status, content_type, response, location)."""
    body = bytes(response.body)
    location = location_of(response)
    return (
        escape(principal.scope.encode()),
        escape(key.encode()),
        escape(request.method.encode()),
        escape(request.url.path.encode()),
        escape(digest.encode()),
        response.status_code,
        escape((response.media_type or "application/json").encode()),
        escape(body if body else b"null"),
        b"NULL" if location is None else escape(location.encode()),
    )


_STORE_AFTER = (
    b"WITH done AS (%b) INSERT INTO payments.api_idempotency"
    b" (scope, key, method, path, request_sha256, status, content_type, response, location)"
    b" SELECT %b, %b, %b, %b, %b, %d, %b, %b::json, %b FROM done RETURNING 1"
)


# _STORE_AFTER's prepared form: the statement's own text (its parameters $1 to $n) and the
# answer's values as parameters after them, cast to their columns' types.
_STORE_AFTER_PREPARED = (
    b"WITH done AS (%b) INSERT INTO payments.api_idempotency"
    b" (scope, key, method, path, request_sha256, status, content_type, response, location)"
    b" SELECT %b FROM done RETURNING 1"
)
_STORED_TYPES = (b"text", b"text", b"text", b"text", b"text", b"int", b"text", b"json", b"text")
_PREPARED_AFTER: dict[bytes, tuple[bytes, bytes]] = {}
"""(name, text) of `_STORE_AFTER_PREPARED` for each statement's text (a few: made once)."""
_MOST_PREPARED_AFTER = 16
"""Texts `_PREPARED_AFTER` keeps at most: a statement whose text is not among them once it
holds this many goes in its literal form (a caller varying its statement's text cannot grow
the process's memory without bound; review 2 of session 35, LOW)."""


class _StoredAfter:
    """`store_after`'s statement: called with the connection's escaping of a literal, the
    statement with its values as literals; when `statement` has a prepared form
    (`keys.PreparedThen`), prepared too (`name`, `text`, `parameters`: see `prepared_form`)."""

    __slots__ = ("_statement", "_values", "_with")

    def __init__(self, statement: keys.Then, values: dict[str, Any]) -> None:
        self._statement = statement
        self._values = values
        self._with = statement if hasattr(statement, "parameters") else None

    def __call__(self, escape: keys.Escape) -> bytes:
        return _STORE_AFTER % (self._statement(escape), *_literals(escape, **self._values))

    def prepared_form(self) -> _PreparedStoredAfter | None:
        """The prepared form, when the statement has one."""
        if self._with is None:
            return None
        prepared = cast(keys.PreparedThen, self._with)
        if prepared.text not in _PREPARED_AFTER and len(_PREPARED_AFTER) >= _MOST_PREPARED_AFTER:
            return None
        return _PreparedStoredAfter(prepared, self._values)


class _PreparedStoredAfter(_StoredAfter):
    """`_StoredAfter` of a statement with a prepared form: the same, prepared
    (`keys.PreparedThen`)."""

    __slots__ = ("name", "text")

    def __init__(self, statement: keys.PreparedThen, values: dict[str, Any]) -> None:
        super().__init__(statement, values)
        found = _PREPARED_AFTER.get(statement.text)
        if found is None:
            # After the statement's own parameters, numbered from its highest.
            count = max((int(n) for n in re.findall(rb"\$(\d+)", statement.text)), default=0)
            columns = b", ".join(
                b"$%d::%b" % (count + n + 1, kind) for n, kind in enumerate(_STORED_TYPES)
            )
            text = _STORE_AFTER_PREPARED % (statement.text, columns)
            name = b"api_stored_after_" + hashlib.sha256(text).hexdigest()[:12].encode()
            found = _PREPARED_AFTER[statement.text] = (name, text)
        self.name, self.text = found

    def parameters(self, encoding: str) -> list[bytes | None] | None:
        """The statement's parameters, then the answer's (libpq's text); None where the
        statement's cannot go so, or a value holds a NUL (libpq would cut it)."""
        own = cast(keys.PreparedThen, self._statement).parameters(encoding)
        if own is None:
            return None
        stored = _stored_values(encoding, **self._values)
        if any(v is not None and b"\x00" in v for v in stored):
            return None
        return [*own, *stored]


def store_after(
    statement: keys.Then,
    *,
    principal: keys.Principal,
    key: str,
    request: Request,
    digest: str,
    response: Response,
) -> keys.Then:
    """`statement` (a write returning one row when it did its work, none otherwise) with
    `response` stored under the key in the same statement, only when it returned its row
    (a data-modifying WITH: both or neither), for the authentication's round trip
    (`keys.authenticate`'s `then`): one row when both were done, none when neither was. A
    concurrent request that stored first makes it a unique violation, as for `store`. When
    `statement` has a prepared form (`keys.PreparedThen`), so has this one (the answer's
    values its parameters after the statement's)."""
    stored = _StoredAfter(
        statement,
        {
            "principal": principal,
            "key": key,
            "request": request,
            "digest": digest,
            "response": response,
        },
    )
    prepared = stored.prepared_form()
    return stored if prepared is None else prepared


def _stored_values(
    encoding: str,
    *,
    principal: keys.Principal,
    key: str,
    request: Request,
    digest: str,
    response: Response,
) -> list[bytes | None]:
    """`_literals`' values as libpq's text parameters."""
    body = bytes(response.body)
    location = location_of(response)
    return [
        principal.scope.encode(encoding),
        key.encode(encoding),
        request.method.encode(encoding),
        request.url.path.encode(encoding),
        digest.encode(encoding),
        b"%d" % response.status_code,
        (response.media_type or "application/json").encode(encoding),
        body if body else b"null",
        None if location is None else location.encode(encoding),
    ]


def store(
    conn: Connection,
    *,
    principal: keys.Principal,
    key: str,
    request: Request,
    digest: str,
    response: Response,
) -> None:
    """Store `response` under the key, on the caller's transaction (a concurrent request
    that stored first makes this a unique violation: the caller runs the request again and
    replays it)."""
    body = bytes(response.body)
    pgdriver.execute(
        conn,
        _STORE,
        {
            "scope": principal.scope,
            "key": key,
            "method": request.method,
            "path": request.url.path,
            "digest": digest,
            "status": response.status_code,
            "ctype": response.media_type or "application/json",
            "response": body.decode() if body else "null",
            "location": location_of(response),
        },
    )

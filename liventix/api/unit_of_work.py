"""The request as a unit of work: one transaction per request, authenticated, under the
caller's role, with the idempotency record of a write stored in the same transaction.

`UnitOfWorkRoute` wraps every authenticated route. For each request it

1. checks the `Authorization: Bearer` key and, on a POST, the `Idempotency-Key` header;
2. opens the transaction and, in one statement (`keys.authenticate`), finds the key as the
   API's login role, assumes `liventix_app` acting for the key's organization (what
   `SET LOCAL ROLE` and `ledger.act_for` do) or `liventix_platform` acting for none, so
   PostgreSQL's row-level security bounds what any handler can see or write, and fetches the
   answer stored under the request's Idempotency-Key;
3. on a POST whose key has an answer: the same method, path and body replay it
   (`Idempotency-Replayed: true`); anything else under the key is 409;
4. runs the handler; on success stores the answer under the key and commits, together;
5. on a domain refusal (a 4xx the handler's domain raised) rolls everything back, so nothing
   of the handler's work remains, then stores the problem under the key in a transaction of
   its own (a retry gets the same refusal, as Stripe does); on anything else (validation,
   authentication, a reused key, a fault) rolls back and stores nothing: the key stays free.

Two requests racing with one key both run; the loser's insert of the key's record meets the
winner's (unique violation), so it rolls back and runs again, which replays the winner's
answer. Serialization failures and deadlocks are retried the same way.

A route marked read-only (`openapi_extra={"x-read-only": True}`, the reports) runs in one
REPEATABLE READ, READ ONLY transaction: every statement of the handler reads the same
snapshot, and the database refuses any write. Such a route needs no Idempotency-Key even on
POST (a read with a body): it changes nothing, so a retry simply computes the answer again,
and nothing is stored under a key.

Threads: the event loop reads the body and checks what needs no database (the bearer's
form, text PostgreSQL cannot store, the Idempotency-Key's form); FastAPI validates the
parameters; then the request makes one hop to a worker thread, where everything else runs:
a request slot (a thread-level semaphore bounding the connections in use), the steps above,
the endpoint, the answer's serialization, and a network call between two transactions
(`UnitOfWork.outside_transaction`, which gives the slot back while it waits). A request
FastAPI refuses (422) is still authenticated and checked against its key's stored answer
first, as before validation.
"""

from __future__ import annotations

import contextvars
import functools
import hashlib
import json
import logging
import re
import threading
import uuid
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from typing import Annotated, Any, TypeVar, cast

import anyio
import anyio.to_thread
import sqlalchemy as sa
import stripe
from fastapi import Depends, Request
from fastapi._compat import ModelField
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError, ResponseValidationError
from fastapi.routing import APIRoute
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

import ledger
import pgdriver
import ticketing_fsm
from liventix.api import keys, problems
from liventix.api.metrics import Metrics
from liventix.api.problems import ApiProblem

log = logging.getLogger(__name__)

IDEMPOTENCY_HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotency-Replayed"
IDEMPOTENCY_KEY_PATTERN = r"^[!-~]{1,200}$"
"""Visible ASCII, 1 to 200 characters: what an Idempotency-Key may be."""
READ_ONLY_EXTENSION = "x-read-only"
"""The OpenAPI extension marking a route read-only: one REPEATABLE READ, READ ONLY
transaction, and no Idempotency-Key (see the module)."""
_KEY_RE = re.compile(IDEMPOTENCY_KEY_PATTERN)
DOMAIN_KEY_PREFIX = "api:"
"""Prefix of the domain's idempotency keys derived from the header: API keys never collide
with the keys the domain derives itself (`stripe:capture:...`, `escrow:release:...`)."""
MAX_ATTEMPTS = 4
RETRY_AFTER_SECONDS = 1
"""What a 503 for an unavailable Stripe tells the client to wait before retrying."""
_STRIPE_UNAVAILABLE = (
    stripe.APIConnectionError,  # a timeout or a refused connection
    stripe.APIError,  # Stripe's own failure (5xx)
    stripe.RateLimitError,
    stripe.IdempotencyError,  # the same key in flight in a concurrent request
)
THREADS = 256
"""Worker threads for the handlers: a handler waiting on Stripe holds one (but no
connection and no slot), so an on-sale needs many more than anyio's default 40."""
_RETRY_SQLSTATES = frozenset({"23505", "40001", "40P01"})
_CHECK_IN_LOOP = 64 * 1024
"""Bodies up to this size are parsed and checked on the event loop; larger ones in a thread."""


T = TypeVar("T")


@dataclass
class ApiRuntime:
    """What the routes share: the engine, Stripe, the webhook secret, metrics, and the
    bound on requests in flight (each holds a pooled connection from start to commit)."""

    engine: sa.Engine
    gateway: ticketing_fsm.PaymentGateway | None
    stripe_webhook_secret: str | None
    metrics: Metrics
    max_in_flight: int
    slots: threading.BoundedSemaphore = field(init=False)

    def __post_init__(self) -> None:
        # Taken and given back in the request's worker thread (its one hop off the loop).
        self.slots = threading.BoundedSemaphore(self.max_in_flight)

    def commit(self, uow: UnitOfWork) -> None:
        """Commit the request's transaction, then run its after-commit callbacks."""
        # The ledger's deferred balance check runs at commit: its refusal is a ledger error.
        with ledger.translated_errors():
            uow.transaction.commit()
        callbacks, uow.after_commit = uow.after_commit, []
        for callback in callbacks:
            callback()


@dataclass
class UnitOfWork:
    """One request's transaction, principal and idempotency key, as handlers see them."""

    conn: sa.Connection
    principal: keys.Principal
    request: Request
    runtime: ApiRuntime
    idempotency_key: str | None
    request_sha256: str
    transaction: sa.RootTransaction
    token: str = field(repr=False, default="")
    after_commit: list[Callable[[], None]] = field(default_factory=list)
    _platform_org: uuid.UUID | None = None

    @property
    def org_id(self) -> uuid.UUID | None:
        """The key's organization; None for the platform's key."""
        return self.principal.org_id

    @property
    def is_platform(self) -> bool:
        """True when the platform's key made the request."""
        return self.principal.is_platform

    def acting_org(self) -> uuid.UUID:
        """The organization writes act for: the key's, or the platform organization."""
        if self.principal.org_id is not None:
            return self.principal.org_id
        if self._platform_org is None:
            found: uuid.UUID | None = self.conn.execute(
                sa.text("SELECT id FROM payments.organizations WHERE is_platform")
            ).scalar_one_or_none()
            if found is None:
                raise ApiProblem(problems.PLATFORM_NOT_REGISTERED)
            self._platform_org = found
        return self._platform_org

    def payment_gateway(self) -> ticketing_fsm.PaymentGateway:
        """The app's Stripe gateway (502 when the app was built without one)."""
        if self.runtime.gateway is None:
            raise ApiProblem(problems.PAYMENT_PROVIDER, "no payment gateway is configured")
        return self.runtime.gateway

    def domain_key(self) -> str:
        """The domain's idempotency key for this request's write (from the header)."""
        if self.idempotency_key is None:
            raise RuntimeError("only writes have an idempotency key")
        return DOMAIN_KEY_PREFIX + self.idempotency_key

    def posted(self, kind: str) -> None:
        """Count a posting of this kind once the transaction commits."""
        self.after_commit.append(lambda: self.runtime.metrics.posted(kind))

    def outside_transaction(self, call: Callable[[], T]) -> T:
        """Commit what the request has done so far, give the connection and the request's
        slot back, run `call` (a network call: Stripe) with no transaction open and no lock
        held, then open the request's next transaction as the same principal. The request's
        answer is stored under its Idempotency-Key by that last transaction, so a retry
        before it runs the handler again (its use cases find their own work by key)."""
        self.runtime.commit(self)
        self.conn.close()
        self.runtime.slots.release()
        try:
            result = call()
        finally:
            self.runtime.slots.acquire()
        # Only on success: a failed call ends the request, whose work so far stays committed.
        self._reopen()
        return result

    def _reopen(self) -> None:
        conn = self.runtime.engine.connect()
        try:
            transaction = conn.begin()
            principal, _stored = keys.authenticate(conn, self.token)
        except BaseException:
            conn.close()
            raise
        self.conn, self.transaction = conn, transaction
        if principal != self.principal:
            # The key was revoked while Stripe answered: nothing more is done under it.
            raise ApiProblem(problems.UNAUTHENTICATED, "the API key was revoked")

    def owns(self, org_id: uuid.UUID) -> bool:
        """Whether a row of `org_id` is this key's to see (row-level security already hides
        the others: this is the second belt)."""
        return self.principal.org_id is None or self.principal.org_id == org_id


DOCUMENTATION_ONLY: set[Callable[..., Any]] = set()
"""Dependencies that only document a route (the bearer, the Idempotency-Key header: the
unit of work checks both itself); a request whose parameters are simple skips them."""


def documentation_only(call: Callable[..., Any]) -> Callable[..., Any]:
    """Mark a dependency as documenting a route only (see `DOCUMENTATION_ONLY`)."""
    DOCUMENTATION_ONLY.add(call)
    return call


class _Deferred:
    """What FastAPI's resolution passes for a `Uow` parameter: the route puts the request's
    unit of work in its place once the parameters are valid, in the worker thread."""

    __slots__ = ()


_DEFERRED = _Deferred()


async def current_unit_of_work(request: Request) -> UnitOfWork:
    """The request's unit of work (a dependency for handlers; opened by the route in the
    worker thread that runs the handler, after FastAPI validated the parameters)."""
    return cast(UnitOfWork, _DEFERRED)


Uow = Annotated[UnitOfWork, Depends(current_unit_of_work)]


_NOT_JSON = object()


def _parse(body: bytes) -> Any:
    try:
        return json.loads(body) if body else None
    except (ValueError, RecursionError):  # the depth limit (api.limits) comes first
        return _NOT_JSON


def request_sha256(body: bytes, parsed: Any = _NOT_JSON) -> str:
    """SHA-256 of the body as canonical JSON (key order and spacing do not count), or of the
    raw bytes when it is not JSON."""
    if parsed is _NOT_JSON:
        parsed = _parse(body)
    if parsed is _NOT_JSON:
        return hashlib.sha256(body).hexdigest()
    canonical = json.dumps(parsed, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(canonical.encode()).hexdigest()


def _sqlstate(exc: BaseException) -> str | None:
    orig = getattr(exc, "orig", None)
    state: str | None = getattr(orig, "sqlstate", None)
    return state


def _rollback(uow: UnitOfWork) -> None:
    if uow.transaction.is_active:
        uow.transaction.rollback()


def _instance(request: Request) -> str:
    return request.url.path


def _unauthenticated(request: Request, detail: str) -> Response:
    return problems.problem_response(
        problems.UNAUTHENTICATED,
        detail,
        instance=_instance(request),
        headers={"WWW-Authenticate": 'Bearer realm="liventix"'},
    )


# What PostgreSQL's text cannot hold: NUL, and (not being UTF-8) unpaired surrogates.
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def _bad_text(value: str) -> bool:
    return _UNSTORABLE.search(value) is not None


def _first_bad_text(value: Any, path: str) -> str | None:
    if isinstance(value, str):
        return path if _bad_text(value) else None
    if isinstance(value, dict):
        for k, v in value.items():
            if _bad_text(k):
                return path
            found = _first_bad_text(v, f"{path}.{k}")
            if found is not None:
                return found
    if isinstance(value, list):
        for i, v in enumerate(value):
            found = _first_bad_text(v, f"{path}.{i}")
            if found is not None:
                return found
    return None


def _invalid_text(request: Request, parsed: Any) -> str | None:
    """The first field (query or JSON body) holding text PostgreSQL cannot store."""
    for name, value in request.query_params.multi_items():
        if _bad_text(name) or _bad_text(value):
            return f"query.{name}"
    if parsed is _NOT_JSON:
        return None  # FastAPI answers a body that is not JSON
    return _first_bad_text(parsed, "body")


def _bearer(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


@dataclass
class _Prepared:
    """What the event loop checked of a request before FastAPI validates it (nothing that
    needs the database): the key, the body parsed once, the route's flags."""

    request: Request
    runner: Runner
    token: str
    key: str | None
    body: bytes
    parsed: Any
    platform_only: bool
    read_only: bool
    started: bool = False
    """The endpoint was called: what it raises is its unit of work's to answer."""

    @functools.cached_property
    def digest(self) -> str:
        """The body's SHA-256 (see `request_sha256`)."""
        return request_sha256(self.body, self.parsed)


_PREPARED: contextvars.ContextVar[_Prepared] = contextvars.ContextVar("liventix_request")
"""The request being served, from the route's handler to its endpoint (one task)."""


class Runner:
    """Runs one request through its unit of work (see the module's docstring).

    The event loop reads the body and checks what needs no database; FastAPI validates the
    parameters; then one hop to a worker thread runs the whole unit of work there: a request
    slot (a thread-level semaphore), authentication, the handler, the answer's serialization,
    the idempotency record and the commit, and a network call between two transactions."""

    def __init__(self, runtime: ApiRuntime) -> None:
        self.runtime = runtime

    async def run(
        self,
        request: Request,
        inner: Callable[[Request], Awaitable[Response]],
        *,
        idempotent: bool,
        platform_only: bool,
        read_only: bool = False,
        lean: Callable[[_Prepared], Callable[[UnitOfWork], Response] | None] | None = None,
    ) -> Response:
        """Check what needs no database, then let FastAPI validate and call the endpoint
        (which runs the unit of work: `serve`); the answer. A route with simple parameters
        (`lean`) validates them itself when they are valid, and leaves FastAPI to answer
        those that are not."""
        limiter = anyio.to_thread.current_default_thread_limiter()
        limiter.total_tokens = max(limiter.total_tokens, THREADS)
        body = await request.body()
        if len(body) > _CHECK_IN_LOOP:
            prepared = await anyio.to_thread.run_sync(
                self._prepare, request, body, idempotent, platform_only, read_only
            )
        else:
            prepared = self._prepare(request, body, idempotent, platform_only, read_only)
        if isinstance(prepared, Response):
            return prepared
        handler = lean(prepared) if lean is not None else None
        if handler is not None:
            prepared.started = True
            return await anyio.to_thread.run_sync(self.serve, prepared, handler)
        if prepared.parsed is not _NOT_JSON:
            # FastAPI reads a JSON body through Request.json(): it is parsed once.
            request._json = prepared.parsed
        token = _PREPARED.set(prepared)
        try:
            return await inner(request)
        except Exception as exc:
            if prepared.started:
                raise
            # Refused before the endpoint ran (validation, a body that is not JSON): the key
            # and its stored answer are still checked first, as for any request.
            return await anyio.to_thread.run_sync(self._refuse, prepared, exc)
        finally:
            _PREPARED.reset(token)

    def _prepare(
        self,
        request: Request,
        body: bytes,
        idempotent: bool,
        platform_only: bool,
        read_only: bool,
    ) -> _Prepared | Response:
        token = _bearer(request)
        if token is None:
            return _unauthenticated(request, "an `Authorization: Bearer <API key>` is required")
        parsed = _parse(body)
        bad = _invalid_text(request, parsed)
        if bad is not None:
            return problems.problem_response(
                problems.VALIDATION,
                f"{bad}: text may not hold NUL characters or unpaired surrogates",
                instance=_instance(request),
                field=bad,
            )
        key: str | None = None
        if idempotent:
            key = request.headers.get(IDEMPOTENCY_HEADER)
            if key is None or not _KEY_RE.match(key):
                return problems.problem_response(
                    problems.IDEMPOTENCY_KEY_MISSING,
                    "Idempotency-Key: 1 to 200 visible ASCII characters, required on POST",
                    instance=_instance(request),
                    field=IDEMPOTENCY_HEADER,
                )
        return _Prepared(
            request=request,
            runner=self,
            token=token,
            key=key,
            body=body,
            parsed=parsed,
            platform_only=platform_only,
            read_only=read_only,
        )

    def _refuse(self, prepared: _Prepared, exc: Exception) -> Response:
        """The answer to a request FastAPI refused: whatever opening it answers first (the
        key, its stored answer), else the refusal."""
        with self.runtime.slots:
            opened = self._open(prepared)
            if isinstance(opened, Response):
                return opened
            try:
                return self._after_failure(opened, exc, store=False) or (
                    problems.problem_response(
                        problems.CONFLICT_RETRY, instance=_instance(prepared.request)
                    )
                )
            finally:
                opened.conn.close()

    # -- in the request's worker thread ----------------------------------------------------

    def serve(self, prepared: _Prepared, handler: Callable[[UnitOfWork], Response]) -> Response:
        """The whole unit of work, in the calling (worker) thread: a request slot, then open,
        run `handler`, store and commit (a lost race runs it again); the answer."""
        with self.runtime.slots:
            for _attempt in range(MAX_ATTEMPTS):
                opened = self._open(prepared)
                if isinstance(opened, Response):
                    return opened
                try:
                    response = handler(opened)
                except Exception as exc:
                    outcome = self._fail(opened, exc)
                else:
                    outcome = self._finish(opened, response)
                if isinstance(outcome, Response):
                    return outcome
            return problems.problem_response(
                problems.CONFLICT_RETRY, instance=_instance(prepared.request)
            )

    def _open(self, prepared: _Prepared) -> UnitOfWork | Response:
        request = prepared.request
        try:
            conn = self.runtime.engine.connect()
        except sa.exc.DBAPIError:
            log.exception("cannot connect to the database")
            return problems.problem_response(problems.UNAVAILABLE, instance=_instance(request))
        try:
            if prepared.read_only:
                # One snapshot for every statement of the handler, and no write can slip in.
                conn.execution_options(isolation_level="REPEATABLE READ", postgresql_readonly=True)
            transaction = conn.begin()
            principal, stored = keys.authenticate(conn, prepared.token, prepared.key)
            if principal is None:
                conn.close()  # the rollback also drops the role the lookup assumed
                return _unauthenticated(request, "the API key is unknown or revoked")
            if prepared.platform_only and not principal.is_platform:
                conn.close()
                return problems.problem_response(
                    problems.PLATFORM_ONLY, instance=_instance(request)
                )
            if stored is not None:
                conn.close()
                return self._replay(request, stored, prepared.key or "", prepared.digest)
            return UnitOfWork(
                conn=conn,
                principal=principal,
                request=request,
                runtime=self.runtime,
                idempotency_key=prepared.key,
                request_sha256=prepared.digest if prepared.key is not None else "",
                transaction=transaction,
                token=prepared.token,
            )
        except sa.exc.DBAPIError:
            conn.close()
            log.exception("the database failed while opening a request")
            return problems.problem_response(problems.UNAVAILABLE, instance=_instance(request))
        except BaseException:
            conn.close()
            raise

    def _replay(
        self, request: Request, stored: keys.StoredAnswer, key: str, digest: str
    ) -> Response:
        if (stored.method, stored.path, stored.request_sha256) != (
            request.method,
            request.url.path,
            digest,
        ):
            return problems.problem_response(
                problems.IDEMPOTENCY_KEY_REUSED,
                f"the key was first used for {stored.method} {stored.path} with another body",
                instance=_instance(request),
                idempotency_key=key,
            )
        self.runtime.metrics.replays.inc()
        return Response(
            content=stored.response.encode(),
            status_code=stored.status,
            media_type=stored.content_type,
            headers={REPLAYED_HEADER: "true"},
        )

    def _store(self, conn: sa.Connection, uow: UnitOfWork, response: Response) -> None:
        body = bytes(response.body)
        pgdriver.execute(
            conn,
            _STORE,
            {
                "scope": uow.principal.scope,
                "key": uow.idempotency_key,
                "method": uow.request.method,
                "path": uow.request.url.path,
                "digest": uow.request_sha256,
                "status": response.status_code,
                "ctype": response.media_type or "application/json",
                "response": body.decode() if body else "null",
            },
        )

    def _finish(self, uow: UnitOfWork, response: Response) -> Response | None:
        try:
            if uow.idempotency_key is not None:
                self._store(uow.conn, uow, response)
            self.runtime.commit(uow)
            return response
        except Exception as exc:
            return self._after_failure(uow, exc, store=False)
        finally:
            uow.conn.close()

    def _fail(self, uow: UnitOfWork, exc: Exception) -> Response | None:
        try:
            return self._after_failure(uow, exc, store=True)
        finally:
            uow.conn.close()

    def _store_refusal(self, uow: UnitOfWork, response: Response) -> Response | None:
        """Store a refusal under the key, in a transaction of its own (the request's was
        rolled back whole); None if a concurrent request stored its answer first."""
        try:
            with self.runtime.engine.begin() as conn:
                # As the request's principal again: the idempotency table is under RLS.
                principal, _stored = keys.authenticate(conn, uow.token)
                if principal != uow.principal:
                    return response  # the key was revoked meanwhile: store nothing
                self._store(conn, uow, response)
        except sa.exc.DBAPIError as exc:
            if _sqlstate(exc) in _RETRY_SQLSTATES:
                self.runtime.metrics.retries.inc()
                return None
            raise
        return response

    def _after_failure(self, uow: UnitOfWork, exc: Exception, *, store: bool) -> Response | None:
        """The answer to a failed request (None: run it again). Everything the request did is
        rolled back; a domain refusal is then stored under the key (when `store`)."""
        _rollback(uow)
        request = uow.request
        instance = _instance(request)
        if isinstance(exc, sa.exc.DBAPIError) and _sqlstate(exc) in _RETRY_SQLSTATES:
            self.runtime.metrics.retries.inc()
            return None
        if isinstance(exc, RequestValidationError):
            return problems.validation_problem(exc, instance)
        if isinstance(exc, sa.exc.DBAPIError) and (_sqlstate(exc) or "").startswith("22"):
            # A value the database cannot take (out of range, malformed): the request's fault.
            diag = getattr(exc.orig, "diag", None)
            detail = getattr(diag, "message_primary", None) or problems.INVALID_VALUE.title
            return problems.problem_response(problems.INVALID_VALUE, detail, instance=instance)
        if isinstance(exc, ApiProblem):
            return problems.api_problem(exc, instance)
        if problems.is_domain_error(exc):
            response = problems.domain_problem(exc, instance)
            if store and uow.idempotency_key is not None:
                return self._store_refusal(uow, response)
            return response
        if isinstance(exc, StarletteHTTPException):
            kind = problems.ProblemType(exc.status_code, "http-error", str(exc.detail))
            return problems.problem_response(kind, str(exc.detail), instance=instance)
        if isinstance(exc, _STRIPE_UNAVAILABLE):
            # Stripe timed out, was unreachable or failed: nothing is stored under the key,
            # so a retry with the same key continues the same work.
            log.warning("Stripe unavailable: %s", exc)
            return problems.problem_response(
                problems.PAYMENT_PROVIDER_UNAVAILABLE,
                "Stripe did not answer; retry with the same Idempotency-Key",
                instance=instance,
                headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
            )
        if isinstance(exc, stripe.StripeError):
            log.warning("Stripe failed: %s", exc)
            return problems.problem_response(
                problems.PAYMENT_PROVIDER, str(exc.user_message or exc), instance=instance
            )
        if isinstance(exc, sa.exc.OperationalError):
            log.error("the database failed", exc_info=exc)
            return problems.problem_response(problems.UNAVAILABLE, instance=instance)
        log.error("internal error in %s %s", request.method, request.url.path, exc_info=exc)
        return problems.problem_response(problems.INTERNAL, instance=instance)


_STORE = """
    INSERT INTO payments.api_idempotency
        (scope, key, method, path, request_sha256, status, content_type, response)
    VALUES (%(scope)s, %(key)s, %(method)s, %(path)s, %(digest)s, %(status)s, %(ctype)s,
            %(response)s::json)
"""


@dataclass(frozen=True)
class _LeanPlan:
    """A route's simple parameters (see `UnitOfWorkRoute._lean_plan`)."""

    path: tuple[tuple[str, str], ...]
    body: ModelField | None
    uow_names: tuple[str, ...]


def _json_content(request: Request) -> bool:
    """Whether the body is declared JSON, as FastAPI requires to parse it as JSON."""
    kind = request.headers.get("content-type", "").partition(";")[0].strip().lower()
    main, _, sub = kind.partition("/")
    return main == "application" and (sub == "json" or sub.endswith("+json"))


class UnitOfWorkRoute(APIRoute):
    """An authenticated route: each request is a unit of work (see the module).

    The endpoint (a plain function) is called by a coroutine standing in for it, so FastAPI
    validates the parameters on the event loop and then awaits one hop to a worker thread
    (`Runner.serve`) in which the unit of work opens, the endpoint runs, its answer is
    serialized, stored under the key and committed."""

    def __init__(self, path: str, endpoint: Callable[..., Any], **kwargs: Any) -> None:
        route = self

        @functools.wraps(endpoint)
        async def in_unit_of_work(**values: Any) -> Response:
            prepared = _PREPARED.get()
            prepared.started = True
            handler = functools.partial(route._respond, endpoint, values)
            return await anyio.to_thread.run_sync(prepared.runner.serve, prepared, handler)

        super().__init__(path, in_unit_of_work, **kwargs)
        self._endpoint = endpoint
        self._plan = self._lean_plan()

    def _lean_plan(self) -> _LeanPlan | None:
        """How to call the endpoint without FastAPI's resolution, when its parameters are
        simple: path parameters that are UUIDs, at most one JSON body (a model), the `Uow`,
        and dependencies that only document. None: FastAPI's way."""
        dependant = self.dependant
        if (
            dependant.query_params
            or dependant.header_params
            or dependant.cookie_params
            or len(dependant.body_params) > 1
            or self._embed_body_fields
            or dependant.request_param_name
            or dependant.websocket_param_name
            or dependant.http_connection_param_name
            or dependant.response_param_name
            or dependant.background_tasks_param_name
            or dependant.security_scopes_param_name
        ):
            return None
        uow_names: list[str] = []
        for sub in dependant.dependencies:
            if sub.call is current_unit_of_work and sub.name:
                uow_names.append(sub.name)
            elif sub.call not in DOCUMENTATION_ONLY or sub.name:
                return None
        if any(f.field_info.annotation is not uuid.UUID for f in dependant.path_params):
            return None
        body = dependant.body_params[0] if dependant.body_params else None
        if body is not None and not (
            isinstance(body.field_info.annotation, type)
            and issubclass(body.field_info.annotation, BaseModel)
        ):
            return None
        return _LeanPlan(
            path=tuple((f.name, f.alias) for f in dependant.path_params),
            body=body,
            uow_names=tuple(uow_names),
        )

    def _lean(self, prepared: _Prepared) -> Callable[[UnitOfWork], Response] | None:
        """The endpoint's call with its parameters validated here; None when they are not
        all valid, or not simple (FastAPI then validates, and answers the refusal)."""
        plan = self._plan
        if plan is None:
            return None
        request = prepared.request
        values: dict[str, Any] = dict.fromkeys(plan.uow_names, _DEFERRED)
        for name, alias in plan.path:
            value = request.path_params.get(alias)
            if not isinstance(value, uuid.UUID):
                return None
            values[name] = value
        if plan.body is not None:
            if not _json_content(request) or prepared.parsed is _NOT_JSON:
                return None
            value, errors = plan.body.validate(prepared.parsed, {}, loc=("body",))
            if errors:
                return None
            values[plan.body.name] = value
        return functools.partial(self._respond, self._endpoint, values)

    def _respond(
        self, endpoint: Callable[..., Any], values: dict[str, Any], uow: UnitOfWork
    ) -> Response:
        """Run the endpoint in the unit of work and serialize its answer as FastAPI would."""
        arguments = {name: uow if v is _DEFERRED else v for name, v in values.items()}
        result = endpoint(**arguments)
        if isinstance(result, Response):
            return result
        if self.response_field is not None:
            value, errors = self.response_field.validate(result, {}, loc=("response",))
            if errors:
                raise ResponseValidationError(errors=errors, body=result)
            content = self.response_field.serialize_json(
                value,
                include=self.response_model_include,
                exclude=self.response_model_exclude,
                by_alias=self.response_model_by_alias,
                exclude_unset=self.response_model_exclude_unset,
                exclude_defaults=self.response_model_exclude_defaults,
                exclude_none=self.response_model_exclude_none,
            )
        else:
            content = json.dumps(jsonable_encoder(result)).encode()
        response = Response(
            content=content, status_code=self.status_code or 200, media_type="application/json"
        )
        for given in arguments.values():
            if isinstance(given, Response):  # FastAPI's sub-response: headers, a status
                response.headers.raw.extend(given.headers.raw)
                if given.status_code:
                    response.status_code = given.status_code
        return response

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        """FastAPI's handler, run inside the request's unit of work."""
        inner = super().get_route_handler()
        extra = self.openapi_extra or {}
        platform_only = bool(extra.get("x-platform-only"))
        read_only = bool(extra.get(READ_ONLY_EXTENSION))
        idempotent = "POST" in (self.methods or ()) and not read_only

        lean = self._lean if getattr(self, "_plan", None) is not None else None

        async def handler(request: Request) -> Response:
            runner: Runner = request.app.state.runner
            return await runner.run(
                request,
                inner,
                idempotent=idempotent,
                platform_only=platform_only,
                read_only=read_only,
                lean=lean,
            )

        return handler

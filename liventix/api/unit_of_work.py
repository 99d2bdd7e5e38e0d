"""The unit of work a route handler opens: one transaction, authenticated, under the caller's
role, committed by the handler together with the answer stored under its Idempotency-Key.

A handler shows where its transaction begins and commits (cosmicpython's `with uow:`):

    @router.post("/events", status_code=201, dependencies=WRITE)
    def create_event(body: CreateEventRequest, uow: Uow) -> EventResponse:
        with uow:                                   # begins: authenticates, checks the key
            event_id = tk.create_event(uow.conn, uow.acting_org(), ...)
            return uow.commit(views.event(...))     # stores the answer and commits, together

- `with uow:` takes a request slot (a bound on the connections in use), connects, begins,
  and authenticates as the transaction's first statement (`auth.act_as`: the key's role and
  organization, so row-level security bounds everything after it), which also fetches the
  answer stored under the request's Idempotency-Key. A stored answer ends the request there
  (`Answered`: its replay, or 409 for another request under the key), as does an unknown or
  revoked key (401) or an organization's key on a platform route (403).
- `uow.commit(answer)` serializes the answer as the route declares it, stores it under the
  key (a write) and commits (`uow.commit(answer, location=...)`: a 201 names what it
  created, stored with the answer so that a replay names it too); `uow.commit()` commits
  the work so far with nothing stored (a step before a network call: the checkout's hold).
  Leaving the block without committing rolls back: a read, or any exception.
- A network call (Stripe) is made between two `with uow:` blocks: no transaction is open and
  no lock held while it waits; the second block authenticates again, and may send its first
  statement in the same round trip (`uow.send_with_opening(...)`, its result `uow.sent`).
- A write may be one round trip in all: `uow.send_with_opening(statement, commit=True)` ends
  the block's first round trip with the COMMIT (the statement must do nothing unless
  `keys.FRESH_WRITE`: the request is refused or replayed only once the round trip is back),
  and `uow.commit_with_opening(statement, answer)` stores the answer under the key with it,
  in the same statement, when it did its work (`uow.answer` inside the block; None: do the
  work the usual way in another block). The checkout's hold and record go so.

A route marked read-only (`openapi_extra={"x-read-only": True}`, the reports) opens one
REPEATABLE READ, READ ONLY transaction: every statement of the handler reads the same
snapshot, and the database refuses any write; it takes no Idempotency-Key.

With a read replica (`ApiRuntime.read_engine`, from LIVENTIX_READ_URL) the reports and the
list endpoints (a GET answering a page: `has_more`) read there, a moment behind
(`uow.replica_lag()` says how far); everything else, writes and the reads that must be
current (one object, a balance, the Idempotency-Key's stored answer), stays on the primary.
The key is checked on the primary first (a short transaction there, rolled back), so that a
revoked key is refused at once whatever the replica's lag; the replica's READ ONLY
transaction then authenticates again, for its role and row-level security.

The route (`liventix.api.routing`) builds the unit of work, calls the handler in a worker
thread, runs it again after a lost race, and answers what it raises (`liventix.api.failures`).
"""

from __future__ import annotations

import functools
import logging
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Annotated, Any, TypeVar, cast

import sqlalchemy as sa
from fastapi import Depends, Request
from starlette.responses import Response

import ledger
import ticketing_fsm
from liventix.api import auth, idempotency, keys, problems
from liventix.api.metrics import Metrics
from liventix.api.problems import ApiProblem
from liventix.replication import Lag, replica_lag

log = logging.getLogger(__name__)

T = TypeVar("T")

_NOTHING: Any = object()


@dataclass
class ApiRuntime:
    """What the routes share: the engine, Stripe, the webhook secret, metrics, and the
    bound on requests in flight (each holds a pooled connection from begin to commit)."""

    engine: sa.Engine
    gateway: ticketing_fsm.PaymentGateway | None
    stripe_webhook_secret: str | None
    metrics: Metrics
    max_in_flight: int
    read_engine: sa.Engine | None = None
    """The read replica's engine (None: every request reads the primary)."""
    slots: threading.BoundedSemaphore = field(init=False)

    def __post_init__(self) -> None:
        # Taken and given back in the request's worker thread.
        self.slots = threading.BoundedSemaphore(self.max_in_flight)


@dataclass
class Facts:
    """What the event loop checked of a request before any handler ran: the bearer token,
    the Idempotency-Key of a write, the body (parsed once), the route's flags."""

    request: Request
    token: str
    key: str | None
    body: bytes
    parsed: Any
    platform_only: bool
    read_only: bool
    started: bool = False
    """The handler was called: what it raises is its own to answer."""

    @functools.cached_property
    def digest(self) -> str:
        """The body's SHA-256 (see `idempotency.request_sha256`)."""
        return idempotency.request_sha256(self.body, self.parsed)


class Answered(Exception):
    """The request is answered before its work: a replay, a conflict under its key, an
    unknown key, a platform route (raised by `UnitOfWork.__enter__`)."""

    def __init__(self, response: Response) -> None:
        super().__init__(response.status_code)
        self.response = response


class UnitOfWork:
    """One request's transactions, principal and idempotency key, as handlers see them (see
    the module)."""

    def __init__(
        self, runtime: ApiRuntime, facts: Facts, respond: Callable[[Any], Response]
    ) -> None:
        self.runtime = runtime
        self.facts = facts
        self.request = facts.request
        self.idempotency_key = facts.key
        self.principal: keys.Principal | None = None
        self.answer: Response | None = None
        """The answer `commit` stored (and the request answers)."""
        self._respond = respond
        self._conn: sa.Connection | None = None
        self._transaction: sa.RootTransaction | None = None
        self._after_commit: list[Callable[[], None]] = []
        self._platform_org: uuid.UUID | None = None
        self._then: keys.Then | None = None
        self._then_commits = False
        self._then_answers: Response | None = None
        self.sent: Any = None
        """The result of the statement `send_with_opening` asked for (None: not sent)."""
        self.committed = False
        """The block's transaction was committed in its first round trip (`send_with_opening`
        with `commit`, `commit_with_opening`): nothing more may run in it."""
        self.on_replica = False
        """The request reads the read replica (see the module)."""

    # -- the transaction ---------------------------------------------------------------

    def __enter__(self) -> UnitOfWork:
        if self._conn is not None:
            raise RuntimeError("the unit of work is already open")
        self.runtime.slots.acquire()
        try:
            self._begin()
        except BaseException:
            self._close()
            raise
        return self

    def _begin(self) -> None:
        # What `_open` takes for its first round trip, kept for a second opening.
        then, commits, answers_with = self._then, self._then_commits, self._then_answers
        try:
            try:
                principal, stored = self._authenticate()
            except sa.exc.DBAPIError as exc:
                if commits or not exc.connection_invalidated:
                    raise
                # The pooled connection was lost before the request did anything (the
                # server restarted, a failover): its pool retired every connection opened
                # before it (liventix.database), so a second opening connects afresh, to
                # the new primary if there is one. Only for a connection the pool gave and
                # the opening found lost (not a failed connect: no primary yet, answered
                # at once), and not when the round trip carried a COMMIT, whose outcome is
                # unknown: the client retries under its key.
                log.warning("a pooled connection was lost; opening again: %s", exc)
                self._drop_connection()
                self._then, self._then_commits, self._then_answers = then, commits, answers_with
                principal, stored = self._authenticate()
        except keys.StatementFailed as failed:
            # The handler's own statement (`send_with_opening`), sent with the
            # authentication: its failure is answered as if it had run in the block (a lost
            # race runs the request again), not as the database unavailable.
            raise failed.error from failed.error.orig
        except sa.exc.DBAPIError as exc:
            log.exception("the database failed while opening a unit of work")
            raise ApiProblem(problems.UNAVAILABLE) from exc
        if principal is None:
            detail = "revoked" if self.principal is not None else "unknown or revoked"
            raise Answered(auth.unauthenticated(self.request, f"the API key is {detail}"))
        if self.facts.platform_only and not principal.is_platform:
            raise Answered(auth.platform_only(self.request))
        self.principal = principal
        if stored is not None:
            response, replayed = idempotency.answer_stored(
                self.request, stored, self.facts.key or "", self.facts.digest
            )
            if replayed:
                self.runtime.metrics.replays.inc()
            raise Answered(response)

    def _authenticate(self) -> tuple[keys.Principal | None, keys.StoredAnswer | None]:
        """Open the block's transaction where the request reads, authenticated; the key's
        principal (None: unknown or revoked) and the answer stored under the request's key."""
        engine = self._engine()
        if engine is self.runtime.engine:
            return self._open(engine)
        # The key is checked on the primary first (a revocation counts at once, whatever
        # the replica's lag; the key's use is recorded there), then the replica's
        # transaction authenticates again: its role and organization bound the read by
        # row-level security. A key the replica has not replayed yet reads the primary.
        principal = self._check_on_primary()
        if principal is None:
            return None, None
        replica_principal, stored = self._open(engine, record_use=False)
        if replica_principal is None or replica_principal.key_id != principal.key_id:
            self._drop_connection()
            return self._open(self.runtime.engine)
        return principal, stored

    def _open(
        self, engine: sa.Engine, *, record_use: bool = True
    ) -> tuple[keys.Principal | None, keys.StoredAnswer | None]:
        """Connect to `engine`, begin, and authenticate as the transaction's first
        statement."""
        self.on_replica = engine is not self.runtime.engine
        self._conn = conn = engine.connect()
        if self.facts.read_only or self.on_replica:
            # One snapshot for every statement, and no write can slip in.
            conn.execution_options(isolation_level="REPEATABLE READ", postgresql_readonly=True)
        self._transaction = conn.begin()
        then, self._then, self.sent = self._then, None, None
        commits, self._then_commits, self.committed = self._then_commits, False, False
        answers_with, self._then_answers = self._then_answers, None
        answers: list[Any] = []
        principal, stored = auth.act_as(
            conn,
            self.facts.token,
            self.facts.key,
            then=then,
            answers=answers,
            record_use=record_use,
            commit=then is not None and commits,
        )
        if answers:
            self.sent = answers[0]
            self.committed = commits
            if answers_with is not None and self.sent.ntuples == 1:
                self.answer = answers_with
        return principal, stored

    def _check_on_primary(self) -> keys.Principal | None:
        """The key's principal as the primary knows it now (None: unknown or revoked), in
        a short transaction of its own, rolled back."""
        with self.runtime.engine.connect() as conn, conn.begin():
            principal, _ = auth.act_as(conn, self.facts.token, None)
            return principal

    def _drop_connection(self) -> None:
        """Roll back and give back the connection, keeping the request's slot."""
        try:
            if self._transaction is not None and self._transaction.is_active:
                self._transaction.rollback()
        finally:
            self._transaction = None
            if self._conn is not None:
                self._conn.close()
            self._conn = None
            self.on_replica = False

    def _engine(self) -> sa.Engine:
        """The replica's engine for a report or a list, when there is one; else the
        primary's."""
        read = self.runtime.read_engine
        if read is None or self.facts.key is not None:
            return self.runtime.engine
        if self.facts.read_only or (self.request.method == "GET" and _lists(self.request)):
            return read
        return self.runtime.engine

    def replica_lag(self) -> Lag | None:
        """How far behind the replica this request reads is (None: it reads the primary)."""
        if not self.on_replica:
            return None
        return replica_lag(self.conn)

    def send_with_opening(self, statement: keys.Then, *, commit: bool = False) -> None:
        """Send `statement` in the next `with uow:`'s first round trip, right after the
        authentication (`keys.authenticate`'s `then`); its result is `uow.sent` inside the
        block, or None when it could not go that way (run it the usual way then). With
        `commit`, the round trip ends with the transaction's COMMIT (`uow.committed` inside
        the block when it was sent): nothing more may run in that transaction, and the
        statement must write nothing unless the key may write and nothing is stored under
        the request's key (`keys.FRESH_WRITE`, its condition), since the request is refused
        or replayed only once the round trip is back."""
        self._then, self._then_commits, self._then_answers = statement, commit, None

    def commit_with_opening(
        self, statement: keys.Then, answer: Any, *, location: str | None = None
    ) -> None:
        """Send `statement` (a write returning one row when it did its work, none otherwise)
        in the next `with uow:`'s first round trip, right after the authentication, with
        `answer` stored under the Idempotency-Key when it returned its row (in the same
        statement, `idempotency.store_after`) and the commit: a write in one round trip.
        Inside the block, `uow.answer` is the stored answer (the request answers it) when it
        was done; None when the statement did nothing (nothing stored, an empty transaction
        committed) or could not go that way: do the work the usual way, in another block.
        The key must have authenticated a write in an earlier block (its principal names the
        scope the answer is stored in)."""
        principal = self._principal()
        if self.idempotency_key is None:
            raise self._missing_key()
        response = self._respond(answer)
        if location is not None:
            response.headers[idempotency.LOCATION_HEADER] = location
        self._then = idempotency.store_after(
            statement,
            principal=principal,
            key=self.idempotency_key,
            request=self.request,
            digest=self.facts.digest,
            response=response,
        )
        self._then_commits, self._then_answers = True, response

    def commit(self, answer: T = _NOTHING, *, location: str | None = None) -> T:
        """Commit the work; with `answer`, serialize it as the route declares and store it
        under the Idempotency-Key in the same transaction, with `location` (a 201's
        `Location`: the path of the GET that reads what was created, answered by its
        replays too). Returns `answer`."""
        if self.idempotency_key is None and idempotency.keyless_dry_run(self.request):
            # Let through without a key only to be rehearsed and rolled back: a route without
            # a dry run must not commit a write that no key protects.
            raise self._missing_key()
        transaction = self._open_transaction()
        if answer is not _NOTHING:
            response = self._respond(answer)
            if location is not None:
                response.headers[idempotency.LOCATION_HEADER] = location
            if self.idempotency_key is not None:
                self._store(response)
            self.answer = response
        # The ledger's deferred balance check runs at commit: its refusal is a ledger error.
        # (After `_store` committed, the driver has nothing left to commit.)
        with ledger.translated_errors():
            transaction.commit()
        callbacks, self._after_commit = self._after_commit, []
        for callback in callbacks:
            callback()
        return answer

    def _store(self, response: Response) -> None:
        """Store the answer under the key and commit, in one round trip where the driver
        allows (`idempotency.store_and_commit`)."""
        assert self.principal is not None and self.idempotency_key is not None
        both = idempotency.store_and_commit
        for step in (both, idempotency.store):
            with ledger.translated_errors():
                done = step(
                    self.conn,
                    principal=self.principal,
                    key=self.idempotency_key,
                    request=self.request,
                    digest=self.facts.digest,
                    response=response,
                )
            if done is not False:
                return

    def __exit__(self, *exc: object) -> None:
        self._close()

    def _close(self) -> None:
        try:
            if self._transaction is not None and self._transaction.is_active:
                self._transaction.rollback()
        finally:
            self._transaction = None
            try:
                if self._conn is not None:
                    self._conn.close()  # back to the pool; the role was transaction-local
            finally:
                self._conn = None
                self.runtime.slots.release()

    def _open_transaction(self) -> sa.RootTransaction:
        if self._transaction is None or not self._transaction.is_active:
            raise RuntimeError("no transaction: use `with uow:` around the work")
        return self._transaction

    @property
    def conn(self) -> sa.Connection:
        """The open transaction's connection (only inside `with uow:`)."""
        if self._conn is None:
            raise RuntimeError("no transaction: use `with uow:` around the work")
        return self._conn

    # -- who acts, and how -------------------------------------------------------------

    def _principal(self) -> keys.Principal:
        if self.principal is None:
            raise RuntimeError("not authenticated yet: use `with uow:` first")
        return self.principal

    @property
    def key_id(self) -> uuid.UUID:
        """The request's API key."""
        return self._principal().key_id

    @property
    def org_id(self) -> uuid.UUID | None:
        """The key's organization; None for the platform's key."""
        return self._principal().org_id

    @property
    def is_platform(self) -> bool:
        """True when the platform's key made the request."""
        return self._principal().is_platform

    def acting_org(self) -> uuid.UUID:
        """The organization writes act for: the key's, or the platform organization."""
        principal = self._principal()
        if principal.org_id is not None:
            return principal.org_id
        if self._platform_org is None:
            found = ledger.platform_org(self.conn)
            if found is None:
                raise ApiProblem(problems.PLATFORM_NOT_REGISTERED)
            self._platform_org = found
        return self._platform_org

    def known_org(self) -> uuid.UUID | None:
        """The organization of the request's key as this process authenticated it before
        (`keys.organization_of`), before this request authenticated: a hint to plan a
        statement for, which must check that it is the organization the transaction proved.
        None: not known yet, or the platform's key."""
        return keys.organization_of(self.facts.token)

    def owns(self, org_id: uuid.UUID) -> bool:
        """Whether a row of `org_id` is this key's to see (row-level security already hides
        the others: this is the second belt)."""
        principal = self._principal()
        return principal.org_id is None or principal.org_id == org_id

    def payment_gateway(self) -> ticketing_fsm.PaymentGateway:
        """The app's Stripe gateway (502 when the app was built without one)."""
        if self.runtime.gateway is None:
            raise ApiProblem(problems.PAYMENT_PROVIDER, "no payment gateway is configured")
        return self.runtime.gateway

    def domain_key(self) -> str:
        """The domain's idempotency key for this request's write (from the header). A write
        let through without one (`?dry_run=true` on a route that has no dry run) is the
        missing key's 400, as the pipeline answers it."""
        if self.idempotency_key is None:
            raise self._missing_key()
        return idempotency.DOMAIN_KEY_PREFIX + self.idempotency_key

    @staticmethod
    def _missing_key() -> ApiProblem:
        """The missing Idempotency-Key's 400, as the pipeline answers it."""
        return ApiProblem(
            problems.IDEMPOTENCY_KEY_MISSING,
            "Idempotency-Key: 1 to 200 visible ASCII characters, required on POST",
            field=idempotency.IDEMPOTENCY_HEADER,
        )

    def posted(self, kind: str) -> None:
        """Count a posting of this kind once the transaction commits."""
        self._after_commit.append(lambda: self.runtime.metrics.posted(kind))


def _lists(request: Request) -> bool:
    """Whether the request's route answers a page of a list (its model has `has_more`)."""
    model = getattr(request.scope.get("route"), "response_model", None)
    return "has_more" in (getattr(model, "model_fields", None) or {})


DOCUMENTATION_ONLY: set[Callable[..., Any]] = set()
"""Dependencies that only document a route (the bearer, the Idempotency-Key header: the
route checks both itself); a request whose parameters are simple skips them."""


def documentation_only(call: Callable[..., Any]) -> Callable[..., Any]:
    """Mark a dependency as documenting a route only (see `DOCUMENTATION_ONLY`)."""
    DOCUMENTATION_ONLY.add(call)
    return call


class Deferred:
    """What FastAPI's resolution passes for a `Uow` parameter: the route puts the request's
    unit of work in its place, in the worker thread that runs the handler."""

    __slots__ = ()


DEFERRED = Deferred()


async def current_unit_of_work(request: Request) -> UnitOfWork:
    """The request's unit of work (a dependency for handlers; built by the route in the
    worker thread that runs the handler, after the parameters were validated)."""
    return cast(UnitOfWork, DEFERRED)


Uow = Annotated[UnitOfWork, Depends(current_unit_of_work)]

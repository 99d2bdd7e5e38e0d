"""What a request that failed is answered, once its unit of work rolled back.

- a lost race (unique violation on the key's record, serialization failure, deadlock): None,
  and the route runs the request again (it then replays the winner's answer); so is a
  statement psycopg prepared before a migration changed its result's columns (`stale_plan`);
- invalid parameters (422), a value the database cannot store (422), an API refusal;
- a domain refusal (a 4xx of the ledger, escrow, ticketing or the outbox): its problem,
  stored under the Idempotency-Key in a transaction of its own (a retry gets the same
  refusal, as Stripe does);
- Stripe unavailable (timeout, unreachable, its 5xx, rate limit, its 409 for the same key
  in flight in a concurrent request): 503 with `Retry-After`, nothing stored, so a retry
  under the same key continues the same work; Stripe refusing its idempotency key with
  other parameters (the checkout's key reused with another body, or the same body after a
  price changed, once the first hold was lost): 409 `idempotency-key-reused`, as for a key
  the API itself finds reused; Stripe refusing otherwise: 502; the database unavailable:
  503;
- a domain error that asks for a retry (a 503 of the domain's table: the checkout's hold
  lost in a crash or failover, `ticketing_fsm.CheckoutInterrupted`): 503 with
  `Retry-After` and its ids, nothing stored, so a retry under the same key does the work
  again; anything else: 500, logged.
"""

from __future__ import annotations

import logging
import math

import sqlalchemy as sa
import stripe
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from liventix.api import auth, idempotency, problems
from liventix.api.problems import ApiProblem
from liventix.api.unit_of_work import ApiRuntime, UnitOfWork

log = logging.getLogger(__name__)

RETRY_AFTER_SECONDS = 1
"""What a 503 for an unavailable Stripe tells the client to wait before retrying, unless
Stripe (its 429's Retry-After) or this process's budget said longer (`StripeBusy.retry_after`,
up to `MAX_RETRY_AFTER_SECONDS`)."""
MAX_RETRY_AFTER_SECONDS = 60
STRIPE_UNAVAILABLE = (
    stripe.APIConnectionError,  # a timeout or a refused connection
    stripe.APIError,  # Stripe's own failure (5xx)
    stripe.RateLimitError,
)
# Stripe's 409 for the same key in flight in a concurrent request is an APIError (the library
# raises IdempotencyError only for a 400: the key first used with other parameters).
RETRY_SQLSTATES = frozenset({"23505", "40001", "40P01"})


def _stripe_retry_after(exc: BaseException) -> int:
    """Seconds a client should wait before retrying after Stripe was unavailable: what a
    busy Stripe or the budget said (`StripeBusy.retry_after`), rounded up, else one."""
    said = getattr(exc, "retry_after", None)
    if not isinstance(said, int | float) or not math.isfinite(said):
        return RETRY_AFTER_SECONDS
    return min(MAX_RETRY_AFTER_SECONDS, max(RETRY_AFTER_SECONDS, math.ceil(said)))


def sqlstate(exc: BaseException) -> str | None:
    """The SQLSTATE of a driver error wrapped by SQLAlchemy, else None."""
    state: str | None = getattr(getattr(exc, "orig", None), "sqlstate", None)
    return state


def lost_race(exc: BaseException) -> bool:
    """Whether running the request again may succeed (see the module)."""
    return isinstance(exc, sa.exc.DBAPIError) and (
        sqlstate(exc) in RETRY_SQLSTATES or stale_plan(exc)
    )


def stale_plan(exc: BaseException) -> bool:
    """Whether `exc` is PostgreSQL refusing a statement psycopg prepared on the connection
    before a migration changed its result's columns (0A000 raised by RevalidateCachedQuery,
    "cached plan must not change result type": it ran nothing). The request's rollback makes
    psycopg deallocate its prepared statements (its cache's rule after a rollback), so the
    request run again sends the statement afresh. Told by the SQLSTATE and the server
    function, which are never translated (the message is under lc_messages)."""
    diag = getattr(getattr(exc, "orig", None), "diag", None)
    return (
        sqlstate(exc) == "0A000"
        and getattr(diag, "source_function", None) == "RevalidateCachedQuery"
    )


def answer(runtime: ApiRuntime, uow: UnitOfWork | None, exc: Exception) -> Response | None:
    """The answer to a request whose work failed with `exc` and rolled back; None: run it
    again. A domain refusal is stored under the key when `uow` authenticated a write."""
    instance = (uow.request.url.path) if uow is not None else None
    if lost_race(exc):
        runtime.metrics.retries.inc()
        return None
    if problems.is_domain_error(exc):
        response = problems.domain_problem(exc, instance)
        if uow is not None and uow.idempotency_key is not None and uow.principal is not None:
            return _store_refusal(runtime, uow, response)
        return response
    return translate(exc, instance)


def translate(exc: Exception, instance: str | None) -> Response:
    """The problem answering a failure that is not a lost race nor a domain refusal."""
    if isinstance(exc, RequestValidationError):
        return problems.validation_problem(exc, instance)
    if isinstance(exc, ApiProblem):
        return problems.api_problem(exc, instance)
    if isinstance(exc, sa.exc.DBAPIError) and (sqlstate(exc) or "").startswith("22"):
        # A value the database cannot take (out of range, malformed): the request's fault.
        diag = getattr(exc.orig, "diag", None)
        detail = getattr(diag, "message_primary", None) or problems.INVALID_VALUE.title
        return problems.problem_response(problems.INVALID_VALUE, detail, instance=instance)
    if isinstance(exc, StarletteHTTPException):
        kind = problems.ProblemType(exc.status_code, "http-error", str(exc.detail))
        return problems.problem_response(kind, str(exc.detail), instance=instance)
    if isinstance(exc, stripe.StripeError):
        return _stripe_failed(exc, instance)
    domain = problems.problem_type_of(exc)
    if domain is not None and domain.status == 503:
        log.warning("retry asked: %s", exc)
        return problems.domain_problem(
            exc, instance, headers={"Retry-After": str(RETRY_AFTER_SECONDS)}
        )
    if isinstance(exc, sa.exc.OperationalError):
        log.error("the database failed", exc_info=exc)
        return problems.problem_response(problems.UNAVAILABLE, instance=instance)
    log.error("internal error in %s", instance, exc_info=exc)
    return problems.problem_response(problems.INTERNAL, instance=instance)


def _stripe_failed(exc: stripe.StripeError, instance: str | None) -> Response:
    if isinstance(exc, stripe.IdempotencyError):
        # The API's only Stripe call is the checkout's PaymentIntent, under a key derived from
        # the request's (`checkout:{org}:{key}`). Stripe holds that key's intent for other
        # parameters: a hold lost after the first attempt let a retry with another body (or
        # at a new price) hold again, and Stripe will never answer it. Nothing is stored: the
        # same request gets this answer again, the first body finds the new hold's order and
        # the API's own conflict.
        log.warning("Stripe refused a reused key: %s", exc)
        return problems.problem_response(
            problems.IDEMPOTENCY_KEY_REUSED,
            "the Idempotency-Key was first used for a checkout Stripe was asked to pay with "
            "other parameters (another body, or a price changed since): use a new key",
            instance=instance,
        )
    if isinstance(exc, STRIPE_UNAVAILABLE):
        # Nothing is stored under the key: a retry with it continues the same work.
        log.warning("Stripe unavailable: %s", exc)
        return problems.problem_response(
            problems.PAYMENT_PROVIDER_UNAVAILABLE,
            "Stripe did not answer; retry with the same Idempotency-Key",
            instance=instance,
            headers={"Retry-After": str(_stripe_retry_after(exc))},
        )
    log.warning("Stripe failed: %s", exc)
    return problems.problem_response(
        problems.PAYMENT_PROVIDER, str(exc.user_message or exc), instance=instance
    )


def _store_refusal(runtime: ApiRuntime, uow: UnitOfWork, response: Response) -> Response | None:
    """Store a refusal under the key, in a transaction of its own (the request's was rolled
    back whole); None if a concurrent request stored its answer first."""
    assert uow.principal is not None and uow.idempotency_key is not None
    try:
        with runtime.engine.begin() as conn:
            # As the request's principal again: the idempotency table is under RLS.
            principal, _stored = auth.act_as(conn, uow.facts.token, None)
            if principal != uow.principal:
                return response  # the key was revoked meanwhile: store nothing
            idempotency.store(
                conn,
                principal=principal,
                key=uow.idempotency_key,
                request=uow.request,
                digest=uow.facts.digest,
                response=response,
            )
    except sa.exc.DBAPIError as exc:
        if lost_race(exc):
            runtime.metrics.retries.inc()
            return None
        raise
    return response

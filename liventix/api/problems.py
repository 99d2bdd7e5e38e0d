"""RFC 9457 problem details: the one place that turns errors into HTTP statuses.

Every domain error (ledger, escrow, ticketing, outbox) has a stable problem type
(`https://liventix.dev/problems/<slug>`), a status and a title; the error's ids travel as
extension members. Lookup walks the exception's class hierarchy, so a new leaf inherits its
parent's problem until it is given its own. The reports' refusals (`liventix.reports`) have
theirs too, translated by the report routes. Validation errors name the fields at fault.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from fastapi.exceptions import RequestValidationError
from starlette.responses import Response

import escrow
import ledger
import outbox
import ticketing_fsm as tk
from liventix import reports

PROBLEM_BASE = "https://liventix.dev/problems/"
PROBLEM_MEDIA_TYPE = "application/problem+json"


@dataclass(frozen=True)
class ProblemType:
    """A kind of problem: its status, the last part of its type URI, its title."""

    status: int
    slug: str
    title: str

    @property
    def type(self) -> str:
        """The problem's type URI."""
        return PROBLEM_BASE + self.slug


# The API's own problems.
UNAUTHENTICATED = ProblemType(401, "unauthenticated", "Missing, unknown or revoked API key")
PLATFORM_ONLY = ProblemType(403, "platform-key-required", "Only the platform's key may do this")
NOT_FOUND = ProblemType(404, "not-found", "No such resource")
METHOD_NOT_ALLOWED = ProblemType(405, "method-not-allowed", "Method not allowed")
IDEMPOTENCY_KEY_MISSING = ProblemType(
    400, "idempotency-key-required", "Every POST needs a valid Idempotency-Key header"
)
IDEMPOTENCY_KEY_REUSED = ProblemType(
    409, "idempotency-key-reused", "The Idempotency-Key was used for another request"
)
VALIDATION = ProblemType(422, "validation-error", "The request is invalid")
INVALID_VALUE = ProblemType(422, "invalid-value", "A value is out of the range the store takes")
INVALID_SIGNATURE = ProblemType(400, "invalid-signature", "The webhook signature did not verify")
WEBHOOKS_NOT_CONFIGURED = ProblemType(
    503, "stripe-webhooks-not-configured", "No Stripe webhook secret is configured"
)
PAYMENT_PROVIDER = ProblemType(502, "payment-provider-error", "Stripe refused or failed")
PAYMENT_PROVIDER_UNAVAILABLE = ProblemType(
    503, "payment-provider-unavailable", "Stripe did not answer in time; retry with the same key"
)
PAYLOAD_TOO_LARGE = ProblemType(413, "payload-too-large", "The request body is too large")
UNAVAILABLE = ProblemType(503, "service-unavailable", "The database is unavailable")
NOT_READY = ProblemType(503, "not-ready", "The service is not ready")
CONFLICT_RETRY = ProblemType(
    409, "concurrent-request", "A concurrent request changed the same data; retry"
)
PLATFORM_NOT_REGISTERED = ProblemType(
    409, "platform-not-registered", "The platform organization is not registered"
)
INVALID_BALANCE_TRANSACTIONS = ProblemType(
    422, "invalid-balance-transactions", "The Stripe balance transactions cannot be reconciled"
)
ORGANIZATION_NOT_FOUND = ProblemType(404, "organization-not-found", "No such organization")
INVALID_PERIOD = ProblemType(
    422, "invalid-period", "A period runs from an earlier start to a later end"
)
REPORT_REFUSED = ProblemType(422, "report-refused", "The report cannot be built as asked")
INTERNAL = ProblemType(500, "internal-error", "Internal error")

API_PROBLEMS = (
    UNAUTHENTICATED,
    PLATFORM_ONLY,
    NOT_FOUND,
    METHOD_NOT_ALLOWED,
    IDEMPOTENCY_KEY_MISSING,
    IDEMPOTENCY_KEY_REUSED,
    VALIDATION,
    INVALID_VALUE,
    INVALID_SIGNATURE,
    WEBHOOKS_NOT_CONFIGURED,
    PAYMENT_PROVIDER,
    PAYMENT_PROVIDER_UNAVAILABLE,
    PAYLOAD_TOO_LARGE,
    UNAVAILABLE,
    NOT_READY,
    CONFLICT_RETRY,
    PLATFORM_NOT_REGISTERED,
    INVALID_BALANCE_TRANSACTIONS,
    ORGANIZATION_NOT_FOUND,
    INVALID_PERIOD,
    REPORT_REFUSED,
    INTERNAL,
)
"""The API's own problems (the domain's are in DOMAIN_PROBLEMS)."""

# Domain errors, most specific first is not needed: lookup follows the class's MRO.
DOMAIN_PROBLEMS: dict[type[Exception], ProblemType] = {
    # ledger
    ledger.LedgerError: ProblemType(400, "ledger-error", "The ledger refused the request"),
    ledger.InvalidRequest: ProblemType(422, "invalid-request", "The request is malformed"),
    ledger.LinkedEntryFailed: ProblemType(
        422, "linked-entry-failed", "An entry linked to this one was refused"
    ),
    ledger.AccountsMustBeDifferent: ProblemType(
        422, "accounts-must-be-different", "The entry's lines cancel out on every account"
    ),
    ledger.HoldExpiryNotInFuture: ProblemType(
        422, "hold-expiry-not-in-future", "A hold's expiry must lie in the future"
    ),
    ledger.InvalidAmount: ProblemType(422, "invalid-amount", "Invalid amount"),
    ledger.UnknownCurrency: ProblemType(422, "unknown-currency", "Unknown currency"),
    ledger.TooFewLines: ProblemType(422, "too-few-lines", "An entry needs at least two lines"),
    ledger.UnbalancedEntry: ProblemType(422, "unbalanced-entry", "Debits and credits differ"),
    ledger.CurrencyMismatch: ProblemType(
        422, "currency-mismatch", "A line's currency differs from its account's"
    ),
    ledger.InvalidCondition: ProblemType(422, "invalid-condition", "Invalid condition"),
    ledger.InvalidAccount: ProblemType(422, "invalid-account", "Invalid account definition"),
    ledger.AccountNotFound: ProblemType(404, "account-not-found", "No such account"),
    ledger.AccountOrganizationMismatch: ProblemType(
        422, "account-organization-mismatch", "The account belongs to another organization"
    ),
    ledger.OrganizationNotFound: ORGANIZATION_NOT_FOUND,
    ledger.PermissionDenied: ProblemType(403, "permission-denied", "Not permitted"),
    # Not a refusal: a unit of work of its own (post_entry_now, post_batch_now) lost a race
    # at every try; 503 with Retry-After, nothing stored under the key.
    ledger.LostRace: ProblemType(503, "lost-race", "Concurrent writes won every try; retry"),
    ledger.DuplicateAccountCode: ProblemType(
        409, "duplicate-account-code", "An account with this code exists"
    ),
    ledger.DuplicateExternalReference: ProblemType(
        409, "duplicate-external-reference", "An entry with this external reference exists"
    ),
    ledger.EntryNotFound: ProblemType(404, "entry-not-found", "No such entry"),
    ledger.IdempotencyConflict: ProblemType(
        409, "idempotency-key-reused", "The Idempotency-Key was used for another request"
    ),
    ledger.AccountClosed: ProblemType(409, "account-closed", "The account is closed"),
    ledger.InsufficientFunds: ProblemType(422, "insufficient-funds", "Insufficient funds"),
    ledger.BalanceOverflow: ProblemType(422, "balance-overflow", "A balance would overflow"),
    ledger.ConditionFailed: ProblemType(422, "condition-failed", "A condition did not hold"),
    ledger.EntryAlreadyReversed: ProblemType(
        409, "entry-already-reversed", "The entry was already reversed"
    ),
    ledger.HoldNotFound: ProblemType(404, "hold-not-found", "No such hold"),
    ledger.HoldAlreadyResolved: ProblemType(
        409, "hold-already-resolved", "The hold was already resolved"
    ),
    ledger.HoldAlreadyPosted: ProblemType(409, "hold-already-posted", "The hold was posted"),
    ledger.HoldAlreadyVoided: ProblemType(409, "hold-already-voided", "The hold was voided"),
    ledger.HoldAlreadyExpired: ProblemType(409, "hold-already-expired", "The hold expired"),
    ledger.HoldExpired: ProblemType(409, "hold-expired", "The hold's expiry has passed"),
    ledger.HoldAmountExceeded: ProblemType(
        422, "hold-amount-exceeded", "The amount is above the amount held"
    ),
    # escrow
    escrow.EscrowError: ProblemType(409, "escrow-refused", "The escrow refused the request"),
    escrow.EscrowNotFound: ProblemType(404, "escrow-not-found", "No such escrow"),
    escrow.InvalidTransition: ProblemType(
        409, "invalid-escrow-transition", "The escrow's state does not allow this"
    ),
    escrow.ConcurrentTransition: ProblemType(
        409, "concurrent-escrow-transition", "Another request moved the escrow first; retry"
    ),
    escrow.PaymentNotFound: ProblemType(404, "payment-not-found", "No such captured payment"),
    escrow.RefundExceedsPayment: ProblemType(
        422, "refund-exceeds-payment", "The refunds would exceed what was paid"
    ),
    escrow.NotYetApplicable: ProblemType(
        409, "not-yet-applicable", "It depends on something not processed yet; retry later"
    ),
    escrow.InvalidAmount: ProblemType(422, "invalid-amount", "Invalid amount"),
    # ticketing
    tk.TicketingError: ProblemType(409, "ticketing-refused", "Ticketing refused the request"),
    tk.InvalidRequest: ProblemType(422, "invalid-request", "The request is malformed"),
    tk.EventNotFound: ProblemType(404, "event-not-found", "No such event"),
    tk.TicketTypeNotFound: ProblemType(404, "ticket-type-not-found", "No such ticket type"),
    tk.NotOnSale: ProblemType(409, "not-on-sale", "The ticket type is not on sale"),
    tk.SoldOut: ProblemType(409, "sold-out", "Not enough tickets left"),
    tk.CheckoutExpired: ProblemType(
        409, "checkout-expired", "The checkout's hold expired before its payment was set up"
    ),
    # Not a refusal: the hold was lost (a crash or failover of the database); a retry under
    # the same key holds again. 503 with Retry-After, nothing stored under the key.
    tk.CheckoutInterrupted: ProblemType(
        503, "checkout-interrupted", "The checkout's hold was lost; retry with the same key"
    ),
    tk.OrderNotFound: ProblemType(404, "order-not-found", "No such order"),
    tk.TicketNotFound: ProblemType(404, "ticket-not-found", "No such ticket"),
    tk.InvalidTransition: ProblemType(
        409, "invalid-transition", "The ticket's or order's state does not allow this"
    ),
    tk.AlreadyCheckedIn: ProblemType(409, "already-checked-in", "Already checked in"),
    tk.IdempotencyConflict: ProblemType(
        409, "idempotency-key-reused", "The Idempotency-Key was used for another request"
    ),
    # outbox
    outbox.OutboxError: ProblemType(409, "outbox-refused", "The outbox refused the request"),
    outbox.InvalidEndpoint: ProblemType(422, "invalid-endpoint", "Invalid webhook endpoint"),
    outbox.EndpointNotFound: ProblemType(404, "endpoint-not-found", "No such webhook endpoint"),
    outbox.DeliveryNotFound: ProblemType(404, "delivery-not-found", "No such delivery"),
    outbox.UnknownMessageType: ProblemType(422, "unknown-event-type", "No such event type"),
    outbox.InvalidSignature: INVALID_SIGNATURE,
    # A message payload of the wrong model is a fault of the code, not of the request.
    outbox.InvalidPayload: ProblemType(500, "invalid-message-payload", "Internal error"),
}


class ApiProblem(Exception):
    """An API-level refusal, answered as a problem (not a domain error)."""

    def __init__(
        self,
        kind: ProblemType,
        detail: str | None = None,
        headers: Mapping[str, str] | None = None,
        **extensions: Any,
    ) -> None:
        super().__init__(detail or kind.title)
        self.kind = kind
        self.detail = detail or kind.title
        self.headers = dict(headers or {})
        self.extensions = extensions


# The reports' refusals (liventix.reports, not a domain package): translated by their routes.
REPORT_PROBLEMS: dict[type[Exception], ProblemType] = {
    reports.ReportError: REPORT_REFUSED,
    reports.UnknownOrganization: ORGANIZATION_NOT_FOUND,
    reports.InvalidPeriod: INVALID_PERIOD,
    reports.StripeImportError: INVALID_BALANCE_TRANSACTIONS,
}


def report_problem(exc: reports.ReportError) -> ApiProblem:
    """The problem of a report's refusal (by its class or nearest mapped ancestor), with
    what it is about as extension members."""
    kind = next(REPORT_PROBLEMS[c] for c in type(exc).__mro__ if c in REPORT_PROBLEMS)
    return ApiProblem(kind, str(exc), **exc.details)


def problem_type_of(exc: BaseException) -> ProblemType | None:
    """The problem of a domain error (by its class or nearest mapped ancestor), else None."""
    for cls in type(exc).__mro__:
        found = DOMAIN_PROBLEMS.get(cls)
        if found is not None:
            return found
    return None


def is_domain_error(exc: BaseException) -> bool:
    """Whether this is a refusal of a domain package (a business answer, not a fault)."""
    kind = problem_type_of(exc)
    return kind is not None and kind.status < 500 and not isinstance(exc, ApiProblem)


def _jsonable(value: Any) -> Any:
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, uuid.UUID | datetime):
        return str(value)
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_jsonable(v) for v in value]
    return str(value)


# Members a problem's extensions may not override.
_RESERVED = frozenset({"type", "title", "status", "detail", "instance"})


def problem_body(
    kind: ProblemType, detail: str, instance: str | None, extensions: Mapping[str, Any]
) -> dict[str, Any]:
    """The problem document."""
    body: dict[str, Any] = {
        "type": kind.type,
        "title": kind.title,
        "status": kind.status,
        "detail": detail,
    }
    if instance is not None:
        body["instance"] = instance
    for name, value in extensions.items():
        if name not in _RESERVED:
            body[name] = _jsonable(value)
    return body


def problem_response(
    kind: ProblemType,
    detail: str | None = None,
    *,
    instance: str | None = None,
    headers: Mapping[str, str] | None = None,
    **extensions: Any,
) -> Response:
    """An `application/problem+json` response."""
    body = problem_body(kind, detail or kind.title, instance, extensions)
    return Response(
        content=json.dumps(body, separators=(",", ":")).encode(),
        status_code=kind.status,
        media_type=PROBLEM_MEDIA_TYPE,
        headers=dict(headers or {}),
    )


def domain_problem(
    exc: BaseException, instance: str | None, headers: Mapping[str, str] | None = None
) -> Response:
    """The problem response of a domain error: its type, and its ids as extensions."""
    kind = problem_type_of(exc) or INTERNAL
    details: dict[str, Any] = dict(getattr(exc, "details", {}) or {})
    return problem_response(kind, str(exc), instance=instance, headers=headers, **details)


def api_problem(exc: ApiProblem, instance: str | None) -> Response:
    """The response of an API-level refusal."""
    return problem_response(
        exc.kind, exc.detail, instance=instance, headers=exc.headers, **exc.extensions
    )


def _field(location: Sequence[Any]) -> str:
    return ".".join(str(part) for part in location)


def validation_errors(errors: Iterable[Any]) -> list[dict[str, str]]:
    """Pydantic's errors as `{field, message}` items; `field` is the dotted location."""
    out = []
    for error in errors:
        location = error.get("loc", ()) if isinstance(error, Mapping) else ()
        message = error.get("msg", "invalid") if isinstance(error, Mapping) else str(error)
        out.append({"field": _field(location), "message": str(message)})
    return out


def validation_problem(exc: RequestValidationError, instance: str | None) -> Response:
    """422 naming every field at fault (the first also as `field`)."""
    errors = validation_errors(exc.errors())
    first = errors[0]["field"] if errors else ""
    detail = "; ".join(f"{e['field']}: {e['message']}" for e in errors) or VALIDATION.title
    return problem_response(VALIDATION, detail, instance=instance, field=first, errors=errors)

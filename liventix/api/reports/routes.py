"""Finance's reports as JSON under /v1/reports: the trial balance, escrow position, ticket
tie-out, outbox health, the Stripe reconciliation of balance transactions posted in the body,
the balance sheet, the income statement and an organizer's statement (`liventix.reports`
builds them, as `liventix report` does).

Each report runs in one REPEATABLE READ, READ ONLY transaction (its statements agree with
each other), answers 200 whatever it finds, and carries its `differences` count in the body
and in the `Report-Differences` header, for a scheduler to alert on. With a read replica
(LIVENTIX_READ_URL) the reports read there, and the `Replica-Lag` header states how many
seconds it was behind the primary.

Tenancy: an organization's key gets its own organization's rows, bounded by row-level
security on every table the builders read for it (payments, ticketing, messaging); rows that
carry an organization are checked once more here (one of another organization would be a
fault, answered 500, never shown). The platform's key gets every organization's, and the
outbox health's inbox (Stripe's events: the platform's, with no organization and no
row-level security, so never read for an organization's key).
The Stripe reconciliation compares the platform's Stripe balance, and the balance sheet and
income statement check their equation across every owner's accounts together: the platform's
key only (403 for an organization's). An organization's key may ask for its own organizer
statement only.
"""

from __future__ import annotations

import json
import uuid
from collections import Counter
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Annotated, Any, TypeVar

import sqlalchemy as sa
from fastapi import Body, Query, Response

import ledger
from liventix import reports
from liventix.api import problems
from liventix.api.problems import ApiProblem
from liventix.api.reports import schemas as m
from liventix.api.reports import views
from liventix.api.routing import READ_ONLY_EXTENSION, authenticated_router, problem_responses
from liventix.api.schemas import Timestamp
from liventix.api.unit_of_work import Uow

router = authenticated_router(["reports"], writes=False)

DIFFERENCES_HEADER = "Report-Differences"
REPLICA_LAG_HEADER = "Replica-Lag"
"""Set when the report was read from the read replica: seconds it was behind the primary
(0: it had replayed everything it had received; see liventix.replication.Lag)."""
_READ_ONLY = {READ_ONLY_EXTENSION: True}
_DIFFERENCES: dict[int | str, dict[str, Any]] = {
    200: {
        "headers": {
            DIFFERENCES_HEADER: {
                "description": "The report's `differences` (0: everything agrees)",
                "schema": {"type": "integer", "minimum": 0},
            },
            REPLICA_LAG_HEADER: {
                "description": "Only when read from the read replica (LIVENTIX_READ_URL): "
                "how many seconds it was behind the primary, or `unknown` when it is not receiving "
                "from the primary",
                "schema": {"type": "string", "example": "0.012"},
            },
        }
    }
}


_R = TypeVar("_R", bound=reports.Report | m.TrialBalanceReportResponse)


def _answer(report: _R, response: Response, uow: Uow) -> _R:
    response.headers[DIFFERENCES_HEADER] = str(report.differences)
    response.headers.update(_lag(uow))
    return report


def _lag(uow: Uow) -> dict[str, str]:
    """Read from the replica (LIVENTIX_READ_URL): its lag's header (else none)."""
    lag = uow.replica_lag()
    return {} if lag is None else {REPLICA_LAG_HEADER: lag.header()}


@contextmanager
def _refusals() -> Iterator[None]:
    """A report's refusal (an unknown organization, an empty period) as its problem."""
    try:
        yield
    except reports.ReportError as exc:
        raise problems.report_problem(exc) from exc


def _only_own(uow: Uow, org_ids: Iterable[uuid.UUID]) -> None:
    """The second belt: row-level security already hid other organizations' rows."""
    foreign = {o for o in org_ids if not uow.owns(o)}
    if foreign:
        raise RuntimeError(f"a report let through rows of other organizations: {sorted(foreign)}")


@router.get("/reports/trial-balance", openapi_extra=_READ_ONLY, responses=_DIFFERENCES)
def trial_balance_report(uow: Uow, response: Response) -> m.TrialBalanceReportResponse:
    """The trial balance of the key's organization (every organization's, for the platform's
    key): each account's posted balance, debits and credits per currency and per booking
    organization; a difference is an (organization, currency) or a currency out of balance."""
    with uow:
        return _answer(
            views.trial_balance_report(ledger.trial_balance(uow.conn, uow.org_id)), response, uow
        )


@router.get("/reports/escrow-position", openapi_extra=_READ_ONLY, responses=_DIFFERENCES)
def escrow_position_report(uow: Uow, response: Response) -> reports.EscrowPositionReport:
    """Per organizer and event: each escrow's `held` beside its ledger escrow account's
    balance; a difference is an escrow whose two figures differ."""
    with uow:
        report = reports.escrow_position(uow.conn)
        _only_own(uow, (r.org_id for r in report.rows))
        return _answer(report, response, uow)


@router.get("/reports/ticket-tie-out", openapi_extra=_READ_ONLY, responses=_DIFFERENCES)
def ticket_tie_out_report(uow: Uow, response: Response) -> reports.TicketTieOutReport:
    """Per event: tickets sold, refunded and checked in, their value beside the captured
    payments and booked refunds in the ledger; a difference is an event whose sales or
    refunds differ."""
    with uow:
        report = reports.ticket_tie_out(uow.conn)
        _only_own(uow, (r.org_id for r in report.rows))
        return _answer(report, response, uow)


@router.get("/reports/outbox-health", openapi_extra=_READ_ONLY, responses=_DIFFERENCES)
def outbox_health_report(uow: Uow, response: Response) -> reports.OutboxHealthReport:
    """Per channel and target, the key's organization's deliveries (every organization's for
    the platform's key) pending, retrying and dead, with the oldest open and dead one's age;
    for the platform's key also the inbox of events received from Stripe, per source and
    event type (the platform's own: an organization's key gets an empty `inbox`). Each dead
    delivery and each dead inbox event is a difference."""
    # The inbox carries no organization and no row-level security bounds it: only the
    # platform's key may read it.
    with uow:
        return _answer(reports.outbox_health(uow.conn, inbox=uow.is_platform), response, uow)


@router.post(
    "/reports/stripe-reconciliation",
    openapi_extra={**_READ_ONLY, "x-platform-only": True},
    responses={**problem_responses(403), **_DIFFERENCES},
)
def stripe_reconciliation_report(
    body: Annotated[
        m.StripeReconciliationRequest,
        Body(
            description="Stripe's balance transactions: a JSON list of BalanceTransaction "
            'objects, or Stripe\'s list object `{"object": "list", "data": [...]}`'
        ),
    ],
    uow: Uow,
    response: Response,
) -> reports.StripeReconciliationReport:
    """Match Stripe's balance transactions to the ledger's entries on the platform's Stripe
    balance, and compare the balances per currency (platform key). A read: it writes
    nothing, so it takes no Idempotency-Key; send it again to reconcile again."""
    with uow:
        items = body if isinstance(body, list) else body.data
        twice = [i for i, n in Counter(t.id for t in items).items() if n > 1]
        if twice:
            raise ApiProblem(
                problems.INVALID_BALANCE_TRANSACTIONS,
                f"balance transaction {twice[0]} appears more than once",
                balance_transaction_id=twice[0],
            )
        with _refusals():  # what the loader refuses: the invalid-balance-transactions problem
            transactions = reports.parse_json(
                json.dumps([t.model_dump(mode="json") for t in items])
            )
        return _answer(reports.stripe_reconciliation(uow.conn, transactions), response, uow)


# -- the statements ---------------------------------------------------------------------------

DEFAULT_PERIOD = timedelta(days=30)
"""A statement's period when `from` is not given: the 30 days up to its end (as the CLI's)."""

AsOf = Annotated[
    Timestamp | None,
    Query(description="Balances from the lines effective by this moment (default: now)"),
]
From = Annotated[
    Timestamp | None,
    Query(alias="from", description="The period's start, included (default: `to` - 30 days)"),
]
To = Annotated[
    Timestamp | None, Query(alias="to", description="The period's end, excluded (default: now)")
]


def _now(uow: Uow) -> datetime:
    now: datetime = uow.conn.execute(sa.text("SELECT now()")).scalar_one()
    return now


def _period(uow: Uow, start: datetime | None, end: datetime | None) -> tuple[datetime, datetime]:
    end = end or _now(uow)
    return start or end - DEFAULT_PERIOD, end


@router.get(
    "/reports/balance-sheet",
    openapi_extra={**_READ_ONLY, "x-platform-only": True},
    responses={**problem_responses(403), **_DIFFERENCES},
)
def balance_sheet_report(
    uow: Uow, response: Response, as_of: AsOf = None
) -> reports.BalanceSheetReport:
    """The balance sheet by effective date (platform key): each account's balance, per owner
    and currency the sections and the owner's net; per currency, all owners together, assets
    beside liabilities + equity + retained earnings (a difference: a currency where they
    differ). The platform's alone: one organization's accounts do not balance on their own
    (the platform holds the cash whose liability sits on the organizers' accounts)."""
    with uow:
        with _refusals():
            report = reports.balance_sheet(uow.conn, as_of=as_of or _now(uow))
        return _answer(report, response, uow)


@router.get(
    "/reports/income-statement",
    openapi_extra={**_READ_ONLY, "x-platform-only": True},
    responses={**problem_responses(403), **_DIFFERENCES},
)
def income_statement_report(
    uow: Uow, response: Response, start: From = None, end: To = None
) -> reports.IncomeStatementReport:
    """Revenue and expense effective in [from, to), per owner and currency, and net income
    (platform key); a difference is a currency whose period debits differ from its credits,
    which holds only for every owner's accounts together."""
    with uow:
        start, end = _period(uow, start, end)
        with _refusals():
            report = reports.income_statement(uow.conn, start=start, end=end)
        return _answer(report, response, uow)


@router.get(
    "/reports/organizers/{org_id:uuid}/statement",
    openapi_extra=_READ_ONLY,
    responses=_DIFFERENCES,
)
def organizer_statement_report(
    org_id: uuid.UUID, uow: Uow, response: Response, start: From = None, end: To = None
) -> reports.OrganizerStatementReport:
    """What the platform owes one organizer over [from, to) by effective date: opening,
    movements by category, the period's sales, closing, each account tied out to the ledger
    (a difference: an account that is not). An organization's key may ask for itself only:
    another organization answers 404, exactly as one that does not exist."""
    with uow:
        return _answer(_statement(uow, org_id, start, end), response, uow)


def _statement(
    uow: Uow, org_id: uuid.UUID, start: datetime | None, end: datetime | None
) -> reports.OrganizerStatementReport:
    start, end = _period(uow, start, end)
    with _refusals():
        if not uow.owns(org_id):
            raise reports.UnknownOrganization(org_id=org_id)
        return reports.organizer_statement(uow.conn, org_id, start=start, end=end)


_CSV = "text/csv; charset=utf-8"


@router.get(
    "/reports/organizers/{org_id:uuid}/statement.csv",
    openapi_extra=_READ_ONLY,
    response_class=Response,
    responses={
        200: {
            "description": "The statement's tables as CSV, each headed by a `# caption` line",
            "content": {"text/csv": {"schema": {"type": "string"}}},
            "headers": _DIFFERENCES[200]["headers"],
        }
    },
)
def organizer_statement_csv(
    org_id: uuid.UUID, uow: Uow, start: From = None, end: To = None
) -> Response:
    """The organizer statement as one CSV download (the balances, movements, sales, tie-out,
    events and ticket types; each amount in minor units beside its formatted twin), as
    `liventix report organizer-statement --format csv` prints it. The same tenancy as the
    JSON statement: an organization's key may ask for itself only."""
    with uow:
        report = _statement(uow, org_id, start, end)
        headers = _lag(uow)
    name = f"statement-{org_id}-{report.start:%Y%m%d}-{report.end:%Y%m%d}.csv"
    return Response(
        content=reports.as_csv(report),
        media_type=_CSV,
        headers={
            DIFFERENCES_HEADER: str(report.differences),
            "Content-Disposition": f'attachment; filename="{name}"',
            **headers,
        },
    )

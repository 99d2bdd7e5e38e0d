"""The reports' pydantic models: each report carries its rows, its `differences` count and
knows how to lay itself out as tables (caption, column names, cells) for any renderer. The
statements' models are in `statement_models` (re-exported here)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import ClassVar, Literal

from pydantic import BaseModel, ConfigDict

from liventix.reports.base import Cell, Report, Table, _Row, _table

# -- trial balance ----------------------------------------------------------------------------


class TrialBalanceLine(_Row):
    """One account's balance from the entries one organization booked. `booked_by` (and
    `booked_by_id`) is that booking organization, not the account's owner: an organizer's
    sale books the platform's `stripe_balance` too, so the platform's accounts appear under
    each organizer whose entries touched them."""

    money: ClassVar[tuple[str, ...]] = ("debit", "credit")
    ids: ClassVar[dict[str, str]] = {"booked_by_id": "booked_by"}

    booked_by: str
    booked_by_id: uuid.UUID | None
    currency: str
    code: str
    type: str
    debit: int
    credit: int


class TrialBalanceTotal(_Row):
    """Debits beside credits of the entries one organization booked (`booked_by`), or of
    every entry (`platform-wide`, no id), in one currency."""

    money: ClassVar[tuple[str, ...]] = ("debit", "credit", "difference")
    ids: ClassVar[dict[str, str]] = {"booked_by_id": "booked_by"}
    checks: ClassVar[tuple[str, ...]] = ("difference",)

    booked_by: str
    booked_by_id: uuid.UUID | None
    currency: str
    debit: int
    credit: int
    difference: int


class TrialBalanceReport(Report):
    """Trial balance per booking organization and currency, and the platform-wide one."""

    name: str = "trial-balance"
    title: str = "Trial balance"
    lines: list[TrialBalanceLine]
    totals: list[TrialBalanceTotal]

    def tables(self) -> list[Table]:
        return [
            _table("Totals", list(self.totals), TrialBalanceTotal),
            _table("Accounts", list(self.lines), TrialBalanceLine),
        ]


# -- escrow position --------------------------------------------------------------------------


class EscrowPositionRow(_Row):
    """What one escrow says it holds beside its ledger account's balance."""

    money: ClassVar[tuple[str, ...]] = ("escrow_held", "ledger_balance", "difference")
    ids: ClassVar[dict[str, str]] = {"org_id": "organizer", "event_id": "event"}
    checks: ClassVar[tuple[str, ...]] = ("difference",)

    org_id: uuid.UUID
    organizer: str
    event_id: str
    currency: str
    state: str
    escrow_held: int
    ledger_balance: int
    difference: int


class EscrowPositionReport(Report):
    """Per organizer and event: escrow's `held` beside the ledger's escrow liability."""

    name: str = "escrow-position"
    title: str = "Escrow position"
    rows: list[EscrowPositionRow]

    def tables(self) -> list[Table]:
        return [_table("Escrows", list(self.rows), EscrowPositionRow)]


# -- Stripe reconciliation --------------------------------------------------------------------

MatchStatus = Literal[
    "matched",
    "missing_in_ledger",
    "missing_in_stripe",
    "amount_mismatch",
    "fee_mismatch",
    "currency_mismatch",
]


class StripeTransaction(BaseModel):
    """One Stripe balance transaction as imported (amounts in minor units, signed)."""

    model_config = ConfigDict(frozen=True)

    id: str
    currency: str
    amount: int
    fee: int
    net: int
    reporting_category: str
    source: str | None = None
    created: datetime | None = None


class ReconciliationRow(_Row):
    """One Stripe transaction or ledger entry and how they matched. `currency` is Stripe's
    (the ledger's for an entry missing in Stripe); `ledger_currency` the matched entry's,
    which differs only in a currency mismatch."""

    money: ClassVar[tuple[str, ...]] = (
        "stripe_amount",
        "ledger_amount",
        "stripe_fee",
        "ledger_fee",
        "stripe_net",
        "ledger_net",
    )
    ids: ClassVar[dict[str, str]] = {"entry_id": "ledger_ref"}

    status: MatchStatus
    currency: str
    ledger_currency: str | None
    stripe_id: str | None
    source: str | None
    category: str | None
    ledger_ref: str | None
    entry_id: uuid.UUID | None
    stripe_amount: int | None
    ledger_amount: int | None
    stripe_fee: int | None
    ledger_fee: int | None
    stripe_net: int | None
    ledger_net: int | None

    def currency_of(self, field: str) -> str | None:
        """Stripe's amounts are in Stripe's currency, the ledger's in the entry's."""
        if field.startswith("ledger_"):
            return self.ledger_currency or self.currency
        return self.currency

    def is_difference(self) -> bool:
        """Anything but a match is a difference."""
        return self.status != "matched"


class BalanceComparison(_Row):
    """The ledger's Stripe balance beside the sum of Stripe's nets, per currency."""

    money: ClassVar[tuple[str, ...]] = ("ledger_balance", "stripe_balance", "difference")
    checks: ClassVar[tuple[str, ...]] = ("difference",)

    currency: str
    ledger_balance: int
    stripe_balance: int
    difference: int


class StripeReconciliationReport(Report):
    """Stripe's balance transactions matched to the ledger's entries on the Stripe balance."""

    name: str = "stripe-reconciliation"
    title: str = "Stripe reconciliation"
    matched: int
    missing_in_ledger: int
    missing_in_stripe: int
    amount_mismatches: int
    fee_mismatches: int
    currency_mismatches: int
    balances: list[BalanceComparison]
    rows: list[ReconciliationRow]

    def tables(self) -> list[Table]:
        problems = [r for r in self.rows if r.status != "matched"]
        return [
            _table("Balances", list(self.balances), BalanceComparison),
            _table("Differences", list(problems), ReconciliationRow),
            _table("Matched", [r for r in self.rows if r.status == "matched"], ReconciliationRow),
        ]


# -- ticket tie-out ---------------------------------------------------------------------------


class TicketTieOutRow(_Row):
    """One event's tickets beside the ledger's sales and refunds."""

    money: ClassVar[tuple[str, ...]] = (
        "tickets_sold_value",
        "ledger_sales",
        "sales_difference",
        "tickets_refunded_value",
        "ledger_refunds",
        "ledger_refunds_without_tickets",
        "refunds_difference",
    )
    ids: ClassVar[dict[str, str]] = {"org_id": "organizer", "event_id": "event"}
    checks: ClassVar[tuple[str, ...]] = ("sales_difference", "refunds_difference")

    org_id: uuid.UUID
    event_id: uuid.UUID
    event: str
    currency: str
    tickets_sold: int
    tickets_refunded: int
    tickets_checked_in: int
    tickets_sold_value: int
    ledger_sales: int
    sales_difference: int
    tickets_refunded_value: int
    ledger_refunds: int
    ledger_refunds_without_tickets: int = 0
    """Refunded outside the platform from orders that kept their tickets (partially
    refunded): not a ticket refund, so left out of the refunds' comparison."""
    refunds_difference: int


class TicketTieOutReport(Report):
    """Per event: tickets sold, refunded and checked in beside the ledger's payments."""

    name: str = "ticket-tie-out"
    title: str = "Ticket tie-out"
    rows: list[TicketTieOutRow]

    def tables(self) -> list[Table]:
        return [_table("Events", list(self.rows), TicketTieOutRow)]


# -- outbox health ----------------------------------------------------------------------------


class OutboxHealthRow(_Row):
    """One delivery target's open and dead deliveries."""

    checks: ClassVar[tuple[str, ...]] = ("dead",)

    channel: str
    target: str
    pending: int
    retrying: int
    dead: int
    oldest_open_age_seconds: int | None
    oldest_dead_age_seconds: int | None


class InboxHealthRow(_Row):
    """One source's and event type's open and dead events received from outside."""

    checks: ClassVar[tuple[str, ...]] = ("dead",)

    source: str
    event_type: str
    pending: int
    """Never tried."""
    deferred: int
    """Never tried to the end: put off by a transient database failure (a deadlock, a
    serialization failure, a lock not available), no attempt counted, due again soon."""
    retrying: int
    dead: int
    oldest_open_age_seconds: int | None
    oldest_dead_age_seconds: int | None


class OutboxHealthReport(Report):
    """Pending, retrying and dead deliveries per endpoint, and inbox events per source and
    type (the platform's: empty for an organization); dead ones count as differences."""

    in_minor_units: ClassVar[bool] = False  # counts and ages: no amounts

    name: str = "outbox-health"
    title: str = "Outbox health"
    rows: list[OutboxHealthRow]
    inbox: list[InboxHealthRow]

    def tables(self) -> list[Table]:
        return [
            _table("Targets", list(self.rows), OutboxHealthRow),
            _table("Inbox", list(self.inbox), InboxHealthRow),
        ]


# -- the chart's data ---------------------------------------------------------------------------


class BalancePoint(BaseModel):
    """The platform's Stripe balance in one currency at a moment (the end of a step)."""

    model_config = ConfigDict(frozen=True)

    currency: str
    at: datetime
    balance: int


from liventix.reports.statement_models import (  # noqa: E402
    CATEGORY_ORDER,
    AccountKind,
    BalanceSheetCategory,
    BalanceSheetLine,
    BalanceSheetOwner,
    BalanceSheetReport,
    BalanceSheetTotal,
    Category,
    IncomeStatementLine,
    IncomeStatementOwner,
    IncomeStatementReport,
    IncomeStatementTotal,
    OrganizerStatementReport,
    StatementBalance,
    StatementEvent,
    StatementMovement,
    StatementSales,
    StatementTicketType,
    StatementTieOut,
)

__all__ = [
    "CATEGORY_ORDER",
    "AccountKind",
    "BalanceComparison",
    "BalancePoint",
    "BalanceSheetCategory",
    "BalanceSheetLine",
    "BalanceSheetOwner",
    "BalanceSheetReport",
    "BalanceSheetTotal",
    "Category",
    "Cell",
    "EscrowPositionReport",
    "EscrowPositionRow",
    "InboxHealthRow",
    "IncomeStatementLine",
    "IncomeStatementOwner",
    "IncomeStatementReport",
    "IncomeStatementTotal",
    "MatchStatus",
    "OrganizerStatementReport",
    "OutboxHealthReport",
    "OutboxHealthRow",
    "ReconciliationRow",
    "Report",
    "StatementBalance",
    "StatementEvent",
    "StatementMovement",
    "StatementSales",
    "StatementTicketType",
    "StatementTieOut",
    "StripeReconciliationReport",
    "StripeTransaction",
    "Table",
    "TicketTieOutReport",
    "TicketTieOutRow",
    "TrialBalanceLine",
    "TrialBalanceReport",
    "TrialBalanceTotal",
]

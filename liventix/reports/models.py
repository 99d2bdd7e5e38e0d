"""The reports' pydantic models: each report carries its rows, its `differences` count and
knows how to lay itself out as tables (caption, column names, cells) for any renderer."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import ClassVar, Literal

from pydantic import BaseModel, ConfigDict

Cell = str | int | None
Table = tuple[str, list[str], list[list[Cell]]]


class _Row(BaseModel):
    model_config = ConfigDict(frozen=True)

    def cells(self) -> list[Cell]:
        """The row's values in field order, as text or integers."""
        out: list[Cell] = []
        for value in self.model_dump().values():
            if value is None or isinstance(value, str | int):
                out.append(value)
            else:
                out.append(str(value))
        return out


def _table(caption: str, rows: list[_Row], model: type[_Row]) -> Table:
    return caption, list(model.model_fields), [r.cells() for r in rows]


class Report(BaseModel):
    """What every report has: a name (the command's), a title and its differences."""

    in_minor_units: ClassVar[bool] = True
    """Whether the report's amounts are in minor units (cents), as every money report's are."""

    name: str
    title: str
    differences: int

    def tables(self) -> list[Table]:
        """The report as (caption, columns, rows) tables."""
        raise NotImplementedError


# -- trial balance ----------------------------------------------------------------------------


class TrialBalanceLine(_Row):
    """One account's balance from the entries one organization booked. `booked_by` (and
    `booked_by_id`) is that booking organization, not the account's owner: an organizer's
    sale books the platform's `stripe_balance` too, so the platform's accounts appear under
    each organizer whose entries touched them."""

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


class BalanceComparison(_Row):
    """The ledger's Stripe balance beside the sum of Stripe's nets, per currency."""

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

    channel: str
    target: str
    pending: int
    retrying: int
    dead: int
    oldest_open_age_seconds: int | None
    oldest_dead_age_seconds: int | None


class InboxHealthRow(_Row):
    """One source's and event type's open and dead events received from outside."""

    source: str
    event_type: str
    pending: int
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


# -- balance sheet ------------------------------------------------------------------------------


class BalanceSheetLine(_Row):
    """One account's balance on its normal side, from its lines effective by the moment."""

    scope: str
    org_id: uuid.UUID
    currency: str
    code: str
    type: str
    balance: int


class BalanceSheetOwner(_Row):
    """One owner's sections in one currency. `net` = assets - liabilities - equity - retained
    earnings of its own accounts: what entries crossing owners left on its side, not an error
    (the platform holds the cash whose liability sits on the organizers' accounts)."""

    scope: str
    org_id: uuid.UUID
    currency: str
    assets: int
    liabilities: int
    equity: int
    revenue: int
    expense: int
    retained_earnings: int
    net: int


class BalanceSheetTotal(_Row):
    """Every owner together in one currency: assets beside liabilities + equity + retained
    earnings; a nonzero `difference` is an unbalanced ledger."""

    currency: str
    assets: int
    liabilities: int
    equity: int
    revenue: int
    expense: int
    retained_earnings: int
    difference: int


class BalanceSheetReport(Report):
    """The balance sheet by effective date: per owner and currency, and platform-wide."""

    name: str = "balance-sheet"
    title: str = "Balance sheet"
    as_of: datetime
    totals: list[BalanceSheetTotal]
    owners: list[BalanceSheetOwner]
    lines: list[BalanceSheetLine]

    def tables(self) -> list[Table]:
        return [
            _table("Platform-wide", list(self.totals), BalanceSheetTotal),
            _table("Owners", list(self.owners), BalanceSheetOwner),
            _table("Accounts", list(self.lines), BalanceSheetLine),
        ]


# -- income statement ---------------------------------------------------------------------------


class IncomeStatementLine(_Row):
    """One revenue or expense account's movement in the period, on its normal side."""

    scope: str
    org_id: uuid.UUID
    currency: str
    code: str
    type: str
    amount: int


class IncomeStatementOwner(_Row):
    """One owner's revenue, expense and net income in one currency over the period."""

    scope: str
    org_id: uuid.UUID
    currency: str
    revenue: int
    expense: int
    net_income: int


class IncomeStatementTotal(_Row):
    """Every owner together in one currency; `debits` and `credits` are all the period's
    lines (every account), which differ only if something unbalanced was booked."""

    currency: str
    revenue: int
    expense: int
    net_income: int
    debits: int
    credits: int
    difference: int


class IncomeStatementReport(Report):
    """Revenue and expense over [start, end) by effective date, per owner and currency."""

    name: str = "income-statement"
    title: str = "Income statement"
    start: datetime
    end: datetime
    totals: list[IncomeStatementTotal]
    owners: list[IncomeStatementOwner]
    lines: list[IncomeStatementLine]

    def tables(self) -> list[Table]:
        return [
            _table("Platform-wide", list(self.totals), IncomeStatementTotal),
            _table("Owners", list(self.owners), IncomeStatementOwner),
            _table("Accounts", list(self.lines), IncomeStatementLine),
        ]


# -- organizer statement ------------------------------------------------------------------------

AccountKind = Literal["escrow", "payable", "receivable"]
Category = Literal[
    "sales",
    "refunds",
    "disputes",
    "releases",
    "transfers",
    "transfer_reversals",
    "cancellations",
    "other",
]
CATEGORY_ORDER: tuple[Category, ...] = (
    "sales",
    "refunds",
    "disputes",
    "releases",
    "transfers",
    "transfer_reversals",
    "cancellations",
    "other",
)


class StatementBalance(_Row):
    """One kind of account (or the total owed: escrow + payable - receivable) in one
    currency: opening, the period's movements, closing."""

    currency: str
    kind: str
    opening: int
    movements: int
    closing: int


class StatementMovement(_Row):
    """One category's entries in the period and how they moved each kind of account (each
    on its normal side) and the total owed to the organizer."""

    currency: str
    category: Category
    entries: int
    escrow: int
    payable: int
    receivable: int
    total: int


class StatementSales(_Row):
    """The period's captures: gross, the platform's fee, Stripe's fee and the part of it the
    organizer bore, and the organizer's share (gross - platform fee - fee borne), tied out to
    `ledger_sales`, what the sales entries moved on the organizer's accounts (the sales
    movement's total): a nonzero `difference` is a capture booked other than recorded."""

    currency: str
    captures: int
    gross: int
    platform_fee: int
    stripe_fee: int
    stripe_fee_borne: int
    organizer_share: int
    ledger_sales: int
    difference: int


class StatementTieOut(_Row):
    """One account: opening + movements beside the ledger's balance as of the end."""

    currency: str
    code: str
    kind: AccountKind
    opening: int
    movements: int
    closing: int
    ledger_closing: int
    difference: int


class OrganizerStatementReport(Report):
    """What the platform owes one organizer over [start, end), by category, tied out."""

    name: str = "organizer-statement"
    title: str = "Organizer statement"
    org_id: uuid.UUID
    organizer: str
    start: datetime
    end: datetime
    balances: list[StatementBalance]
    movements: list[StatementMovement]
    sales: list[StatementSales]
    tie_out: list[StatementTieOut]

    def tables(self) -> list[Table]:
        return [
            _table("Balances", list(self.balances), StatementBalance),
            _table("Movements", list(self.movements), StatementMovement),
            _table("Sales", list(self.sales), StatementSales),
            _table("Tie-out", list(self.tie_out), StatementTieOut),
        ]

"""The statements' models: the income statement and the organizer statement (with its
breakdown per event and ticket type); the balance sheet's are in `balance_sheet_models`,
re-exported here."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import ClassVar, Literal

from liventix.reports.balance_sheet_models import (
    BalanceSheetCategory,
    BalanceSheetLine,
    BalanceSheetOwner,
    BalanceSheetReport,
    BalanceSheetTotal,
)
from liventix.reports.base import Report, Table, _Row, _table

__all__ = [
    "BalanceSheetCategory",
    "BalanceSheetLine",
    "BalanceSheetOwner",
    "BalanceSheetReport",
    "BalanceSheetTotal",
]

# -- income statement ---------------------------------------------------------------------------


class IncomeStatementLine(_Row):
    """One revenue or expense account's movement in the period, on its normal side."""

    money: ClassVar[tuple[str, ...]] = ("amount",)
    ids: ClassVar[dict[str, str]] = {"org_id": "scope"}

    scope: str
    org_id: uuid.UUID
    currency: str
    code: str
    type: str
    amount: int


class IncomeStatementOwner(_Row):
    """One owner's revenue, expense and net income in one currency over the period."""

    money: ClassVar[tuple[str, ...]] = ("revenue", "expense", "net_income")
    ids: ClassVar[dict[str, str]] = {"org_id": "scope"}

    scope: str
    org_id: uuid.UUID
    currency: str
    revenue: int
    expense: int
    net_income: int


class IncomeStatementTotal(_Row):
    """Every owner together in one currency; `debits` and `credits` are all the period's
    lines (every account), which differ only if something unbalanced was booked."""

    money: ClassVar[tuple[str, ...]] = (
        "revenue",
        "expense",
        "net_income",
        "debits",
        "credits",
        "difference",
    )
    checks: ClassVar[tuple[str, ...]] = ("difference",)

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

    money: ClassVar[tuple[str, ...]] = ("opening", "movements", "closing")

    currency: str
    kind: str
    opening: int
    movements: int
    closing: int


class StatementMovement(_Row):
    """One category's entries in the period and how they moved each kind of account (each
    on its normal side) and the total owed to the organizer."""

    money: ClassVar[tuple[str, ...]] = ("escrow", "payable", "receivable", "total")

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

    money: ClassVar[tuple[str, ...]] = (
        "gross",
        "platform_fee",
        "stripe_fee",
        "stripe_fee_borne",
        "organizer_share",
        "ledger_sales",
        "difference",
    )
    checks: ClassVar[tuple[str, ...]] = ("difference",)

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

    money: ClassVar[tuple[str, ...]] = (
        "opening",
        "movements",
        "closing",
        "ledger_closing",
        "difference",
    )
    checks: ClassVar[tuple[str, ...]] = ("difference",)

    currency: str
    code: str
    kind: AccountKind
    opening: int
    movements: int
    closing: int
    ledger_closing: int
    difference: int


class StatementEvent(_Row):
    """One event's part of the organizer's period, in one currency. `captures`, `gross` and
    `fees` (the platform's fee and the Stripe fee the organizer bore) are the captures
    recorded (card_payments); the rest is what the event's entries moved on the organizer's
    accounts in the ledger (escrow + payable - receivable, each on its normal side):
    `ledger_sales`, `refunds` and `disputes` (negative: money back to buyers), `net` (their
    sum: what the event earned the organizer), `released` (moved to payable) and
    `transferred` (paid out by transfers, less what reversals recovered). `difference` =
    gross - fees - ledger_sales (the sales tie-out per event). Entries no event is found
    for (a payout, an entry booked by hand) are the row with no `event_id`: the rows' ledger
    columns sum to the statement's movements per currency."""

    money: ClassVar[tuple[str, ...]] = (
        "gross",
        "fees",
        "ledger_sales",
        "refunds",
        "disputes",
        "net",
        "released",
        "transferred",
        "difference",
    )
    ids: ClassVar[dict[str, str]] = {"event_id": "event"}

    currency: str
    event_id: str | None
    event: str
    captures: int
    gross: int
    fees: int
    ledger_sales: int
    refunds: int
    disputes: int
    net: int
    released: int
    transferred: int
    difference: int


class StatementTicketType(_Row):
    """One ticket type's tickets among the period's captures: sold (issued, checked in,
    refunded, invalidated) and refunded, their face value (`gross`), the captures' fees
    shared among the tickets of each payment by price (`fees`, whole minor units: the
    largest remainders get the odd ones), `share` = gross - fees, and the face value of its
    refunded tickets."""

    money: ClassVar[tuple[str, ...]] = ("gross", "fees", "share", "refunded_value")
    ids: ClassVar[dict[str, str]] = {"event_id": "event", "ticket_type_id": "ticket_type"}

    currency: str
    event_id: str
    event: str
    ticket_type_id: str
    ticket_type: str
    tickets_sold: int
    tickets_refunded: int
    gross: int
    fees: int
    share: int
    refunded_value: int


class StatementTransfer(_Row):
    """One transfer to the organizer recorded in the period: its amount, what reversals
    brought back, and the ledger settlement that closed the entries it paid (`settled`: their
    net on the settled account, `entries`: how many; the release's transfer settles the
    event's escrow account, so `settled` - `amount` is what was netted against debts)."""

    money: ClassVar[tuple[str, ...]] = ("amount", "reversed", "settled")

    currency: str
    transfer_id: str
    created_at: datetime
    amount: int
    reversed: int
    settlement_id: uuid.UUID | None
    settled: int
    entries: int


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
    events: list[StatementEvent] = []
    ticket_types: list[StatementTicketType] = []
    transfers: list[StatementTransfer] = []

    def tables(self) -> list[Table]:
        return [
            _table("Balances", list(self.balances), StatementBalance),
            _table("Movements", list(self.movements), StatementMovement),
            _table("Sales", list(self.sales), StatementSales),
            _table("Tie-out", list(self.tie_out), StatementTieOut),
            _table("Events", list(self.events), StatementEvent),
            _table("Ticket types", list(self.ticket_types), StatementTicketType),
            _table("Transfers", list(self.transfers), StatementTransfer),
        ]

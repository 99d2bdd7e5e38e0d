"""The balance sheet's models: per currency the equation, per owner its sections, per
account category its balance beside the ledger's, and each account's line under its
category."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import ClassVar

from liventix.reports.base import Report, Table, _Row, _table


class BalanceSheetLine(_Row):
    """One account's balance on its normal side, from its lines effective by the moment, under
    the category that holds it directly (the chart's: `escrow:eur`, `cash:usd`, ...; empty
    for an account in none)."""

    money: ClassVar[tuple[str, ...]] = ("balance",)
    ids: ClassVar[dict[str, str]] = {"org_id": "scope"}

    scope: str
    org_id: uuid.UUID
    currency: str
    category: str
    code: str
    type: str
    balance: int


class BalanceSheetCategory(_Row):
    """One account category's posted balance by the moment, on its normal side: the sum of
    the lines of every account it reaches (nested categories followed, each account once),
    beside the ledger's own balance of the category as of the moment
    (`ledger.category_balances`, by effective date); a nonzero `difference` is a category
    whose balance is not the sum of its members."""

    money: ClassVar[tuple[str, ...]] = ("balance", "ledger_balance", "difference")
    ids: ClassVar[dict[str, str]] = {"org_id": "scope"}
    checks: ClassVar[tuple[str, ...]] = ("difference",)

    scope: str
    org_id: uuid.UUID
    currency: str
    code: str
    name: str
    nested_in: str
    normal_side: str
    accounts: int
    balance: int
    ledger_balance: int
    difference: int


class BalanceSheetOwner(_Row):
    """One owner's sections in one currency. `net` = assets - liabilities - equity - retained
    earnings of its own accounts: what entries crossing owners left on its side, not an error
    (the platform holds the cash whose liability sits on the organizers' accounts)."""

    money: ClassVar[tuple[str, ...]] = (
        "assets",
        "liabilities",
        "equity",
        "revenue",
        "expense",
        "retained_earnings",
        "net",
    )
    ids: ClassVar[dict[str, str]] = {"org_id": "scope"}

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

    money: ClassVar[tuple[str, ...]] = (
        "assets",
        "liabilities",
        "equity",
        "revenue",
        "expense",
        "retained_earnings",
        "difference",
    )
    checks: ClassVar[tuple[str, ...]] = ("difference",)

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
    categories: list[BalanceSheetCategory]
    lines: list[BalanceSheetLine]

    def tables(self) -> list[Table]:
        return [
            _table("Platform-wide", list(self.totals), BalanceSheetTotal),
            _table("Owners", list(self.owners), BalanceSheetOwner),
            _table("Categories", list(self.categories), BalanceSheetCategory),
            _table("Accounts by category", list(self.lines), BalanceSheetLine),
        ]

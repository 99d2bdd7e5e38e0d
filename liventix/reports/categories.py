"""The account categories report: every category's posted, pending and available balances (the
sums of the accounts it reaches, nested ones included), and the escrow tie-out by category: per
organizer and currency, what its escrows hold (escrow's own `held`) beside the balance of its
`escrow:<cur>` category, which the chart's escrow accounts join as they open (escrow/accounts.py).
A difference is an organizer and currency where they differ (an escrow account outside the
category, or a booking the escrow did not count).

The read side: it reads escrow's table and the ledger's categories through their public faces
and `payments.escrows` directly, on the caller's connection (row-level security applies)."""

from __future__ import annotations

import uuid
from collections import defaultdict
from datetime import datetime
from typing import ClassVar

from sqlalchemy import Connection, text

import ledger
from liventix.reports.base import Report, Table, _Row, _table

ESCROW_STEM = "escrow"


class CategoryBalanceRow(_Row):
    """One category's balances on its normal side."""

    money: ClassVar[tuple[str, ...]] = ("posted", "pending", "available")
    ids: ClassVar[dict[str, str]] = {"org_id": "owner"}

    owner: str
    org_id: uuid.UUID
    code: str
    name: str
    currency: str
    normal_side: str
    accounts: int
    members: int
    posted: int
    pending: int
    available: int


class EscrowCategoryRow(_Row):
    """An organizer's escrows' `held` beside its escrow category's posted balance."""

    money: ClassVar[tuple[str, ...]] = ("escrow_held", "category_balance", "difference")
    ids: ClassVar[dict[str, str]] = {"org_id": "owner"}
    checks: ClassVar[tuple[str, ...]] = ("difference",)

    owner: str
    org_id: uuid.UUID
    currency: str
    escrows: int
    escrow_held: int
    category_balance: int
    difference: int


class CategoryBalancesReport(Report):
    """Every account category's balances, and the escrow tie-out by category."""

    name: str = "category-balances"
    title: str = "Account categories"
    as_of: datetime | None = None
    rows: list[CategoryBalanceRow]
    escrow: list[EscrowCategoryRow]

    def tables(self) -> list[Table]:
        return [
            _table("Categories", list(self.rows), CategoryBalanceRow),
            _table("Escrow by category", list(self.escrow), EscrowCategoryRow),
        ]


def _all_categories(conn: Connection, at: datetime | None) -> list[ledger.Category]:
    found: list[ledger.Category] = []
    after: uuid.UUID | None = None
    while True:
        page, more = ledger.list_categories(conn, starting_after=after, limit=1000, at=at)
        found += page
        if not more:
            return found
        after = page[-1].id


def category_balances(conn: Connection, *, as_of: datetime | None = None) -> CategoryBalancesReport:
    """Every category the connection sees with its balances now (or as recorded by `as_of`),
    and per organizer and currency its escrows' `held` beside its escrow category."""
    names = {
        r.id: r.name for r in conn.execute(text("SELECT id, name FROM payments.organizations"))
    }
    categories = _all_categories(conn, as_of)
    rows = sorted(
        (
            CategoryBalanceRow(
                owner=str(names.get(c.org_id, c.org_id)),
                org_id=c.org_id,
                code=c.code,
                name=c.name,
                currency=c.currency,
                normal_side=c.normal_side,
                accounts=c.balance.accounts,
                members=len(c.account_ids) + len(c.category_ids),
                posted=c.balance.posted,
                pending=c.balance.pending,
                available=c.balance.available,
            )
            for c in categories
        ),
        key=lambda r: (r.owner, str(r.org_id), r.currency, r.code),
    )
    by_code = {(c.org_id, c.code): c.balance.posted for c in categories}
    held: dict[tuple[uuid.UUID, str], list[int]] = defaultdict(lambda: [0, 0])
    for e in conn.execute(
        text(
            "SELECT org_id, currency, count(*) AS n, sum(held) AS held FROM payments.escrows"
            " GROUP BY org_id, currency"
        )
    ):
        held[(e.org_id, e.currency)] = [int(e.n), int(e.held)]
    escrow = []
    for (org, currency), (count, amount) in sorted(
        held.items(), key=lambda kv: (str(kv[0][0]), kv[0][1])
    ):
        balance = by_code.get((org, f"{ESCROW_STEM}:{currency.lower()}"), 0)
        escrow.append(
            EscrowCategoryRow(
                owner=str(names.get(org, org)),
                org_id=org,
                currency=currency,
                escrows=count,
                escrow_held=amount,
                category_balance=balance,
                difference=amount - balance,
            )
        )
    return CategoryBalancesReport(
        title="Account categories" + (f" as of {as_of.isoformat()}" if as_of else ""),
        as_of=as_of,
        differences=sum(1 for r in escrow if r.difference),
        rows=rows,
        escrow=escrow,
    )

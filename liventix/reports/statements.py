"""Finance's statements from the ledger's lines, by effective date: the balance sheet and the
income statement, and what the organizer's statement (`organizer.py`) shares with them:
the categories of entries, the kinds of an organizer's accounts, periods and normal sides.
Each function reads on the caller's connection and returns a report.

Owners. Every account belongs to an organization (the platform's own accounts to the platform
organization); an entry booked for an organizer also touches the platform's accounts (a sale
debits the platform's `stripe_balance` and credits its `platform_fees` beside the organizer's
escrow). So one owner's accounts alone do not balance: the platform holds the cash whose
liability sits on the organizers' escrow and payable accounts. The balance sheet is therefore
shown per account owner with each owner's `net` (assets - liabilities - equity - retained
earnings, the cross-owner position; the owners' nets sum to zero), and the equation
assets = liabilities + equity + retained earnings is checked for every owner together, per
currency. It holds whenever every entry balances, so a difference is an unbalanced entry (or
one only part of whose lines are effective by the moment). Its accounts are grouped by the
account categories the chart is seeded into (`balance_categories`): each line under the
category holding it directly, and each category's balance the sum of its members beside the
ledger's own balance of the category (a difference where they disagree).

Periods are [start, end) by effective date. A balance "as of" a moment includes the lines
effective at it (as `ledger.balance_as_of` does); the statement's opening and closing are the
balances just before `start` and `end` (PostgreSQL's resolution is a microsecond).
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, text

from liventix.reports.balance_categories import by_category
from liventix.reports.errors import InvalidPeriod
from liventix.reports.models import (
    AccountKind,
    BalanceSheetLine,
    BalanceSheetOwner,
    BalanceSheetReport,
    BalanceSheetTotal,
    Category,
    IncomeStatementLine,
    IncomeStatementOwner,
    IncomeStatementReport,
    IncomeStatementTotal,
)

# An entry's category in an organizer's statement, by the prefix of the idempotency key escrow
# posts it under (escrow's use cases: escrow/payments.py, refunds.py, disputes.py, release.py,
# transfers.py); the first matching prefix wins, anything else is "other".
CATEGORIES: tuple[tuple[str, Category], ...] = (
    ("stripe:capture:", "sales"),
    ("stripe:refund:", "refunds"),
    ("stripe:refund-failed:", "refunds"),  # a failed refund's money coming back
    ("refund-failed:", "refunds"),
    ("stripe:dispute-", "disputes"),  # -withdrawn, -reinstated, -lost
    ("escrow:release:", "releases"),
    ("escrow:net:", "releases"),  # what the organizer owed, netted against a release
    ("stripe:transfer-reversal:", "transfer_reversals"),
    ("stripe:transfer:", "transfers"),
    ("escrow:cancel:", "cancellations"),
    ("escrow:settle:", "cancellations"),  # a cancelled escrow's shortfall to the receivable
)

# An organizer's accounts in its statement, by code prefix (escrow/recipes.py's chart).
KINDS: tuple[tuple[str, AccountKind], ...] = (
    ("escrow:", "escrow"),
    ("payable:", "payable"),
    ("receivable:", "receivable"),
)

_TICK = timedelta(microseconds=1)
_SIGNED = "CASE WHEN l.side = 'debit' THEN l.amount ELSE -l.amount END"
_DEBIT_NORMAL = ("asset", "expense")


def category(idempotency_key: str | None) -> Category:
    """The statement category of an entry posted under this idempotency key."""
    for prefix, name in CATEGORIES:
        if idempotency_key is not None and idempotency_key.startswith(prefix):
            return name
    return "other"


def _kind(code: str) -> AccountKind | None:
    return next((kind for prefix, kind in KINDS if code.startswith(prefix)), None)


def _aware(moment: datetime, name: str) -> None:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise InvalidPeriod(f"{name} has no time zone", **{name: moment})


def _period(start: datetime, end: datetime) -> None:
    _aware(start, "start")
    _aware(end, "end")
    if start >= end:
        raise InvalidPeriod(start=start, end=end)


def _normal(account_type: str, net_debit: int) -> int:
    """A debit-minus-credit amount on the account type's normal side."""
    return net_debit if account_type in _DEBIT_NORMAL else -net_debit


class _Owners:
    """The organizations by id, and the scope each is shown under."""

    def __init__(self, conn: Connection) -> None:
        rows = conn.execute(text("SELECT id, name, is_platform FROM payments.organizations")).all()
        self._rows: dict[uuid.UUID, Any] = {r.id: r for r in rows}

    def scope(self, org_id: uuid.UUID) -> str:
        row = self._rows.get(org_id)
        if row is None:
            return str(org_id)
        return f"{row.name} (platform)" if row.is_platform else str(row.name)

    def order(self, org_id: uuid.UUID) -> tuple[bool, str, str]:
        """Sort key: the platform first, then organizations by name."""
        row = self._rows.get(org_id)
        return (not (row is not None and row.is_platform), self.scope(org_id), str(org_id))


_SECTIONS = ("asset", "liability", "equity", "revenue", "expense")


def _sections(amounts: dict[str, int]) -> dict[str, int]:
    return {t: amounts.get(t, 0) for t in _SECTIONS}


# -- balance sheet ------------------------------------------------------------------------------


def balance_sheet(conn: Connection, *, as_of: datetime) -> BalanceSheetReport:
    """The balance sheet from every line effective by `as_of`: each account's balance on its
    normal side under its category; each category's balance (the sum of its members) beside
    the ledger's; per owner and currency the sections (assets, liabilities, equity, revenue,
    expense, retained earnings = revenue - expense) and the owner's `net`; per currency, all
    owners together, assets beside liabilities + equity + retained earnings. A difference is a
    currency where they differ, or a category whose balance is not its members' sum."""
    _aware(as_of, "as_of")
    owners = _Owners(conn)
    rows = conn.execute(
        text(f"""
            SELECT a.id, a.org_id, a.code, a.type, a.currency, sum({_SIGNED}) AS net
              FROM payments.lines l JOIN payments.accounts a ON a.id = l.account_id
             WHERE l.effective_at <= :as_of
             GROUP BY a.org_id, a.id, a.code, a.type, a.currency
        """),
        {"as_of": as_of},
    ).all()
    grouped = by_category(
        conn, {r.id: int(r.net) for r in rows}, as_of=as_of, scope=owners.scope, order=owners.order
    )
    lines = sorted(
        (
            BalanceSheetLine(
                scope=owners.scope(r.org_id),
                org_id=r.org_id,
                currency=r.currency,
                category=grouped.of_account.get(r.id, ""),
                code=r.code,
                type=r.type,
                balance=_normal(r.type, int(r.net)),
            )
            for r in rows
        ),
        # Per owner and currency, by category (accounts in none last), then section and code.
        key=lambda x: (
            owners.order(x.org_id),
            x.currency,
            not x.category,
            x.category,
            _SECTIONS.index(x.type),
            x.code,
        ),
    )
    per_owner: dict[tuple[uuid.UUID, str], dict[str, int]] = defaultdict(lambda: defaultdict(int))
    per_currency: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for line in lines:
        per_owner[(line.org_id, line.currency)][line.type] += line.balance
        per_currency[line.currency][line.type] += line.balance
    owner_rows = []
    for (org, cur), amounts in sorted(
        per_owner.items(), key=lambda kv: (owners.order(kv[0][0]), kv[0][1])
    ):
        s = _sections(amounts)
        retained = s["revenue"] - s["expense"]
        owner_rows.append(
            BalanceSheetOwner(
                scope=owners.scope(org),
                org_id=org,
                currency=cur,
                assets=s["asset"],
                liabilities=s["liability"],
                equity=s["equity"],
                revenue=s["revenue"],
                expense=s["expense"],
                retained_earnings=retained,
                net=s["asset"] - s["liability"] - s["equity"] - retained,
            )
        )
    totals = []
    for cur, amounts in sorted(per_currency.items()):
        s = _sections(amounts)
        retained = s["revenue"] - s["expense"]
        totals.append(
            BalanceSheetTotal(
                currency=cur,
                assets=s["asset"],
                liabilities=s["liability"],
                equity=s["equity"],
                revenue=s["revenue"],
                expense=s["expense"],
                retained_earnings=retained,
                difference=s["asset"] - (s["liability"] + s["equity"] + retained),
            )
        )
    return BalanceSheetReport(
        title=f"Balance sheet as of {as_of.isoformat()} (effective)",
        differences=sum(1 for t in totals if t.difference)
        + sum(1 for c in grouped.rows if c.difference),
        as_of=as_of,
        totals=totals,
        owners=owner_rows,
        categories=grouped.rows,
        lines=lines,
    )


# -- income statement ---------------------------------------------------------------------------


def income_statement(conn: Connection, *, start: datetime, end: datetime) -> IncomeStatementReport:
    """Revenue and expense accounts' movements effective in [start, end), on their normal
    side, per owner and currency, with totals and net income (revenue - expense); per
    currency, every account's debits and credits in the period beside each other. A
    difference is a currency where they differ (something unbalanced booked in the period)."""
    _period(start, end)
    owners = _Owners(conn)
    rows = conn.execute(
        text("""
            SELECT a.org_id, a.code, a.type, a.currency,
                   coalesce(sum(l.amount) FILTER (WHERE l.side = 'debit'), 0) AS debits,
                   coalesce(sum(l.amount) FILTER (WHERE l.side = 'credit'), 0) AS credits
              FROM payments.lines l JOIN payments.accounts a ON a.id = l.account_id
             WHERE l.effective_at >= :start AND l.effective_at < :end
             GROUP BY a.org_id, a.id, a.code, a.type, a.currency
        """),
        {"start": start, "end": end},
    ).all()
    lines: list[IncomeStatementLine] = []
    per_owner: dict[tuple[uuid.UUID, str], dict[str, int]] = defaultdict(lambda: defaultdict(int))
    per_currency: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for r in rows:
        debits, credits = int(r.debits), int(r.credits)
        per_currency[r.currency]["debits"] += debits
        per_currency[r.currency]["credits"] += credits
        if r.type not in ("revenue", "expense"):
            continue
        amount = _normal(r.type, debits - credits)
        lines.append(
            IncomeStatementLine(
                scope=owners.scope(r.org_id),
                org_id=r.org_id,
                currency=r.currency,
                code=r.code,
                type=r.type,
                amount=amount,
            )
        )
        per_owner[(r.org_id, r.currency)][r.type] += amount
        per_currency[r.currency][r.type] += amount
    lines.sort(key=lambda x: (owners.order(x.org_id), x.currency, x.type != "revenue", x.code))
    owner_rows = [
        IncomeStatementOwner(
            scope=owners.scope(org),
            org_id=org,
            currency=cur,
            revenue=amounts["revenue"],
            expense=amounts["expense"],
            net_income=amounts["revenue"] - amounts["expense"],
        )
        for (org, cur), amounts in sorted(
            per_owner.items(), key=lambda kv: (owners.order(kv[0][0]), kv[0][1])
        )
    ]
    totals = [
        IncomeStatementTotal(
            currency=cur,
            revenue=amounts["revenue"],
            expense=amounts["expense"],
            net_income=amounts["revenue"] - amounts["expense"],
            debits=amounts["debits"],
            credits=amounts["credits"],
            difference=amounts["debits"] - amounts["credits"],
        )
        for cur, amounts in sorted(per_currency.items())
    ]
    return IncomeStatementReport(
        title=f"Income statement [{start.isoformat()}, {end.isoformat()}) (effective)",
        differences=sum(1 for t in totals if t.difference),
        start=start,
        end=end,
        totals=totals,
        owners=owner_rows,
        lines=lines,
    )

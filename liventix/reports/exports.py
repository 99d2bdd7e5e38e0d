"""Exports finance loads elsewhere (a spreadsheet, the accounting system): the trial balance
by account as of a moment, and the journal (every entry with its lines, by effective date,
for a period). Both are reports like the others (`--format csv` is the export; each amount
beside its formatted twin), and both check what they export: a currency whose debits differ
from its credits, an entry that does not balance in a currency."""

from __future__ import annotations

import uuid
from collections import defaultdict
from datetime import datetime
from typing import ClassVar

from sqlalchemy import Connection, text

from liventix.reports.base import Report, Table, _Row, _table
from liventix.reports.errors import InvalidPeriod


class AccountBalance(_Row):
    """One account's debits and credits from its lines effective by the moment, and its
    balance on its normal side."""

    money: ClassVar[tuple[str, ...]] = ("debit", "credit", "balance")
    ids: ClassVar[dict[str, str]] = {"owner_id": "owner", "account_id": "code"}

    owner: str
    owner_id: uuid.UUID
    account_id: uuid.UUID
    code: str
    account: str
    type: str
    currency: str
    debit: int
    credit: int
    balance: int


class AccountBalancesReport(Report):
    """The trial balance by account as of a moment (effective date): a difference is a
    currency whose debits differ from its credits."""

    name: str = "account-balances"
    title: str = "Trial balance by account"
    as_of: datetime
    accounts: list[AccountBalance]

    def tables(self) -> list[Table]:
        return [_table("Accounts", list(self.accounts), AccountBalance)]


class JournalLine(_Row):
    """One line of an entry effective in the period, with its entry's reference."""

    money: ClassVar[tuple[str, ...]] = ("debit", "credit")
    ids: ClassVar[dict[str, str]] = {
        "entry_id": "reference",
        "booked_by_id": "booked_by",
        "owner_id": "owner",
        "account_id": "code",
    }

    effective_at: datetime
    entry_id: uuid.UUID
    reference: str
    external_ref: str | None
    description: str
    booked_by: str
    booked_by_id: uuid.UUID
    owner: str
    owner_id: uuid.UUID
    account_id: uuid.UUID
    code: str
    currency: str
    debit: int
    credit: int


class JournalReport(Report):
    """The journal for [start, end) by the entries' effective date: a difference is an
    entry whose lines do not balance in a currency."""

    name: str = "journal"
    title: str = "Journal"
    start: datetime
    end: datetime
    entries: int
    lines: list[JournalLine]

    def tables(self) -> list[Table]:
        return [_table("Lines", list(self.lines), JournalLine)]


_ACCOUNTS = text("""
    SELECT o.name AS owner, a.org_id, a.id, a.code, a.name, a.type, a.currency,
           coalesce(sum(l.amount) FILTER (WHERE l.side = 'debit'), 0) AS debit,
           coalesce(sum(l.amount) FILTER (WHERE l.side = 'credit'), 0) AS credit
      FROM payments.lines l
      JOIN payments.accounts a ON a.id = l.account_id
      JOIN payments.organizations o ON o.id = a.org_id
     WHERE l.effective_at <= :as_of
     GROUP BY o.name, a.org_id, a.id, a.code, a.name, a.type, a.currency
     ORDER BY a.currency, o.name, a.code, a.id
""")


def account_balances(conn: Connection, *, as_of: datetime) -> AccountBalancesReport:
    """Every account's debits, credits and balance from its lines effective by `as_of`."""
    if as_of.tzinfo is None:
        raise InvalidPeriod("as_of has no time zone", as_of=as_of)
    rows = []
    per_currency: dict[str, int] = defaultdict(int)
    for r in conn.execute(_ACCOUNTS, {"as_of": as_of}):
        debit, credit = int(r.debit), int(r.credit)
        per_currency[r.currency] += debit - credit
        rows.append(
            AccountBalance(
                owner=r.owner,
                owner_id=r.org_id,
                account_id=r.id,
                code=r.code,
                account=r.name,
                type=r.type,
                currency=r.currency,
                debit=debit,
                credit=credit,
                balance=debit - credit if r.type in ("asset", "expense") else credit - debit,
            )
        )
    return AccountBalancesReport(
        title=f"Trial balance by account as of {as_of.isoformat()} (effective)",
        differences=sum(1 for v in per_currency.values() if v),
        as_of=as_of,
        accounts=rows,
    )


_JOURNAL = text("""
    SELECT e.effective_at, e.id AS entry_id,
           coalesce(e.idempotency_key, e.id::text) AS reference, e.external_ref,
           e.description, bo.name AS booked_by, e.org_id AS booked_by_id,
           ao.name AS owner, a.org_id AS owner_id, a.id AS account_id, a.code, l.currency,
           CASE WHEN l.side = 'debit' THEN l.amount ELSE 0 END AS debit,
           CASE WHEN l.side = 'credit' THEN l.amount ELSE 0 END AS credit
      FROM payments.entries e
      JOIN payments.lines l ON l.entry_id = e.id
      JOIN payments.accounts a ON a.id = l.account_id
      JOIN payments.organizations bo ON bo.id = e.org_id
      JOIN payments.organizations ao ON ao.id = a.org_id
     WHERE e.effective_at >= :start AND e.effective_at < :end
     ORDER BY e.effective_at, e.created_at, e.id, l.id
""")


def journal(conn: Connection, *, start: datetime, end: datetime) -> JournalReport:
    """Every entry effective in [start, end) with its lines, in effective order."""
    if start.tzinfo is None or end.tzinfo is None:
        raise InvalidPeriod("a moment has no time zone", start=start, end=end)
    if start >= end:
        raise InvalidPeriod(start=start, end=end)
    lines = [
        JournalLine.model_validate(r._asdict())
        for r in conn.execute(_JOURNAL, {"start": start, "end": end})
    ]
    balance: dict[tuple[uuid.UUID, str], int] = defaultdict(int)
    for line in lines:
        balance[(line.entry_id, line.currency)] += line.debit - line.credit
    return JournalReport(
        title=f"Journal [{start.isoformat()}, {end.isoformat()}) (effective)",
        differences=len({e for (e, _), v in balance.items() if v}),
        start=start,
        end=end,
        entries=len({line.entry_id for line in lines}),
        lines=lines,
    )

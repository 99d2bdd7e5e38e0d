"""Reading the ledger: balances (now, as of a recorded time, as of an effective date),
entries, holds, keyset-paginated account statements and the trial balance.

Every query runs on the caller's connection, so row-level security applies to what it sees.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from typing import Literal
from uuid import UUID

from sqlalchemy import Connection, text

from ledger.errors import AccountNotFound, EntryNotFound, HoldNotFound, InvalidRequest
from ledger.models import (
    Account,
    Balance,
    Entry,
    EntryLine,
    Hold,
    StatementLine,
    StatementPage,
    TrialBalance,
    TrialBalanceRow,
)

_BALANCE_NOW = text("""
    SELECT account_id, currency, normal_side, posted_debits, posted_credits,
           pending_debits, pending_credits, version
      FROM payments.account_balances WHERE account_id = :id
""")

# The account's balances as recorded by a time, or effective by it: payments.balance_as_of
# (payments_engine.sql), one index probe of the account's lines whatever their number.
_BALANCE_AS_OF = text("""
    SELECT account_id, currency, normal_side, posted_debits, posted_credits, pending_debits,
           pending_credits
      FROM payments.balance_as_of(:id, :at, :effective)
""")


def _balance(row: object) -> Balance:
    return Balance(
        account_id=row.account_id,  # type: ignore[attr-defined]
        currency=row.currency,  # type: ignore[attr-defined]
        normal_side=row.normal_side,  # type: ignore[attr-defined]
        posted_debits=int(row.posted_debits),  # type: ignore[attr-defined]
        posted_credits=int(row.posted_credits),  # type: ignore[attr-defined]
        pending_debits=int(row.pending_debits),  # type: ignore[attr-defined]
        pending_credits=int(row.pending_credits),  # type: ignore[attr-defined]
        version=getattr(row, "version", None),
    )


def balance(conn: Connection, account_id: UUID) -> Balance:
    """The account's balances now (exact, high-volume accounts included)."""
    row = conn.execute(_BALANCE_NOW, {"id": account_id}).first()
    if row is None:
        raise AccountNotFound(account_id=str(account_id))
    return _balance(row)


def balance_as_of(
    conn: Connection,
    account_id: UUID,
    at: datetime,
    *,
    by: Literal["recorded", "effective"] = "recorded",
) -> Balance:
    """The account's balances as recorded by `at`, or with every line effective by `at`."""
    if at.tzinfo is None:
        raise InvalidRequest("`at` must be timezone-aware")
    if by not in ("recorded", "effective"):
        raise InvalidRequest("by is 'recorded' or 'effective'")
    row = conn.execute(
        _BALANCE_AS_OF, {"id": account_id, "at": at, "effective": by == "effective"}
    ).first()
    if row is None:
        raise AccountNotFound(account_id=str(account_id))
    return _balance(row)


def get_account(conn: Connection, account_id: UUID) -> Account:
    """The account and its balance now."""
    row = conn.execute(
        text("""SELECT id, org_id, code, name, type, currency, debits_must_not_exceed_credits,
                       credits_must_not_exceed_debits, high_volume, closed, metadata
                  FROM payments.accounts WHERE id = :id"""),
        {"id": account_id},
    ).first()
    if row is None:
        raise AccountNotFound(account_id=str(account_id))
    return Account(
        id=row.id,
        org_id=row.org_id,
        code=row.code,
        name=row.name,
        type=row.type,
        currency=row.currency,
        debits_must_not_exceed_credits=row.debits_must_not_exceed_credits,
        credits_must_not_exceed_debits=row.credits_must_not_exceed_debits,
        high_volume=row.high_volume,
        closed=row.closed,
        metadata=row.metadata,
        balance=balance(conn, account_id),
    )


def find_account(conn: Connection, org_id: UUID, code: str) -> UUID | None:
    """The id of the organization's account with this code, if any."""
    return conn.execute(
        text("SELECT id FROM payments.accounts WHERE org_id = :org AND code = :code"),
        {"org": org_id, "code": code},
    ).scalar_one_or_none()


def get_entry(conn: Connection, entry_id: UUID) -> Entry:
    """The entry and its lines, in posting order."""
    row = conn.execute(
        text("""SELECT id, org_id, kind, description, metadata, effective_at, created_at,
                       external_ref, reverses_entry_id, hold_id
                  FROM payments.entries WHERE id = :id"""),
        {"id": entry_id},
    ).first()
    if row is None:
        raise EntryNotFound(entry_id=str(entry_id))
    lines = conn.execute(
        text("""SELECT id, account_id, side, amount, currency, account_version
                  FROM payments.lines WHERE entry_id = :id ORDER BY id"""),
        {"id": entry_id},
    ).all()
    return Entry(
        id=row.id,
        org_id=row.org_id,
        kind=row.kind,
        description=row.description,
        metadata=row.metadata,
        effective_at=row.effective_at,
        created_at=row.created_at,
        external_ref=row.external_ref,
        reverses_entry_id=row.reverses_entry_id,
        hold_id=row.hold_id,
        lines=tuple(
            EntryLine(
                id=x.id,
                account_id=x.account_id,
                side=x.side,
                amount=x.amount,
                currency=x.currency,
                account_version=x.account_version,
            )
            for x in lines
        ),
    )


def get_hold(conn: Connection, hold_id: UUID) -> Hold:
    """The hold and how it was resolved: open, posted, voided or expired."""
    row = conn.execute(
        text("""SELECT h.id, h.org_id, h.debit_account_id, h.credit_account_id, h.amount,
                       h.currency, h.expires_at, h.created_at,
                       coalesce(r.kind, 'open') AS status,
                       coalesce(r.posted_amount, 0) AS posted_amount, r.entry_id
                  FROM payments.holds h
                  LEFT JOIN payments.hold_resolutions r ON r.hold_id = h.id
                 WHERE h.id = :id"""),
        {"id": hold_id},
    ).first()
    if row is None:
        raise HoldNotFound(hold_id=str(hold_id))
    return Hold(**row._asdict())


def statement(
    conn: Connection,
    account_id: UUID,
    *,
    start: datetime | None = None,
    end: datetime | None = None,
    after: int | None = None,
    limit: int = 100,
) -> StatementPage:
    """A page of the account's lines recorded in [start, end), in posting order, each with the
    posted balance after it; pass the page's `next_cursor` as `after` for the next page."""
    if not 0 < limit <= 10_000:
        raise InvalidRequest("limit is between 1 and 10000")
    if after is not None and not 0 <= after <= 2**63 - 1:
        raise InvalidRequest("after is a line id from a previous page")
    account = conn.execute(
        text("SELECT currency, normal_side, high_volume FROM payments.accounts WHERE id = :id"),
        {"id": account_id},
    ).first()
    if account is None:
        raise AccountNotFound(account_id=str(account_id))
    sign = 1 if account.normal_side == "debit" else -1
    rows = conn.execute(
        text("""
            WITH page AS (
                SELECT l.id, l.entry_id, l.created_at, l.effective_at, l.side, l.amount
                  FROM payments.lines l
                 WHERE l.account_id = :id AND l.id > :after
                   AND (CAST(:start AS timestamptz) IS NULL OR l.created_at >= :start)
                   AND (CAST(:end AS timestamptz) IS NULL OR l.created_at < :end)
                 ORDER BY l.id
                 LIMIT :limit
            ), bound AS (
                SELECT coalesce((SELECT min(id) FROM page) - 1, :after) AS id
            ), opening AS (
                -- A regular account's lines carry the totals they produced, in id order: the
                -- last one before the page is the opening balance. A high-volume account's
                -- are rolled up after commit, in no fixed order: summed.
                SELECT CASE WHEN CAST(:high_volume AS boolean) THEN
                    (SELECT coalesce(sum(CASE WHEN l.side = 'debit' THEN l.amount
                                              ELSE -l.amount END), 0)
                       FROM payments.lines l
                      WHERE l.account_id = :id AND l.id <= (SELECT id FROM bound))
                ELSE coalesce(
                    (SELECT l.account_posted_debits - l.account_posted_credits
                       FROM payments.lines l
                      WHERE l.account_id = :id AND l.id <= (SELECT id FROM bound)
                        AND l.account_version IS NOT NULL
                      ORDER BY l.id DESC
                      LIMIT 1), 0)
                  + (SELECT coalesce(sum(CASE WHEN l.side = 'debit' THEN l.amount
                                              ELSE -l.amount END), 0)
                       FROM payments.lines l
                      WHERE l.account_id = :id AND l.id <= (SELECT id FROM bound)
                        AND l.account_version IS NULL)
                END AS net
            )
            SELECT p.id, p.entry_id, p.created_at, p.effective_at, p.side, p.amount,
                   e.description, o.net AS opening,
                   o.net + sum(CASE WHEN p.side = 'debit' THEN p.amount ELSE -p.amount END)
                           OVER (ORDER BY p.id) AS net_after
              FROM page p JOIN payments.entries e ON e.id = p.entry_id CROSS JOIN opening o
             ORDER BY p.id
        """),
        {
            "id": account_id,
            "after": after or 0,
            "start": start,
            "end": end,
            "limit": limit,
            "high_volume": account.high_volume,
        },
    ).all()
    opening = int(rows[0].opening) * sign if rows else balance(conn, account_id).posted
    lines = tuple(
        StatementLine(
            line_id=r.id,
            entry_id=r.entry_id,
            created_at=r.created_at,
            effective_at=r.effective_at,
            side=r.side,
            amount=r.amount,
            balance_after=int(r.net_after) * sign,
            description=r.description,
        )
        for r in rows
    )
    return StatementPage(
        account_id=account_id,
        currency=account.currency,
        opening_balance=opening,
        lines=lines,
        next_cursor=lines[-1].line_id if len(lines) == limit else None,
    )


def trial_balance(conn: Connection, org_id: UUID | None = None) -> TrialBalance:
    """Each account's posted balance from the entries booked for an organization (or for all
    the caller can see), in the debit or credit column, with totals per currency.

    Grouped by the booking organization, so each organization's debits equal its credits
    even when its entries touch the platform's accounts.
    """
    rows = conn.execute(
        text("""
            SELECT l.entry_org_id AS org_id, l.account_id, a.code, a.type, l.currency,
                   sum(CASE WHEN l.side = 'debit' THEN l.amount ELSE -l.amount END) AS net
              FROM payments.lines l
              LEFT JOIN payments.accounts a ON a.id = l.account_id
             WHERE CAST(:org AS uuid) IS NULL OR l.entry_org_id = :org
             GROUP BY l.entry_org_id, l.account_id, a.code, a.type, l.currency
             ORDER BY l.entry_org_id, l.currency, a.code
        """),
        {"org": org_id},
    ).all()
    out = []
    totals: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for r in rows:
        net = int(r.net)
        row = TrialBalanceRow(
            org_id=r.org_id,
            account_id=r.account_id,
            code=r.code or "(platform)",
            type=r.type or "",
            currency=r.currency,
            debit=max(net, 0),
            credit=max(-net, 0),
        )
        totals[r.currency][0] += row.debit
        totals[r.currency][1] += row.credit
        out.append(row)
    return TrialBalance(rows=tuple(out), totals={k: (d, c) for k, (d, c) in totals.items()})

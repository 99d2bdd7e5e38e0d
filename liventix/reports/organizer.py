"""An organizer's statement: what the platform owes one organizer over a period, by
category (`CATEGORIES`, by the entry's idempotency key), its sales, its breakdown per event
and ticket type, each account tied out to the ledger (docs/reports.md). The read side: it
reads payments' and ticketing's tables on the caller's connection."""

from __future__ import annotations

import uuid
from collections import defaultdict
from datetime import datetime

from pydantic import BaseModel
from sqlalchemy import Connection, text

import ledger
from liventix.reports import breakdown
from liventix.reports.errors import AmbiguousOrganization, ReportError, UnknownOrganization
from liventix.reports.models import (
    CATEGORY_ORDER,
    Category,
    OrganizerStatementReport,
    StatementBalance,
    StatementMovement,
    StatementSales,
    StatementTieOut,
)
from liventix.reports.statement_models import StatementTransfer
from liventix.reports.statements import (
    _SIGNED,
    _TICK,
    KINDS,
    _kind,
    _normal,
    _period,
    category,
)

# -- organizer statement ------------------------------------------------------------------------


def organization_id(conn: Connection, ref: str) -> uuid.UUID:
    """The organization named by `ref`: its id, or its exact name if that is unique."""
    try:
        org_id = uuid.UUID(ref)
    except ValueError:
        found = (
            conn.execute(
                text("SELECT id FROM payments.organizations WHERE name = :name ORDER BY id"),
                {"name": ref},
            )
            .scalars()
            .all()
        )
        if not found:
            raise UnknownOrganization(name=ref) from None
        if len(found) > 1:
            raise AmbiguousOrganization(name=ref, org_ids=[str(i) for i in found]) from None
        return uuid.UUID(str(found[0]))
    if (
        conn.execute(
            text("SELECT 1 FROM payments.organizations WHERE id = :id"), {"id": org_id}
        ).first()
        is None
    ):
        raise UnknownOrganization(org_id=org_id)
    return org_id


def organizers(conn: Connection) -> list[uuid.UUID]:
    """Every organization but the platform, by name."""
    return [
        uuid.UUID(str(i))
        for i in conn.execute(
            text("SELECT id FROM payments.organizations WHERE NOT is_platform ORDER BY name, id")
        ).scalars()
    ]


# Each line of the organizer's escrow, payable and receivable accounts whose entry is effective
# in the period, summed per account and entry. The entry's date (not the line's copy of it)
# decides, so the tie-out against the lines' balances also catches a line whose date left its
# entry's.
_MOVEMENTS = text(f"""
    SELECT l.account_id, e.id AS entry_id, e.idempotency_key, sum({_SIGNED}) AS net
      FROM payments.lines l
      JOIN payments.entries e ON e.id = l.entry_id
     WHERE l.account_id = ANY(:accounts)
       AND e.effective_at >= :start AND e.effective_at < :end
     GROUP BY l.account_id, e.id, e.idempotency_key
""")

_SALES = text("""
    SELECT p.currency, count(*) AS captures, sum(p.gross) AS gross,
           sum(p.platform_fee) AS platform_fee, sum(p.stripe_fee) AS stripe_fee,
           sum(CASE WHEN p.bears_stripe_fees THEN p.stripe_fee ELSE 0 END) AS borne
      FROM payments.card_payments p JOIN payments.entries e ON e.id = p.entry_id
     WHERE p.org_id = :org AND e.effective_at >= :start AND e.effective_at < :end
     GROUP BY p.currency
""")


def organizer_statement(
    conn: Connection, org_id: uuid.UUID, *, start: datetime, end: datetime
) -> OrganizerStatementReport:
    """What the platform owes one organizer (its escrow accounts + payable - receivable), per
    currency over [start, end) by effective date: the opening balance (just before `start`),
    the movements by category (`CATEGORIES`), the period's sales (from card_payments), and
    the closing balance per kind of account and in total. Each account is tied out: its
    opening plus its movements must equal `ledger.balance_as_of` just before `end`; an account
    where they differ is a difference. So are the sales, per currency: the captures'
    organizer share (card_payments) must equal what the sales entries moved on the
    organizer's accounts (the sales movement's total); a currency where they differ is a
    difference."""
    _period(start, end)
    name = conn.execute(
        text("SELECT name FROM payments.organizations WHERE id = :id"), {"id": org_id}
    ).scalar_one_or_none()
    if name is None:
        raise UnknownOrganization(org_id=org_id)
    accounts = [
        (r, kind)
        for r in conn.execute(
            text("""SELECT id, code, type, currency FROM payments.accounts
                     WHERE org_id = :org ORDER BY currency, code"""),
            {"org": org_id},
        ).all()
        if (kind := _kind(r.code)) is not None
    ]
    moved: dict[uuid.UUID, list[tuple[uuid.UUID, Category, int]]] = defaultdict(list)
    for r in conn.execute(
        _MOVEMENTS, {"accounts": [a.id for a, _ in accounts], "start": start, "end": end}
    ):
        moved[r.account_id].append((r.entry_id, category(r.idempotency_key), int(r.net)))

    tie_out: list[StatementTieOut] = []
    per_category: dict[tuple[str, Category], dict[str, int]] = defaultdict(lambda: defaultdict(int))
    entries: dict[tuple[str, Category], set[uuid.UUID]] = defaultdict(set)
    for account, kind in accounts:
        opening = ledger.balance_as_of(conn, account.id, start - _TICK, by="effective").posted
        closing = ledger.balance_as_of(conn, account.id, end - _TICK, by="effective").posted
        if not (opening or closing or moved[account.id]):
            continue
        movements = 0
        for entry_id, cat, net in moved[account.id]:
            amount = _normal(account.type, net)
            movements += amount
            per_category[(account.currency, cat)][kind] += amount
            entries[(account.currency, cat)].add(entry_id)
        tie_out.append(
            StatementTieOut(
                currency=account.currency,
                code=account.code,
                kind=kind,
                opening=opening,
                movements=movements,
                closing=opening + movements,
                ledger_closing=closing,
                difference=opening + movements - closing,
            )
        )
    currencies = sorted({t.currency for t in tie_out})

    balances: list[StatementBalance] = []
    for cur in currencies:
        mine = [t for t in tie_out if t.currency == cur]
        totals = [0, 0, 0]
        for _, of_kind in KINDS:
            sign = -1 if of_kind == "receivable" else 1
            opening = sum(t.opening for t in mine if t.kind == of_kind)
            movements = sum(t.movements for t in mine if t.kind == of_kind)
            balances.append(
                StatementBalance(
                    currency=cur,
                    kind=of_kind,
                    opening=opening,
                    movements=movements,
                    closing=opening + movements,
                )
            )
            totals[0] += sign * opening
            totals[1] += sign * movements
        totals[2] = totals[0] + totals[1]
        balances.append(
            StatementBalance(
                currency=cur,
                kind="total",
                opening=totals[0],
                movements=totals[1],
                closing=totals[2],
            )
        )

    movement_rows = []
    for cur in currencies:
        for cat in CATEGORY_ORDER:
            amounts = per_category.get((cur, cat), {})
            escrow_, payable_, receivable_ = (
                amounts.get("escrow", 0),
                amounts.get("payable", 0),
                amounts.get("receivable", 0),
            )
            movement_rows.append(
                StatementMovement(
                    currency=cur,
                    category=cat,
                    entries=len(entries.get((cur, cat), ())),
                    escrow=escrow_,
                    payable=payable_,
                    receivable=receivable_,
                    total=escrow_ + payable_ - receivable_,
                )
            )

    sold = {
        r.currency: r
        for r in conn.execute(_SALES, {"org": org_id, "start": start, "end": end}).all()
    }
    sales = []
    for cur in sorted(set(currencies) | set(sold)):
        got = sold.get(cur)
        gross, platform, stripe_fee, borne, count = (
            (0, 0, 0, 0, 0)
            if got is None
            else (
                int(got.gross),
                int(got.platform_fee),
                int(got.stripe_fee),
                int(got.borne),
                int(got.captures),
            )
        )
        share = gross - platform - borne
        in_ledger = next(
            (m.total for m in movement_rows if m.currency == cur and m.category == "sales"), 0
        )
        sales.append(
            StatementSales(
                currency=cur,
                captures=int(count),
                gross=gross,
                platform_fee=platform,
                stripe_fee=stripe_fee,
                stripe_fee_borne=borne,
                organizer_share=share,
                ledger_sales=in_ledger,
                difference=share - in_ledger,
            )
        )
    return OrganizerStatementReport(
        title=f"Organizer statement: {name} [{start.isoformat()}, {end.isoformat()})",
        differences=sum(1 for t in tie_out if t.difference) + sum(1 for s in sales if s.difference),
        org_id=org_id,
        organizer=name,
        start=start,
        end=end,
        balances=balances,
        movements=movement_rows,
        sales=sales,
        tie_out=tie_out,
        events=breakdown.events(conn, org_id, start=start, end=end, category=category),
        ticket_types=breakdown.ticket_types(conn, org_id, start=start, end=end),
        transfers=transfers(conn, org_id, start=start, end=end),
    )


# -- transfers and what they paid -------------------------------------------------------------

# The organizer's transfers recorded in the period, with the settlement each one's entries
# were closed by (escrow.transfers: a settlement per transfer, keyed on it).
_TRANSFERS = text("""
    SELECT t.currency, t.id AS transfer_id, t.created_at, t.amount, t.reversed,
           t.settlement_id, coalesce(s.amount, 0) AS settled, coalesce(s.entry_count, 0) AS entries
      FROM payments.organizer_transfers t
      LEFT JOIN payments.settlements s ON s.id = t.settlement_id
     WHERE t.org_id = :org AND t.created_at >= :start AND t.created_at < :end
     ORDER BY t.created_at, t.id""")

# A settlement's entries, each with its net on the settled account, and what it was for: the
# captured payment (card_payments.entry_id) or the refund (card_refunds.entry_id) that booked
# it, the order paid by that payment (ticketing.orders.payment_intent_id) and its tickets.
_COVERED = text("""
    SELECT e.id AS entry_id, e.external_ref, e.description,
           sum(CASE WHEN l.side = a.normal_side THEN l.amount ELSE -l.amount END) AS amount,
           coalesce(p.id, r.payment_id) AS payment_id,
           CASE WHEN p.id IS NOT NULL THEN 'sale' WHEN r.id IS NOT NULL THEN 'refund'
                ELSE 'other' END AS kind,
           o.id AS order_id,
           coalesce((SELECT array_agg(t.id ORDER BY t.id) FROM ticketing.tickets t
                      WHERE t.order_id = o.id), '{}') AS ticket_ids
      FROM payments.settlement_entries se
      JOIN payments.entries e ON e.id = se.entry_id
      JOIN payments.lines l ON l.entry_id = e.id AND l.account_id = se.account_id
      JOIN payments.accounts a ON a.id = se.account_id
      LEFT JOIN payments.card_payments p ON p.entry_id = e.id
      LEFT JOIN payments.card_refunds r ON r.entry_id = e.id
      LEFT JOIN ticketing.orders o ON o.payment_intent_id = coalesce(p.id, r.payment_id)
     WHERE se.settlement_id = :settlement
     GROUP BY e.id, e.external_ref, e.description, e.created_at, p.id, r.id, r.payment_id, o.id
     ORDER BY e.created_at, e.id""")


def transfers(
    conn: Connection, org_id: uuid.UUID, *, start: datetime, end: datetime
) -> list[StatementTransfer]:
    """The organizer's transfers recorded in [start, end), each with its settlement."""
    rows = conn.execute(_TRANSFERS, {"org": org_id, "start": start, "end": end})
    return [
        StatementTransfer(**{**r._asdict(), "settled": int(r.settled), "entries": int(r.entries)})
        for r in rows
    ]


class TransferNotFound(ReportError):
    """No such transfer (or not this organization's)."""


class CoveredEntry(BaseModel):
    """An entry a transfer's settlement covered: its net on the settled account, and what it
    was for (a sale, a refund, something else), with the payment, order and tickets."""

    entry_id: uuid.UUID
    kind: str
    amount: int
    external_ref: str | None
    description: str
    payment_id: str | None
    order_id: uuid.UUID | None
    ticket_ids: list[uuid.UUID]


class TransferCoverage(BaseModel):
    """Which tickets a transfer paid for: transfer -> settlement -> entries -> orders."""

    transfer_id: str
    org_id: uuid.UUID
    currency: str
    amount: int
    reversed: int
    settlement_id: uuid.UUID | None
    settled: int
    entries: list[CoveredEntry]
    order_ids: list[uuid.UUID]
    ticket_ids: list[uuid.UUID]


def transfer_coverage(conn: Connection, transfer_id: str) -> TransferCoverage:
    """What the transfer paid for, from the ledger settlement it recorded: the covered
    entries, the orders their payments paid, and those orders' tickets (row-level security:
    only the caller's own transfer)."""
    row = conn.execute(
        text("""SELECT t.id, t.org_id, t.currency, t.amount, t.reversed, t.settlement_id,
                       coalesce(s.amount, 0) AS settled
                  FROM payments.organizer_transfers t
                  LEFT JOIN payments.settlements s ON s.id = t.settlement_id
                 WHERE t.id = :id"""),
        {"id": transfer_id},
    ).first()
    if row is None:
        raise TransferNotFound(transfer_id=transfer_id)
    covered = []
    if row.settlement_id is not None:
        for r in conn.execute(_COVERED, {"settlement": row.settlement_id}):
            values = {**r._asdict(), "amount": int(r.amount), "ticket_ids": list(r.ticket_ids)}
            covered.append(CoveredEntry(**values))
    orders = sorted({c.order_id for c in covered if c.order_id is not None})
    tickets = sorted({t for c in covered if c.kind == "sale" for t in c.ticket_ids})
    return TransferCoverage(
        transfer_id=row.id,
        org_id=row.org_id,
        currency=row.currency,
        amount=row.amount,
        reversed=row.reversed,
        settlement_id=row.settlement_id,
        settled=int(row.settled),
        entries=covered,
        order_ids=orders,
        ticket_ids=tickets,
    )

"""An organizer statement's breakdown per event and per ticket type (the read side: payments'
and ticketing's tables together). Per event, what its entries moved on the organizer's
accounts by category, beside the captures recorded for it; per ticket type, its tickets
among the period's captures with the captures' fees shared among them by price."""

from __future__ import annotations

import uuid
from collections import defaultdict
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, text

from liventix.reports.money import apportion
from liventix.reports.statement_models import Category, StatementEvent, StatementTicketType

NO_EVENT = "(no event)"
"""The row of the entries no event is found for (a payout, an entry booked by hand)."""

# Each entry effective in the period that moved the organizer's escrow, payable or receivable
# accounts, what it moved on each account, and the escrow (so the event) it belongs to: its
# capture's, its refund's payment's, its dispute's, the escrow its key names (release, net,
# cancel, settle), its transfer's, or its transfer reversal's transfer's.
_MOVED = text("""
    WITH moved AS (
        SELECT e.id AS entry_id, e.idempotency_key AS key, a.code, a.type, a.currency,
               sum(CASE WHEN l.side = 'debit' THEN l.amount ELSE -l.amount END) AS net
          FROM payments.lines l
          JOIN payments.entries e ON e.id = l.entry_id
          JOIN payments.accounts a ON a.id = l.account_id
         WHERE a.org_id = :org
           AND (a.code LIKE 'escrow:%' OR a.code LIKE 'payable:%' OR a.code LIKE 'receivable:%')
           AND e.effective_at >= :start AND e.effective_at < :end
         GROUP BY e.id, e.idempotency_key, a.code, a.type, a.currency
    ), keyed AS (
        SELECT DISTINCT entry_id, coalesce(key, '') AS key,
               split_part(coalesce(key, ''), ':', 3) AS third
          FROM moved
    ), owner AS (
        SELECT k.entry_id, coalesce(
            (SELECT p.escrow_id FROM payments.card_payments p
              WHERE p.entry_id = k.entry_id LIMIT 1),
            (SELECT p.escrow_id FROM payments.card_refunds r
               JOIN payments.card_payments p ON p.id = r.payment_id
              WHERE k.key ~ '^(stripe:refund:|stripe:refund-failed:|refund-failed:)'
                AND r.id = CASE WHEN k.key LIKE 'refund-failed:%'
                                THEN split_part(k.key, ':', 2) ELSE k.third END
              LIMIT 1),
            (SELECT d.escrow_id FROM payments.card_disputes d
              WHERE k.key LIKE 'stripe:dispute-%' AND d.id = k.third LIMIT 1),
            (SELECT s.id FROM payments.escrows s
              WHERE k.key ~ '^escrow:(release|net|cancel|settle):' AND s.id::text = k.third),
            (SELECT t.escrow_id FROM payments.organizer_transfers t
              WHERE k.key LIKE 'stripe:transfer:%' AND t.id = k.third LIMIT 1),
            (SELECT t.escrow_id FROM payments.transfer_reversal_requests q
               JOIN payments.organizer_transfers t ON t.id = q.transfer_id
              WHERE k.key LIKE 'stripe:transfer-reversal:%' AND q.reversal_id = k.third
              LIMIT 1)
        ) AS escrow_id
          FROM keyed k
    )
    SELECT m.key, m.code, m.type, m.currency, m.net, s.event_id
      FROM moved m
      JOIN owner o ON o.entry_id = m.entry_id
      LEFT JOIN payments.escrows s ON s.id = o.escrow_id
""")

_CAPTURED = text("""
    SELECT s.event_id, p.currency, count(*) AS captures, sum(p.gross) AS gross,
           sum(p.platform_fee + CASE WHEN p.bears_stripe_fees THEN p.stripe_fee ELSE 0 END)
               AS fees
      FROM payments.card_payments p
      JOIN payments.entries e ON e.id = p.entry_id
      JOIN payments.escrows s ON s.id = p.escrow_id
     WHERE p.org_id = :org AND e.effective_at >= :start AND e.effective_at < :end
     GROUP BY s.event_id, p.currency
""")

_TICKETS = text("""
    SELECT p.id AS payment, p.currency,
           p.platform_fee + CASE WHEN p.bears_stripe_fees THEN p.stripe_fee ELSE 0 END AS fees,
           t.price, t.status, tt.id AS type_id, tt.name AS type_name,
           ev.id::text AS event_id, ev.name AS event
      FROM payments.card_payments p
      JOIN payments.entries e ON e.id = p.entry_id
      JOIN ticketing.orders o ON o.payment_intent_id = p.id
      JOIN ticketing.tickets t ON t.order_id = o.id
      JOIN ticketing.ticket_types tt ON tt.id = t.ticket_type_id
      JOIN ticketing.events ev ON ev.id = tt.event_id
     WHERE p.org_id = :org AND e.effective_at >= :start AND e.effective_at < :end
       AND t.status IN ('issued', 'checked_in', 'refunded', 'invalidated')
     ORDER BY p.id, t.id
""")

_SIGN = {"escrow": 1, "payable": 1, "receivable": -1}


def _event_of(code: str, currency: str, escrow_event: str | None) -> str | None:
    """An escrow account names its event (`escrow:{event}:{cur}`); others go by the entry."""
    if code.startswith("escrow:"):
        return code[len("escrow:") : -(len(currency) + 1)]
    return escrow_event


def _moved(
    conn: Connection, params: dict[str, Any], category: Any
) -> dict[tuple[str, str | None], dict[str, int]]:
    """Per (currency, event): the organizer's total by category, and `released` (what the
    releases moved to payable) and `transferred` (what transfers took from the organizer's
    total, less what reversals gave back)."""
    out: dict[tuple[str, str | None], dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for r in conn.execute(_MOVED, params):
        kind = r.code.split(":", 1)[0]
        amount = int(r.net) if r.type in ("asset", "expense") else -int(r.net)
        cat: Category = category(r.key)
        sums = out[(r.currency, _event_of(r.code, r.currency.lower(), r.event_id))]
        sums[cat] += _SIGN[kind] * amount
        if kind == "payable" and cat == "releases":
            sums["released"] += amount
        if cat in ("transfers", "transfer_reversals"):
            sums["transferred"] -= _SIGN[kind] * amount
    return out


def events(
    conn: Connection, org_id: uuid.UUID, *, start: datetime, end: datetime, category: Any
) -> list[StatementEvent]:
    """The statement's rows per event and currency (`category` names an entry's category by
    its key: the statement's own)."""
    params = {"org": org_id, "start": start, "end": end}
    moved = _moved(conn, params, category)
    captured = {(r.currency, r.event_id): r for r in conn.execute(_CAPTURED, params)}
    names = {
        str(r.id): r.name
        for r in conn.execute(
            text("SELECT id, name FROM ticketing.events WHERE org_id = :org"), {"org": org_id}
        )
    }
    out = []
    for cur, event in sorted(
        set(moved) | set(captured), key=lambda k: (k[0], k[1] is None, str(k[1]))
    ):
        sums, got = moved.get((cur, event), {}), captured.get((cur, event))
        gross, fees = (0, 0) if got is None else (int(got.gross), int(got.fees))
        sales, refunds, disputes = (
            sums.get("sales", 0),
            sums.get("refunds", 0),
            sums.get("disputes", 0),
        )
        out.append(
            StatementEvent(
                currency=cur,
                event_id=event,
                event=NO_EVENT if event is None else names.get(event, event),
                captures=0 if got is None else int(got.captures),
                gross=gross,
                fees=fees,
                ledger_sales=sales,
                refunds=refunds,
                disputes=disputes,
                net=sales + refunds + disputes,
                released=sums.get("released", 0),
                transferred=sums.get("transferred", 0),
                difference=gross - fees - sales,
            )
        )
    return out


def ticket_types(
    conn: Connection, org_id: uuid.UUID, *, start: datetime, end: datetime
) -> list[StatementTicketType]:
    """The statement's rows per ticket type: its tickets among the period's captures, each
    payment's fees shared among its tickets by price (whole minor units)."""
    rows = conn.execute(_TICKETS, {"org": org_id, "start": start, "end": end}).all()
    per_payment: dict[str, list[Any]] = defaultdict(list)
    for r in rows:
        per_payment[r.payment].append(r)
    sums: dict[tuple[str, str, str], list[int]] = defaultdict(lambda: [0, 0, 0, 0, 0])
    about: dict[tuple[str, str, str], Any] = {}
    for tickets in per_payment.values():
        fees = apportion(int(tickets[0].fees), [int(t.price) for t in tickets])
        for t, fee in zip(tickets, fees, strict=True):
            key = (t.currency, t.event_id, str(t.type_id))
            about[key] = t
            refunded = t.status == "refunded"
            for n, v in enumerate((1, int(refunded), int(t.price), fee, int(t.price) * refunded)):
                sums[key][n] += v
    return [
        StatementTicketType(
            currency=cur,
            event_id=event,
            event=about[(cur, event, type_id)].event,
            ticket_type_id=type_id,
            ticket_type=about[(cur, event, type_id)].type_name,
            tickets_sold=sold,
            tickets_refunded=refunded,
            gross=gross,
            fees=fees,
            share=gross - fees,
            refunded_value=refunded_value,
        )
        for (cur, event, type_id), (sold, refunded, gross, fees, refunded_value) in sorted(
            sums.items(), key=lambda kv: (kv[0][0], about[kv[0]].event, about[kv[0]].type_name)
        )
    ]

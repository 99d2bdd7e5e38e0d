"""Stripe beside the ledger: the reconciliation of Stripe's balance transactions with the
ledger's entries on the platform's Stripe balance, and that balance's history for the chart.
Each function reads on the caller's connection."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable
from typing import Any

from sqlalchemy import Connection, text

from liventix.reports.models import (
    BalanceComparison,
    BalancePoint,
    MatchStatus,
    ReconciliationRow,
    StripeReconciliationReport,
    StripeTransaction,
)

# -- Stripe -------------------------------------------------------------------------------------

# The ledger's entries on the Stripe balance: their net on it (debit positive), the fee Stripe
# took (a capture's recorded Stripe fee; a dispute's fee, signed like Stripe's) and the
# external reference escrow booked them under.
_LEDGER_STRIPE_ENTRIES = text("""
    WITH sb AS (
        SELECT l.entry_id, l.currency,
               sum(CASE WHEN l.side = 'debit' THEN l.amount ELSE -l.amount END) AS net
          FROM payments.lines l JOIN payments.accounts a ON a.id = l.account_id
         WHERE a.code LIKE 'stripe\\_balance:%'
         GROUP BY l.entry_id, l.currency
    )
    SELECT row_number() OVER (ORDER BY e.created_at, sb.entry_id, sb.currency) AS position,
           sb.entry_id, sb.currency, sb.net, e.external_ref,
           coalesce((SELECT p.stripe_fee FROM payments.card_payments p
                      WHERE p.entry_id = sb.entry_id LIMIT 1),
                    (SELECT sum(CASE WHEN l.side = 'debit' THEN l.amount ELSE -l.amount END)
                       FROM payments.lines l JOIN payments.accounts a ON a.id = l.account_id
                      WHERE l.entry_id = sb.entry_id AND a.code LIKE 'dispute\\_fees:%'),
                    0) AS fee
      FROM sb JOIN payments.entries e ON e.id = sb.entry_id
     ORDER BY e.created_at, sb.entry_id, sb.currency
""")

_SUFFIXES_OUT = ("withdrawn", "paid")  # money leaving the balance
_SUFFIXES_IN = ("reinstated", "failed", "lost")


def _candidate_refs(txn: StripeTransaction) -> list[str]:
    """The external references escrow may have booked this transaction under: the balance
    transaction's id (captures), its source (refunds, transfers, reversals), or the source
    with the movement's suffix (disputes, payouts, failed refunds)."""
    refs = [txn.id]
    if txn.source:
        refs.append(txn.source)
        suffixes = _SUFFIXES_OUT + _SUFFIXES_IN if txn.net < 0 else _SUFFIXES_IN + _SUFFIXES_OUT
        refs += [f"{txn.source}:{s}" for s in suffixes]
    return refs


def _take(
    candidates: dict[str, list[Any]], refs: list[str], currency: str, net: int
) -> tuple[str | None, Any, bool]:
    """The first unmatched ledger entry booked under one of `refs` (in order) in `currency`
    that moved the balance the same way as the transaction (`net`'s sign: a refund and its
    failure share the refund as their source); failing that, the first in `currency` either
    way (an amount mismatch), then the first in another currency (a currency mismatch).
    Returns its reference, the entry (removed from `candidates`) and whether the currency
    agrees; (None, None, False) when there is none."""
    tiers: tuple[tuple[bool, bool], ...] = ((True, True), (True, False), (False, False))
    for same_currency, same_way in tiers:
        for ref in refs:
            for n, item in enumerate(candidates.get(ref, ())):
                if (item.currency.upper() == currency) is not same_currency:
                    continue
                if same_way and (int(item.net) > 0) != (net > 0):
                    continue
                return ref, candidates[ref].pop(n), same_currency
    return None, None, False


def stripe_reconciliation(
    conn: Connection, transactions: Iterable[StripeTransaction]
) -> StripeReconciliationReport:
    """Match Stripe's balance transactions to the ledger's Stripe-balance entries by id.

    An external reference is unique per booking organization only, so several entries may
    share one: each is matched at most once, and those left are missing in Stripe. A
    transaction matches an entry of its own currency; an entry found under its references in
    another currency only is paired with it as a currency mismatch. Each side's unmatched
    items are missing on the other; a matched pair whose fee differs is a fee mismatch, whose
    amount (or net) differs an amount mismatch. The ledger's Stripe balance per currency is
    compared with the sum of Stripe's nets."""
    ledger_items: dict[str, list[Any]] = defaultdict(list)
    unreferenced: list[Any] = []
    for row in conn.execute(_LEDGER_STRIPE_ENTRIES).all():
        if row.external_ref is None:
            unreferenced.append(row)
        else:
            ledger_items[row.external_ref].append(row)
    rows: list[ReconciliationRow] = []
    stripe_net: dict[str, int] = defaultdict(int)
    for txn in transactions:
        cur = txn.currency.upper()
        stripe_net[cur] += txn.net
        ref, item, same_currency = _take(ledger_items, _candidate_refs(txn), cur, txn.net)
        status: MatchStatus
        if item is None:
            status = "missing_in_ledger"
            l_net = l_fee = l_amount = None
        else:
            l_net, l_fee = int(item.net), int(item.fee)
            l_amount = l_net + l_fee
            # A fee off changes the net with it: that is a fee mismatch, the gross agreeing.
            if not same_currency:
                status = "currency_mismatch"
            elif l_amount != txn.amount:
                status = "amount_mismatch"
            elif l_fee != txn.fee:
                status = "fee_mismatch"
            elif l_net != txn.net:
                status = "amount_mismatch"
            else:
                status = "matched"
        rows.append(
            ReconciliationRow(
                status=status,
                currency=cur,
                ledger_currency=None if item is None else item.currency,
                stripe_id=txn.id,
                source=txn.source,
                category=txn.reporting_category,
                ledger_ref=ref,
                entry_id=None if item is None else item.entry_id,
                stripe_amount=txn.amount,
                ledger_amount=l_amount,
                stripe_fee=txn.fee,
                ledger_fee=l_fee,
                stripe_net=txn.net,
                ledger_net=l_net,
            )
        )
    left = [item for items in ledger_items.values() for item in items]
    for item in sorted([*left, *unreferenced], key=lambda i: i.position):
        net, fee = int(item.net), int(item.fee)
        rows.append(
            ReconciliationRow(
                status="missing_in_stripe",
                currency=item.currency,
                ledger_currency=item.currency,
                stripe_id=None,
                source=None,
                category=None,
                ledger_ref=item.external_ref,
                entry_id=item.entry_id,
                stripe_amount=None,
                ledger_amount=net + fee,
                stripe_fee=None,
                ledger_fee=fee,
                stripe_net=None,
                ledger_net=net,
            )
        )
    ledger_balances: dict[str, int] = {
        r.currency: int(r.net)
        for r in conn.execute(
            text("""SELECT a.currency,
                           sum(CASE WHEN l.side = 'debit' THEN l.amount ELSE -l.amount END)
                               AS net
                      FROM payments.lines l JOIN payments.accounts a ON a.id = l.account_id
                     WHERE a.code LIKE 'stripe\\_balance:%' GROUP BY a.currency""")
        )
    }
    balances = [
        BalanceComparison(
            currency=cur,
            ledger_balance=int(ledger_balances.get(cur, 0)),
            stripe_balance=stripe_net.get(cur, 0),
            difference=int(ledger_balances.get(cur, 0)) - stripe_net.get(cur, 0),
        )
        for cur in sorted(set(ledger_balances) | set(stripe_net))
    ]
    count = Counter(r.status for r in rows)
    return StripeReconciliationReport(
        differences=len(rows) - count["matched"] + sum(1 for b in balances if b.difference),
        matched=count["matched"],
        missing_in_ledger=count["missing_in_ledger"],
        missing_in_stripe=count["missing_in_stripe"],
        amount_mismatches=count["amount_mismatch"],
        fee_mismatches=count["fee_mismatch"],
        currency_mismatches=count["currency_mismatch"],
        balances=balances,
        rows=rows,
    )


_BUCKETS = (("second", 1), ("minute", 60), ("hour", 3_600), ("day", 86_400))
"""The chart's steps, finest first: the finest that gives at most CHART_POINTS steps."""
CHART_POINTS = 240


def stripe_balance_history(conn: Connection) -> list[BalancePoint]:
    """The platform's Stripe balance per currency at the end of each step with movements (by
    effective date): a step of a second, minute, hour or day, the finest that keeps the
    span of the movements within CHART_POINTS steps (a demo season of a minute is drawn by
    the second, a year by the day)."""
    span = conn.execute(
        text("""SELECT extract(epoch FROM max(l.effective_at) - min(l.effective_at))
                  FROM payments.lines l JOIN payments.accounts a ON a.id = l.account_id
                 WHERE a.code LIKE 'stripe\\_balance:%'""")
    ).scalar_one()
    seconds = float(span or 0)
    unit = next((u for u, size in _BUCKETS if seconds / size <= CHART_POINTS), "day")
    rows = conn.execute(
        text("""SELECT currency, step + CAST('1 ' || :unit AS interval) AS at,
                       sum(net) OVER (PARTITION BY currency ORDER BY step) AS balance
                  FROM (SELECT a.currency, date_trunc(:unit, l.effective_at, 'UTC') AS step,
                               sum(CASE WHEN l.side = 'debit' THEN l.amount ELSE -l.amount END)
                                   AS net
                          FROM payments.lines l JOIN payments.accounts a ON a.id = l.account_id
                         WHERE a.code LIKE 'stripe\\_balance:%'
                         GROUP BY 1, 2) d
                 ORDER BY currency, step"""),
        {"unit": unit},
    ).all()
    return [BalancePoint(currency=r.currency, at=r.at, balance=int(r.balance)) for r in rows]

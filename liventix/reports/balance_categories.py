"""The balance sheet by account category: which category holds each account directly (the
chart's seeded ones: an organizer's `escrow:<cur>`, `payables:<cur>`, `receivables:<cur>`
under `owed_to_organizer:<cur>`; the platform's `cash:<cur>`, `fee_revenue:<cur>`,
`processing_costs:<cur>`), and each category's balance as the sum of the accounts it reaches,
beside the ledger's own balance of the category (`ledger.category_balances`).

The read side: it reads the ledger's category tables (`payments.account_categories`,
`payments.category_members`) directly, in one statement, on the caller's connection (row-level
security applies), and the categories' balances through the ledger's public face."""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, text

import ledger
from liventix.reports.balance_sheet_models import BalanceSheetCategory

# Every category with the accounts it reaches (nested categories followed; UNION ends the walk
# on a cycle written by hand), marking the accounts it holds directly.
_REACHED = text("""
    WITH RECURSIVE tree(root, id) AS (
        SELECT c.id, c.id FROM payments.account_categories c
        UNION
        SELECT t.root, m.member_category_id FROM tree t
          JOIN payments.category_members m ON m.category_id = t.id
         WHERE m.member_category_id IS NOT NULL
    )
    SELECT t.root AS category_id, m.account_id, bool_or(t.root = t.id) AS direct
      FROM tree t JOIN payments.category_members m ON m.category_id = t.id
     WHERE m.account_id IS NOT NULL
     GROUP BY t.root, m.account_id
""")

_CATEGORIES = text("""
    SELECT c.id, c.org_id, c.code, c.name, c.currency, c.normal_side,
           (SELECT min(p.code) FROM payments.category_members m
              JOIN payments.account_categories p ON p.id = m.category_id
             WHERE m.member_category_id = c.id) AS nested_in
      FROM payments.account_categories c
""")


@dataclass(frozen=True)
class Categorized:
    """Each account's direct category (its code) and every category's row."""

    of_account: dict[uuid.UUID, str]
    rows: list[BalanceSheetCategory]


def by_category(
    conn: Connection,
    net_debits: Mapping[uuid.UUID, int],
    *,
    as_of: datetime,
    scope: Callable[[uuid.UUID], str],
    order: Callable[[uuid.UUID], tuple[bool, str, str]],
) -> Categorized:
    """The categories of the accounts whose debit-minus-credit balances by `as_of` are
    `net_debits` (an account missing there has none): each account's direct category (the
    first by code when several hold it), and per category the sum of the accounts it reaches
    on its normal side beside the ledger's balance of it by effective date (categories with
    nothing effective by then left out)."""
    categories = conn.execute(_CATEGORIES).all()
    reached: dict[uuid.UUID, set[uuid.UUID]] = defaultdict(set)
    direct: dict[uuid.UUID, list[str]] = defaultdict(list)
    code = {c.id: c.code for c in categories}
    for r in conn.execute(_REACHED):
        reached[r.category_id].add(r.account_id)
        if r.direct and r.category_id in code:
            direct[r.account_id].append(code[r.category_id])
    ledger_balances = ledger.category_balances(
        conn, [c.id for c in categories], at=as_of, by="effective"
    )
    rows = []
    for c in categories:
        found = ledger_balances.get(c.id)
        booked = 0 if found is None else found.posted
        if booked == 0 and not any(a in net_debits for a in reached[c.id]):
            continue  # nothing of it effective yet (categories are as they stand now)
        net = sum(net_debits.get(a, 0) for a in reached[c.id])
        balance = net if c.normal_side == "debit" else -net
        rows.append(
            BalanceSheetCategory(
                scope=scope(c.org_id),
                org_id=c.org_id,
                currency=c.currency,
                code=c.code,
                name=c.name,
                nested_in=c.nested_in or "",
                normal_side=c.normal_side,
                accounts=len(reached[c.id]),
                balance=balance,
                ledger_balance=booked,
                difference=balance - booked,
            )
        )
    # Per owner and currency, each top-level category followed by those nested in it.
    rows.sort(
        key=lambda x: (order(x.org_id), x.currency, x.nested_in or x.code, x.nested_in, x.code)
    )
    return Categorized({a: min(codes) for a, codes in direct.items()}, rows)

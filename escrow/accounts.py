"""Resolving a recipe's legs to ledger accounts: the chart's accounts are opened on first use
(idempotently, by a key derived from their code) and looked up by code afterwards, through
the ledger's public face.

The chart is seeded into account categories as its accounts open (`CHART_CATEGORIES`): an
organizer's escrow accounts (one per event) in `escrow:<cur>`, its payable and receivable in
`payables:<cur>` and `receivables:<cur>`, the three under `owed_to_organizer:<cur>` (credit
normal: what the platform owes the organizer, receivables netted); the platform's Stripe
balance, bank and disputed funds in `cash:<cur>`, its fee revenue in `fee_revenue:<cur>`, the
fees it bears in `processing_costs:<cur>`. The reports read their balances."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from sqlalchemy import Connection

import ledger
from escrow.errors import EscrowError
from escrow.recipes import AccountSpec, Leg, Owner


@dataclass(frozen=True)
class ChartCategory:
    """A category the chart's accounts join: its code's stem (`<stem>:<cur>`), name, normal
    side and the category it nests in, if any (a stem too)."""

    stem: str
    name: str
    normal_side: Literal["debit", "credit"]
    parent: str | None = None


_OWED = ChartCategory("owed_to_organizer", "Owed to the organizer (net)", "credit")
_ESCROW = ChartCategory("escrow", "Escrow held for the organizer", "credit", _OWED.stem)
_PAYABLES = ChartCategory("payables", "Released, not yet transferred", "credit", _OWED.stem)
_RECEIVABLES = ChartCategory("receivables", "Owed by the organizer", "debit", _OWED.stem)
_CASH = ChartCategory("cash", "Cash: Stripe balance, bank, disputed funds", "debit")
_FEES = ChartCategory("fee_revenue", "Platform fee revenue", "credit")
_COSTS = ChartCategory("processing_costs", "Stripe's processing and dispute fees", "debit")

# (owner, account code prefix) -> the category its accounts join (recipes.py's chart).
CHART_CATEGORIES: dict[tuple[Owner, str], ChartCategory] = {
    ("organizer", "escrow:"): _ESCROW,
    ("organizer", "payable:"): _PAYABLES,
    ("organizer", "receivable:"): _RECEIVABLES,
    ("platform", "stripe_balance:"): _CASH,
    ("platform", "bank:"): _CASH,
    ("platform", "disputed_funds:"): _CASH,
    ("platform", "platform_fees:"): _FEES,
    ("platform", "stripe_fees:"): _COSTS,
    ("platform", "dispute_fees:"): _COSTS,
}
PARENTS = {c.stem: c for c in (_OWED,)}


def chart_category(owner: Owner, code: str) -> ChartCategory | None:
    """The category a chart account of this owner and code joins, if any."""
    return next(
        (c for (o, p), c in CHART_CATEGORIES.items() if o == owner and code.startswith(p)), None
    )


class NoPlatform(EscrowError):
    """The platform organization is not registered."""


def platform_org(conn: Connection) -> uuid.UUID:
    """The platform organization's id."""
    org = ledger.platform_org(conn)
    if org is None:
        raise NoPlatform()
    return org


def ensure_accounts(
    conn: Connection,
    organizer: uuid.UUID,
    currency: str,
    specs: Sequence[AccountSpec],
    platform: uuid.UUID | None = None,
) -> dict[tuple[Owner, str], uuid.UUID]:
    """Ids of the given chart accounts, opening the missing ones."""
    platform = platform or platform_org(conn)
    owners: dict[Owner, uuid.UUID] = {"platform": platform, "organizer": organizer}
    wanted = {(s.owner, s.code): s for s in specs}
    ids = ledger.find_accounts(conn, [(owners[o], c) for o, c in wanted])
    by_org = {v: k for k, v in owners.items()}
    found = {(by_org[org], code): account_id for (org, code), account_id in ids.items()}
    for key, spec in wanted.items():
        if key in found:
            continue
        org = owners[spec.owner]
        found[key] = ledger.open_account(
            conn,
            org,
            ledger.OpenAccount(
                idempotency_key=f"chart:{spec.code}",
                code=spec.code,
                type=spec.type,  # type: ignore[arg-type]
                currency=currency,
                high_volume=spec.high_volume,
            ),
        ).id
        join_category(conn, org, spec.owner, (spec.code, currency, found[key]))
    return found


def _category(
    conn: Connection, org: uuid.UUID, category: ChartCategory, currency: str
) -> ledger.CategoryWrite:
    code = f"{category.stem}:{currency.lower()}"
    return ledger.create_category(
        conn,
        org,
        ledger.CreateCategory(
            idempotency_key=f"chart-category:{code}",
            code=code,
            currency=currency,
            normal_side=category.normal_side,
            name=category.name,
        ),
    )


def join_category(
    conn: Connection, org: uuid.UUID, owner: Owner, account: tuple[str, str, uuid.UUID]
) -> uuid.UUID | None:
    """Put a chart account into its category (created, and nested in its parent, on first
    use; every step idempotent by a key derived from the codes); `account` is its (code,
    currency, id). The category's id, or None when the chart puts it in none."""
    code, currency, account_id = account
    category = chart_category(owner, code)
    if category is None:
        return None
    made = _category(conn, org, category, currency)
    ledger.add_category_members(
        conn,
        org,
        ledger.CategoryMembers(
            idempotency_key=f"chart-member:{code}", category_id=made.id, account_ids=[account_id]
        ),
    )
    if category.parent is not None and not made.replayed:
        parent = _category(conn, org, PARENTS[category.parent], currency)
        ledger.add_category_members(
            conn,
            org,
            ledger.CategoryMembers(
                idempotency_key=f"chart-member:{category.stem}:{currency.lower()}",
                category_id=parent.id,
                category_ids=[made.id],
            ),
        )
    return made.id


def seed_categories(conn: Connection) -> int:
    """Put every chart account the caller sees, opened before categories existed, into its
    category (idempotent: a run after another changes nothing); how many accounts the chart
    put in one."""
    platform = ledger.platform_org(conn)
    seen = 0
    after: ledger.PageKey | None = None
    while True:
        page = ledger.list_accounts(conn, after=after, limit=500)
        for account in page.accounts:
            owner: Owner = "platform" if account.org_id == platform else "organizer"
            joined = join_category(
                conn, account.org_id, owner, (account.code, account.currency, account.id)
            )
            seen += joined is not None
        if page.next_after is None:
            return seen
        after = page.next_after


def lines(
    conn: Connection,
    organizer: uuid.UUID,
    currency: str,
    legs: Sequence[Leg],
    platform: uuid.UUID | None = None,
) -> list[ledger.Line]:
    """The ledger lines of a recipe's legs."""
    ids = ensure_accounts(conn, organizer, currency, [leg.account for leg in legs], platform)
    return [ledger.Line(ids[(leg.owner, leg.code)], leg.side, leg.amount, currency) for leg in legs]

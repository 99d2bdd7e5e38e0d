"""Reading account categories (`ledger.categories` writes them): a category with its direct
members and its balances, now or as of a time, in one set-based query over the accounts it
reaches (nested categories followed, each account counted once); pages of categories.

Every query runs on the caller's connection, so row-level security applies to what it sees.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import Connection, text

from ledger.categories import Category, CategoryBalance, CategoryNotFound
from ledger.errors import InvalidRequest

# The accounts each root category reaches, each once: nested categories followed with UNION
# (which also ends the walk should a cycle ever be written by hand).
_REACHED = """
    WITH RECURSIVE tree(root, id) AS (
        SELECT c.id, c.id FROM payments.account_categories c
         WHERE c.id = ANY (CAST(:ids AS uuid[]))
        UNION
        SELECT t.root, m.member_category_id FROM tree t
          JOIN payments.category_members m ON m.category_id = t.id
         WHERE m.member_category_id IS NOT NULL
    ), reached AS (
        SELECT DISTINCT t.root, m.account_id FROM tree t
          JOIN payments.category_members m ON m.category_id = t.id
         WHERE m.account_id IS NOT NULL
    )"""

_NOW = """
    SELECT account_id, posted_debits, posted_credits, pending_debits, pending_credits
      FROM payments.account_balances
     WHERE account_id IN (SELECT account_id FROM reached)"""

# The ledger's point-in-time read (payments.balance_as_of, as ledger.balance_as_of reads it),
# for every reached account in the same statement.
_AS_OF = """
    SELECT b.* FROM (SELECT DISTINCT account_id FROM reached) x
     CROSS JOIN LATERAL payments.balance_as_of(x.account_id, :at, :effective) b"""


def _balances_sql(as_of: bool) -> str:
    balances = _AS_OF if as_of else _NOW
    return f"""{_REACHED}
        SELECT c.id, c.currency, c.normal_side, count(b.account_id) AS accounts,
               coalesce(sum(b.posted_debits), 0) AS posted_debits,
               coalesce(sum(b.posted_credits), 0) AS posted_credits,
               coalesce(sum(b.pending_debits), 0) AS pending_debits,
               coalesce(sum(b.pending_credits), 0) AS pending_credits
          FROM payments.account_categories c
          LEFT JOIN reached r ON r.root = c.id
          LEFT JOIN ({balances}) b ON b.account_id = r.account_id
         WHERE c.id = ANY (CAST(:ids AS uuid[]))
         GROUP BY c.id, c.currency, c.normal_side"""


def category_balances(
    conn: Connection,
    category_ids: Sequence[uuid.UUID],
    *,
    at: datetime | None = None,
    by: Literal["recorded", "effective"] = "recorded",
) -> dict[uuid.UUID, CategoryBalance]:
    """The balances of these categories (those the caller sees), now or as of `at` (as
    recorded by then, or with every line effective by then), in one query."""
    if at is not None and at.tzinfo is None:
        raise InvalidRequest("`at` must be timezone-aware")
    if by not in ("recorded", "effective"):
        raise InvalidRequest("by is 'recorded' or 'effective'")
    if not category_ids:
        return {}
    params: dict[str, Any] = {"ids": list(dict.fromkeys(category_ids))}
    if at is not None:
        params |= {"at": at, "effective": by == "effective"}
    rows = conn.execute(text(_balances_sql(at is not None)), params).all()
    return {
        r.id: CategoryBalance(
            category_id=r.id,
            currency=r.currency,
            normal_side=r.normal_side,
            posted_debits=int(r.posted_debits),
            posted_credits=int(r.posted_credits),
            pending_debits=int(r.pending_debits),
            pending_credits=int(r.pending_credits),
            accounts=int(r.accounts),
        )
        for r in rows
    }


def category_accounts(conn: Connection, category_id: uuid.UUID) -> frozenset[uuid.UUID]:
    """Every account the category reaches, through nested categories too."""
    rows = conn.execute(
        text(f"{_REACHED} SELECT account_id FROM reached"), {"ids": [category_id]}
    ).scalars()
    return frozenset(rows)


_CATEGORIES = """
    SELECT c.id, c.org_id, c.code, c.name, c.currency, c.normal_side, c.metadata, c.created_at,
           coalesce(array_agg(m.account_id ORDER BY m.id) FILTER (WHERE m.account_id IS NOT NULL),
                    ARRAY[]::uuid[]) AS account_ids,
           coalesce(array_agg(m.member_category_id ORDER BY m.id)
                        FILTER (WHERE m.member_category_id IS NOT NULL),
                    ARRAY[]::uuid[]) AS category_ids
      FROM payments.account_categories c
      LEFT JOIN payments.category_members m ON m.category_id = c.id AND m.org_id = c.org_id
     WHERE {where}
     GROUP BY c.id, c.org_id
     ORDER BY c.created_at, c.id
     LIMIT :limit"""


def _categories(
    conn: Connection,
    where: str,
    params: dict[str, Any],
    *,
    limit: int,
    at: datetime | None,
    by: Literal["recorded", "effective"],
) -> list[Category]:
    rows = conn.execute(text(_CATEGORIES.format(where=where)), {**params, "limit": limit}).all()
    balances = category_balances(conn, [r.id for r in rows], at=at, by=by)
    return [
        Category(
            id=r.id,
            org_id=r.org_id,
            code=r.code,
            name=r.name,
            currency=r.currency,
            normal_side=r.normal_side,
            metadata=r.metadata,
            created_at=r.created_at,
            account_ids=tuple(r.account_ids),
            category_ids=tuple(r.category_ids),
            balance=balances[r.id],
        )
        for r in rows
    ]


def get_category(
    conn: Connection,
    category_id: uuid.UUID,
    *,
    at: datetime | None = None,
    by: Literal["recorded", "effective"] = "recorded",
) -> Category:
    """The category, its direct members and its balances now (or as of `at`)."""
    found = _categories(conn, "c.id = :id", {"id": category_id}, limit=1, at=at, by=by)
    if not found:
        raise CategoryNotFound(category_id=str(category_id))
    return found[0]


def find_category(conn: Connection, org_id: uuid.UUID, code: str) -> uuid.UUID | None:
    """The id of the organization's category with this code, if any (and visible)."""
    found: uuid.UUID | None = conn.execute(
        text("SELECT id FROM payments.account_categories WHERE org_id = :org AND code = :code"),
        {"org": org_id, "code": code},
    ).scalar_one_or_none()
    return found


def list_categories(
    conn: Connection,
    org_id: uuid.UUID | None = None,
    *,
    currency: str | None = None,
    starting_after: uuid.UUID | None = None,
    limit: int = 100,
    at: datetime | None = None,
) -> tuple[list[Category], bool]:
    """A page of the categories the caller sees (of one organization, or all), oldest first,
    with their balances; and whether more follow. `starting_after` is the last id of the
    previous page."""
    if not 0 < limit <= 1000:
        raise InvalidRequest("limit is between 1 and 1000")
    where = ["(CAST(:org AS uuid) IS NULL OR c.org_id = :org)"]
    where.append("(CAST(:currency AS text) IS NULL OR c.currency = :currency)")
    if starting_after is not None:
        where.append(
            "(c.created_at, c.id) > (SELECT x.created_at, x.id FROM payments.account_categories x"
            " WHERE x.id = :after)"
        )
    params = {"org": org_id, "currency": currency, "after": starting_after}
    found = _categories(conn, " AND ".join(where), params, limit=limit + 1, at=at, by="recorded")
    return found[:limit], len(found) > limit

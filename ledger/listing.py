"""Reading the ledger for other packages: keyset-paginated lists of accounts and entries,
entries by id with their lines, accounts and balances by code, an entry by its idempotency
key, the platform organization and whether an organization exists.

These are the reads other packages used to make with their own SQL on `payments.*`. Every
query runs on the caller's connection under its role, so row-level security bounds what it
sees; a query given an organization also filters by it (the index's prefix, and a second
belt).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any
from uuid import UUID

from sqlalchemy import Connection, Row, text

from ledger.errors import InvalidRequest
from ledger.models import (
    Account,
    AccountPage,
    Balance,
    Entry,
    EntryLine,
    EntryPage,
    PageKey,
)

_ACCOUNT_COLUMNS = """
    a.id, a.org_id, a.code, a.name, a.type, a.currency, a.created_at,
    a.debits_must_not_exceed_credits, a.credits_must_not_exceed_debits, a.high_volume,
    a.closed, a.metadata, b.normal_side, b.posted_debits, b.posted_credits, b.pending_debits,
    b.pending_credits, b.version
"""

_LIST_ACCOUNTS = text(f"""
    SELECT {_ACCOUNT_COLUMNS}
      FROM payments.accounts a
      JOIN payments.account_balances b ON b.account_id = a.id
     WHERE (CAST(:org AS uuid) IS NULL OR a.org_id = :org)
       AND (CAST(:after_at AS timestamptz) IS NULL
            OR (a.created_at, a.id) > (CAST(:after_at AS timestamptz), CAST(:after_id AS uuid)))
     ORDER BY a.created_at, a.id
     LIMIT :limit
""")

_ACCOUNTS_BY_CODE = text(f"""
    SELECT {_ACCOUNT_COLUMNS}
      FROM payments.accounts a
      JOIN payments.account_balances b ON b.account_id = a.id
     WHERE a.org_id = :org
       AND (CAST(:codes AS text[]) IS NULL OR a.code = ANY (CAST(:codes AS text[])))
     ORDER BY a.code
""")

_FIND_ACCOUNTS = text("""
    SELECT a.org_id, a.code, a.id
      FROM payments.accounts a
     WHERE (a.org_id, a.code) IN (SELECT * FROM unnest(CAST(:orgs AS uuid[]),
                                                       CAST(:codes AS text[])))
""")

_LIST_ENTRIES = text("""
    SELECT e.id, e.created_at
      FROM payments.entries e
     WHERE (CAST(:org AS uuid) IS NULL OR e.org_id = :org)
       AND (CAST(:account AS uuid) IS NULL
            OR EXISTS (SELECT FROM payments.lines x
                        WHERE x.entry_id = e.id AND x.account_id = :account))
       AND (CAST(:after_at AS timestamptz) IS NULL
            OR (e.created_at, e.id) > (CAST(:after_at AS timestamptz), CAST(:after_id AS uuid)))
     ORDER BY e.created_at, e.id
     LIMIT :limit
""")

_ENTRIES = text("""
    SELECT e.id, e.org_id, e.kind, e.description, e.metadata, e.effective_at, e.created_at,
           e.external_ref, e.reverses_entry_id, e.hold_id
      FROM payments.entries e
     WHERE e.id = ANY (CAST(:ids AS uuid[]))
""")

_LINES = text("""
    SELECT l.id, l.entry_id, l.account_id, l.side, l.amount, l.currency, l.account_version
      FROM payments.lines l
     WHERE l.entry_id = ANY (CAST(:ids AS uuid[]))
     ORDER BY l.id
""")

# The key's record names the entry it produced; joined to the entry so that only an entry
# (not a hold or an account written under the key) is answered.
_ENTRY_BY_KEY = text("""
    SELECT e.id
      FROM payments.idempotency_keys k
      JOIN payments.entries e ON e.id = CAST(k.result ->> 'id' AS uuid) AND e.org_id = k.org_id
     WHERE k.org_id = :org AND k.key = :key AND k.status = 'succeeded'
       AND k.operation IN ('post_entries', 'post_hold')
""")

_PLATFORM = text("SELECT id FROM payments.organizations WHERE is_platform")
_ORG_EXISTS = text("SELECT EXISTS (SELECT FROM payments.organizations WHERE id = :id)")

_MAX_PAGE = 1000


def _check_limit(limit: int) -> None:
    if isinstance(limit, bool) or not isinstance(limit, int) or not 0 < limit <= _MAX_PAGE:
        raise InvalidRequest(f"limit is between 1 and {_MAX_PAGE}")


def _after(after: PageKey | None) -> dict[str, Any]:
    if after is None:
        return {"after_at": None, "after_id": None}
    at, row_id = after
    if at.tzinfo is None:
        raise InvalidRequest("a page key's time must be timezone-aware")
    return {"after_at": at, "after_id": row_id}


def _account(r: Row[Any]) -> Account:
    return Account(
        id=r.id,
        org_id=r.org_id,
        code=r.code,
        name=r.name,
        type=r.type,
        currency=r.currency,
        debits_must_not_exceed_credits=r.debits_must_not_exceed_credits,
        credits_must_not_exceed_debits=r.credits_must_not_exceed_debits,
        high_volume=r.high_volume,
        closed=r.closed,
        metadata=r.metadata,
        balance=Balance(
            account_id=r.id,
            currency=r.currency,
            normal_side=r.normal_side,
            posted_debits=int(r.posted_debits),
            posted_credits=int(r.posted_credits),
            pending_debits=int(r.pending_debits),
            pending_credits=int(r.pending_credits),
            version=r.version,
        ),
    )


def list_accounts(
    conn: Connection,
    org_id: UUID | None = None,
    *,
    after: PageKey | None = None,
    limit: int = 100,
) -> AccountPage:
    """A page of accounts with their balances, oldest first (of `org_id`, or all the caller
    sees); pass the page's `next_after` as `after` for the next page."""
    _check_limit(limit)
    rows = conn.execute(_LIST_ACCOUNTS, {"org": org_id, "limit": limit, **_after(after)}).all()
    last = rows[-1] if len(rows) == limit else None
    return AccountPage(
        accounts=tuple(_account(r) for r in rows),
        next_after=(last.created_at, last.id) if last is not None else None,
    )


def accounts_by_code(
    conn: Connection, org_id: UUID, codes: Sequence[str] | None = None
) -> dict[str, Account]:
    """The organization's accounts (those with the given codes, or all) with their balances
    now, by code; a code with no account is absent."""
    rows = conn.execute(
        _ACCOUNTS_BY_CODE, {"org": org_id, "codes": list(codes) if codes is not None else None}
    ).all()
    return {r.code: _account(r) for r in rows}


def find_accounts(
    conn: Connection, keys: Iterable[tuple[UUID, str]]
) -> dict[tuple[UUID, str], UUID]:
    """The ids of the accounts named by (organization, code), in one query; a pair with no
    account (or one the caller cannot see) is absent."""
    pairs = list(dict.fromkeys(keys))
    if not pairs:
        return {}
    rows = conn.execute(
        _FIND_ACCOUNTS, {"orgs": [o for o, _ in pairs], "codes": [c for _, c in pairs]}
    ).all()
    return {(r.org_id, r.code): r.id for r in rows}


def get_entries(conn: Connection, entry_ids: Sequence[UUID]) -> list[Entry]:
    """The entries (with their lines, in posting order) among these ids that the caller sees,
    in the order the ids were given; an unknown id is left out."""
    ids = list(dict.fromkeys(entry_ids))
    if not ids:
        return []
    heads = {r.id: r for r in conn.execute(_ENTRIES, {"ids": ids})}
    lines: dict[UUID, list[EntryLine]] = {i: [] for i in heads}
    for x in conn.execute(_LINES, {"ids": list(heads)}):
        lines[x.entry_id].append(
            EntryLine(
                id=x.id,
                account_id=x.account_id,
                side=x.side,
                amount=x.amount,
                currency=x.currency,
                account_version=x.account_version,
            )
        )
    return [
        Entry(
            id=h.id,
            org_id=h.org_id,
            kind=h.kind,
            description=h.description,
            metadata=h.metadata,
            effective_at=h.effective_at,
            created_at=h.created_at,
            external_ref=h.external_ref,
            reverses_entry_id=h.reverses_entry_id,
            hold_id=h.hold_id,
            lines=tuple(lines[h.id]),
        )
        for i in ids
        if (h := heads.get(i)) is not None
    ]


def list_entries(
    conn: Connection,
    org_id: UUID | None = None,
    *,
    account_id: UUID | None = None,
    after: PageKey | None = None,
    limit: int = 100,
) -> EntryPage:
    """A page of entries with their lines, oldest first (of `org_id`, or all the caller
    sees; only those touching `account_id` if given); pass `next_after` for the next page."""
    _check_limit(limit)
    rows = conn.execute(
        _LIST_ENTRIES,
        {"org": org_id, "account": account_id, "limit": limit, **_after(after)},
    ).all()
    last = rows[-1] if len(rows) == limit else None
    return EntryPage(
        entries=tuple(get_entries(conn, [r.id for r in rows])),
        next_after=(last.created_at, last.id) if last is not None else None,
    )


def entry_by_key(conn: Connection, org_id: UUID, idempotency_key: str) -> UUID | None:
    """The id of the entry the organization posted under this idempotency key, if any (a
    refusal recorded under the key is not an entry)."""
    found: UUID | None = conn.execute(
        _ENTRY_BY_KEY, {"org": org_id, "key": idempotency_key}
    ).scalar_one_or_none()
    return found


def account_id_sql(org_sql: str, code_sql: str) -> str:
    """A scalar SQL expression: the id of the account with code `code_sql` of organization
    `org_sql` (both SQL expressions of the caller's statement, e.g. a column or a
    placeholder), NULL if none; for a statement that must stay one round trip. It holds no
    placeholder and no colon, so it fits either paramstyle."""
    return (
        f"(SELECT a.id FROM payments.accounts a WHERE a.org_id = ({org_sql})"
        f" AND a.code = ({code_sql}))"
    )


def platform_org_sql() -> str:
    """A scalar SQL expression: the platform organization's id (NULL if not registered)."""
    return "(SELECT o.id FROM payments.organizations o WHERE o.is_platform)"


def platform_org(conn: Connection) -> UUID | None:
    """The platform organization's id, if it is registered (and the caller may see it)."""
    found: UUID | None = conn.execute(_PLATFORM).scalar_one_or_none()
    return found


def organization_exists(conn: Connection, org_id: UUID) -> bool:
    """Whether the organization exists (as far as the caller may see)."""
    return bool(conn.execute(_ORG_EXISTS, {"id": org_id}).scalar_one())

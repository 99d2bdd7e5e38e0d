"""The organizations' read side: `payments.organizations` belongs to the ledger, whose face
writes it (`ledger.open_organization`); the API reads it here, under the platform's role
(row-level security shows the platform every organization), and so does the CLI (`liventix
orgs`, `liventix keys`), as the owner, with each organization's counts of active keys and
accounts."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Row, text


@dataclass(frozen=True)
class Organization:
    """One organization's row."""

    id: uuid.UUID
    name: str
    is_platform: bool
    created_at: datetime


_COLUMNS = "id, name, is_platform, created_at"
_ONE = text(f"SELECT {_COLUMNS} FROM payments.organizations WHERE id = :id")
_PAGE = text(f"""
    SELECT {_COLUMNS} FROM payments.organizations
     WHERE CAST(:after AS uuid) IS NULL
        OR (created_at, id) > (SELECT created_at, id FROM payments.organizations
                                WHERE id = :after)
     ORDER BY created_at, id
     LIMIT :limit
""")
_NAMED = text(f"SELECT {_COLUMNS} FROM payments.organizations WHERE name = :name ORDER BY id")


def _row(row: Row[Any]) -> Organization:
    return Organization(
        id=row.id, name=row.name, is_platform=row.is_platform, created_at=row.created_at
    )


def get(conn: Connection, org_id: uuid.UUID) -> Organization | None:
    """One organization, or None."""
    row = conn.execute(_ONE, {"id": org_id}).first()
    return None if row is None else _row(row)


def page(conn: Connection, *, after: uuid.UUID | None, limit: int) -> list[Organization]:
    """Up to `limit` organizations, oldest first, after the one named `after`."""
    return [_row(r) for r in conn.execute(_PAGE, {"after": after, "limit": limit})]


def named(conn: Connection, name: str) -> list[Organization]:
    """The organizations of that name (names are not unique)."""
    return [_row(r) for r in conn.execute(_NAMED, {"name": name})]


@dataclass(frozen=True)
class Summary:
    """An organization with its counts: active API keys, accounts."""

    org: Organization
    keys: int
    accounts: int


# The keys' table is the owner's alone (the CLI's): these run as the owner.
_SUMMARIES = text(f"""
    SELECT {_COLUMNS},
           (SELECT count(*) FROM payments.api_keys k
             WHERE k.org_id = o.id AND k.revoked_at IS NULL) AS keys,
           (SELECT count(*) FROM payments.accounts a WHERE a.org_id = o.id) AS accounts
      FROM payments.organizations o
     WHERE CAST(:id AS uuid) IS NULL OR o.id = :id
     ORDER BY o.created_at, o.id
""")


def summaries(conn: Connection, org_id: uuid.UUID | None = None) -> list[Summary]:
    """Every organization (or the one named by `org_id`), oldest first, with its counts."""
    return [
        Summary(_row(r), int(r.keys), int(r.accounts))
        for r in conn.execute(_SUMMARIES, {"id": org_id})
    ]

"""The organizations' read side: `payments.organizations` belongs to the ledger, whose face
writes it (`ledger.open_organization`); the API reads it here, under the platform's role
(row-level security shows the platform every organization)."""

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

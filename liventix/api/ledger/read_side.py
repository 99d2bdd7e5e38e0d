"""The ledger's lists as the API filters them: the ids of a page of entries (by effective
date, external reference, metadata, account) and of accounts (by code), and the keyset
position of a list's cursor. The entries and accounts themselves come from the ledger's
read face (`ledger.get_entries`, `ledger.get_account`).

The declared read side (issue 15): read-only SELECTs on the ledger's tables for the API's
GET routes, on the request's connection under its role, so row-level security bounds what
they return; an organization's also filter by its id (the index's prefix, and a second
belt). Nothing here writes. The ledger's `list_entries` has no filter but the account: these
are the filters issue 18 asks of the API (to move into `ledger.listing` when it has them)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, text

from liventix.api.pages import org_filter, page_filter


@dataclass(frozen=True)
class EntryFilter:
    """What a page of entries is limited to (None: no limit)."""

    account_id: uuid.UUID | None = None
    effective_gte: datetime | None = None
    effective_lt: datetime | None = None
    external_ref: str | None = None
    metadata_key: str | None = None
    metadata_value: str | None = None


def _entry_conditions(f: EntryFilter) -> tuple[str, dict[str, Any]]:
    sql: list[str] = []
    params: dict[str, Any] = {}
    if f.account_id is not None:
        sql.append(
            "EXISTS (SELECT FROM payments.lines x WHERE x.entry_id = e.id"
            " AND x.account_id = :account)"
        )
        params["account"] = f.account_id
    if f.effective_gte is not None:
        sql.append("e.effective_at >= :eff_gte")
        params["eff_gte"] = f.effective_gte
    if f.effective_lt is not None:
        sql.append("e.effective_at < :eff_lt")
        params["eff_lt"] = f.effective_lt
    if f.external_ref is not None:
        sql.append("e.external_ref = :xref")
        params["xref"] = f.external_ref
    if f.metadata_key is not None:
        params["mkey"] = f.metadata_key
        if f.metadata_value is None:
            sql.append("(e.metadata -> CAST(:mkey AS text)) IS NOT NULL")
        else:
            # A string value compares as itself, any other as its JSON text (`42`, `true`).
            sql.append("e.metadata ->> CAST(:mkey AS text) = :mval")
            params["mval"] = f.metadata_value
    return "".join(f" AND {s}" for s in sql), params


def entry_ids(
    conn: Connection,
    org_id: uuid.UUID | None,
    f: EntryFilter,
    after: tuple[datetime, uuid.UUID] | None,
    limit: int,
) -> list[uuid.UUID]:
    """The ids of up to `limit` entries matching `f`, oldest first, after the keyset."""
    org_sql, org_params = org_filter("e", org_id)
    page_sql, page_params = page_filter("e", after)
    where_sql, params = _entry_conditions(f)
    rows = conn.execute(
        text(f"""SELECT e.id FROM payments.entries e
                  WHERE true {org_sql} {where_sql} {page_sql}
                  ORDER BY e.created_at, e.id LIMIT :limit"""),
        {**org_params, **page_params, **params, "limit": limit},
    ).all()
    return [r.id for r in rows]


def account_ids(
    conn: Connection,
    org_id: uuid.UUID | None,
    code: str | None,
    after: tuple[datetime, uuid.UUID] | None,
    limit: int,
) -> list[uuid.UUID]:
    """The ids of up to `limit` accounts (with this code, if given), oldest first, after
    the keyset."""
    org_sql, org_params = org_filter("a", org_id)
    page_sql, page_params = page_filter("a", after)
    code_sql = " AND a.code = :code" if code is not None else ""
    rows = conn.execute(
        text(f"""SELECT a.id FROM payments.accounts a
                  WHERE true {org_sql} {code_sql} {page_sql}
                  ORDER BY a.created_at, a.id LIMIT :limit"""),
        {**org_params, **page_params, "code": code, "limit": limit},
    ).all()
    return [r.id for r in rows]


def entry_position(conn: Connection, entry_id: uuid.UUID) -> tuple[datetime, uuid.UUID] | None:
    """The keyset position of a visible entry (None if the caller sees none)."""
    row = conn.execute(
        text("SELECT created_at, id FROM payments.entries WHERE id = :id"), {"id": entry_id}
    ).first()
    return None if row is None else (row.created_at, row.id)


def account_position(conn: Connection, account_id: uuid.UUID) -> tuple[datetime, uuid.UUID] | None:
    """The keyset position of a visible account (None if the caller sees none)."""
    row = conn.execute(
        text("SELECT created_at, id FROM payments.accounts WHERE id = :id"), {"id": account_id}
    ).first()
    return None if row is None else (row.created_at, row.id)

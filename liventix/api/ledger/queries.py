"""Pages of accounts and entries for the ledger's lists, through the ledger's public face
(`ledger.list_accounts`, `ledger.list_entries`), with the API's opaque cursors."""

from __future__ import annotations

import uuid

from sqlalchemy import Connection

import ledger
from liventix.api.pages import decode_cursor, encode_cursor


def _page_key(after: str | None) -> ledger.PageKey | None:
    found = decode_cursor(after)
    return None if found is None else (found[0], uuid.UUID(found[1]))


def _cursor(key: ledger.PageKey | None) -> str | None:
    return None if key is None else encode_cursor(*key)


def list_accounts(
    conn: Connection, org_id: uuid.UUID | None, after: str | None, limit: int
) -> tuple[list[ledger.Account], str | None]:
    """A page of accounts (with balances), oldest first, and the next page's cursor."""
    page = ledger.list_accounts(conn, org_id, after=_page_key(after), limit=limit)
    return list(page.accounts), _cursor(page.next_after)


def list_entries(
    conn: Connection,
    org_id: uuid.UUID | None,
    account_id: uuid.UUID | None,
    after: str | None,
    limit: int,
) -> tuple[list[ledger.Entry], str | None]:
    """A page of entries (with their lines), oldest first, optionally only those touching an
    account, and the next page's cursor."""
    page = ledger.list_entries(
        conn, org_id, account_id=account_id, after=_page_key(after), limit=limit
    )
    return list(page.entries), _cursor(page.next_after)

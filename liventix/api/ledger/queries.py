"""Pages of accounts and entries for the ledger's lists: the ledger's read face
(`ledger.list_accounts`, `ledger.get_entries`, `ledger.get_account`) for the objects, the
slice's read side for the filters the face lacks, and the cursor's keyset position."""

from __future__ import annotations

import uuid

from sqlalchemy import Connection

import ledger
from liventix.api.ledger import read_side
from liventix.api.ledger.read_side import EntryFilter
from liventix.api.pages import keyset, page_of, uuid_cursor


def list_accounts(
    conn: Connection,
    org_id: uuid.UUID | None,
    code: str | None,
    starting_after: str | None,
    limit: int,
) -> tuple[list[ledger.Account], bool]:
    """A page of accounts (with balances), oldest first, and whether more follow."""
    cursor = uuid_cursor(starting_after)
    after = None if cursor is None else keyset(read_side.account_position(conn, cursor))
    if code is None:
        page = ledger.list_accounts(conn, org_id, after=after, limit=limit + 1)
        return page_of(page.accounts, limit)
    ids = read_side.account_ids(conn, org_id, code, after, limit + 1)
    return page_of([ledger.get_account(conn, i) for i in ids], limit)


def list_entries(
    conn: Connection,
    org_id: uuid.UUID | None,
    f: EntryFilter,
    starting_after: str | None,
    limit: int,
) -> tuple[list[ledger.Entry], bool]:
    """A page of entries (with their lines) matching `f`, oldest first, and whether more
    follow."""
    cursor = uuid_cursor(starting_after)
    after = None if cursor is None else keyset(read_side.entry_position(conn, cursor))
    ids = read_side.entry_ids(conn, org_id, f, after, limit + 1)
    return page_of(ledger.get_entries(conn, ids), limit)

"""Settlements (Modern Treasury's ledger account settlements): a settlement closes a set of
entries on one account up to a moment, so that a payout can say exactly which sales, refunds
and fees it covers.

A settlement records the net of the covered entries' lines on its account (on the account's
normal side, in its currency) and links every entry it covers. An entry is settled at most
once per account: the database's unique key refuses a second link, whoever writes it.
Settlements and their links are append-only. `create_settlement` is idempotent by key (the
ledger's own keys, `payments.idempotency_keys`): a replay returns the first settlement, the
same key with another request is an `IdempotencyConflict`. Reads go through row-level
security: an organization sees only its own settlements.

The write is one call of `payments.create_settlement(jsonb)` (see
`migrations/sql/payments_settlements.sql`) on the caller's connection; it never commits.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy import Connection, text
from sqlalchemy.exc import DBAPIError

from ledger.errors import LedgerError, error_from_code
from ledger.models import WriteResult
from ledger.requests import canonical_json, check_key, fingerprint
from ledger.writes import translated_errors


class SettlementError(LedgerError):
    """The ledger refused the settlement."""

    code = "settlement_error"


class NothingToSettle(SettlementError):
    """No unsettled entry of the account was recorded by the cut-off."""

    code = "nothing_to_settle"
    account_id: str
    up_to: str


class EntryAlreadySettled(SettlementError):
    """The entry is already settled on this account (an entry is settled at most once)."""

    code = "entry_already_settled"
    entry_id: str
    settlement_id: str
    account_id: str


class EntryNotSettleable(SettlementError):
    """The entry has no line on the account recorded by the cut-off."""

    code = "entry_not_settleable"
    entry_id: str
    account_id: str
    up_to: str


class SettlementNotFound(SettlementError):
    """No such settlement (or not this organization's)."""

    code = "settlement_not_found"
    settlement_id: str


_ERRORS: dict[str, type[LedgerError]] = {
    c.code: c for c in (NothingToSettle, EntryAlreadySettled, EntryNotSettleable)
}


@dataclass(frozen=True)
class CreateSettlement:
    """Settle an account: every entry with a line on it recorded by `up_to` (default: now)
    and not settled on it yet, or only `entry_ids` (each must be one of those)."""

    idempotency_key: str
    account_id: UUID
    up_to: datetime | None = None
    entry_ids: Sequence[UUID] | None = None
    description: str = ""
    metadata: dict[str, Any] = field(default_factory=dict)

    def payload(self) -> dict[str, Any]:
        """The request as the database takes it (without org and hash)."""
        check_key(self.idempotency_key)
        if not isinstance(self.account_id, UUID):
            raise _invalid("account_id must be a UUID")
        if self.up_to is not None and self.up_to.tzinfo is None:
            raise _invalid("up_to must carry a time zone")
        if self.entry_ids is not None and (
            not self.entry_ids or not all(isinstance(i, UUID) for i in self.entry_ids)
        ):
            raise _invalid("entry_ids is a non-empty list of entry ids")
        if not isinstance(self.metadata, dict) or len(self.description) > 1000:
            raise _invalid("metadata is an object and description at most 1000 characters")
        return {
            "key": self.idempotency_key,
            "account_id": str(self.account_id),
            "up_to": None if self.up_to is None else self.up_to.isoformat(),
            "entry_ids": None
            if self.entry_ids is None
            else sorted({str(i) for i in self.entry_ids}),
            "description": self.description,
            "metadata": self.metadata,
        }


def _invalid(reason: str) -> LedgerError:
    return error_from_code("invalid_request", {"reason": reason})


@dataclass(frozen=True)
class Settlement:
    """A settlement as stored: what it covered on its account, and its net there."""

    id: UUID
    org_id: UUID
    account_id: UUID
    currency: str
    amount: int
    """The covered lines' net on the account's normal side (what the payout pays)."""
    debits: int
    credits: int
    entry_count: int
    up_to: datetime
    description: str
    metadata: dict[str, Any]
    idempotency_key: str
    created_at: datetime


@dataclass(frozen=True)
class SettlementPage:
    """A page of settlements, newest first; `has_more` when another follows."""

    settlements: list[Settlement]
    has_more: bool


_CREATE = text("SELECT payments.create_settlement(CAST(:p AS jsonb))")
_COLUMNS = """id, org_id, account_id, currency, amount, debits, credits, entry_count, up_to,
              description, metadata, idempotency_key, created_at"""
_GET = text(f"SELECT {_COLUMNS} FROM payments.settlements WHERE id = :id")
_LIST = text(f"""
    SELECT {_COLUMNS} FROM payments.settlements s
     WHERE (CAST(:account AS uuid) IS NULL OR s.account_id = :account)
       AND (CAST(:after AS uuid) IS NULL OR (s.created_at, s.id) < (
               SELECT a.created_at, a.id FROM payments.settlements a WHERE a.id = :after))
     ORDER BY s.created_at DESC, s.id DESC LIMIT :limit""")
_ENTRIES = text("""
    SELECT se.entry_id FROM payments.settlement_entries se
      JOIN payments.entries e ON e.id = se.entry_id
     WHERE se.settlement_id = :id ORDER BY e.created_at, e.id""")
_UNSETTLED = text("""
    SELECT DISTINCT l.entry_id, e.created_at FROM payments.lines l
      JOIN payments.entries e ON e.id = l.entry_id
     WHERE l.account_id = :account
       AND NOT EXISTS (SELECT FROM payments.settlement_entries se
                        WHERE se.account_id = l.account_id AND se.entry_id = l.entry_id)
     ORDER BY e.created_at, l.entry_id""")
_UNSETTLED_NETS = text("""
    SELECT l.entry_id, e.external_ref,
           sum(CASE WHEN l.side = a.normal_side THEN l.amount ELSE -l.amount END) AS net
      FROM payments.lines l
      JOIN payments.entries e ON e.id = l.entry_id
      JOIN payments.accounts a ON a.id = l.account_id
     WHERE l.account_id = :account
       AND NOT EXISTS (SELECT FROM payments.settlement_entries se
                        WHERE se.account_id = l.account_id AND se.entry_id = l.entry_id)
     GROUP BY l.entry_id, e.external_ref, e.created_at
     ORDER BY e.created_at, l.entry_id""")
_OF_ENTRY = text("""
    SELECT settlement_id FROM payments.settlement_entries
     WHERE entry_id = :entry AND account_id = :account""")


def create_settlement(conn: Connection, org_id: UUID, request: CreateSettlement) -> WriteResult:
    """Settle entries on an account (see `CreateSettlement`); returns the settlement's id.

    Refuses with `NothingToSettle`, `EntryAlreadySettled`, `EntryNotSettleable`,
    `AccountNotFound` (not this organization's account) or `IdempotencyConflict`."""
    payload = request.payload()
    payload["hash"] = fingerprint(payload)
    payload["org_id"] = str(org_id)
    try:
        answer = conn.execute(_CREATE, {"p": canonical_json(payload)}).scalar_one()
    except DBAPIError as exc:
        raise _translate(exc, request) from exc
    return WriteResult(id=UUID(answer["id"]), replayed=bool(answer["replayed"]))


def _translate(exc: DBAPIError, request: CreateSettlement) -> Exception:
    """The typed error of the database's refusal (settlements' own codes first)."""
    diag = getattr(exc.orig, "diag", None)
    sqlstate = getattr(exc.orig, "sqlstate", None)
    if sqlstate == "LX001" and diag is not None:
        details = json.loads(diag.message_detail or "{}")
        return error_of(diag.message_primary or "ledger_error", details)
    if diag is not None and diag.constraint_name == "settlement_entries_once":
        # A concurrent settlement took one of the entries first (raw SQL only: the door
        # serialises settlements of an account).
        return EntryAlreadySettled(
            entry_id=None, settlement_id=None, account_id=str(request.account_id)
        )
    try:
        with translated_errors():
            raise exc
    except Exception as translated:  # the translation is the answer
        return translated


def _settlement(row: Any) -> Settlement:
    values = row._asdict()
    for name in ("amount", "debits", "credits"):
        values[name] = int(values[name])
    return Settlement(**values)


def get_settlement(conn: Connection, settlement_id: UUID) -> Settlement:
    """One settlement (row-level security: only the organization's own)."""
    row = conn.execute(_GET, {"id": settlement_id}).first()
    if row is None:
        raise SettlementNotFound(settlement_id=str(settlement_id))
    return _settlement(row)


def list_settlements(
    conn: Connection,
    *,
    account_id: UUID | None = None,
    starting_after: UUID | None = None,
    limit: int = 100,
) -> SettlementPage:
    """The settlements the caller sees (of one account, if given), newest first."""
    if not 1 <= limit <= 1000:
        raise _invalid("limit is between 1 and 1000")
    rows = conn.execute(
        _LIST, {"account": account_id, "after": starting_after, "limit": limit + 1}
    ).all()
    return SettlementPage([_settlement(r) for r in rows[:limit]], has_more=len(rows) > limit)


def settlement_entries(conn: Connection, settlement_id: UUID) -> list[UUID]:
    """The ids of the entries a settlement covers, in recording order."""
    get_settlement(conn, settlement_id)
    return [r.entry_id for r in conn.execute(_ENTRIES, {"id": settlement_id})]


def unsettled_entries(conn: Connection, account_id: UUID) -> list[UUID]:
    """The ids of the entries with a line on the account not settled on it, oldest first."""
    return [r.entry_id for r in conn.execute(_UNSETTLED, {"account": account_id})]


@dataclass(frozen=True)
class UnsettledEntry:
    """An entry not settled on an account yet: its net there (on the account's normal
    side) and its external reference."""

    entry_id: UUID
    net: int
    external_ref: str | None


def unsettled_nets(conn: Connection, account_id: UUID) -> list[UnsettledEntry]:
    """The entries with a line on the account not settled on it, oldest first, each with
    its net on the account (one query)."""
    rows = conn.execute(_UNSETTLED_NETS, {"account": account_id})
    return [UnsettledEntry(r.entry_id, int(r.net), r.external_ref) for r in rows]


def settlement_of(conn: Connection, entry_id: UUID, account_id: UUID) -> UUID | None:
    """The settlement that covered the entry on the account, if one did."""
    found: UUID | None = conn.execute(
        _OF_ENTRY, {"entry": entry_id, "account": account_id}
    ).scalar_one_or_none()
    return found


def error_of(code: str, details: dict[str, Any]) -> LedgerError:
    """The typed error of a code, settlements' own codes included."""
    cls = _ERRORS.get(code)
    return cls(**details) if cls is not None else error_from_code(code, details)

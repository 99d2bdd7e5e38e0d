"""Account categories (Modern Treasury's ledger account categories): named groups of one
organization's accounts of one currency, which may nest. A category's posted, pending and
available balances are the sums of the accounts it reaches (through nested categories too,
each account counted once however often it is reached), now or as of a time, read in one
set-based query.

Tables `payments.account_categories` and `payments.category_members`
(migrations/sql/payments_categories.sql). Writes go through the categories' door,
`payments.category_write(jsonb)`, idempotent by key in the ledger's own key space: the same
request replays its first result, another request under the key is `IdempotencyConflict`.
PostgreSQL refuses a member of another currency or organization (composite foreign keys) and
a cycle (a trigger, serialized per organization). Membership is configuration, not money: it
may change, and a balance as of a past time sums today's members at that time. Reads are in
`ledger.category_reads`.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import Connection, text
from sqlalchemy.exc import DBAPIError

from ledger.errors import InvalidRequest, LedgerError
from ledger.requests import canonical_json, check_key, check_metadata, fingerprint
from ledger.writes import translated_errors

NormalSide = Literal["debit", "credit"]


class CategoryNotFound(LedgerError):
    """No such account category (or not one the caller may see)."""

    code = "category_not_found"
    category_id: str


class DuplicateCategoryCode(LedgerError):
    """The organization already has a category with this code."""

    code = "duplicate_category_code"
    org_id: str
    category_code: str


class CategoryCycle(InvalidRequest):
    """The category would contain itself through its members."""

    code = "category_cycle"
    category_id: str
    member_category_id: str


class CategoryCurrencyMismatch(InvalidRequest):
    """A member's currency differs from its category's: a category has one currency."""

    code = "category_currency_mismatch"
    category_id: str
    member_id: str


_ERRORS: dict[str, type[LedgerError]] = {
    c.code: c
    for c in (CategoryNotFound, DuplicateCategoryCode, CategoryCycle, CategoryCurrencyMismatch)
}


@dataclass(frozen=True)
class CategoryBalance:
    """A category's balances: its accounts' raw totals summed, signed on its normal side."""

    category_id: uuid.UUID
    currency: str
    normal_side: str
    posted_debits: int
    posted_credits: int
    pending_debits: int
    pending_credits: int
    accounts: int
    """How many distinct accounts the category reaches."""

    def _signed(self, debits: int, credits: int) -> int:
        return debits - credits if self.normal_side == "debit" else credits - debits

    @property
    def posted(self) -> int:
        """Posted balance on the normal side."""
        return self._signed(self.posted_debits, self.posted_credits)

    @property
    def pending(self) -> int:
        """Posted balance with every open hold applied, on the normal side."""
        return self._signed(
            self.posted_debits + self.pending_debits, self.posted_credits + self.pending_credits
        )

    @property
    def available(self) -> int:
        """Posted balance less the holds that draw on it, on the normal side."""
        if self.normal_side == "debit":
            return self.posted_debits - self.posted_credits - self.pending_credits
        return self.posted_credits - self.posted_debits - self.pending_debits


@dataclass(frozen=True)
class Category:
    """A category, its direct members and (when read with them) its balances."""

    id: uuid.UUID
    org_id: uuid.UUID
    code: str
    name: str
    currency: str
    normal_side: str
    metadata: dict[str, Any]
    created_at: datetime
    account_ids: tuple[uuid.UUID, ...]
    category_ids: tuple[uuid.UUID, ...]
    balance: CategoryBalance


@dataclass(frozen=True)
class CreateCategory:
    """Create a category of one currency; `normal_side` is the side its balances are shown
    on (credit for liabilities and revenue, debit for assets and expenses)."""

    idempotency_key: str
    code: str
    currency: str
    normal_side: NormalSide
    name: str = ""
    metadata: Mapping[str, Any] = field(default_factory=dict)

    def payload(self) -> dict[str, Any]:
        """Validate and render as JSON."""
        if not isinstance(self.code, str) or not 0 < len(self.code) <= 255:
            raise InvalidRequest("code is a non-empty string of at most 255 characters")
        if self.normal_side not in ("debit", "credit"):
            raise InvalidRequest("normal_side is 'debit' or 'credit'", field="normal_side")
        if not isinstance(self.currency, str):
            raise InvalidRequest("currency is an ISO 4217 code", field="currency")
        if not isinstance(self.name, str) or len(self.name) > 255:
            raise InvalidRequest("name is a string of at most 255 characters", field="name")
        return {
            "key": check_key(self.idempotency_key),
            "code": self.code,
            "name": self.name or self.code,
            "currency": self.currency,
            "normal_side": self.normal_side,
            "metadata": check_metadata(self.metadata),
        }


@dataclass(frozen=True)
class CategoryMembers:
    """Accounts and categories to add to (or remove from) a category."""

    idempotency_key: str
    category_id: uuid.UUID
    account_ids: Sequence[uuid.UUID] = ()
    category_ids: Sequence[uuid.UUID] = ()

    def payload(self) -> dict[str, Any]:
        """Validate and render as JSON (members sorted: their order means nothing)."""
        ids = [self.category_id, *self.account_ids, *self.category_ids]
        if not all(isinstance(i, uuid.UUID) for i in ids):
            raise InvalidRequest("category and member ids are UUIDs")
        if not self.account_ids and not self.category_ids:
            raise InvalidRequest("name at least one account or category")
        if len(self.account_ids) + len(self.category_ids) > 1000:
            raise InvalidRequest("at most 1000 members at once")
        if self.category_id in self.category_ids:
            raise CategoryCycle(
                category_id=str(self.category_id), member_category_id=str(self.category_id)
            )
        return {
            "key": check_key(self.idempotency_key),
            "category_id": str(self.category_id),
            "account_ids": sorted({str(i) for i in self.account_ids}),
            "category_ids": sorted({str(i) for i in self.category_ids}),
        }


@dataclass(frozen=True)
class CategoryWrite:
    """A category write's outcome: the category's id and whether it was a replay."""

    id: uuid.UUID
    replayed: bool


@contextmanager
def translated_codes(errors: Mapping[str, type[LedgerError]]) -> Iterator[None]:
    """The ledger's translation (`translated_errors`), then the codes of errors defined beside
    the engine (categories, conversions: unknown to `ledger.errors`) into their types."""
    try:
        with translated_errors():
            yield
    except LedgerError as exc:
        cause = exc.__cause__
        diag = getattr(getattr(cause, "orig", None), "diag", None)
        code = getattr(diag, "message_primary", None)
        if isinstance(cause, DBAPIError) and isinstance(code, str) and code in errors:
            raise errors[code](**exc.details) from cause
        raise


def _write(conn: Connection, org_id: uuid.UUID, operation: str, payload: dict[str, Any]) -> Any:
    body = {**payload, "hash": fingerprint(payload), "org_id": str(org_id), "operation": operation}
    with translated_codes(_ERRORS):
        answer = conn.execute(
            text("SELECT payments.category_write(CAST(:p AS jsonb))"), {"p": canonical_json(body)}
        ).scalar_one()
    found = answer if isinstance(answer, dict) else json.loads(answer)
    return CategoryWrite(id=uuid.UUID(found["id"]), replayed=bool(found["replayed"]))


def create_category(conn: Connection, org_id: uuid.UUID, request: CreateCategory) -> CategoryWrite:
    """Create a category for the organization (idempotent by the request's key)."""
    result: CategoryWrite = _write(conn, org_id, "create_category", request.payload())
    return result


def add_category_members(
    conn: Connection, org_id: uuid.UUID, request: CategoryMembers
) -> CategoryWrite:
    """Add accounts and categories to a category: of its organization and currency, and no
    cycle (`CategoryCycle`); a member already there stays once."""
    result: CategoryWrite = _write(conn, org_id, "add_category_members", request.payload())
    return result


def remove_category_members(
    conn: Connection, org_id: uuid.UUID, request: CategoryMembers
) -> CategoryWrite:
    """Remove accounts and categories from a category (absent ones are ignored)."""
    result: CategoryWrite = _write(conn, org_id, "remove_category_members", request.payload())
    return result

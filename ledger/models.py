"""What the ledger answers with: frozen value types for results, balances, entries, statements.

Pure: no I/O. Amounts are integers of minor units; balances are given as raw debit and
credit totals and, for convenience, signed on the account's normal side.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal
from uuid import UUID

from ledger.errors import LedgerError


@dataclass(frozen=True)
class WriteResult:
    """The id a write produced (entry, hold or account) and whether it was a replay."""

    id: UUID
    replayed: bool


@dataclass(frozen=True)
class BatchResult:
    """One request's outcome in a batch (`post_batch`): posted, replayed, or refused with its
    typed error; an entry linked to a refused one is refused with `LinkedEntryFailed`."""

    index: int
    id: UUID | None = None
    replayed: bool = False
    error: LedgerError | None = None

    @property
    def status(self) -> Literal["posted", "replayed", "refused"]:
        """What became of the request (a stored refusal replayed is `refused`)."""
        if self.error is not None:
            return "refused"
        return "replayed" if self.replayed else "posted"


@dataclass(frozen=True)
class Balance:
    """An account's balances: posted, pending (posted plus holds) and available."""

    account_id: UUID
    currency: str
    normal_side: str
    posted_debits: int
    posted_credits: int
    pending_debits: int
    pending_credits: int
    version: int | None

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
class Account:
    """An account as stored, with its current balance."""

    id: UUID
    org_id: UUID
    code: str
    name: str
    type: str
    currency: str
    debits_must_not_exceed_credits: bool
    credits_must_not_exceed_debits: bool
    high_volume: bool
    closed: bool
    metadata: dict[str, Any]
    balance: Balance


@dataclass(frozen=True)
class EntryLine:
    """One posted line of an entry."""

    id: int
    account_id: UUID
    side: str
    amount: int
    currency: str
    account_version: int | None


@dataclass(frozen=True)
class Entry:
    """A posted journal entry and its lines."""

    id: UUID
    org_id: UUID
    kind: str
    description: str
    metadata: dict[str, Any]
    effective_at: datetime
    created_at: datetime
    external_ref: str | None
    reverses_entry_id: UUID | None
    hold_id: UUID | None
    lines: tuple[EntryLine, ...]


@dataclass(frozen=True)
class Hold:
    """A two-phase hold and its resolution, if any."""

    id: UUID
    org_id: UUID
    debit_account_id: UUID
    credit_account_id: UUID
    amount: int
    currency: str
    expires_at: datetime | None
    created_at: datetime
    status: str
    posted_amount: int
    entry_id: UUID | None


@dataclass(frozen=True)
class StatementLine:
    """One line of an account statement, with the account's posted balance after it."""

    line_id: int
    entry_id: UUID
    created_at: datetime
    effective_at: datetime
    side: str
    amount: int
    balance_after: int
    description: str


@dataclass(frozen=True)
class StatementPage:
    """A page of an account statement; `next_cursor` continues it (None at the end)."""

    account_id: UUID
    currency: str
    opening_balance: int
    lines: tuple[StatementLine, ...]
    next_cursor: int | None


@dataclass(frozen=True)
class TrialBalanceRow:
    """One account's posted balance, in the debit or the credit column."""

    org_id: UUID
    account_id: UUID
    code: str
    type: str
    currency: str
    debit: int
    credit: int


@dataclass(frozen=True)
class TrialBalance:
    """Every account's balance per currency; debits equal credits in each currency."""

    rows: tuple[TrialBalanceRow, ...]
    totals: dict[str, tuple[int, int]]

    @property
    def balanced(self) -> bool:
        """True when debits equal credits in every currency."""
        return all(d == c for d, c in self.totals.values())


PageKey = tuple[datetime, UUID]
"""A keyset position in a list: the last row's (created_at, id)."""


@dataclass(frozen=True)
class AccountPage:
    """A page of accounts, oldest first; `next_after` continues it (None at the end)."""

    accounts: tuple[Account, ...]
    next_after: PageKey | None


@dataclass(frozen=True)
class EntryPage:
    """A page of entries with their lines, oldest first; `next_after` continues it."""

    entries: tuple[Entry, ...]
    next_after: PageKey | None

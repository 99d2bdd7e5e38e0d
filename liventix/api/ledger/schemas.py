"""The ledger's request and response bodies."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    Field,
    StrictBool,
    StrictInt,
)

import ledger
from liventix.api.pages import ListObject
from liventix.api.schemas import (
    Amount,
    Currency,
    Metadata,
    Money,
    Name,
    RequestModel,
    Text,
    Timestamp,
)


class OpenAccountRequest(RequestModel):
    """Open an account."""

    code: Name
    name: Annotated[str, Field(max_length=255)] = ""
    type: Literal["asset", "liability", "equity", "revenue", "expense"]
    currency: Currency
    debits_must_not_exceed_credits: StrictBool = False
    credits_must_not_exceed_debits: StrictBool = False
    high_volume: StrictBool = False
    metadata: Metadata = Field(default_factory=dict)


class BalanceResponse(BaseModel):
    """An account's balances on its normal side, and the raw totals they come from."""

    account_id: uuid.UUID
    currency: str
    normal_side: Literal["debit", "credit"]
    posted: Amount
    pending: Amount
    available: Amount
    posted_debits: int
    posted_credits: int
    pending_debits: int
    pending_credits: int
    version: int | None
    as_of: datetime | None = None
    by: Literal["recorded", "effective"] | None = None


class AccountResponse(BaseModel):
    """An account and its balance now."""

    id: uuid.UUID
    org_id: uuid.UUID
    code: str
    name: str
    type: str
    currency: str
    debits_must_not_exceed_credits: bool
    credits_must_not_exceed_debits: bool
    high_volume: bool
    closed: bool
    metadata: dict[str, Any]
    balance: BalanceResponse


class AccountList(ListObject[AccountResponse]):
    """A page of accounts, oldest first."""


class LineRequest(RequestModel):
    """One leg of an entry."""

    account_id: uuid.UUID
    side: Literal["debit", "credit"]
    amount: Money


class ConditionRequest(RequestModel):
    """A precondition on an account's version or a bound on its balance after the entry."""

    account_id: uuid.UUID
    version: Annotated[StrictInt, Field(ge=0, le=ledger.MAX_AMOUNT)] | None = None
    balance: Literal["posted", "pending", "available"] = "posted"
    gte: Annotated[StrictInt, Field(ge=-ledger.MAX_AMOUNT, le=ledger.MAX_AMOUNT)] | None = None
    lte: Annotated[StrictInt, Field(ge=-ledger.MAX_AMOUNT, le=ledger.MAX_AMOUNT)] | None = None


class PostEntryRequest(RequestModel):
    """Post a balanced entry of two or more lines."""

    lines: Annotated[list[LineRequest], Field(max_length=500)]
    description: Text = ""
    metadata: Metadata = Field(default_factory=dict)
    effective_at: Timestamp | None = None
    external_ref: Annotated[str, Field(min_length=1, max_length=255)] | None = None
    conditions: Annotated[list[ConditionRequest], Field(max_length=500)] = Field(
        default_factory=list
    )

    def to_ledger(self, idempotency_key: str) -> ledger.PostEntry:
        """The ledger's request for this entry, under `idempotency_key` (the ledger
        validates it)."""
        return ledger.PostEntry(
            idempotency_key=idempotency_key,
            lines=[
                ledger.Line(x.account_id, x.side, x.amount.amount, x.amount.currency)
                for x in self.lines
            ],
            description=self.description,
            metadata=self.metadata,
            effective_at=self.effective_at,
            external_ref=self.external_ref,
            conditions=[
                ledger.Condition(
                    account_id=c.account_id,
                    version=c.version,
                    balance=c.balance,
                    gte=c.gte,
                    lte=c.lte,
                )
                for c in self.conditions
            ],
        )


class EntryLineResponse(BaseModel):
    """A posted line."""

    id: int
    account_id: uuid.UUID
    side: Literal["debit", "credit"]
    amount: Amount
    account_version: int | None


class EntryResponse(BaseModel):
    """A posted entry and its lines."""

    id: uuid.UUID
    org_id: uuid.UUID
    kind: Literal["standard", "hold_post", "reversal"]
    description: str
    metadata: dict[str, Any]
    effective_at: datetime
    created_at: datetime
    external_ref: str | None
    reverses_entry_id: uuid.UUID | None
    hold_id: uuid.UUID | None
    lines: list[EntryLineResponse]


class EntryList(ListObject[EntryResponse]):
    """A page of entries, oldest first."""


class ReverseEntryRequest(RequestModel):
    """Reverse an entry (once)."""

    description: Text = ""
    metadata: Metadata = Field(default_factory=dict)
    effective_at: Timestamp | None = None


class CreateHoldRequest(RequestModel):
    """Reserve an amount from one account to another (two-phase)."""

    debit_account_id: uuid.UUID
    credit_account_id: uuid.UUID
    amount: Money
    expires_at: Timestamp | None = None
    description: Text = ""
    metadata: Metadata = Field(default_factory=dict)


class PostHoldRequest(RequestModel):
    """Post a hold in full (no amount) or for less."""

    amount: Money | None = None
    description: Text | None = None
    effective_at: Timestamp | None = None


class HoldResponse(BaseModel):
    """A hold and its resolution."""

    id: uuid.UUID
    org_id: uuid.UUID
    debit_account_id: uuid.UUID
    credit_account_id: uuid.UUID
    amount: Amount
    expires_at: datetime | None
    created_at: datetime
    status: Literal["open", "posted", "voided", "expired"]
    posted_amount: Amount
    entry_id: uuid.UUID | None


class StatementLineResponse(BaseModel):
    """A statement line with the posted balance after it."""

    line_id: int
    entry_id: uuid.UUID
    created_at: datetime
    effective_at: datetime
    side: Literal["debit", "credit"]
    amount: Amount
    balance_after: Amount
    description: str


class StatementResponse(BaseModel):
    """A page of an account's statement: its opening balance and lines; `has_more` when
    another page follows (`starting_after` the last line's `line_id`)."""

    account_id: uuid.UUID
    currency: str
    opening_balance: Amount
    lines: list[StatementLineResponse]
    has_more: bool


class TrialBalanceRowResponse(BaseModel):
    """One account's posted balance in the debit or credit column."""

    org_id: uuid.UUID
    account_id: uuid.UUID
    code: str
    type: str
    currency: str
    debit: int
    credit: int


class TrialBalanceTotal(BaseModel):
    """Debits and credits of one currency."""

    currency: str
    debits: int
    credits: int


class TrialBalanceResponse(BaseModel):
    """Every account's balance per currency; balanced when debits equal credits."""

    rows: list[TrialBalanceRowResponse]
    totals: list[TrialBalanceTotal]
    balanced: bool


class DryRunResponse(BaseModel):
    """What a write asked with `?dry_run=true` would do (it wrote nothing)."""

    object: Literal["dry_run"] = "dry_run"
    dry_run: Literal[True] = True
    status: int
    """The status the call would answer (201 for a creation)."""
    result: dict[str, Any]
    """The body the call would answer (its new ids are the ones it would have had then)."""
    balances: list[BalanceResponse]
    """The balances of the accounts it touches, after it."""

"""The ledger's errors: one base, one leaf per reason, each carrying the ids involved.

Every leaf has a stable `code` (the same string the database functions report) and a
docstring that is its default message. `error_from_code` turns a code and its details, as the
database reports them, back into the typed error. Errors marked `recorded` depend on the
ledger's state (funds, holds, reversals, conditions): they are remembered under the request's
idempotency key, so a retry keeps being refused, as TigerBeetle's `id_already_failed`.
"""

from __future__ import annotations

from typing import Any, ClassVar


class LedgerError(Exception):
    """The ledger refused the request."""

    code: ClassVar[str] = "ledger_error"
    recorded: ClassVar[bool] = False

    def __init__(self, message: str | None = None, **details: Any) -> None:
        self.details: dict[str, Any] = details
        for name, value in details.items():
            setattr(self, name, value)
        doc = (type(self).__doc__ or type(self).__name__).strip()
        text = message or doc
        if details:
            text += " (" + ", ".join(f"{k}={v!r}" for k, v in details.items()) + ")"
        super().__init__(text)


class InvalidRequest(LedgerError):
    """The request is malformed."""

    code = "invalid_request"


class InvalidAmount(InvalidRequest):
    """An amount must be a positive integer count of minor units below 2**63."""

    code = "invalid_amount"
    value: object
    field: str


class UnknownCurrency(InvalidRequest):
    """The currency is not an active ISO 4217 code."""

    code = "unknown_currency"
    currency: object


class TooFewLines(InvalidRequest):
    """An entry needs at least two lines."""

    code = "too_few_lines"
    count: int


class UnbalancedEntry(InvalidRequest):
    """The entry's debits and credits differ in at least one currency."""

    code = "unbalanced_entry"
    currency: str
    debits: int
    credits: int


class CurrencyMismatch(InvalidRequest):
    """A line's currency differs from its account's currency."""

    code = "currency_mismatch"
    account_id: str
    account_currency: str
    line_currency: str


class AccountsMustBeDifferent(InvalidRequest):
    """The entry's lines cancel out on each account they name: it would move no money (as
    TigerBeetle's accounts_must_be_different)."""

    code = "accounts_must_be_different"
    account_ids: list[str]


class HoldExpiryNotInFuture(InvalidRequest):
    """A hold's expiry must lie in the future (by the database's clock)."""

    code = "hold_expiry_not_in_future"
    expires_at: str
    now: str


class InvalidCondition(InvalidRequest):
    """A condition names no account of the entry or no bound."""

    code = "invalid_condition"
    account_id: str


class InvalidAccount(InvalidRequest):
    """The account definition is invalid."""

    code = "invalid_account"
    reason: str


class AccountNotFound(LedgerError):
    """No such account is visible to this organization."""

    code = "account_not_found"
    account_id: str


class AccountOrganizationMismatch(LedgerError):
    """The account belongs to another organization."""

    code = "account_organization_mismatch"
    account_id: str
    org_id: str


class OrganizationNotFound(LedgerError):
    """No such organization."""

    code = "organization_not_found"
    org_id: str


class PermissionDenied(LedgerError):
    """This database role may not do that."""

    code = "permission_denied"
    reason: str


class LostRace(LedgerError):
    """The write lost a race with concurrent writes (a deadlock or a serialization failure)
    at every try of its own unit of work; nothing was written: run it again."""

    code = "lost_race"
    sqlstate: str
    attempts: int


class DuplicateAccountCode(LedgerError):
    """The organization already has an account with this code."""

    code = "duplicate_account_code"
    org_id: str
    account_code: str


class DuplicateExternalReference(LedgerError):
    """The organization already has an entry with this external reference."""

    code = "duplicate_external_reference"
    external_ref: str
    entry_id: str


class EntryNotFound(LedgerError):
    """No such entry is visible to this organization."""

    code = "entry_not_found"
    entry_id: str


class IdempotencyConflict(LedgerError):
    """The idempotency key was already used for a different request."""

    code = "idempotency_conflict"
    idempotency_key: str


class AccountClosed(LedgerError):
    """The account is closed."""

    code = "account_closed"
    recorded = True
    account_id: str


class InsufficientFunds(LedgerError):
    """The posting would break the account's overdraft flag."""

    code = "insufficient_funds"
    recorded = True
    account_id: str
    currency: str
    balance: int
    shortfall: int


class BalanceOverflow(LedgerError):
    """The posting would take a balance beyond 64 bits."""

    code = "balance_overflow"
    recorded = True
    account_id: str


class ConditionFailed(LedgerError):
    """A condition of the posting did not hold."""

    code = "condition_failed"
    recorded = True
    account_id: str
    condition: str
    expected: int
    actual: int


class EntryAlreadyReversed(LedgerError):
    """The entry was already reversed."""

    code = "entry_already_reversed"
    recorded = True
    entry_id: str
    reversal_entry_id: str


class LinkedEntryFailed(LedgerError):
    """An entry linked to this one in its batch was refused, so this one was not posted."""

    code = "linked_entry_failed"
    index: int


class HoldNotFound(LedgerError):
    """No such hold is visible to this organization."""

    code = "hold_not_found"
    hold_id: str


class HoldAlreadyResolved(LedgerError):
    """The hold was already posted, voided or expired."""

    code = "hold_already_resolved"
    recorded = True
    hold_id: str
    resolution: str


class HoldAlreadyPosted(HoldAlreadyResolved):
    """The hold was already posted."""

    code = "hold_already_posted"


class HoldAlreadyVoided(HoldAlreadyResolved):
    """The hold was already voided."""

    code = "hold_already_voided"


class HoldAlreadyExpired(HoldAlreadyResolved):
    """The hold has expired and its amount was released."""

    code = "hold_already_expired"


class HoldExpired(LedgerError):
    """The hold's expiry has passed; it can no longer be posted."""

    code = "hold_expired"
    recorded = True
    hold_id: str
    expires_at: str


class HoldAmountExceeded(LedgerError):
    """The amount to post is above the amount held."""

    code = "hold_amount_exceeded"
    recorded = True
    hold_id: str
    held: int
    requested: int


def _leaves(cls: type[LedgerError]) -> list[type[LedgerError]]:
    found = [cls]
    for sub in cls.__subclasses__():
        found.extend(_leaves(sub))
    return found


ERRORS_BY_CODE: dict[str, type[LedgerError]] = {c.code: c for c in _leaves(LedgerError)}


def error_from_code(code: str, details: dict[str, Any]) -> LedgerError:
    """Rebuild the typed error the database reported by its code."""
    cls = ERRORS_BY_CODE.get(code, LedgerError)
    return cls(**details)

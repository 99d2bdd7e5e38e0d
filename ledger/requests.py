"""What callers ask the ledger to do: pure, validated request values and their fingerprints.

Each request checks itself (`payload()` raises a typed `InvalidRequest` leaf before any I/O)
and turns into the JSON the database engine takes. `fingerprint()` hashes that JSON, without
the idempotency key, so the same key with another request is recognised as a conflict.
"""

from __future__ import annotations

import hashlib
import json
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from json.encoder import encode_basestring
from typing import Any, Literal, Protocol
from uuid import UUID

from ledger.currencies import CURRENCY_EXPONENTS, is_currency
from ledger.errors import (
    AccountsMustBeDifferent,
    InvalidAccount,
    InvalidAmount,
    InvalidCondition,
    InvalidRequest,
    TooFewLines,
    UnbalancedEntry,
    UnknownCurrency,
)

Side = Literal["debit", "credit"]
AccountType = Literal["asset", "liability", "equity", "revenue", "expense"]
BalanceKind = Literal["posted", "pending", "available"]

MAX_AMOUNT = 2**63 - 1
"""The largest amount PostgreSQL's bigint holds: amounts are 64-bit signed, positive."""

_SIDES = ("debit", "credit")
_TYPES = ("asset", "liability", "equity", "revenue", "expense")
_KINDS = ("posted", "pending", "available")


def check_amount(value: object, field_name: str = "amount") -> int:
    """Return `value` if it is a positive integer below 2**63, else raise InvalidAmount."""
    if type(value) is not int or not 0 < value <= MAX_AMOUNT:
        raise InvalidAmount(value=value, field=field_name)
    return value


def check_currency(value: object) -> str:
    """Return `value` if it is an active ISO 4217 code, else raise UnknownCurrency."""
    if not isinstance(value, str) or not is_currency(value):
        raise UnknownCurrency(currency=value)
    return value


def check_key(value: object) -> str:
    """Return `value` if it is a usable idempotency key."""
    if not isinstance(value, str) or not value or len(value) > 255:
        raise InvalidRequest("an idempotency key is a non-empty string of at most 255 characters")
    return value


def _check_uuid(value: object, field_name: str) -> str:
    if not isinstance(value, UUID):
        raise InvalidRequest(f"{field_name} must be a UUID", field=field_name, value=value)
    return str(value)


def _check_time(value: object, field_name: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, datetime) or value.tzinfo is None:
        raise InvalidRequest(f"{field_name} must be a timezone-aware datetime", field=field_name)
    return value.isoformat()


def check_metadata(value: object, path: str = "metadata") -> Any:
    """Return `value` if it is JSON made of objects, arrays, strings, integers, booleans, null.

    Floats are refused anywhere in it: money and numbers in the ledger are exact.
    """
    if value is None or isinstance(value, str | bool | int):
        return value
    if isinstance(value, Mapping):
        out = {}
        for k, v in value.items():
            if not isinstance(k, str):
                raise InvalidRequest("metadata keys must be strings", field=path)
            out[k] = check_metadata(v, f"{path}.{k}")
        return out
    if isinstance(value, list | tuple):
        return [check_metadata(v, f"{path}[{i}]") for i, v in enumerate(value)]
    raise InvalidRequest(
        "metadata holds only JSON strings, integers, booleans, null, objects "
        "and arrays (no floats)",
        field=path,
        value=repr(value),
    )


# json.dumps with any argument builds a new encoder per call; one kept encoder gives the same
# text (the same options) for about two thirds of the CPU (measured: 12.0 -> 8.2 us for an
# entry's payload).
_CANONICAL = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def canonical_json(payload: Mapping[str, Any]) -> str:
    """The payload as compact JSON with sorted keys: what is hashed and sent."""
    return _CANONICAL.encode(payload)


def fingerprint(payload: Mapping[str, Any]) -> str:
    """SHA-256 of the canonical JSON of a payload without its key."""
    body = {k: v for k, v in payload.items() if k != "key"}
    return hashlib.sha256(canonical_json(body).encode()).hexdigest()


class Request(Protocol):
    """Anything the ledger's write door takes."""

    @property
    def operation(self) -> str:
        """The ledger_write operation this request is for."""
        ...

    @property
    def idempotency_key(self) -> str:
        """The caller's key for this write."""
        ...

    def payload(self) -> dict[str, Any]:
        """The validated JSON payload."""
        ...


@dataclass(frozen=True)
class Line:
    """One leg of an entry: a debit or a credit of a positive amount on one account."""

    account_id: UUID
    side: Side
    amount: int
    currency: str

    def payload(self) -> dict[str, Any]:
        """Validate and render as JSON."""
        if self.side not in _SIDES:
            raise InvalidRequest("side is 'debit' or 'credit'", field="side", value=self.side)
        return {
            "account_id": _check_uuid(self.account_id, "account_id"),
            "side": self.side,
            "amount": check_amount(self.amount),
            "currency": check_currency(self.currency),
        }


@dataclass(frozen=True)
class Condition:
    """A precondition (version) or postcondition (balance bounds) on one account of an entry.

    Balances are measured on the account's normal side, after the entry.
    """

    account_id: UUID
    version: int | None = None
    balance: BalanceKind = "posted"
    gte: int | None = None
    lte: int | None = None

    def payload(self) -> dict[str, Any]:
        """Validate and render as JSON."""
        account = _check_uuid(self.account_id, "account_id")
        if self.balance not in _KINDS:
            raise InvalidCondition(account_id=account)
        if self.version is None and self.gte is None and self.lte is None:
            raise InvalidCondition(account_id=account)
        for name in ("version", "gte", "lte"):
            value = getattr(self, name)
            if value is not None and (type(value) is not int or abs(value) > MAX_AMOUNT):
                raise InvalidAmount(value=value, field=f"conditions.{name}")
        return {
            "account_id": account,
            "version": self.version,
            "balance": self.balance,
            "gte": self.gte,
            "lte": self.lte,
        }


@dataclass(frozen=True)
class PostEntry:
    """Post a balanced journal entry of two or more lines."""

    idempotency_key: str
    lines: Sequence[Line]
    description: str = ""
    metadata: Mapping[str, Any] = field(default_factory=dict)
    effective_at: datetime | None = None
    external_ref: str | None = None
    conditions: Sequence[Condition] = ()
    operation: str = field(default="post_entries", init=False)

    def payload(self) -> dict[str, Any]:
        """Validate (lines, amounts, currencies, balance per currency) and render as JSON."""
        lines = [line.payload() for line in self.lines]
        if len(lines) < 2:
            raise TooFewLines(count=len(lines))
        sums: dict[str, list[int]] = defaultdict(lambda: [0, 0])
        for line in lines:
            sums[line["currency"]][0 if line["side"] == "debit" else 1] += line["amount"]
        for currency, (debits, credits) in sorted(sums.items()):
            if debits != credits:
                raise UnbalancedEntry(currency=currency, debits=debits, credits=credits)
        net: dict[tuple[str, str], int] = defaultdict(int)
        for line in lines:
            signed = line["amount"] if line["side"] == "debit" else -line["amount"]
            net[(line["account_id"], line["currency"])] += signed
        if not any(net.values()):
            raise AccountsMustBeDifferent(account_ids=sorted({a for a, _ in net}))
        conditions = [c.payload() for c in self.conditions]
        accounts = {line["account_id"] for line in lines}
        for c in conditions:
            if c["account_id"] not in accounts:
                raise InvalidCondition(account_id=c["account_id"])
        if self.external_ref is not None and not self.external_ref:
            raise InvalidRequest("external_ref is None or a non-empty string")
        return {
            "key": check_key(self.idempotency_key),
            "kind": "standard",
            "lines": lines,
            "description": str(self.description),
            "metadata": check_metadata(self.metadata),
            "effective_at": _check_time(self.effective_at, "effective_at"),
            "external_ref": self.external_ref,
            "conditions": conditions,
        }


@dataclass(frozen=True)
class ReverseEntry:
    """Reverse a posted entry once: a new entry with the sides swapped that names it."""

    idempotency_key: str
    entry_id: UUID
    description: str = ""
    metadata: Mapping[str, Any] = field(default_factory=dict)
    effective_at: datetime | None = None
    operation: str = field(default="post_entries", init=False)

    def payload(self) -> dict[str, Any]:
        """Validate and render as JSON."""
        return {
            "key": check_key(self.idempotency_key),
            "kind": "reversal",
            "reverses": _check_uuid(self.entry_id, "entry_id"),
            "description": str(self.description),
            "metadata": check_metadata(self.metadata),
            "effective_at": _check_time(self.effective_at, "effective_at"),
        }


@dataclass(frozen=True)
class CreateHold:
    """Reserve an amount from one account to another until it is posted, voided or expires."""

    idempotency_key: str
    debit_account_id: UUID
    credit_account_id: UUID
    amount: int
    currency: str
    expires_at: datetime | None = None
    description: str = ""
    metadata: Mapping[str, Any] = field(default_factory=dict)
    operation: str = field(default="create_hold", init=False)

    def payload(self) -> dict[str, Any]:
        """Validate and render as JSON."""
        debit = _check_uuid(self.debit_account_id, "debit_account_id")
        credit = _check_uuid(self.credit_account_id, "credit_account_id")
        if debit == credit:
            raise InvalidRequest("a hold moves money between two different accounts")
        return {
            "key": check_key(self.idempotency_key),
            "debit_account_id": debit,
            "credit_account_id": credit,
            "amount": check_amount(self.amount),
            "currency": check_currency(self.currency),
            "expires_at": _check_time(self.expires_at, "expires_at"),
            "description": str(self.description),
            "metadata": check_metadata(self.metadata),
        }


@dataclass(frozen=True)
class PostHold:
    """Post a hold in full (amount None) or for less; the rest is released."""

    idempotency_key: str
    hold_id: UUID
    amount: int | None = None
    description: str | None = None
    effective_at: datetime | None = None
    operation: str = field(default="post_hold", init=False)

    def payload(self) -> dict[str, Any]:
        """Validate and render as JSON."""
        return {
            "key": check_key(self.idempotency_key),
            "hold_id": _check_uuid(self.hold_id, "hold_id"),
            "amount": None if self.amount is None else check_amount(self.amount),
            "description": self.description,
            "effective_at": _check_time(self.effective_at, "effective_at"),
        }


@dataclass(frozen=True)
class VoidHold:
    """Void a hold: its whole amount is released."""

    idempotency_key: str
    hold_id: UUID
    operation: str = field(default="void_hold", init=False)

    def payload(self) -> dict[str, Any]:
        """Validate and render as JSON."""
        return {
            "key": check_key(self.idempotency_key),
            "hold_id": _check_uuid(self.hold_id, "hold_id"),
        }


@dataclass(frozen=True)
class OpenAccount:
    """Open an account in one currency, with its type, code and overdraft flags."""

    idempotency_key: str
    code: str
    type: AccountType
    currency: str
    name: str = ""
    debits_must_not_exceed_credits: bool = False
    credits_must_not_exceed_debits: bool = False
    high_volume: bool = False
    metadata: Mapping[str, Any] = field(default_factory=dict)
    operation: str = field(default="open_account", init=False)

    def payload(self) -> dict[str, Any]:
        """Validate and render as JSON."""
        if not isinstance(self.code, str) or not self.code:
            raise InvalidAccount(reason="an account needs a non-empty code")
        if self.type not in _TYPES:
            raise InvalidAccount(reason=f"type is one of {', '.join(_TYPES)}")
        if self.debits_must_not_exceed_credits and self.credits_must_not_exceed_debits:
            raise InvalidAccount(reason="an account takes at most one overdraft flag")
        if self.high_volume and (
            self.debits_must_not_exceed_credits or self.credits_must_not_exceed_debits
        ):
            raise InvalidAccount(reason="a high-volume account carries no overdraft flag")
        return {
            "key": check_key(self.idempotency_key),
            "code": self.code,
            "name": self.name or self.code,
            "type": self.type,
            "currency": check_currency(self.currency),
            "debits_must_not_exceed_credits": bool(self.debits_must_not_exceed_credits),
            "credits_must_not_exceed_debits": bool(self.credits_must_not_exceed_debits),
            "high_volume": bool(self.high_volume),
            "metadata": check_metadata(self.metadata),
        }


@dataclass(frozen=True)
class CloseAccount:
    """Close an account: it takes no more postings or holds."""

    idempotency_key: str
    account_id: UUID
    operation: str = field(default="close_account", init=False)

    def payload(self) -> dict[str, Any]:
        """Validate and render as JSON."""
        return {
            "key": check_key(self.idempotency_key),
            "account_id": _check_uuid(self.account_id, "account_id"),
        }


# ------------------------------------------------------------------------------------------
# Plain entries (a `PostEntry` of the built-in types, without conditions), fingerprinted
# without building their payload: the single posting's fast door (`plain_post`) and the
# batch's (`ledger.batches._plain_rows`). Anything else goes through `payload()`, whose
# validation raises the typed error; the fingerprint is the same either way.
# ------------------------------------------------------------------------------------------

# The canonical JSON of a plain entry's payload without its key (what `fingerprint` hashes),
# written directly: keys in sorted order, compact separators, strings escaped by the
# encoder's own function (ensure_ascii off, as `canonical_json`). A line's fields are a
# UUID's text, an int, an ISO 4217 code and a side: nothing to escape.
_HEAD = '{"conditions":[],"description":'
_PLAIN_SIDES = frozenset(("debit", "credit"))
_KIND = ',"kind":"standard","lines":['
# The usual entry's fields after its lines: no metadata, no effective time, no reference.
_PLAIN_TAIL = '],"metadata":{}}'


# The text of the ids seen lately, by id: `UUID.__str__` is Python (~0.66 us hot, and a
# posting has three: its organization's and two accounts'), a lookup here ~0.11 us, and the
# accounts a process posts to recur (session 45). Emptied when full: a bound on the memory
# (~7-8 MB per process at the bound, the ids kept alive included), not a policy. A UUID
# never changes, so its text here is always its own.
_UUID_TEXT: dict[UUID, str] = {}
_UUID_TEXT_MAX = 32_768


def uuid_text(value: UUID) -> str:
    """`str(value)` of a UUID (of the built-in type: anything else is `str`'s), remembered."""
    if type(value) is not UUID:
        return str(value)
    text = _UUID_TEXT.get(value)
    if text is None:
        if len(_UUID_TEXT) >= _UUID_TEXT_MAX:
            _UUID_TEXT.clear()
        text = _UUID_TEXT[value] = str(value)
    return text


def _line_json(account: str, amount: int, currency: str, side: str) -> str:
    return f'{{"account_id":"{account}","amount":{amount},"currency":"{currency}","side":"{side}"}}'


def _plain_line(line: object) -> bool:
    """Whether a line is of the built-in types and valid (as `Line.payload` checks it)."""
    if type(line) is not Line:
        return False
    amount, currency = line.amount, line.currency
    return (
        type(line.account_id) is UUID
        and type(line.side) is str
        and line.side in _PLAIN_SIDES
        and type(amount) is int
        and 0 < amount <= MAX_AMOUNT
        and type(currency) is str
        and currency in CURRENCY_EXPONENTS
    )


_Lines = tuple[list[str], list[str], list[int], list[str]]


def _plain_lines(lines: Sequence[Line]) -> _Lines | None:
    """A plain entry's lines as columns (account ids as text), if valid and balanced (the
    usual two lines are judged inline by `plain_entry`)."""
    if len(lines) < 2 or not all(map(_plain_line, lines)):
        return None
    accounts = [uuid_text(line.account_id) for line in lines]
    sums: dict[str, int] = {}
    net: dict[tuple[str, str], int] = {}
    for account, line in zip(accounts, lines, strict=True):
        signed = line.amount if line.side == "debit" else -line.amount
        sums[line.currency] = sums.get(line.currency, 0) + signed
        net[(account, line.currency)] = net.get((account, line.currency), 0) + signed
    if any(sums.values()) or not any(net.values()):
        return None  # unbalanced, or every account nets to zero: refused the long way
    return (
        accounts,
        [line.side for line in lines],
        [line.amount for line in lines],
        [line.currency for line in lines],
    )


_Usual = tuple[list[str], list[str], list[int], list[str], str]


def _usual_lines(lines: Sequence[Line]) -> _Usual | None:
    """Three or more plain lines in one currency, balanced, each on its own account, as
    columns and their JSON (`_line_json`'s, comma-separated), in one pass; None for anything
    else (`_plain_lines` judges it: another currency, an account on two lines, refusals)."""
    if len(lines) < 3 or type(lines[0]) is not Line:
        return None
    currency = lines[0].currency
    if type(currency) is not str or currency not in CURRENCY_EXPONENTS:
        return None
    accounts: list[str] = []
    sides: list[str] = []
    amounts: list[int] = []
    written: list[str] = []
    net = 0
    for line in lines:
        if type(line) is not Line:
            return None
        account, side, amount = line.account_id, line.side, line.amount
        if (
            type(account) is not UUID
            or type(amount) is not int
            or not 0 < amount <= MAX_AMOUNT
            or type(line.currency) is not str
            or line.currency != currency
        ):
            return None
        if side == "debit" and type(side) is str:
            net += amount
        elif side == "credit" and type(side) is str:
            net -= amount
        else:
            return None
        text = uuid_text(account)
        accounts.append(text)
        sides.append(side)
        amounts.append(amount)
        written.append(
            f'{{"account_id":"{text}","amount":{amount},"currency":"{currency}","side":"{side}"}}'
        )
    if net or len(set(accounts)) != len(accounts):
        return None
    return accounts, sides, amounts, [currency] * len(lines), ",".join(written)


def _plain_extras(metadata: object, effective_at: object) -> tuple[str | None, str | None] | None:
    """A plain entry's metadata as canonical JSON (None when empty) and its effective time
    as ISO 8601 (None when unset), if valid."""
    if type(metadata) is not dict:
        return None
    text = None
    if metadata:
        try:
            text = canonical_json(check_metadata(metadata))
        except InvalidRequest:
            return None
    if effective_at is None:
        return text, None
    if type(effective_at) is datetime and effective_at.tzinfo is not None:
        return text, effective_at.isoformat()
    return None


PlainEntry = tuple[
    str,  # key
    str,  # fingerprint
    Sequence[str],  # the lines' accounts (ids as text)
    Sequence[str],  # sides
    Sequence[int],  # amounts
    Sequence[str],  # currencies
    str,  # description
    str | None,  # metadata as canonical JSON, None when empty
    str | None,  # effective time (ISO 8601), None when unset
    str | None,  # external reference
]
"""A plain entry judged and fingerprinted without building its payload: what the fast doors
(`payments.post_entry`, `payments.post_entries`) take for it, its lines as columns. A plain
tuple: a NamedTuple's construction cost ~1 us per entry here."""


def plain_entry(request: object) -> PlainEntry | None:
    """A plain entry (a `PostEntry` of the built-in types, without conditions, valid) as the
    fast doors take it, its fingerprint as `fingerprint(request.payload())` gives it; None
    for any other request: `payload()` judges it (and raises its typed error). The one
    judgement of `plain_post` (a single posting) and `ledger.batches._plain_rows` (a batch).
    """
    if type(request) is not PostEntry or request.conditions:
        return None
    key, description, ref = request.idempotency_key, request.description, request.external_ref
    if (
        type(key) is not str
        or not key
        or len(key) > 255
        or type(description) is not str
        or (ref is not None and (type(ref) is not str or not ref))
    ):
        return None
    lines, metadata, at = request.lines, request.metadata, request.effective_at
    if len(lines) == 2 and at is None and type(metadata) is dict and not metadata:
        # The usual entry: one amount from one account to another, in one currency.
        first, second = lines
        if (
            not _plain_line(first)
            or not _plain_line(second)
            or first.amount != second.amount
            or first.currency != second.currency
            or first.side == second.side
            or first.account_id == second.account_id
        ):
            return None
        one, two = uuid_text(first.account_id), uuid_text(second.account_id)
        amount, currency, side, other = first.amount, first.currency, first.side, second.side
        body = (
            f"{_HEAD}{encode_basestring(description)}"
            f',"effective_at":null'
            f',"external_ref":{"null" if ref is None else encode_basestring(ref)}{_KIND}'
            f'{{"account_id":"{one}","amount":{amount},"currency":"{currency}"'
            f',"side":"{side}"}},'
            f'{{"account_id":"{two}","amount":{amount},"currency":"{currency}"'
            f',"side":"{other}"}}{_PLAIN_TAIL}'
        )
        return (
            key,
            hashlib.sha256(body.encode()).hexdigest(),
            (one, two),
            (side, other),
            (amount, amount),
            (currency, currency),
            description,
            None,
            None,
            ref,
        )
    if at is None and type(metadata) is dict and not metadata:
        usual = _usual_lines(lines)
        if usual is not None:
            # Three or more lines in one currency, each account on one line (a sale with its
            # fee, the payment's capture), nothing else set: judged and written in one pass.
            accounts, sides, amounts, currencies, written = usual
            body = (
                f"{_HEAD}{encode_basestring(description)}"
                f',"effective_at":null'
                f',"external_ref":{"null" if ref is None else encode_basestring(ref)}{_KIND}'
                f"{written}{_PLAIN_TAIL}"
            )
            return (
                key,
                hashlib.sha256(body.encode()).hexdigest(),
                accounts,
                sides,
                amounts,
                currencies,
                description,
                None,
                None,
                ref,
            )
    columns = _plain_lines(lines)
    extras = _plain_extras(metadata, at)
    if columns is None or extras is None:
        return None
    accounts, sides, amounts, currencies = columns
    meta, at_text = extras
    body = (
        f"{_HEAD}{encode_basestring(description)}"
        f',"effective_at":{"null" if at_text is None else encode_basestring(at_text)}'
        f',"external_ref":{"null" if ref is None else encode_basestring(ref)}{_KIND}'
        + ",".join(map(_line_json, accounts, amounts, currencies, sides))
        + f'],"metadata":{meta or "{}"}}}'
    )
    return (
        key,
        hashlib.sha256(body.encode()).hexdigest(),
        accounts,
        sides,
        amounts,
        currencies,
        description,
        meta,
        at_text,
        ref,
    )


def plain_post(request: object) -> tuple[str | None, ...] | None:
    """The fast door's (`payments.post_entry`) arguments after the organization, as text,
    for a plain entry (`plain_entry`): key, fingerprint, the lines' accounts, sides, amounts
    and currencies as array literals, description, metadata as canonical JSON (None when
    empty), effective time (None when unset), external reference. None for any other
    request: `payload()` judges it (and raises its typed error)."""
    entry = plain_entry(request)
    if entry is None:
        return None
    key, hashed, accounts, sides, amounts, currencies, description, meta, at_text, ref = entry
    return (
        key,
        hashed,
        "{" + ",".join(accounts) + "}",
        "{" + ",".join(sides) + "}",
        "{" + ",".join(map(str, amounts)) + "}",
        "{" + ",".join(currencies) + "}",
        description,
        meta,
        at_text,
        ref,
    )

"""Currency conversion through the platform's FX liquidity accounts (TigerBeetle's and
Formance's recipe): `convert` posts two entries together (`post_entries`, all or nothing):

    source account  --amount (source currency)-->  fx_liquidity:<source>   (the platform's)
    fx_liquidity:<target>  --target amount (target currency)-->  target account

The source account is debited and the target credited, as a TigerBeetle transfer debits its
debit account. Each entry balances in its own currency. The liquidity accounts are the
platform's equity accounts (credit normal, high volume), one per currency: their balances are
the platform's FX position (positive: the platform received that currency).

Rates are exact: a `Fraction`, a `Decimal`, an int, or a string ("1.0843", "1000/921"), in
target major units per source major unit; floats are refused. The target amount is the exact
conversion (minor-unit exponents differ: JPY 0, USD 2, KWD 3) rounded DOWN to the target's
minor unit: the customer never gets more than the exact conversion, and the rounding (below
one target minor unit) stays with the platform (the liquidity account keeps the whole source
amount but pays only the rounded target). Nothing is booked to a rounding account: the
remainder is not a whole minor unit. The rate, both amounts and both entries are recorded in
`payments.conversions` (PostgreSQL checks the rounding and that the entries carry the
amounts) and returned. Idempotent by key: a replay returns the first conversion; the same key
with another request is `IdempotencyConflict`.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from fractions import Fraction
from typing import Any

from sqlalchemy import Connection, text

from ledger.categories import translated_codes
from ledger.errors import (
    AccountNotFound,
    AccountOrganizationMismatch,
    AccountsMustBeDifferent,
    IdempotencyConflict,
    InvalidAmount,
    InvalidRequest,
    LedgerError,
)
from ledger.fx_liquidity import (
    FxLiquidityMissing,
    acts_for_platform,
    fx_liquidity_accounts,
    liquidity_code,
    liquidity_for,
    open_fx_liquidity,
)
from ledger.fx_quote import (
    ConversionTooSmall,
    InvalidRate,
    RateLike,
    SameCurrency,
    parse_rate,
    quote,
    rate_text,
)
from ledger.fx_rates import FxRate, FxRateChanged, FxRateMissing, get_fx_rate, set_fx_rate
from ledger.requests import MAX_AMOUNT, canonical_json, check_key, check_metadata
from ledger.requests import fingerprint as _fingerprint

# The rates and the liquidity accounts live in their own modules; `ledger/__init__.py` and
# callers still import them from here.
__all__ = [
    "Conversion",
    "ConversionNotFound",
    "Convert",
    "FxLiquidityMissing",
    "FxRate",
    "FxRateChanged",
    "FxRateMissing",
    "convert",
    "fx_liquidity_accounts",
    "get_conversion",
    "get_fx_rate",
    "liquidity_code",
    "list_conversions",
    "open_fx_liquidity",
    "set_fx_rate",
]


class ConversionNotFound(LedgerError):
    """No such conversion (or not one the caller may see)."""

    code = "conversion_not_found"
    conversion_id: str


_ERRORS: dict[str, type[LedgerError]] = {
    c.code: c
    for c in (
        InvalidRate,
        SameCurrency,
        ConversionTooSmall,
        FxLiquidityMissing,
        ConversionNotFound,
        FxRateMissing,
        FxRateChanged,
        InvalidAmount,
    )
}


@dataclass(frozen=True)
class Convert:
    """Convert `amount` minor units from the source account into the target account's
    currency at the platform's current rate for the pair (`set_fx_rate`). `rate` (target
    major units per source major unit), when given, is the rate the caller expects: a
    conversion at another rate is refused (`FxRateChanged`). Only the platform (or the owner)
    converts at a rate it names."""

    idempotency_key: str
    source_account_id: uuid.UUID
    target_account_id: uuid.UUID
    amount: int
    rate: RateLike | None = None
    description: str = ""
    metadata: Mapping[str, Any] = field(default_factory=dict)

    def payload(self) -> dict[str, Any]:
        """Validate (but the currencies, which are the accounts') and render as JSON."""
        for name in ("source_account_id", "target_account_id"):
            if not isinstance(getattr(self, name), uuid.UUID):
                raise InvalidRequest(f"{name} must be a UUID", field=name)
        if self.source_account_id == self.target_account_id:
            raise AccountsMustBeDifferent(account_ids=[str(self.source_account_id)])
        if type(self.amount) is not int or not 0 < self.amount <= MAX_AMOUNT:
            raise InvalidAmount(value=self.amount, field="amount")
        rate = None if self.rate is None else parse_rate(self.rate)
        if not isinstance(self.description, str) or len(self.description) > 1000:
            raise InvalidRequest("description is a string of at most 1000 characters")
        return {
            "key": check_key(self.idempotency_key),
            "source_account_id": str(self.source_account_id),
            "target_account_id": str(self.target_account_id),
            "amount": self.amount,
            "rate": None if rate is None else f"{rate.numerator}/{rate.denominator}",
            "description": self.description,
            "metadata": check_metadata(self.metadata),
        }


@dataclass(frozen=True)
class Conversion:
    """A recorded conversion: its amounts, exact rate, rounding kept by the platform, the two
    entries it posted, and whether this answer is a replay."""

    id: uuid.UUID
    org_id: uuid.UUID
    source_account_id: uuid.UUID
    target_account_id: uuid.UUID
    source_currency: str
    target_currency: str
    source_amount: int
    target_amount: int
    rate: Fraction
    rounding: Fraction
    source_entry_id: uuid.UUID
    target_entry_id: uuid.UUID
    created_at: datetime
    replayed: bool = False

    @property
    def rate_text(self) -> str:
        """The rate as a decimal when finite, else numerator/denominator."""
        return rate_text(self.rate)


_COLUMNS = """id, org_id, source_account_id, target_account_id, source_currency, target_currency,
    source_exponent, target_exponent, source_amount, target_amount, rate_numerator,
    rate_denominator, source_entry_id, target_entry_id, created_at, request_hash"""


def _conversion(row: Any, replayed: bool) -> Conversion:
    rate = Fraction(int(row.rate_numerator), int(row.rate_denominator))
    shift = row.target_exponent - row.source_exponent
    exact = row.source_amount * rate * Fraction(10) ** shift
    return Conversion(
        id=row.id,
        org_id=row.org_id,
        source_account_id=row.source_account_id,
        target_account_id=row.target_account_id,
        source_currency=row.source_currency,
        target_currency=row.target_currency,
        source_amount=row.source_amount,
        target_amount=row.target_amount,
        rate=rate,
        rounding=exact - row.target_amount,
        source_entry_id=row.source_entry_id,
        target_entry_id=row.target_entry_id,
        created_at=row.created_at,
        replayed=replayed,
    )


def _stored(conn: Connection, org_id: uuid.UUID, key: str, digest: str) -> Conversion | None:
    row = conn.execute(
        text(
            f"SELECT {_COLUMNS} FROM payments.conversions"
            " WHERE org_id = :org AND idempotency_key = :key"
        ),
        {"org": org_id, "key": key},
    ).first()
    if row is None:
        return None
    if row.request_hash != digest:
        raise IdempotencyConflict(idempotency_key=key)
    return _conversion(row, replayed=True)


def _accounts(conn: Connection, org_id: uuid.UUID, request: Convert) -> tuple[str, str]:
    """The source's and target's currencies, once both are the organization's accounts."""
    found = {
        r.id: r
        for r in conn.execute(
            text("SELECT id, org_id, currency FROM payments.accounts WHERE id IN (:s, :t)"),
            {"s": request.source_account_id, "t": request.target_account_id},
        )
    }
    for account_id in (request.source_account_id, request.target_account_id):
        row = found.get(account_id)
        if row is None:
            raise AccountNotFound(account_id=str(account_id))
        if row.org_id != org_id:
            raise AccountOrganizationMismatch(account_id=str(account_id), org_id=str(org_id))
    return found[request.source_account_id].currency, found[request.target_account_id].currency


def convert(conn: Connection, org_id: uuid.UUID, request: Convert) -> Conversion:
    """Convert between two of the organization's accounts through the platform's FX liquidity
    accounts: two entries posted together, the conversion recorded and returned (a replay
    returns the first one). The platform (or the owner) opens a missing liquidity account on
    the way; an organization is refused with `FxLiquidityMissing`."""
    payload = request.payload()
    key, digest = payload["key"], _fingerprint(payload)
    stored = _stored(conn, org_id, key, digest)
    if stored is not None:
        return stored
    source_currency, target_currency = _accounts(conn, org_id, request)
    if source_currency == target_currency:
        raise SameCurrency(currency=source_currency)
    expected = None if request.rate is None else parse_rate(request.rate)
    if expected is not None and acts_for_platform(conn):
        used = expected  # the platform converts at a rate it dealt
    else:
        current = get_fx_rate(conn, source_currency, target_currency)
        if current is None:
            raise FxRateMissing(source_currency=source_currency, target_currency=target_currency)
        if expected is not None and expected != current.rate:
            raise FxRateChanged(
                source_currency=source_currency,
                target_currency=target_currency,
                rate=f"{current.rate.numerator}/{current.rate.denominator}",
            )
        used = current.rate
    q = quote(request.amount, source_currency, target_currency, used)
    liquidity_for(conn, (source_currency, target_currency))
    body = {
        "org_id": str(org_id),
        "key": key,
        "hash": digest,
        "source_account_id": payload["source_account_id"],
        "target_account_id": payload["target_account_id"],
        "source_amount": q.source_amount,
        "target_amount": q.target_amount,
        "rate_numerator": str(q.rate.numerator),
        "rate_denominator": str(q.rate.denominator),
        "rate": rate_text(q.rate),
        "description": payload["description"],
        "metadata": payload["metadata"],
    }
    with translated_codes(_ERRORS):
        row = conn.execute(
            text("SELECT payments.convert(CAST(:p AS jsonb))"), {"p": canonical_json(body)}
        ).scalar_one()
    stored_row = conn.execute(
        text(f"SELECT {_COLUMNS} FROM payments.conversions WHERE id = :id"), {"id": row["id"]}
    ).one()
    return _conversion(stored_row, replayed=bool(row["replayed"]))


def get_conversion(conn: Connection, conversion_id: uuid.UUID) -> Conversion:
    """One conversion (as the caller may see it)."""
    row = conn.execute(
        text(f"SELECT {_COLUMNS} FROM payments.conversions WHERE id = :id"), {"id": conversion_id}
    ).first()
    if row is None:
        raise ConversionNotFound(conversion_id=str(conversion_id))
    return _conversion(row, replayed=False)


def list_conversions(
    conn: Connection,
    org_id: uuid.UUID | None = None,
    *,
    starting_after: uuid.UUID | None = None,
    limit: int = 100,
) -> tuple[list[Conversion], bool]:
    """A page of the conversions the caller sees (of one organization or all), oldest first;
    and whether more follow."""
    if not 0 < limit <= 1000:
        raise InvalidRequest("limit is between 1 and 1000")
    after = (
        " AND (created_at, id) > (SELECT x.created_at, x.id FROM payments.conversions x"
        " WHERE x.id = :after)"
        if starting_after is not None
        else ""
    )
    rows = conn.execute(
        text(f"""SELECT {_COLUMNS} FROM payments.conversions
                  WHERE (CAST(:org AS uuid) IS NULL OR org_id = :org){after}
                  ORDER BY created_at, id LIMIT :limit"""),
        {"org": org_id, "after": starting_after, "limit": limit + 1},
    ).all()
    found = [_conversion(r, replayed=False) for r in rows]
    return found[:limit], len(found) > limit

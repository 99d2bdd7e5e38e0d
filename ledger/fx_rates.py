"""The platform's exchange rates (`payments.fx_rates`): one rate per pair of currencies in
force from its `valid_from`, set only by the platform (or the owner) and never changed in
place: a new rate supersedes the old. `ledger.fx.convert` converts at the pair's current
rate; an organization's expected rate that is not it is `FxRateChanged`."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from fractions import Fraction
from typing import Any

from sqlalchemy import Connection, text

from ledger.categories import translated_codes
from ledger.currencies import CURRENCY_EXPONENTS
from ledger.errors import InvalidAmount, LedgerError, UnknownCurrency
from ledger.fx_quote import InvalidRate, RateLike, SameCurrency, parse_rate, rate_text
from ledger.requests import canonical_json


class FxRateMissing(LedgerError):
    """The platform has set no exchange rate for this pair of currencies (`set_fx_rate`)."""

    code = "fx_rate_missing"
    source_currency: str
    target_currency: str


class FxRateChanged(LedgerError):
    """The rate the request expects is not the pair's current rate (given as `rate`,
    numerator/denominator)."""

    code = "fx_rate_changed"
    source_currency: str
    target_currency: str
    rate: str


_ERRORS: dict[str, type[LedgerError]] = {
    c.code: c for c in (InvalidRate, SameCurrency, FxRateMissing, FxRateChanged, InvalidAmount)
}


@dataclass(frozen=True)
class FxRate:
    """The platform's rate for a pair (target major units per source major unit), in force
    from `valid_from`."""

    source_currency: str
    target_currency: str
    rate: Fraction
    valid_from: datetime

    @property
    def rate_text(self) -> str:
        """The rate as a decimal when finite, else numerator/denominator."""
        return rate_text(self.rate)


def _fx_rate(row: Any) -> FxRate:
    return FxRate(
        source_currency=row["source_currency"],
        target_currency=row["target_currency"],
        rate=Fraction(int(row["rate_numerator"]), int(row["rate_denominator"])),
        valid_from=datetime.fromisoformat(row["valid_from"])
        if isinstance(row["valid_from"], str)
        else row["valid_from"],
    )


def set_fx_rate(
    conn: Connection,
    source_currency: str,
    target_currency: str,
    rate: RateLike,
    *,
    valid_from: datetime | None = None,
) -> FxRate:
    """Set the pair's rate (the platform's or the owner's to do: an organization is refused
    with `PermissionDenied`), in force from `valid_from` (default now). Rates are never
    changed in place: a new rate supersedes the old from its `valid_from`."""
    for currency in (source_currency, target_currency):
        if currency not in CURRENCY_EXPONENTS:
            raise UnknownCurrency(currency=currency)
    if source_currency == target_currency:
        raise SameCurrency(currency=source_currency)
    exact = parse_rate(rate)
    body = {
        "source_currency": source_currency,
        "target_currency": target_currency,
        "rate_numerator": str(exact.numerator),
        "rate_denominator": str(exact.denominator),
        "valid_from": valid_from.isoformat() if valid_from is not None else None,
    }
    with translated_codes(_ERRORS):
        row = conn.execute(
            text("SELECT payments.set_fx_rate(CAST(:p AS jsonb))"), {"p": canonical_json(body)}
        ).scalar_one()
    return _fx_rate(row)


def get_fx_rate(conn: Connection, source_currency: str, target_currency: str) -> FxRate | None:
    """The pair's rate in force now, or None."""
    row = (
        conn.execute(
            text("""SELECT source_currency, target_currency, rate_numerator, rate_denominator,
                           valid_from FROM payments.fx_rates
                     WHERE source_currency = :s AND target_currency = :t AND valid_from <= now()
                     ORDER BY valid_from DESC, id DESC LIMIT 1"""),
            {"s": source_currency, "t": target_currency},
        )
        .mappings()
        .first()
    )
    return None if row is None else _fx_rate(row)

"""Currency conversion's arithmetic (pure: no I/O): exact rates and the rounding of a
conversion between currencies of different minor-unit exponents (JPY 0, USD 2, KWD 3), always
down to the target's minor unit, so the customer never gets more than the exact conversion.
`ledger.fx` posts what it computes."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction
from math import floor

from ledger.currencies import CURRENCY_EXPONENTS
from ledger.errors import InvalidAmount, InvalidRequest, UnknownCurrency
from ledger.requests import MAX_AMOUNT

RateLike = Fraction | Decimal | int | str
MAX_RATE_TERM = 10**18
"""A rate's reduced numerator and denominator stay below this."""


class InvalidRate(InvalidRequest):
    """A rate is an exact positive number (Fraction, Decimal, int or decimal/fraction string),
    never a float."""

    code = "invalid_rate"
    value: str


class SameCurrency(InvalidRequest):
    """A conversion is between two currencies; these accounts have the same one."""

    code = "same_currency"
    currency: str


class ConversionTooSmall(InvalidRequest):
    """The amount converts to less than one minor unit of the target currency."""

    code = "conversion_too_small"
    amount: int
    target_currency: str


def parse_rate(value: object) -> Fraction:
    """The rate as an exact positive fraction with bounded terms; `InvalidRate` otherwise."""
    if isinstance(value, bool) or not isinstance(value, Fraction | Decimal | int | str):
        raise InvalidRate(value=repr(value))
    try:
        rate = Fraction(value.strip() if isinstance(value, str) else value)
    except (ValueError, ZeroDivisionError, OverflowError, ArithmeticError) as exc:
        raise InvalidRate(value=repr(value)) from exc
    if rate <= 0 or max(rate.numerator, rate.denominator) >= MAX_RATE_TERM:
        raise InvalidRate(value=repr(value))
    return rate


def rate_text(rate: Fraction) -> str:
    """A rate as people write it: a decimal when it has a finite one (up to 18 places), else
    numerator/denominator."""
    for places in range(19):
        scaled = rate * 10**places
        if scaled.denominator == 1:
            digits = str(scaled.numerator).rjust(places + 1, "0")
            return digits if places == 0 else f"{digits[:-places]}.{digits[-places:]}"
    return f"{rate.numerator}/{rate.denominator}"


@dataclass(frozen=True)
class Quote:
    """A conversion's arithmetic: the target amount (rounded down) and the rounding the
    platform keeps, in target minor units (0 <= rounding < 1)."""

    source_currency: str
    target_currency: str
    source_amount: int
    target_amount: int
    rate: Fraction
    rounding: Fraction


def quote(source_amount: int, source_currency: str, target_currency: str, rate: RateLike) -> Quote:
    """Convert `source_amount` minor units at `rate` (target major units per source major
    unit), rounding down to the target's minor unit. Pure."""
    if type(source_amount) is not int or not 0 < source_amount <= MAX_AMOUNT:
        raise InvalidAmount(value=source_amount, field="amount")
    for currency in (source_currency, target_currency):
        if currency not in CURRENCY_EXPONENTS:
            raise UnknownCurrency(currency=currency)
    if source_currency == target_currency:
        raise SameCurrency(currency=source_currency)
    exact_rate = parse_rate(rate)
    shift = CURRENCY_EXPONENTS[target_currency] - CURRENCY_EXPONENTS[source_currency]
    exact = source_amount * exact_rate * Fraction(10) ** shift
    target = floor(exact)
    if target < 1:
        raise ConversionTooSmall(amount=source_amount, target_currency=target_currency)
    if target > MAX_AMOUNT:
        raise InvalidAmount(value=target, field="target_amount")
    return Quote(
        source_currency=source_currency,
        target_currency=target_currency,
        source_amount=source_amount,
        target_amount=target,
        rate=exact_rate,
        rounding=exact - target,
    )

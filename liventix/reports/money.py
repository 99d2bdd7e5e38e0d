"""Amounts as finance reads them: integer minor units shown in major units by the currency's
ISO 4217 exponent (`23,176.63 USD`, `1,000 JPY`, `1.500 KWD`), and a chart axis's ticks in
money. Integer arithmetic only: no amount ever passes through a float."""

from __future__ import annotations

import ledger

_STEPS = (1, 2, 5)
"""A tick's step is 1, 2 or 5 times a power of ten minor units."""


def exponent(currency: str) -> int:
    """The currency's ISO 4217 exponent (2 for USD, 0 for JPY, 3 for KWD); 0 if unknown."""
    return ledger.CURRENCY_EXPONENTS.get(currency.upper(), 0)


def money(amount: int, currency: str, *, unit: bool = True, trim: bool = False) -> str:
    """`amount` minor units in major units with thousands separators and the currency:
    `-23,176.63 USD`. `unit=False` leaves the code off; `trim=True` drops a fraction that is
    all zeros (`5,000 USD`: an axis tick)."""
    places = exponent(currency)
    whole, fraction = divmod(abs(amount), 10**places)
    text = f"{'-' if amount < 0 else ''}{whole:,}"
    if places and not (trim and fraction == 0):
        text += f".{fraction:0{places}d}"
    return f"{text} {currency.upper()}" if unit else text


def ticks(low: int, high: int, *, most: int = 6) -> list[int]:
    """Round axis ticks (in minor units) covering [low, high], at most `most` + 1 of them: the
    smallest step of 1, 2 or 5 times a power of ten minor units that needs no more than
    `most` intervals. Zero is a tick whenever the range spans it."""
    low, high = min(low, high, 0), max(low, high, 0)
    if low == high:
        high = low + 1
    power = 1
    while True:
        for step in (d * power for d in _STEPS):
            first, last = low // step, -((-high) // step)  # floor and ceiling
            if last - first <= most:
                return [n * step for n in range(first, last + 1)]
        power *= 10


def apportion(amount: int, weights: list[int]) -> list[int]:
    """`amount` minor units shared by `weights` (each >= 0, some > 0) in whole minor units
    that sum to `amount`: each its floor share, the units left over to the largest remainders
    (the first of equal ones)."""
    total = sum(weights)
    shares = [amount * w // total for w in weights]
    left = amount - sum(shares)
    by_remainder = sorted(range(len(weights)), key=lambda i: (-(amount * weights[i] % total), i))
    for i in by_remainder[:left]:
        shares[i] += 1
    return shares

"""The platform's FX liquidity accounts: one equity account per currency (credit normal,
high volume, code `fx_liquidity:<cur>`), through which `ledger.fx.convert` passes every
conversion; their balances are the platform's FX position. Only the platform (or the owner)
opens one; any organization may learn their ids."""

from __future__ import annotations

import uuid
from collections.abc import Iterable

from sqlalchemy import Connection, text

from ledger.currencies import CURRENCY_EXPONENTS
from ledger.errors import LedgerError, UnknownCurrency
from ledger.listing import platform_org
from ledger.requests import OpenAccount
from ledger.writes import open_account


class FxLiquidityMissing(LedgerError):
    """The platform has no FX liquidity account in this currency yet (the platform opens it:
    `ledger.open_fx_liquidity`, `liventix ledger fx open-liquidity`)."""

    code = "fx_liquidity_missing"
    currency: str


def liquidity_code(currency: str) -> str:
    """The code of the platform's FX liquidity account in this currency."""
    return f"fx_liquidity:{currency.lower()}"


def acts_for_platform(conn: Connection) -> bool:
    """Whether the caller is the platform (its proven key) or the owner."""
    return bool(
        conn.execute(
            text(
                "SELECT coalesce(payments.current_actor() = 'platform', payments._trusted_caller())"
            )
        ).scalar()
    )


def fx_liquidity_accounts(conn: Connection, currencies: Iterable[str]) -> dict[str, uuid.UUID]:
    """The platform's FX liquidity accounts of these currencies that exist (any organization
    may ask: only their ids are told)."""
    rows = conn.execute(
        text("SELECT currency, account_id FROM payments.fx_liquidity_accounts(:c)"),
        {"c": sorted(set(currencies))},
    ).all()
    return {r.currency: r.account_id for r in rows}


def open_fx_liquidity(conn: Connection, currency: str) -> uuid.UUID:
    """Open the platform's FX liquidity account in this currency (the platform's or the
    owner's to do; idempotent)."""
    if currency not in CURRENCY_EXPONENTS:
        raise UnknownCurrency(currency=currency)
    platform = platform_org(conn)
    if platform is None:
        raise FxLiquidityMissing(currency=currency)
    code = liquidity_code(currency)
    return open_account(
        conn,
        platform,
        OpenAccount(
            idempotency_key=f"chart:{code}",
            code=code,
            name=f"FX liquidity ({currency})",
            type="equity",
            currency=currency,
            high_volume=True,
        ),
    ).id


def liquidity_for(conn: Connection, currencies: tuple[str, str]) -> dict[str, uuid.UUID]:
    """The liquidity accounts of both currencies; the platform (or the owner) opens a missing
    one, anyone else gets `FxLiquidityMissing`."""
    found = fx_liquidity_accounts(conn, currencies)
    for currency in currencies:
        if currency not in found:
            if not acts_for_platform(conn):
                raise FxLiquidityMissing(currency=currency)
            found[currency] = open_fx_liquidity(conn, currency)
    return found

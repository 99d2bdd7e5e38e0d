"""`liventix ledger categories`, `seed-categories`, `open-fx-liquidity`, `set-fx-rate`: the
operator's side of account categories and currency conversion (issue 16 items 3, 6). The categories'
balances are listed (per organization or all), the chart's accounts opened before categories
existed are put into theirs, and the platform's FX liquidity accounts are opened, after which
organizations may convert through them (`POST /v1/conversions`)."""

from __future__ import annotations

import json

import click

import escrow
import ledger
from liventix.cli.common import (
    DATABASE,
    EXIT_OK,
    PREPARED,
    aligned,
    engine,
    existing_engine,
    find_organization,
    settings_epilog,
)


@click.command("categories", epilog=settings_epilog(DATABASE))
@click.option("--org", default=None, metavar="ID|NAME", help="only this organization's")
@click.option("--json", "as_json", is_flag=True, help="one JSON object per line")
def categories(org: str | None, as_json: bool) -> int:
    """List account categories with their balances now (minor units, normal side)."""
    with existing_engine().begin() as conn:
        org_id = None if org is None else find_organization(conn, org)[0]
        found: list[ledger.Category] = []
        after = None
        while True:
            page, more = ledger.list_categories(conn, org_id, starting_after=after, limit=1000)
            found += page
            if not more:
                break
            after = page[-1].id
    if as_json:
        for c in found:
            click.echo(
                json.dumps(
                    {
                        "id": str(c.id),
                        "org_id": str(c.org_id),
                        "code": c.code,
                        "currency": c.currency,
                        "normal_side": c.normal_side,
                        "accounts": c.balance.accounts,
                        "posted": c.balance.posted,
                        "pending": c.balance.pending,
                        "available": c.balance.available,
                    }
                )
            )
        return EXIT_OK
    rows = [
        (
            c.code,
            c.currency,
            c.normal_side,
            c.balance.accounts,
            c.balance.posted,
            c.balance.pending,
            c.balance.available,
            c.org_id,
        )
        for c in found
    ]
    headers = ("CODE", "CUR", "SIDE", "ACCOUNTS", "POSTED", "PENDING", "AVAILABLE", "ORG")
    click.echo(aligned(headers, rows))
    return EXIT_OK


@click.command("seed-categories", epilog=settings_epilog(PREPARED))
def seed_categories() -> int:
    """Put the chart's accounts opened before categories existed into their categories
    (idempotent; new accounts join theirs as they open)."""
    with engine().begin() as conn:
        done = escrow.seed_categories(conn)
    click.echo(f"{done} chart account(s) in their categories")
    return EXIT_OK


@click.command("open-fx-liquidity", epilog=settings_epilog(PREPARED))
@click.argument("currencies", nargs=-1, required=True, metavar="CURRENCY...")
def open_fx_liquidity(currencies: tuple[str, ...]) -> int:
    """Open the platform's FX liquidity account in each currency (idempotent)."""
    unknown = [c for c in currencies if not ledger.is_currency(c.upper())]
    if unknown:
        raise click.BadParameter(f"not ISO 4217: {', '.join(unknown)}", param_hint="CURRENCY")
    with engine().begin() as conn:
        for currency in currencies:
            account = ledger.open_fx_liquidity(conn, currency.upper())
            click.echo(f"{currency.upper()}  {account}")
    return EXIT_OK


@click.command("set-fx-rate", epilog=settings_epilog(PREPARED))
@click.argument("source", metavar="SOURCE")
@click.argument("target", metavar="TARGET")
@click.argument("rate", metavar="RATE")
def set_fx_rate(source: str, target: str, rate: str) -> int:
    """Set the platform's exchange rate for a pair, in force from now: TARGET major units per
    SOURCE major unit, exact (`1.0843` or `1000/921`; organizations convert at it)."""
    try:
        parsed = ledger.parse_rate(rate)
    except ledger.LedgerError as error:
        raise click.BadParameter(str(error), param_hint="RATE") from error
    with engine().begin() as conn:
        try:
            found = ledger.set_fx_rate(conn, source.upper(), target.upper(), parsed)
        except ledger.LedgerError as error:
            raise click.BadParameter(str(error), param_hint="SOURCE/TARGET") from error
    click.echo(
        f"{found.source_currency}/{found.target_currency}  {found.rate_text}"
        f"  from {found.valid_from.isoformat()}"
    )
    return EXIT_OK

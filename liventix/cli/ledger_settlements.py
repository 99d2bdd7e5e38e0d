"""`liventix ledger settlements` and `liventix ledger transfer-coverage`: the settlements of
an organization's accounts (issue 16 item 4), and finance's question "which tickets did this
transfer pay for?" (transfer -> settlement -> entries -> orders and tickets). Read-only: they
run as the owner, the organization named by --org."""

from __future__ import annotations

import json

import click

import ledger
from liventix.cli.common import (
    DATABASE,
    EXIT_OK,
    Failed,
    aligned,
    existing_engine,
    find_organization,
    settings_epilog,
)


@click.command("settlements", epilog=settings_epilog(DATABASE))
@click.option("--org", required=True, metavar="ID|NAME", help="the organization")
@click.option("--account", default=None, metavar="CODE", help="only this account's")
@click.option("--limit", type=click.IntRange(1, 1000), default=100, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="one JSON object per settlement")
def settlements(org: str, account: str | None, limit: int, as_json: bool) -> int:
    """List an organization's settlements, newest first."""
    with existing_engine().begin() as conn:
        org_id, _name = find_organization(conn, org)
        ledger.act_for(conn, org_id)
        account_id = None
        if account is not None:
            account_id = ledger.find_account(conn, org_id, account)
            if account_id is None:
                raise Failed(f"no account {account} for organization {org}")
        page = ledger.list_settlements(conn, account_id=account_id, limit=limit)
    if as_json:
        for s in page.settlements:
            click.echo(
                json.dumps(
                    {
                        "id": str(s.id),
                        "account_id": str(s.account_id),
                        "currency": s.currency,
                        "amount": s.amount,
                        "entry_count": s.entry_count,
                        "up_to": s.up_to.isoformat(),
                        "description": s.description,
                        "metadata": s.metadata,
                    }
                )
            )
        return EXIT_OK
    rows = [
        (s.id, s.account_id, s.currency, s.amount, s.entry_count, s.up_to.isoformat())
        for s in page.settlements
    ]
    click.echo(aligned(("ID", "ACCOUNT", "CUR", "AMOUNT", "ENTRIES", "UP TO"), rows))
    return EXIT_OK


@click.command("transfer-coverage", epilog=settings_epilog(DATABASE))
@click.argument("transfer_id")
@click.option("--json", "as_json", is_flag=True, help="the answer as one JSON object")
def transfer_coverage(transfer_id: str, as_json: bool) -> int:
    """Which orders and tickets a transfer to an organizer paid for."""
    from liventix.reports import organizer  # noqa: PLC0415 (the reports load for this one only)

    with existing_engine().begin() as conn:
        try:
            found = organizer.transfer_coverage(conn, transfer_id)
        except organizer.TransferNotFound as exc:
            raise Failed(f"no transfer {transfer_id}") from exc
    if as_json:
        click.echo(found.model_dump_json())
        return EXIT_OK
    click.echo(
        f"transfer {found.transfer_id}: {found.amount} {found.currency} (minor units),"
        f" settlement {found.settlement_id or '-'} covering {found.settled}"
    )
    rows = [
        (e.entry_id, e.kind, e.amount, e.payment_id, e.order_id, len(e.ticket_ids))
        for e in found.entries
    ]
    click.echo(aligned(("ENTRY", "KIND", "AMOUNT", "PAYMENT", "ORDER", "TICKETS"), rows))
    click.echo(f"{len(found.order_ids)} order(s), {len(found.ticket_ids)} ticket(s) sold")
    return EXIT_OK

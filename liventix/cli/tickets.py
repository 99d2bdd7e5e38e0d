"""`liventix tickets ...`: tickets and orders."""

from __future__ import annotations

import click

import ticketing_fsm
from liventix.cli.common import EXIT_OK, PREPARED, Group, drain, engine, settings_epilog


@click.group("tickets", cls=Group)
def group() -> None:
    """Tickets and orders."""


@group.command("expire-holds", epilog=settings_epilog(PREPARED))
def expire_holds() -> int:
    """Sweep unpaid, expired orders: ask Stripe to cancel their PaymentIntents (the worker's
    task releases the seats once Stripe says canceled); release those still unpaid 30
    minutes after their hold."""
    total = drain(engine(), ticketing_fsm.expire_holds)
    click.echo(f"swept {total} order(s)")
    return EXIT_OK

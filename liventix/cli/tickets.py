"""`liventix tickets ...`: tickets and orders."""

from __future__ import annotations

from datetime import timedelta

import click

import ticketing_fsm
from liventix.cli.common import (
    EXIT_OK,
    PREPARED,
    Group,
    drain,
    engine,
    load_settings,
    settings_epilog,
)


@click.group("tickets", cls=Group)
def group() -> None:
    """Tickets and orders."""


@group.command("expire-holds", epilog=settings_epilog((*PREPARED, "LIVENTIX_CANCEL_GRACE")))
def expire_holds() -> int:
    """Sweep unpaid, expired orders: ask Stripe to cancel their PaymentIntents (the worker's
    task releases the seats once Stripe says canceled).

    LIVENTIX_CANCEL_GRACE seconds (30 minutes) after the ask, those Stripe never answered are
    released and asked again, those it said were processing asked again; those it said were
    paid wait for their payment."""
    grace = timedelta(seconds=load_settings().cancel_grace)
    total = drain(engine(), lambda conn: ticketing_fsm.expire_holds(conn, grace=grace))
    click.echo(f"swept {total} order(s)")
    return EXIT_OK

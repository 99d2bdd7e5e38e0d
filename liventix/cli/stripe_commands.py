"""`liventix stripe ...`: the platform's Stripe account as the payments core reads it; `catch-up`
reads Stripe's own list of events into the inbox (`liventix.stripe_catchup`)."""

from __future__ import annotations

from datetime import UTC, datetime

import click

from liventix.cli.common import (
    EXIT_NO,
    EXIT_OK,
    PREPARED,
    STRIPE_CALLS,
    Group,
    Moment,
    engine,
    load_settings,
    settings_epilog,
)
from liventix.stripe_catchup import catch_up, handled_types
from liventix.stripe_gateway import StripeGateway


def _when(seconds: int | None) -> str:
    if seconds is None:
        return "none"
    return datetime.fromtimestamp(seconds, UTC).isoformat(timespec="seconds")


@click.group("stripe", cls=Group)
def group() -> None:
    """The platform's Stripe account."""


@group.command("catch-up", epilog=settings_epilog((*PREPARED, *STRIPE_CALLS)))
@click.option(
    "--since",
    type=Moment(seconds=True),
    default=None,
    help="read from this moment (Unix seconds or ISO 8601) instead of the inbox's cursor "
    "less its overlap; Stripe lists 30 days",
)
def catch_up_command(since: datetime | None) -> int:
    """Read Stripe's events (GET /v1/events) the inbox does not have into it, for the
    webhooks that never arrived; the worker handles them as it handles webhooks.

    Pages newest first from the inbox's cursor (less 5 minutes) or --since, each stored with
    the cursor after its call. Prints the pages read, the new events, the duplicates (already
    delivered or listed) and the items skipped (unusable, logged). Stripe failing stops the
    read where it got (exit 1); the next run resumes from there. A worker's read under way
    is taken over (it stops at its next page): one read at a time moves the cursor."""
    settings = load_settings()
    gateway = StripeGateway(settings.stripe())
    start = None if since is None else int(since.timestamp())
    report = catch_up(engine(), gateway, since=start, types=handled_types(gateway))
    click.echo(
        f"stripe catch-up from {_when(report.start)}: {report.pages} page(s), "
        f"{report.new} new event(s), {report.duplicates} duplicate(s), "
        f"{report.skipped} skipped; caught up to {_when(report.caught_up_to)}"
    )
    if report.interrupted is not None:
        click.echo(
            f"liventix stripe catch-up: interrupted, the next run resumes: {report.interrupted}",
            err=True,
        )
        return EXIT_NO
    return EXIT_OK

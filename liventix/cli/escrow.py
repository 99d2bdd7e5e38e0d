"""`liventix escrow ...`: escrows, ticket revenue held until the event is over."""

from __future__ import annotations

import click
import sqlalchemy as sa

import escrow
from liventix.cli.common import EXIT_OK, PREPARED, Group, drain, engine, settings_epilog


@click.group("escrow", cls=Group)
def group() -> None:
    """Escrows: ticket revenue held until the event is over."""


@group.command("release-due", epilog=settings_epilog(PREPARED))
def release_due() -> int:
    """Release every escrow that has become due.

    Ends events, ends hold periods and releases escrows that are due, until none is left."""

    def step(conn: sa.Connection) -> int:
        done = escrow.release_due(conn)
        for escrow_id, state in done:
            click.echo(f"escrow {escrow_id}: {state}")
        return len(done)

    click.echo(f"{drain(engine(), step)} step(s)")
    return EXIT_OK

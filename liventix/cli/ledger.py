"""`liventix ledger ...`: the ledger's background steps, its trial balance and its short
story (the small demo)."""

from __future__ import annotations

import uuid

import click
from sqlalchemy.engine import make_url

import ledger
from liventix import demo
from liventix.cli.common import (
    DATABASE,
    EXIT_NO,
    EXIT_OK,
    PREPARED,
    Group,
    drain,
    engine,
    existing_engine,
    settings_epilog,
)


@click.group("ledger", cls=Group)
def group() -> None:
    """The ledger's background steps and reports."""


@group.command("expire-holds", epilog=settings_epilog(PREPARED))
@click.option(
    "--limit",
    type=click.IntRange(min=1),
    default=1000,
    show_default=True,
    help="at most this many per transaction",
)
def expire_holds(limit: int) -> int:
    """Expire every hold whose expiry has passed."""
    total = drain(engine(), lambda conn: ledger.expire_holds(conn, limit))
    click.echo(f"expired {total} hold(s)")
    return EXIT_OK


@group.command("roll-up", epilog=settings_epilog(PREPARED))
def roll_up() -> int:
    """Give high-volume accounts' new lines their version and running balance."""
    with engine().begin() as conn:
        done = ledger.roll_up(conn)
    click.echo(f"rolled up {done} line(s)")
    return EXIT_OK


@group.command("trial-balance", epilog=settings_epilog(DATABASE))
def trial_balance() -> int:
    """Print the trial balance of every organization.

    Totals per currency; exit 1 if debits and credits differ anywhere, 2 if the database is
    missing or not migrated (it reads the database as it is)."""
    with existing_engine().begin() as conn:
        tb = ledger.trial_balance(conn)
    for currency, (debits, credits) in sorted(tb.totals.items()):
        click.echo(f"{currency}  debits {debits}  credits {credits}")
    return EXIT_OK if tb.balanced else EXIT_NO


@group.command("demo", epilog=settings_epilog(PREPARED))
@click.option(
    "--run",
    default=None,
    metavar="ID",
    help="run id used in the idempotency keys (default: a new one; reuse one to replay)",
)
def ledger_demo(run: str | None) -> int:
    """Play a short ticket-sale story through the ledger alone.

    On the application database (embedded PostgreSQL unless DATABASE_URL); the same --run
    twice replays it."""
    app = engine()
    click.echo(f"database: {make_url(str(app.url)).render_as_string(hide_password=True)}")
    tb = demo.run_demo(app, run or uuid.uuid4().hex[:8], click.echo)
    return EXIT_OK if tb.balanced else EXIT_NO

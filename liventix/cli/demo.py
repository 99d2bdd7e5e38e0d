"""`liventix demo`: play a whole season through the system and reconcile it (the README's
first command). The season itself is `liventix.demo`; this is its command line: options,
signals and exit statuses."""

from __future__ import annotations

import signal
import sys
from pathlib import Path
from types import FrameType

import click

from liventix import demo as season_demo
from liventix.cli.common import EXIT_NO, EXIT_OK, Command, Failed, load_settings, settings_epilog

DEMO_READS = ("DATABASE_URL", "LIVENTIX_DATA_DIR", "LIVENTIX_PGDATA", "LIVENTIX_DB_NAME")
EXIT_INTERRUPTED = 130


class _Sigterm:
    """SIGTERM (kill, timeout, CI) unwinds like Ctrl-C, so the API and the workers are stopped
    on the way out instead of being left running; the demo then exits 128 + SIGTERM, whatever
    the unwinding raised on the way (a database connection cut in the middle of a statement
    fails its rollback)."""

    def __init__(self) -> None:
        self.received: int | None = None

    def __call__(self, signum: int, frame: FrameType | None) -> None:
        self.received = signum
        raise SystemExit(128 + signum)


@click.command(
    "demo",
    cls=Command,
    epilog=settings_epilog(DEMO_READS)
    + "\n\nLIVENTIX_DB_NAME is the application's database: the demo refuses to use it.",
)
@click.option(
    "--seed", type=int, default=1, show_default=True, help="the same seed, the same ledger"
)
@click.option(
    "--orders",
    type=click.IntRange(min=20),
    default=1_000,
    show_default=True,
    help="checkouts (at least 20)",
)
@click.option(
    "--orgs",
    type=click.IntRange(min=2),
    default=3,
    show_default=True,
    help="organizations (at least 2)",
)
@click.option(
    "--database",
    default=season_demo.DEMO_DATABASE,
    show_default=True,
    metavar="NAME",
    help="the demo's database, dropped and created anew; an existing database is "
    "dropped only if an earlier demo made it",
)
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    metavar="DIR",
    help="where the reports go (default: <data dir>/demo)",
)
def demo(seed: int, orders: int, orgs: int, database: str, out: Path | None) -> int:
    """Play a whole season through the system and reconcile it (the README's demo).

    On a fresh database of its own: the API and four workers as processes, Stripe, a webhook
    receiver and an SMTP server stood in for on 127.0.0.1; then finance's reports, written as
    JSON, CSV and one HTML page. Exit 1 if a report finds a difference, 2 if the season could
    not be played, 130 on Ctrl-C."""
    settings = load_settings()
    if database == settings.database_name:
        raise Failed("the demo drops its database: pick another --database")
    sigterm = _Sigterm()
    previous = signal.signal(signal.SIGTERM, sigterm)
    try:
        outcome = season_demo.play_and_reconcile(
            settings,
            season_demo.SeasonOptions(seed=seed, orders=orders, orgs=orgs),
            database=database,
            out_dir=out or settings.data_dir / "demo",
            out=click.echo,
            live=sys.stdout if sys.stdout.isatty() else None,
        )
    except BaseException as error:
        if sigterm.received is not None:
            raise SystemExit(128 + sigterm.received) from None
        if isinstance(error, season_demo.DemoError):
            raise Failed(str(error)) from error
        if isinstance(error, KeyboardInterrupt):
            click.echo(
                "\nliventix demo: interrupted; the API and the workers were stopped", err=True
            )
            return EXIT_INTERRUPTED
        raise
    finally:
        signal.signal(signal.SIGTERM, previous)
    return EXIT_OK if outcome.ok else EXIT_NO

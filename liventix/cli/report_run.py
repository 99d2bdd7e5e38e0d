"""Running finance's reports for `liventix report ...`: what a command was asked for
(`Options`), one repeatable-read snapshot of the database, the reports built on it, printed in
the chosen format and written where asked (`--out`, `--html`), and the exit status their
differences give. With LIVENTIX_READ_URL set the snapshot is the read replica's, and the
reports' header (the context line, and a line on stderr) states how far behind it is. The
commands themselves (names, options, help) are `liventix.cli.report`'s."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Literal

import click
import sqlalchemy as sa

from liventix import reports
from liventix.cli.common import EXIT_NO, EXIT_OK, Failed, load_settings
from liventix.database import (
    existing_database_url,
    existing_read_url,
    make_engine,
    make_read_engine,
)
from liventix.replication import Lag, replica_lag

Builder = Callable[[sa.Connection], reports.Report]
Format = Literal["table", "csv", "json"]

DEFAULT_PERIOD = timedelta(days=30)
"""A statement's period when --from is not given: the 30 days up to its end."""


@dataclass(frozen=True)
class Options:
    """What a report command was asked for."""

    format: Format = "table"
    detail: bool = False
    differences_only: bool = False
    out: Path | None = None
    html: Path | None = None
    balance_transactions: Path | None = None
    org: str | None = None
    as_of: datetime | None = None
    start: datetime | None = None
    end: datetime | None = None


def _snapshot(conn: sa.Connection) -> datetime:
    """Every report of one run sees the same committed state; returns the database's now."""
    conn.execute(sa.text("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY"))
    now: datetime = conn.execute(sa.text("SELECT now()")).scalar_one()
    return now


def _period(options: Options, now: datetime) -> tuple[datetime, datetime]:
    end = options.end or now
    start = options.start or end - DEFAULT_PERIOD
    return start, end


def _builders(
    options: Options,
    transactions: list[reports.StripeTransaction] | None,
    now: datetime,
) -> dict[str, Builder]:
    as_of = options.as_of or now
    start, end = _period(options, now)
    out: dict[str, Builder] = {
        "trial-balance": reports.trial_balance,
        "balance-sheet": lambda c: reports.balance_sheet(c, as_of=as_of),
        "income-statement": lambda c: reports.income_statement(c, start=start, end=end),
        "escrow-position": reports.escrow_position,
        "category-balances": lambda c: reports.category_balances(c, as_of=as_of),
        "fx-positions": reports.fx_positions,
    }
    if transactions is not None:
        out["stripe-reconciliation"] = lambda c: reports.stripe_reconciliation(c, transactions)
    out["ticket-tie-out"] = reports.ticket_tie_out
    out["outbox-health"] = reports.outbox_health
    out["journal"] = lambda c: reports.journal(c, start=start, end=end)
    out["account-balances"] = lambda c: reports.account_balances(c, as_of=as_of)
    org = options.org
    if org is not None:
        out["organizer-statement"] = lambda c: reports.organizer_statement(
            c, reports.organization_id(c, org), start=start, end=end
        )
    return out


EXPORTS = ("journal", "account-balances")
"""Reports that are exports: not on the HTML page nor in `all`."""


def _page(
    conn: sa.Connection,
    names: list[str] | None,
    shown: list[reports.Report],
    builders: dict[str, Builder],
    *,
    start: datetime,
    end: datetime,
) -> list[reports.Report]:
    """The HTML page's reports: every report and one organizer statement per organizer (what
    `all` shows already; a single report's page builds the others beside it)."""
    if names is None:
        return shown
    built = {r.name: r for r in shown if r.name != "organizer-statement"}
    page = [
        built[n] if n in built else builders[n](conn)
        for n in builders
        if n != "organizer-statement" and n not in EXPORTS
    ]
    page += [
        reports.organizer_statement(conn, org, start=start, end=end)
        for org in reports.organizers(conn)
    ]
    return page


def run(names: list[str] | None, options: Options) -> int:
    """Run the named reports (None: `all`, every report and every organizer's statement) on
    the database as it is (never created nor migrated), print them, write the files asked
    for; the exit status counts the differences of the reports shown."""
    try:
        transactions = (
            None
            if options.balance_transactions is None
            else reports.load_balance_transactions(options.balance_transactions)
        )
    except (OSError, reports.StripeImportError) as error:
        raise Failed(f"cannot read the balance transactions: {error}") from error
    engine = _engine()
    lag: Lag | None = None
    try:
        with engine.begin() as conn:
            now = _snapshot(conn)
            lag = replica_lag(conn)
            builders = _builders(options, transactions, now)
            start, end = _period(options, now)
            if names is None:
                shown = reports.every_report(
                    conn,
                    transactions=transactions,
                    as_of=options.as_of or now,
                    start=start,
                    end=end,
                )
            else:
                shown = [builders[name](conn) for name in names]
            page: list[reports.Report] = []
            if options.html is not None:
                page = _page(conn, names, shown, builders, start=start, end=end)
                history = reports.stripe_balance_history(conn)
    except reports.ReportError as error:
        raise Failed(str(error)) from error
    finally:
        engine.dispose()
    context = reports.context_line(
        now, options.as_of or now, start, end, skipped=names is None and transactions is None
    )
    context += _replica_header(lag, options)
    click.echo(
        reports.show(
            shown,
            options.format,
            detail=options.detail,
            differences_only=options.differences_only,
            every=names is None,
            context=context,
        )
    )
    if options.out is not None:
        for report in shown:
            reports.write_files(report, _out_dir(options.out, report, several=names is None))
    total = sum(r.differences for r in shown)
    prefix = click.get_current_context().command_path
    if names is None and transactions is None:
        click.echo(
            f"{prefix}: the Stripe reconciliation was skipped (no --balance-transactions): "
            "its differences are not counted",
            err=True,
        )
    if options.html is not None:
        options.html.parent.mkdir(parents=True, exist_ok=True)
        options.html.write_text(
            reports.as_html(
                page,
                history,
                f"{now:%Y-%m-%d %H:%M:%S %Z}",
                transactions=transactions,
                context=context,
            ),
            encoding="utf-8",
        )
        click.echo(f"HTML report: {options.html}", err=True)
        others = sum(r.differences for r in page) - sum(
            r.differences for r in shown if any(r is p for p in page)
        )
        if others:
            click.echo(f"{prefix}: the HTML page shows {others} more difference(s)", err=True)
    if total:
        click.echo(f"{prefix}: {total} difference(s) found", err=True)
    return EXIT_NO if total else EXIT_OK


def _replica_header(lag: Lag | None, options: Options) -> str:
    """Read from a replica: say its lag on stderr and atop a table (CSV and JSON stay as
    they are); returns what the context line adds (nothing when read from the primary)."""
    if lag is None:
        return ""
    click.echo(f"{click.get_current_context().command_path}: {lag.describe()}", err=True)
    if options.format == "table":
        click.echo(f"({lag.describe()})")
    return f"; {lag.describe()}"


def _engine() -> sa.Engine:
    """The engine reports read: the read replica's (LIVENTIX_READ_URL) when one is set, else
    the primary's; either as it is (a missing or unmigrated database is a setup error)."""
    settings = load_settings()
    replica = existing_read_url(settings)
    if replica is not None:
        return make_read_engine(replica, pool_size=1, max_overflow=0)
    return make_engine(existing_database_url(settings), pool_size=1, max_overflow=0)


def _out_dir(out: Path, report: reports.Report, *, several: bool) -> Path:
    """Where a report's files go: `out`, or for one of several organizer statements (`all`)
    `out/organizers/<org id>/`, so that each organizer's files are kept."""
    if several and isinstance(report, reports.OrganizerStatementReport):
        return out / "organizers" / str(report.org_id)
    return out

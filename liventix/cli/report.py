"""`liventix report ...`: finance's reports on the command line.

    liventix report <name> [--format table|csv|json] [--detail] [--differences-only]
                           [--out DIR] [--html FILE]

Names: trial-balance, balance-sheet [--as-of ISO], income-statement [--from ISO] [--to ISO],
organizer-statement --org UUID|NAME [--from ISO] [--to ISO], escrow-position,
stripe-reconciliation (with --balance-transactions FILE, JSON or CSV: see
liventix.reports.stripe_import), ticket-tie-out, outbox-health, all (every report and every
organizer's statement; the Stripe reconciliation only with --balance-transactions, a note on
stderr says when it was skipped), and the exports journal [--from ISO] [--to ISO] and
account-balances [--as-of ISO] (`--format csv` loads elsewhere). A moment without a time
zone is UTC; the balance sheet defaults to now, a period to the 30 days up to now (the
database's clock). The report prints to stdout in the chosen format; --out DIR also writes
`<name>.json` and one CSV per table there; --html FILE writes one self-contained page of all
reports (the Stripe reconciliation only when a file of balance transactions is given, an
organizer statement for every organizer) with a chart per currency of the Stripe balance.

Reports read the database as it is: a missing database, or one not at the head revision, is
a setup error (never created nor migrated here). Exit status 1 when a report shown finds a
difference, 2 on a usage or setup error (an unreadable file, no such database, an unknown
organization, an empty period).

The table format opens each report with its differences and summary, amounts in each
currency's major unit and names for ids; --detail adds the matched rows and every account,
--differences-only shows the differences alone. `all` prints one screen: every difference
first, then a line per report (--detail: every report in full)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from liventix.cli.common import DATABASE, Group, Moment, settings_epilog
from liventix.cli.report_run import Format, Options, run


@click.group("report", cls=Group)
def group() -> None:
    """Finance's reports and statements: table, CSV, JSON, HTML.

    Each reads the database as it is (never creating nor migrating it). Exit 1 when a report
    shown finds a difference, 2 on a usage or setup error."""


_PATH = click.Path(path_type=Path)
_EPILOG = settings_epilog((*DATABASE, "LIVENTIX_READ_URL"))


def _common(command: Callable[..., Any]) -> Callable[..., Any]:
    """The options every report takes."""
    for option in reversed(
        (
            click.option(
                "--format",
                "fmt",
                type=click.Choice(("table", "csv", "json")),
                default="table",
                show_default=True,
                help="how the report prints on stdout",
            ),
            click.option(
                "--detail",
                is_flag=True,
                help="table: show the matched rows and every account too (folded otherwise)",
            ),
            click.option(
                "--differences-only",
                is_flag=True,
                help="table: show only the differences",
            ),
            click.option(
                "--out", type=_PATH, metavar="DIR", help="also write JSON and CSV files here"
            ),
            click.option(
                "--html", type=_PATH, metavar="FILE", help="write an HTML page of all reports"
            ),
        )
    ):
        command = option(command)
    return command


def _balance_transactions(*, required: bool) -> Callable[[Callable[..., Any]], Any]:
    return click.option(
        "--balance-transactions",
        type=_PATH,
        required=required,
        metavar="FILE",
        help="Stripe balance transactions: a JSON list or the itemized CSV export",
    )


_AS_OF = click.option(
    "--as-of", type=Moment(), default=None, help="the balance sheet's moment (default: now)"
)
_FROM = click.option(
    "--from", "start", type=Moment(), default=None, help="period start (default: --to - 30 days)"
)
_TO = click.option(
    "--to", "end", type=Moment(), default=None, help="period end, excluded (default: now)"
)
_ORG = click.option(
    "--org", required=True, metavar="ID|NAME", help="the organizer: its id or its (unique) name"
)


def _single(name: str, summary: str, *extra: Callable[[Callable[..., Any]], Any]) -> None:
    """Register `liventix report <name>`, taking the common options and `extra`."""

    def command(fmt: Format, **given: Any) -> int:
        return run([name], Options(format=fmt, **given))

    command.__doc__ = summary
    for option in reversed(extra):
        command = option(command)
    group.command(name, epilog=_EPILOG)(_common(command))


_single(
    "trial-balance",
    "Trial balance per organization and currency, and the platform-wide one.",
)
_single(
    "balance-sheet",
    "Balance sheet per owner and currency by effective date; 1 if A != L + E + RE.",
    _AS_OF,
)
_single(
    "income-statement",
    "Revenue, expense and net income over a period; 1 if the period is unbalanced.",
    _FROM,
    _TO,
)
_single(
    "organizer-statement",
    "What the platform owes one organizer, by category, tied out; 1 on a difference.",
    _ORG,
    _FROM,
    _TO,
)
_single(
    "escrow-position",
    "Each escrow's held amount beside the ledger's escrow account; 1 if they differ.",
)
_single(
    "category-balances",
    "Every account category's balances and the escrow tie-out by category; 1 if off.",
    _AS_OF,
)
_single(
    "fx-positions",
    "The platform's FX liquidity balance per currency beside its conversions; 1 if off.",
)
_single(
    "stripe-reconciliation",
    "Match Stripe's balance transactions to the ledger; 1 on any difference.",
    _balance_transactions(required=True),
)
_single(
    "ticket-tie-out",
    "Tickets sold, refunded, checked in per event beside the ledger's sales/refunds.",
)
_single(
    "outbox-health",
    "Pending, retrying and dead deliveries per endpoint; 1 if any is dead.",
)


_single(
    "journal",
    "Every entry effective in a period with its lines (CSV: the export); 1 if one is unbalanced.",
    _FROM,
    _TO,
)
_single(
    "account-balances",
    "The trial balance by account as of a moment (CSV: the export); 1 if a currency is off.",
    _AS_OF,
)


@group.command("all", epilog=_EPILOG)
@_common
@_balance_transactions(required=False)
@_AS_OF
@_FROM
@_TO
def report_all(fmt: Format, **given: Any) -> int:
    """Every report and every organizer's statement; 1 on any difference.

    Stripe's reconciliation only with --balance-transactions: without it, it is skipped (a
    note on stderr says so)."""
    return run(None, Options(format=fmt, **given))

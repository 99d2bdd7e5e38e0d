"""`liventix report ...`: finance's reports on the command line.

    liventix report <name> [--format table|csv|json] [--out DIR] [--html FILE]

Names: trial-balance, escrow-position, stripe-reconciliation (with --balance-transactions
FILE, JSON or CSV: see liventix.reports.stripe_import), ticket-tie-out, outbox-health, all.
The report prints to stdout in the chosen format; --out DIR also writes `<name>.json` and one
CSV per table there; --html FILE writes one self-contained page of all reports (the Stripe
reconciliation only when a file of balance transactions is given) with a chart of the
platform's Stripe balance by day. Exit status 1 when a report finds a difference.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

import sqlalchemy as sa

from liventix import reports
from liventix.cli import EXIT_ERROR, EXIT_NO, EXIT_OK, GROUPS, _engine, command
from liventix.settings import Settings

GROUPS[("report",)] = "finance's reconciliation reports: table, CSV, JSON, HTML"

Builder = Callable[[sa.Connection], reports.Report]


def _options(stripe: str | None) -> Callable[[argparse.ArgumentParser], None]:
    def add(parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--format", choices=("table", "csv", "json"), default="table")
        parser.add_argument("--out", type=Path, help="also write JSON and CSV files here")
        parser.add_argument("--html", type=Path, help="write an HTML page of all reports")
        if stripe is not None:
            parser.add_argument(
                "--balance-transactions",
                type=Path,
                required=stripe == "required",
                help="Stripe balance transactions: a JSON list or the itemized CSV export",
            )

    return add


def _snapshot(conn: sa.Connection) -> None:
    # Every report of one run sees the same committed state.
    conn.execute(sa.text("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY"))


def _builders(args: argparse.Namespace) -> dict[str, Builder]:
    out: dict[str, Builder] = {
        "trial-balance": reports.trial_balance,
        "escrow-position": reports.escrow_position,
    }
    path: Path | None = getattr(args, "balance_transactions", None)
    if path is not None:
        transactions = reports.load_balance_transactions(path)
        out["stripe-reconciliation"] = lambda c: reports.stripe_reconciliation(c, transactions)
    out["ticket-tie-out"] = reports.ticket_tie_out
    out["outbox-health"] = reports.outbox_health
    return out


def _print(report: reports.Report, fmt: str) -> None:
    render = {"table": reports.as_table, "csv": reports.as_csv, "json": reports.as_json}[fmt]
    print(render(report))


def _run(names: list[str] | None, args: argparse.Namespace, settings: Settings) -> int:
    try:
        builders = _builders(args)
    except (OSError, reports.StripeImportError) as error:
        print(f"liventix: cannot read the balance transactions: {error}", file=sys.stderr)
        return EXIT_ERROR
    wanted = list(builders) if names is None else names
    with _engine(settings).begin() as conn:
        _snapshot(conn)
        needed = list(builders) if args.html is not None else wanted
        built = {name: builders[name](conn) for name in needed}
        history = reports.stripe_balance_history(conn)
        generated = str(conn.execute(sa.text("SELECT now()")).scalar_one())
    shown = [built[n] for n in wanted]
    for n, report in enumerate(shown):
        if n:
            print()
        _print(report, args.format)
        if args.out is not None:
            reports.write_files(report, args.out)
    if args.html is not None:
        args.html.parent.mkdir(parents=True, exist_ok=True)
        args.html.write_text(
            reports.as_html(list(built.values()), history, generated), encoding="utf-8"
        )
        print(f"HTML report: {args.html}", file=sys.stderr)
    total = sum(r.differences for r in shown)
    if total:
        print(f"liventix: {total} difference(s) found", file=sys.stderr)
    return EXIT_NO if total else EXIT_OK


def _single(name: str) -> Callable[[argparse.Namespace, Settings], int]:
    def handler(args: argparse.Namespace, settings: Settings) -> int:
        return _run([name], args, settings)

    return handler


command(
    "report",
    "trial-balance",
    summary="Trial balance per organization and currency, and the platform-wide one.",
    arguments=_options(None),
)(_single("trial-balance"))
command(
    "report",
    "escrow-position",
    summary="Each escrow's held amount beside the ledger's escrow account; 1 if they differ.",
    arguments=_options(None),
)(_single("escrow-position"))
command(
    "report",
    "stripe-reconciliation",
    summary="Match Stripe's balance transactions to the ledger; 1 on any difference.",
    arguments=_options("required"),
)(_single("stripe-reconciliation"))
command(
    "report",
    "ticket-tie-out",
    summary="Tickets sold, refunded, checked in per event beside the ledger's sales/refunds.",
    arguments=_options(None),
)(_single("ticket-tie-out"))
command(
    "report",
    "outbox-health",
    summary="Pending, retrying and dead deliveries per endpoint; 1 if any is dead.",
    arguments=_options(None),
)(_single("outbox-health"))


@command(
    "report",
    "all",
    summary="Every report (Stripe's with --balance-transactions); 1 on any difference.",
    arguments=_options("optional"),
)
def report_all(args: argparse.Namespace, settings: Settings) -> int:
    """Run every report."""
    return _run(None, args, settings)

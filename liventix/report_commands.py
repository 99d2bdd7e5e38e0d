"""`liventix report ...`: finance's reports on the command line.

    liventix report <name> [--format table|csv|json] [--out DIR] [--html FILE]

Names: trial-balance, balance-sheet [--as-of ISO], income-statement [--from ISO] [--to ISO],
organizer-statement --org UUID|NAME [--from ISO] [--to ISO], escrow-position,
stripe-reconciliation (with --balance-transactions FILE, JSON or CSV: see
liventix.reports.stripe_import), ticket-tie-out, outbox-health, all (every report and every
organizer's statement; the Stripe reconciliation only with --balance-transactions, a note on
stderr says when it was skipped). A moment without a time zone is UTC; the balance sheet
defaults to now, a period to the 30 days up to now (the database's clock). The report prints
to stdout in the chosen format; --out DIR also writes `<name>.json` and one CSV per table
there; --html FILE writes one self-contained page of all reports (the Stripe reconciliation
only when a file of balance transactions is given, an organizer statement for every
organizer) with a chart of the platform's Stripe balance over time.

Reports read the database as it is: a missing database, or one not at the head revision, is
a setup error (never created nor migrated here). Exit status 1 when a report shown finds a
difference, 2 on a usage or setup error (an unreadable file, no such database, an unknown
organization, an empty period)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import sqlalchemy as sa

from liventix import reports
from liventix.cli import EXIT_ERROR, EXIT_NO, EXIT_OK, GROUPS, _existing_engine, command
from liventix.settings import Settings

GROUPS[("report",)] = "finance's reports and statements: table, CSV, JSON, HTML"

Builder = Callable[[sa.Connection], reports.Report]

DEFAULT_PERIOD = timedelta(days=30)
"""A statement's period when --from is not given: the 30 days up to its end."""


def _moment(value: str) -> datetime:
    """An ISO 8601 date or time; one without a time zone is taken as UTC."""
    try:
        moment = datetime.fromisoformat(value)
    except ValueError as error:
        raise argparse.ArgumentTypeError(f"not an ISO 8601 date or time: {value!r}") from error
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _options(
    stripe: str | None, *, as_of: bool = False, period: bool = False, org: bool = False
) -> Callable[[argparse.ArgumentParser], None]:
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
        if org:
            parser.add_argument(
                "--org", required=True, help="the organizer: its id or its (unique) name"
            )
        if as_of:
            parser.add_argument(
                "--as-of", type=_moment, help="the balance sheet's moment (default: now)"
            )
        if period:
            parser.add_argument(
                "--from", dest="start", type=_moment, help="period start (default: --to - 30 days)"
            )
            parser.add_argument(
                "--to", dest="end", type=_moment, help="period end, excluded (default: now)"
            )

    return add


def _snapshot(conn: sa.Connection) -> datetime:
    """Every report of one run sees the same committed state; returns the database's now."""
    conn.execute(sa.text("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY"))
    now: datetime = conn.execute(sa.text("SELECT now()")).scalar_one()
    return now


def _transactions(args: argparse.Namespace) -> list[reports.StripeTransaction] | None:
    path: Path | None = getattr(args, "balance_transactions", None)
    return None if path is None else reports.load_balance_transactions(path)


def _period(args: argparse.Namespace, now: datetime) -> tuple[datetime, datetime]:
    end: datetime = getattr(args, "end", None) or now
    start: datetime = getattr(args, "start", None) or end - DEFAULT_PERIOD
    return start, end


def _builders(
    args: argparse.Namespace,
    transactions: list[reports.StripeTransaction] | None,
    now: datetime,
) -> dict[str, Builder]:
    as_of: datetime = getattr(args, "as_of", None) or now
    start, end = _period(args, now)
    out: dict[str, Builder] = {
        "trial-balance": reports.trial_balance,
        "balance-sheet": lambda c: reports.balance_sheet(c, as_of=as_of),
        "income-statement": lambda c: reports.income_statement(c, start=start, end=end),
        "escrow-position": reports.escrow_position,
    }
    if transactions is not None:
        out["stripe-reconciliation"] = lambda c: reports.stripe_reconciliation(c, transactions)
    out["ticket-tie-out"] = reports.ticket_tie_out
    out["outbox-health"] = reports.outbox_health
    org: str | None = getattr(args, "org", None)
    if org is not None:
        out["organizer-statement"] = lambda c: reports.organizer_statement(
            c, reports.organization_id(c, org), start=start, end=end
        )
    return out


def _print(report: reports.Report, fmt: str) -> None:
    render = {"table": reports.as_table, "csv": reports.as_csv, "json": reports.as_json}[fmt]
    print(render(report))


def _run(names: list[str] | None, args: argparse.Namespace, settings: Settings) -> int:
    """Run the named reports (None: `all`, every report and every organizer's statement) on
    the database as it is (never created nor migrated), print them, write the files asked
    for; the exit status counts the differences of the reports shown."""
    try:
        transactions = _transactions(args)
    except (OSError, reports.StripeImportError) as error:
        print(f"liventix: cannot read the balance transactions: {error}", file=sys.stderr)
        return EXIT_ERROR
    engine = _existing_engine(settings)
    try:
        with engine.begin() as conn:
            now = _snapshot(conn)
            builders = _builders(args, transactions, now)
            start, end = _period(args, now)

            def statements() -> list[reports.Report]:
                return [
                    reports.organizer_statement(conn, org, start=start, end=end)
                    for org in reports.organizers(conn)
                ]

            if names is None:
                shown = reports.every_report(
                    conn,
                    transactions=transactions,
                    as_of=getattr(args, "as_of", None) or now,
                    start=start,
                    end=end,
                )
            else:
                shown = [builders[name](conn) for name in names]
            page: list[reports.Report] = []
            if args.html is not None:
                # The page: every report, one organizer statement per organizer (what `all`
                # shows already; a single report's page builds the others beside it).
                if names is None:
                    page = shown
                else:
                    built = {r.name: r for r in shown if r.name != "organizer-statement"}
                    page = [
                        built[n] if n in built else builders[n](conn)
                        for n in builders
                        if n != "organizer-statement"
                    ]
                    page += statements()
                history = reports.stripe_balance_history(conn)
    except reports.ReportError as error:
        print(f"liventix: {error}", file=sys.stderr)
        return EXIT_ERROR
    finally:
        engine.dispose()
    for n, report in enumerate(shown):
        if n:
            print()
        _print(report, args.format)
        if args.out is not None:
            reports.write_files(report, _out_dir(args.out, report, several=names is None))
    total = sum(r.differences for r in shown)
    if names is None and transactions is None:
        print(
            "liventix: the Stripe reconciliation was skipped (no --balance-transactions): "
            "its differences are not counted",
            file=sys.stderr,
        )
    if args.html is not None:
        args.html.parent.mkdir(parents=True, exist_ok=True)
        args.html.write_text(reports.as_html(page, history, str(now)), encoding="utf-8")
        print(f"HTML report: {args.html}", file=sys.stderr)
        others = sum(r.differences for r in page) - sum(
            r.differences for r in shown if any(r is p for p in page)
        )
        if others:
            print(f"liventix: the HTML page shows {others} more difference(s)", file=sys.stderr)
    if total:
        print(f"liventix: {total} difference(s) found", file=sys.stderr)
    return EXIT_NO if total else EXIT_OK


def _out_dir(out: Path, report: reports.Report, *, several: bool) -> Path:
    """Where a report's files go: `out`, or for one of several organizer statements (`all`)
    `out/organizers/<org id>/`, so that each organizer's files are kept."""
    if several and isinstance(report, reports.OrganizerStatementReport):
        return out / "organizers" / str(report.org_id)
    return out


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
    "balance-sheet",
    summary="Balance sheet per owner and currency by effective date; 1 if A != L + E + RE.",
    arguments=_options(None, as_of=True),
)(_single("balance-sheet"))
command(
    "report",
    "income-statement",
    summary="Revenue, expense and net income over a period; 1 if the period is unbalanced.",
    arguments=_options(None, period=True),
)(_single("income-statement"))
command(
    "report",
    "organizer-statement",
    summary="What the platform owes one organizer, by category, tied out; 1 on a difference.",
    arguments=_options(None, period=True, org=True),
)(_single("organizer-statement"))
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
    summary="Every report and every organizer's statement (Stripe's with "
    "--balance-transactions); 1 on any difference.",
    arguments=_options("optional", as_of=True, period=True),
)
def report_all(args: argparse.Namespace, settings: Settings) -> int:
    """Run every report and every organizer's statement; without --balance-transactions
    the Stripe reconciliation is skipped (a note on stderr says so)."""
    return _run(None, args, settings)

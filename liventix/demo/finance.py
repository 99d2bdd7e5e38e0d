"""Finance's reports on a season: one snapshot, every report, one line each, written as JSON,
CSV and one HTML page; the Stripe reconciliation against the stand-in's balance transactions."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path

import sqlalchemy as sa

from liventix import reports
from liventix.demo.progress import Out
from liventix.testing.stripe import StripeObject

BALANCE_TRANSACTIONS = "stripe-balance-transactions.json"


def finance_reports(
    engine: sa.Engine,
    balance_transactions: list[StripeObject],
    out_dir: Path,
    out: Out = print,
    *,
    since: datetime | None = None,
) -> int:
    """Finance's reports on the season, from one snapshot: the trial balance, the balance
    sheet now, the income statement and every organizer's statement for the season (from
    `since`, default the last 30 days), the escrow position, the Stripe reconciliation
    against the stand-in's balance transactions (written as Stripe's JSON list and itemized
    CSV), the ticket tie-out and the outbox's health. A line per report; every report as JSON
    and CSV files, and one HTML page, under `out_dir`. Returns the number of differences."""
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / BALANCE_TRANSACTIONS).write_text(
        json.dumps(balance_transactions, indent=1), encoding="utf-8"
    )
    transactions = reports.load_balance_transactions(out_dir / BALANCE_TRANSACTIONS)
    (out_dir / "stripe-balance-transactions.csv").write_text(
        reports.to_csv(transactions), encoding="utf-8"
    )
    with engine.begin() as conn:
        conn.execute(sa.text("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY"))
        now: datetime = conn.execute(sa.text("SELECT now()")).scalar_one()
        start = since or now - timedelta(days=30)
        built = reports.every_report(
            conn, transactions=transactions, as_of=now, start=start, end=now
        )
        history = reports.stripe_balance_history(conn)
    for report in built:
        if isinstance(report, reports.OrganizerStatementReport):
            reports.write_files(report, out_dir / "organizers" / _slug(report.organizer))
        else:
            reports.write_files(report, out_dir)
    context = f"The season: {start:%Y-%m-%d %H:%M:%S} to {now:%H:%M:%S} UTC"
    out("")
    out("Finance's reports")
    for line in reports.summary_screen(built, context=context).splitlines():
        out(line)
    page = built
    html = out_dir / "report.html"
    html.write_text(
        reports.as_html(
            page,
            history,
            f"{now:%Y-%m-%d %H:%M:%S %Z}",
            transactions=transactions,
            context=context,
        ),
        encoding="utf-8",
    )
    total = sum(r.differences for r in page)
    out("every difference zero" if total == 0 else f"{total} DIFFERENCE(S): see the reports")
    out(f"HTML report: {html}")
    out(f"JSON and CSV: {out_dir}")
    return total


def _slug(name: str) -> str:
    return "".join(c if c.isalnum() else "-" for c in name.lower()).strip("-")

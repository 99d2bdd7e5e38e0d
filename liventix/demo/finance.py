"""Finance's reports on a season: one snapshot, every report, one line each, written as JSON,
CSV and one HTML page; the Stripe reconciliation against the stand-in's balance transactions."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path

import sqlalchemy as sa

from liventix import reports
from liventix.demo.progress import Out, money
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
    out("")
    out(f"Finance's reports (the season: {start:%Y-%m-%d %H:%M:%S} to {now:%H:%M:%S} UTC)")
    for report in built:
        if isinstance(report, reports.OrganizerStatementReport):
            reports.write_files(report, out_dir / "organizers" / _slug(report.organizer))
            title = f"Statement: {report.organizer}"
        else:
            reports.write_files(report, out_dir)
            title = report.title
        out(f"  {title:<44} differences {report.differences}{_detail(report)}")
    page = built
    html = out_dir / "report.html"
    html.write_text(reports.as_html(page, history, str(now)), encoding="utf-8")
    total = sum(r.differences for r in page)
    out("every difference zero" if total == 0 else f"{total} DIFFERENCE(S): see the reports")
    out(f"HTML report: {html}")
    out(f"JSON and CSV: {out_dir}")
    return total


def _slug(name: str) -> str:
    return "".join(c if c.isalnum() else "-" for c in name.lower()).strip("-")


def _detail(report: reports.Report) -> str:
    if isinstance(report, reports.StripeReconciliationReport):
        balances = "; ".join(
            f"{b.currency} ledger {b.ledger_balance} = Stripe {b.stripe_balance}"
            if not b.difference
            else f"{b.currency} ledger {b.ledger_balance} vs Stripe {b.stripe_balance}"
            for b in report.balances
        )
        return f"  ({report.matched} transactions matched; {balances})"
    if isinstance(report, reports.BalanceSheetReport):
        return (
            "  ("
            + "; ".join(f"{t.currency} assets {money(t.assets, t.currency)}" for t in report.totals)
            + ")"
        )
    if isinstance(report, reports.IncomeStatementReport):
        return (
            "  (net income "
            + ", ".join(money(t.net_income, t.currency) for t in report.totals)
            + ")"
        )
    if isinstance(report, reports.OrganizerStatementReport):
        sales = ", ".join(f"{money(s.gross, s.currency)} gross" for s in report.sales)
        owed = ", ".join(money(b.closing, b.currency) for b in report.balances if b.kind == "total")
        return f"  ({sales or 'no sales'}; owed at the end {owed or 'nothing'})"
    if isinstance(report, reports.EscrowPositionReport):
        return f"  ({len(report.rows)} escrows)"
    if isinstance(report, reports.TicketTieOutReport):
        return f"  ({sum(r.tickets_sold for r in report.rows)} tickets sold)"
    return ""

"""Finance's reports as finance reads them (issue 17): amounts in money by each currency's
exponent (a zero- and a three-decimal currency beside the euro), names instead of ids, a
planted difference first in the one-screen summary and in each report, the detail folded,
the organizer statement per event and ticket type, the journal and trial balance exports,
and `liventix report all | head -5` as a real process."""

from __future__ import annotations

import csv
import io
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa

import ticketing_fsm as tk
from liventix import reports
from liventix.api import create_app, create_key
from liventix.stripe_gateway import StripeGateway, StripeSettings
from tests.api.support import WEBHOOK_SECRET, uvicorn_thread
from tests.cli.runner import liventix
from tests.escrow_core.support import new_organizer
from tests.reports.conftest import Season
from tests.ticketing_core.support import Gateway, World, open_world, pay, request

UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")

# The season (tests/reports/conftest.py): 6 tickets at 25.00 EUR in three orders, one ticket
# refunded; the platform takes 5 % and gives it back pro rata on refunds.
GROSS, PLATFORM_FEE, REFUND, FEE_BACK = 15_000, 750, 2_500, 125


@pytest.mark.parametrize(
    ("amount", "currency", "shown"),
    [
        (2_317_663, "USD", "23,176.63 USD"),
        (-5, "USD", "-0.05 USD"),
        (0, "EUR", "0.00 EUR"),
        (1_000, "JPY", "1,000 JPY"),
        (-1_234_567, "JPY", "-1,234,567 JPY"),
        (12_500, "KWD", "12.500 KWD"),
        (1, "BHD", "0.001 BHD"),
        (-1_000_000_001, "KWD", "-1,000,000.001 KWD"),
        (9_007_199_254_740_993, "USD", "90,071,992,547,409.93 USD"),  # beyond a float's 2**53
    ],
)
def test_money_by_the_currencys_exponent(amount: int, currency: str, shown: str) -> None:
    assert reports.money(amount, currency) == shown
    assert reports.money(amount, currency.lower()) == shown


def test_axis_ticks_and_shares_are_whole_minor_units() -> None:
    assert reports.ticks(0, 5_120_394) == [n * 1_000_000 for n in range(7)]
    assert reports.ticks(-50, 100) == [-50, 0, 50, 100]
    assert reports.ticks(3, 7) == [0, 2, 4, 6, 8]  # zero is on the axis
    assert reports.money(500_000, "USD", trim=True) == "5,000 USD"
    from liventix.reports.money import apportion  # noqa: PLC0415

    assert apportion(250, [2_500, 2_500]) == [125, 125]
    assert apportion(100, [1, 1, 1]) == [34, 33, 33]  # the first of equal remainders
    assert apportion(7, [3, 2, 2]) == [3, 2, 2]
    assert sum(apportion(999_999_999_999, [7, 11, 13])) == 999_999_999_999


def _sell(engine: sa.Engine, currency: str, price: int, quantity: int = 1) -> World:
    """A new organizer's event in `currency`, one order of `quantity` tickets paid."""
    with engine.begin() as conn:
        world = open_world(conn, capacities=(20,), prices=(price,), currency=currency)
    checkout = tk.start_checkout(engine, Gateway(), request(world, currency, (quantity,)))
    with engine.begin() as conn:
        pay(conn, world, checkout)
    return world


@pytest.fixture
def three_currencies(engine: sa.Engine, season: Season) -> tuple[World, World]:
    """The season (EUR) and two more organizers: 2,500 JPY and 12.500 KWD tickets."""
    return _sell(engine, "JPY", 2_500, 2), _sell(engine, "KWD", 12_500)


def test_a_season_in_three_currencies_reads_in_money_and_names(
    season: Season, three_currencies: tuple[World, World], cli_env: None
) -> None:
    jpy, kwd = three_currencies
    result = liventix("report", "ticket-tie-out")
    assert result.exit_code == 0, result.output
    out = result.stdout
    # per currency in its own exponent: euro cents, whole yen, thousandths of a dinar
    for amount in ("150.00 EUR", "25.00 EUR", "5,000 JPY", "12.500 KWD", "0.000 KWD"):
        assert amount in out, amount
    assert "Folded: Events that agree (3)" in out
    # organizers and events by name, no id in sight
    detail = liventix("report", "ticket-tie-out", "--detail").stdout
    for world in (season.world, jpy, kwd):
        assert f"Organizer {world.org.hex[:6]}" in detail
    assert "Hamlet" in detail and not UUID.search(detail + out)

    # JSON keeps integer minor units and the currency
    data = json.loads(liventix("report", "ticket-tie-out", "--format", "json").stdout)
    by_currency = {r["currency"]: r for r in data["rows"]}
    assert (by_currency["JPY"]["tickets_sold_value"], by_currency["KWD"]["ledger_sales"]) == (
        5_000,
        12_500,
    )
    assert by_currency["JPY"]["event_id"] == str(jpy.event)
    # CSV keeps the ids and integers, each amount beside its formatted twin
    text = liventix("report", "ticket-tie-out", "--format", "csv").stdout
    rows = list(csv.DictReader(io.StringIO(text.split("\n", 1)[1])))
    (kwd_row,) = [r for r in rows if r["currency"] == "KWD"]
    assert (kwd_row["event_id"], kwd_row["ledger_sales"]) == (str(kwd.event), "12500")
    assert kwd_row["ledger_sales_formatted"] == "12.500 KWD"

    # the one-screen summary: every organizer's statement, in its money
    summary = liventix("report", "all").stdout
    assert "owed 49.875 KWD" not in summary  # the platform keeps its 5 %
    assert f"Statement: Organizer {kwd.org.hex[:6]}" in summary and "11.875 KWD" in summary
    assert "4,750 JPY" in summary and not UUID.search(summary)


def test_a_planted_difference_comes_first(
    engine: sa.Engine, season: Season, cli_env: None, tmp_path: Path
) -> None:
    """Stripe's fee off by a cent on one capture: the first thing every view shows."""
    planted = season.transactions[2]
    planted["fee"] += 1
    planted["net"] -= 1
    txns = season.write_json(tmp_path / "txns.json")

    result = liventix("report", "all", "--balance-transactions", str(txns))
    assert result.exit_code == 1, result.output
    lines = result.stdout.splitlines()
    assert lines[0] == "Liventix reports: 2 difference(s) in all"
    first = lines.index("Differences first:")
    assert lines[first + 1].startswith(
        "  Stripe reconciliation | Balances that differ: EUR | difference 0.01 EUR"
    )
    assert lines[first + 2].startswith(
        "  Stripe reconciliation | Transactions that differ: fee_mismatch EUR "
        f"{planted['id']} | stripe fee {reports.money(planted['fee'], 'EUR')}, "
        f"ledger fee {reports.money(planted['fee'] - 1, 'EUR')}"
    )
    assert first < lines.index(next(x for x in lines if x.startswith("Report ")))
    assert len(lines) <= 24  # one screen

    single = liventix("report", "stripe-reconciliation", "--balance-transactions", str(txns))
    out = single.stdout
    assert single.exit_code == 1
    # differences, then the summary; the matched rows folded and named
    order = [out.index(x) for x in ("Balances that differ (1)", "Transactions that differ (1)")]
    assert order == sorted(order) and order[-1] < out.index("Balances (1)")
    assert "Folded: Matched (3); --detail shows them" in out
    assert "1.75 EUR" not in out  # the first capture's fee: a matched row, folded
    detail = liventix(
        "report", "stripe-reconciliation", "--balance-transactions", str(txns), "--detail"
    ).stdout
    assert "Matched (3)" in detail and "1.75 EUR" in detail and "Folded" not in detail
    only = liventix(
        "report", "stripe-reconciliation", "--balance-transactions", str(txns), "--differences-only"
    ).stdout
    assert "fee_mismatch" in only and "Matched" not in only and "Balances (1)" not in only
    # every report that differs, its differences only; a clean run says so
    every = liventix(
        "report", "all", "--balance-transactions", str(txns), "--differences-only"
    ).stdout
    assert every.startswith("Stripe reconciliation: 2 difference(s)\n")
    assert "Trial balance" not in every and "Folded" not in every
    clean = liventix("report", "all", "--differences-only")  # Stripe not reconciled: clean
    assert (clean.exit_code, clean.stdout) == (0, "No differences.\n")


def test_the_organizer_statement_per_event_and_ticket_type(
    engine: sa.Engine, season: Season, cli_env: None, tmp_path: Path
) -> None:
    start, end = season.marks["start"], season.marks["end"]
    with engine.connect() as conn:
        statement = reports.organizer_statement(conn, season.world.org, start=start, end=end)
    (event,) = statement.events
    refunds = -(REFUND - FEE_BACK)
    assert event.model_dump() == {
        "currency": "EUR",
        "event_id": str(season.world.event),
        "event": "Hamlet",
        "captures": 3,
        "gross": GROSS,
        "fees": PLATFORM_FEE,  # the platform bears Stripe's fee
        "ledger_sales": GROSS - PLATFORM_FEE,
        "refunds": refunds,
        "disputes": 0,
        "net": GROSS - PLATFORM_FEE + refunds,
        "released": 0,
        "transferred": 0,
        "difference": 0,
    }
    # tied out to the ledger per currency: the events' ledger columns are the movements
    totals = {m.category: m.total for m in statement.movements}
    assert (event.ledger_sales, event.refunds) == (totals["sales"], totals["refunds"])
    (owed,) = [b for b in statement.balances if b.kind == "total"]
    assert event.net == owed.closing
    (ticket_type,) = statement.ticket_types
    assert (ticket_type.ticket_type, ticket_type.ticket_type_id) == ("Type 0", str(season.world.ga))
    assert (ticket_type.tickets_sold, ticket_type.tickets_refunded) == (6, 1)
    assert (ticket_type.gross, ticket_type.fees, ticket_type.share) == (
        GROSS,
        PLATFORM_FEE,
        GROSS - PLATFORM_FEE,
    )
    assert ticket_type.refunded_value == REFUND

    org = ["--org", str(season.world.org), "--from", start.isoformat(), "--to", end.isoformat()]
    out = liventix("report", "organizer-statement", *org).stdout
    assert "Events (1)" in out and "142.50 EUR" in out and "-23.75 EUR" in out
    assert "\nTicket types (1)\n" not in out and "Folded: Ticket types (1)" in out
    assert "Type 0" in liventix("report", "organizer-statement", *org, "--detail").stdout
    # the statement as CSV, per organizer: its breakdown with ids and formatted amounts
    text = liventix("report", "organizer-statement", *org, "--format", "csv").stdout
    events = text.split("# Events\n")[1].split("\n\n")[0]
    (row,) = csv.DictReader(io.StringIO(events))
    assert (row["event_id"], row["net"], row["net_formatted"]) == (
        str(season.world.event),
        str(GROSS - PLATFORM_FEE + refunds),
        "118.75 EUR",
    )


def test_the_journal_and_the_trial_balance_by_account_as_csv(
    engine: sa.Engine, season: Season, cli_env: None
) -> None:
    period = ["--from", season.marks["start"].isoformat(), "--to", season.marks["end"].isoformat()]
    result = liventix("report", "journal", *period, "--format", "csv")
    assert result.exit_code == 0, result.output
    lines = list(csv.DictReader(io.StringIO(result.stdout.split("\n", 1)[1])))
    with engine.connect() as conn:
        count = conn.execute(sa.text("SELECT count(*) FROM payments.lines")).scalar_one()
    assert len(lines) == count > 0
    # by effective date; every entry balances; names, codes and ids side by side
    assert [r["effective_at"] for r in lines] == sorted(r["effective_at"] for r in lines)
    per_entry: dict[str, int] = {}
    for r in lines:
        per_entry[r["entry_id"]] = (
            per_entry.get(r["entry_id"], 0) + int(r["debit"]) - int(r["credit"])
        )
    assert set(per_entry.values()) == {0} and len(per_entry) == 4  # 3 captures, 1 refund
    capture = next(r for r in lines if r["reference"].startswith("stripe:capture:"))
    assert capture["booked_by"] == f"Organizer {season.world.org.hex[:6]}"
    assert capture["booked_by_id"] == str(season.world.org)
    assert capture["debit_formatted"].endswith(" EUR")
    # a period before the season has no entries
    before = liventix("report", "journal", "--to", season.marks["start"].isoformat())
    assert before.exit_code == 0 and "0 entries, 0 lines" in before.stdout

    accounts = liventix("report", "account-balances", "--format", "csv")
    assert accounts.exit_code == 0, accounts.output
    rows = list(csv.DictReader(io.StringIO(accounts.stdout.split("\n", 1)[1])))
    assert sum(int(r["debit"]) for r in rows) == sum(int(r["credit"]) for r in rows)
    (stripe,) = [r for r in rows if r["code"] == "stripe_balance:eur"]
    in_stripe = sum(t["net"] for t in season.transactions)
    assert (stripe["owner"], stripe["balance"]) == ("Liventix", str(in_stripe))
    assert stripe["balance_formatted"] == reports.money(in_stripe, "EUR")


def test_report_all_piped_to_head_ends_cleanly(
    season: Season, cli_env: None, tmp_path: Path
) -> None:
    """`liventix report all | head -5` in a real shell: five lines, no traceback, and the
    report's own status (0: the season is clean) or a closed pipe's quiet 141."""
    txns = season.write_json(tmp_path / "txns.json")
    env = {**os.environ}
    for command in (
        f"{sys.executable} -m liventix report all | head -5",
        f"{sys.executable} -m liventix report all --detail --balance-transactions {txns} | head -5",
    ):
        done = subprocess.run(
            ["bash", "-c", f'{command}; echo "status ${{PIPESTATUS[0]}}" >&2'],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert done.returncode == 0
        assert len(done.stdout.splitlines()) == 5
        assert "Traceback" not in done.stderr and "Error" not in done.stderr, done.stderr
        status = done.stderr.strip().splitlines()[-1]
        assert status in ("status 0", "status 141"), done.stderr


def test_the_statement_downloads_as_csv_over_http(engine: sa.Engine, season: Season) -> None:
    """GET /v1/reports/organizers/{id}/statement.csv on a real server: the statement's CSV as
    the CLI prints it, a download, for the organization's own key only."""
    start, end = season.marks["start"], season.marks["end"]
    with engine.begin() as conn:
        key = create_key(conn, season.world.org, description="tests: organizer").token
        stranger = new_organizer(conn, name="Somebody else")
    gateway = StripeGateway(StripeSettings(api_base="http://127.0.0.1:9", max_network_retries=0))
    app = create_app(engine, gateway=gateway, stripe_webhook_secret=WEBHOOK_SECRET)
    period = {"from": start.isoformat(), "to": end.isoformat()}
    with (
        uvicorn_thread(app) as url,
        httpx.Client(base_url=url, headers={"Authorization": f"Bearer {key}"}) as client,
    ):
        mine = client.get(f"/v1/reports/organizers/{season.world.org}/statement.csv", params=period)
        theirs = client.get(f"/v1/reports/organizers/{stranger}/statement.csv", params=period)
    assert mine.status_code == 200, mine.text
    assert mine.headers["content-type"] == "text/csv; charset=utf-8"
    assert mine.headers["report-differences"] == "0"
    assert mine.headers["content-disposition"] == (
        f'attachment; filename="statement-{season.world.org}-{start:%Y%m%d}-{end:%Y%m%d}.csv"'
    )
    with engine.connect() as conn:
        built = reports.organizer_statement(conn, season.world.org, start=start, end=end)
    assert mine.text == reports.as_csv(built)
    assert "# Events\r\n" in mine.text or "# Events\n" in mine.text
    assert "118.75 EUR" in mine.text
    assert theirs.status_code == 404, theirs.text  # another organization's: as if unknown

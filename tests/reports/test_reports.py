"""Finance's reports: a clean season has zero differences and exits 0; each planted
difference is reported, named, and makes `liventix report` exit 1."""

from __future__ import annotations

import json
import os
import re
import shutil
import struct
import subprocess
import zlib
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

import escrow
import outbox
import ticketing_fsm as tk
from liventix import reports
from liventix.testing.stripe import shapes as so
from tests.cli.runner import liventix
from tests.escrow_core.support import future, new_organizer
from tests.reports.conftest import Season
from tests.ticketing_core.support import Gateway, open_world, pay, request


def _all(conn: sa.Connection, season: Season) -> list[reports.Report]:
    txns = reports.parse_json(json.dumps(season.transactions))
    return [
        reports.trial_balance(conn),
        reports.escrow_position(conn),
        reports.stripe_reconciliation(conn, txns),
        reports.ticket_tie_out(conn),
        reports.outbox_health(conn),
    ]


def test_clean_season_has_no_differences(
    engine: sa.Engine,
    season: Season,
    cli_env: None,
    tmp_path: Path,
) -> None:
    with engine.connect() as conn:
        built = _all(conn, season)
    assert {r.name: r.differences for r in built} == {
        "trial-balance": 0,
        "escrow-position": 0,
        "stripe-reconciliation": 0,
        "ticket-tie-out": 0,
        "outbox-health": 0,
    }
    stripe = built[2]
    assert isinstance(stripe, reports.StripeReconciliationReport)
    assert (stripe.matched, len(stripe.rows)) == (4, 4)
    assert [(b.currency, b.ledger_balance, b.difference) for b in stripe.balances] == [
        ("EUR", sum(t["net"] for t in season.transactions), 0)
    ]
    assert len(built[3].tables()[0][2]) == 1
    assert isinstance(built[3], reports.TicketTieOutReport)
    row = built[3].rows[0]
    assert (row.tickets_sold, row.tickets_refunded, row.tickets_checked_in) == (6, 1, 1)
    assert (row.ledger_sales, row.ledger_refunds) == (15_000, 2_500)
    (escrow_row,) = built[1].rows  # type: ignore[attr-defined]
    assert escrow_row.escrow_held == escrow_row.ledger_balance > 0

    txns = season.write_json(tmp_path / "txns.json")
    html = tmp_path / "out" / "report.html"
    captured = liventix(
        "report",
        "all",
        "--balance-transactions",
        str(txns),
        "--out",
        str(tmp_path / "out"),
        "--html",
        str(html),
    )
    out = captured.stdout
    assert captured.exit_code == 0, captured.output
    # `all` prints one screen: the total, then a line per report with its key figures in money
    assert out.startswith("Liventix reports: 0 difference(s) in all\n")
    assert "Differences first" not in out
    lines = {line.split("  ")[0]: line for line in out.splitlines()}
    assert lines["Stripe reconciliation"].split()[2:5] == ["0", "4", "matched"]
    assert lines["Outbox health"].split()[2] == "0"
    assert "150.00 EUR" in lines[f"Statement: Organizer {season.world.org.hex[:6]}"]
    # `all` shows every organizer's statement, and writes each one's files apart
    assert out.count("Statement: ") == 1
    org = season.world.org
    statement = tmp_path / "out" / "organizers" / str(org) / "organizer-statement.json"
    assert json.loads(statement.read_text())["org_id"] == str(org)
    assert "skipped" not in captured.stderr
    assert (tmp_path / "out" / "stripe-reconciliation.json").exists()
    assert (tmp_path / "out" / "ticket-tie-out-events.csv").read_text().startswith("org_id,")
    page = html.read_text()
    assert "<svg" in page and "<polyline" in page and "Escrow position" in page
    assert "<h1>Liventix finance reports</h1>" in page
    # self-contained: no script, no resource, and every link within the page
    assert not any(x in page for x in ("src=", "<link", "@import", "<script", "url("))
    assert page.count("href=") == page.count('href="#') > 5

    # the itemized CSV export reconciles the same way
    csv_file = tmp_path / "txns.csv"
    csv_file.write_text(reports.to_csv(reports.parse_json(txns.read_text())))
    for fmt in ("table", "csv", "json"):
        result = liventix(
            "report",
            "stripe-reconciliation",
            "--balance-transactions",
            str(csv_file),
            "--format",
            fmt,
        )
        assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["matched"] == 4


def test_missing_stripe_transactions_on_either_side(
    engine: sa.Engine,
    season: Season,
    cli_env: None,
    tmp_path: Path,
) -> None:
    dropped = season.transactions.pop(1)  # the ledger has it, Stripe does not
    stray = {**season.transactions[0], "id": "txn_stray_0001", "source": "ch_stray_0001"}
    season.transactions.append(stray)  # Stripe has it, the ledger does not
    with engine.connect() as conn:
        report = reports.stripe_reconciliation(
            conn, reports.parse_json(json.dumps(season.transactions))
        )
    assert (report.missing_in_ledger, report.missing_in_stripe, report.matched) == (1, 1, 3)
    (lacking,) = [r for r in report.rows if r.status == "missing_in_ledger"]
    assert lacking.stripe_id == "txn_stray_0001"
    (unseen,) = [r for r in report.rows if r.status == "missing_in_stripe"]
    assert unseen.ledger_ref == dropped["id"]
    assert report.differences == 3  # two transactions and the balance

    txns = season.write_json(tmp_path / "txns.json")
    result = liventix("report", "stripe-reconciliation", "--balance-transactions", str(txns))
    assert result.exit_code == 1, result.output
    out = result.stdout
    assert "missing_in_ledger" in out and "txn_stray_0001" in out
    assert "missing_in_stripe" in out and dropped["id"] in out


def test_fee_off_by_one_cent(
    engine: sa.Engine,
    season: Season,
    cli_env: None,
    tmp_path: Path,
) -> None:
    txn = season.transactions[2]
    txn["fee"] += 1
    txn["net"] -= 1
    csv_file = tmp_path / "itemized.csv"
    csv_file.write_text(reports.to_csv(reports.parse_json(json.dumps(season.transactions))))
    with engine.connect() as conn:
        report = reports.stripe_reconciliation(conn, reports.load_balance_transactions(csv_file))
    (wrong,) = [r for r in report.rows if r.status != "matched"]
    assert (wrong.status, wrong.stripe_id) == ("fee_mismatch", txn["id"])
    assert wrong.stripe_fee == (wrong.ledger_fee or 0) + 1
    assert [b.difference for b in report.balances] == [1]

    result = liventix("report", "stripe-reconciliation", "--balance-transactions", str(csv_file))
    assert result.exit_code == 1, result.output
    out = result.stdout
    assert "fee_mismatch" in out and txn["id"] in out


def test_escrow_disagreeing_with_the_ledger(
    engine: sa.Engine, season: Season, cli_env: None
) -> None:
    with engine.begin() as conn:  # a superuser's raw write, behind escrow's back
        conn.execute(sa.text("UPDATE payments.escrows SET held = held + 1"))
    with engine.connect() as conn:
        report = reports.escrow_position(conn)
    (row,) = report.rows
    assert (report.differences, row.difference, row.event_id) == (
        1,
        1,
        str(season.world.event),
    )
    result = liventix("report", "escrow-position", "--format", "csv")
    assert result.exit_code == 1, result.output
    out = result.stdout_bytes.decode()  # as written: CSV lines end in CRLF
    # the id, the difference in minor units, and each amount formatted after the row's fields
    assert str(season.world.event) in out and ",1,118.76 EUR,118.75 EUR,0.01 EUR\r\n" in out
    table = liventix("report", "escrow-position").stdout
    # people see the event's name and the amounts in euros, the difference first
    assert table.index("Escrows off the ledger (1)") < table.index("Totals (1)")
    assert "Hamlet" in table and "0.01 EUR" in table and str(season.world.event) not in table


def test_ticket_refunded_without_a_ledger_refund(
    engine: sa.Engine, season: Season, cli_env: None
) -> None:
    with engine.begin() as conn:
        conn.execute(
            sa.text("""UPDATE ticketing.tickets SET status = 'refunded'
                        WHERE id = (SELECT id FROM ticketing.tickets WHERE order_id = :o
                                     ORDER BY id LIMIT 1)"""),
            {"o": season.orders[2]},
        )
    with engine.connect() as conn:
        report = reports.ticket_tie_out(conn)
    (row,) = report.rows
    assert (report.differences, row.refunds_difference, row.sales_difference) == (1, 2_500, 0)
    assert (row.tickets_refunded, row.ledger_refunds) == (2, 2_500)
    result = liventix("report", "ticket-tie-out", "--format", "json")
    assert result.exit_code == 1, result.output
    data = json.loads(result.stdout)
    assert data["differences"] == 1 and data["rows"][0]["refunds_difference"] == 2_500


def test_dead_delivery_is_reported_by_outbox_health(
    engine: sa.Engine, season: Season, cli_env: None
) -> None:
    with engine.begin() as conn:
        conn.execute(
            sa.text("""UPDATE messaging.deliveries SET status = 'dead', attempts = 8
                        WHERE id = (SELECT min(id) FROM messaging.deliveries)""")
        )
    with engine.connect() as conn:
        report = reports.outbox_health(conn)
    assert report.differences == 1
    assert sum(r.dead for r in report.rows) == 1
    result = liventix("report", "outbox-health")
    assert result.exit_code == 1, result.output
    assert "Outbox health: 1 difference(s)" in result.stdout


def test_unreadable_balance_transactions_are_a_usage_error(
    season: Season, cli_env: None, tmp_path: Path
) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("id,amount\nx,1\n")
    result = liventix("report", "stripe-reconciliation", "--balance-transactions", str(bad))
    assert result.exit_code == 2, result.output


def _chromium() -> str:
    browser = next(
        (shutil.which(b) for b in ("chromium", "chromium-browser") if shutil.which(b)), None
    )
    if browser is None:
        # .ci/run installs Debian's chromium, so in CI its absence is a failure, not a skip.
        if os.environ.get("CI"):
            pytest.fail("CI runs without Chromium: .ci/run should have installed it")
        pytest.skip("Chromium is not installed (`which chromium` finds nothing)")
    return browser


def _headless(browser: str, *args: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [browser, "--headless", "--no-sandbox", "--disable-gpu", *args],
        check=True,
        timeout=120,
        capture_output=True,
    )


def test_html_report_screenshot_in_headless_chromium(
    engine: sa.Engine, season: Season, cli_env: None, tmp_path: Path
) -> None:
    """The page as Chromium reads and draws it: a planted difference (an escrow a cent off
    its ledger account) at the top, the table of contents, a chart panel per currency (EUR,
    JPY, KWD) with labelled money ticks, the event's name with its id on hover."""
    browser = _chromium()
    with engine.begin() as conn:  # a superuser's raw write, behind escrow's back
        conn.execute(
            sa.text("UPDATE payments.escrows SET held = held + 1 WHERE org_id = :o"),
            {"o": season.world.org},
        )
    for currency, price in (("JPY", 2_500), ("KWD", 12_500)):
        _sell(engine, currency, price)
    page = tmp_path / "report.html"
    txns = season.write_json(tmp_path / "txns.json")
    result = liventix("report", "all", "--balance-transactions", str(txns), "--html", str(page))
    assert result.exit_code == 1, result.output  # the planted difference

    # The structure as the browser parsed it.
    dom = _headless(browser, "--dump-dom", page.as_uri()).stdout.decode()
    top = [dom.index(x) for x in ('id="differences"', 'id="contents"', 'id="charts"')]
    assert top == sorted(top), "the differences come first, then the contents, then the charts"
    differences = re.findall(r'<li class="difference">(.*?)</li>', dom, re.S)
    assert differences, "no difference listed at the top"
    assert 'href="#escrow-position"' in differences[0] and "0.01 EUR" in differences[0]
    contents = dom[dom.index('id="contents"') : dom.index("</nav>")]
    for anchor in ("trial-balance", "escrow-position", "stripe-reconciliation", "organizers"):
        assert f'href="#{anchor}"' in contents and f'id="{anchor}"' in dom
    panels = re.findall(
        r'<figure class="chart" id="chart-\w+" data-currency="(\w+)">(.*?)</figure>', dom, re.S
    )
    assert [c for c, _ in panels] == ["EUR", "JPY", "KWD"]
    for currency, panel in panels:
        ticks = re.findall(r'<text class="y-tick"[^>]*>([^<]+)</text>', panel)
        assert len(ticks) >= 3 and all(t.endswith(f" {currency}") for t in ticks), ticks
        assert len(re.findall(r'<text class="x-tick"', panel)) >= 2
        assert '<polyline class="ledger"' in panel and '<polyline class="stripe"' in panel
    # ticks in each currency's own exponent: cents, whole yen, thousandths of a dinar
    places = {"EUR": r"(\.\d{2})?", "JPY": "", "KWD": r"(\.\d{3})?"}
    for currency, panel in panels:
        for tick in re.findall(r'<text class="y-tick"[^>]*>([^<]+)</text>', panel):
            assert re.fullmatch(rf"-?\d{{1,3}}(,\d{{3}})*{places[currency]} {currency}", tick)
    assert f'title="{season.world.event}">Hamlet</td>' in dom  # the id on hover
    assert dom.count("<details>") >= 5 and "<details open" not in dom  # the detail folded

    # The pixels: the red box of differences at the top, tables, the charts' two lines.
    shot = tmp_path / "shot.png"
    _headless(browser, f"--screenshot={shot}", "--window-size=1280,2400", page.as_uri())
    colors = _png_colors(shot.read_bytes())
    top_colors = _png_colors(shot.read_bytes(), rows=300)
    assert top_colors[(0xB0, 0x00, 0x20)] > 500, "no red difference box at the top"
    assert colors[(0xF3, 0xF3, 0xF3)] > 5_000, "no table headers in the screenshot"
    assert colors[(0x1F, 0x77, 0xB4)] > 300, "no ledger line in the charts"
    assert colors[(0xFF, 0x7F, 0x0E)] > 100, "no Stripe line in the charts"
    assert colors[(0x2A, 0x7D, 0x2A)] > 50, "no green zero-difference mark in the screenshot"


def _sell(engine: sa.Engine, currency: str, price: int) -> None:
    """A new organizer's event in `currency`, one ticket paid."""
    with engine.begin() as conn:
        world = open_world(conn, capacities=(5,), prices=(price,), currency=currency)
    checkout = tk.start_checkout(engine, Gateway(), request(world, currency, (1,)))
    with engine.begin() as conn:
        pay(conn, world, checkout)


def _png_colors(data: bytes, rows: int | None = None) -> Counter[tuple[int, int, int]]:
    """Count the RGB colours of an 8-bit, non-interlaced RGB or RGBA PNG (what Chromium's
    screenshots are), decoded with the standard library; of its top `rows` only if given."""
    assert data.startswith(b"\x89PNG\r\n\x1a\n")
    pos, idat, header = 8, b"", b""
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind, body = data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + length]
        if kind == b"IHDR":
            header = body
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    width, height, depth, color_type, _, _, interlace = struct.unpack(">IIBBBBB", header)
    assert depth == 8 and color_type in (2, 6) and interlace == 0
    bpp = 3 if color_type == 2 else 4
    raw = zlib.decompress(idat)
    stride = width * bpp
    previous = bytearray(stride)
    counts: Counter[tuple[int, int, int]] = Counter()
    for row in range(height if rows is None else min(rows, height)):
        start = row * (stride + 1)
        kind, line = raw[start], bytearray(raw[start + 1 : start + 1 + stride])
        for i in range(stride):
            left = line[i - bpp] if i >= bpp else 0
            up = previous[i]
            up_left = previous[i - bpp] if i >= bpp else 0
            if kind == 1:
                line[i] = (line[i] + left) & 0xFF
            elif kind == 2:
                line[i] = (line[i] + up) & 0xFF
            elif kind == 3:
                line[i] = (line[i] + (left + up) // 2) & 0xFF
            elif kind == 4:
                p = left + up - up_left
                pa, pb, pc = abs(p - left), abs(p - up), abs(p - up_left)
                pred = left if pa <= pb and pa <= pc else up if pb <= pc else up_left
                line[i] = (line[i] + pred) & 0xFF
        counts.update(zip(line[0::bpp], line[1::bpp], line[2::bpp], strict=True))
        previous = line
    return counts


def test_itemized_csv_amounts_are_major_units_converted_exactly() -> None:
    content = (
        "balance_transaction_id,created_utc,currency,gross,fee,net,reporting_category,source_id\n"
        "txn_1,2026-01-02 03:04:05,eur,25.00,1.75,23.25,charge,ch_1\n"
        "txn_2,,jpy,-500,0,-500,refund,re_2\n"
    )
    first, second = reports.parse_csv(content)
    assert (first.currency, first.amount, first.fee, first.net, first.source) == (
        "EUR",
        2_500,
        175,
        2_325,
        "ch_1",
    )
    assert first.created is not None and first.created.year == 2026
    assert (second.currency, second.amount, second.created) == ("JPY", -500, None)
    with pytest.raises(reports.StripeImportError, match="decimals"):
        reports.parse_csv(content.replace("25.00", "25.001"))
    with pytest.raises(reports.StripeImportError, match="lacks"):
        reports.parse_csv("id,amount\n")
    listed = reports.parse_json(
        json.dumps(
            {
                "object": "list",
                "data": [
                    {
                        "id": "txn_3",
                        "currency": "usd",
                        "amount": 100,
                        "fee": 3,
                        "net": 97,
                        "type": "charge",
                        "source": {"id": "ch_3"},
                        "created": 1_700_000_000,
                    }
                ],
            }
        )
    )
    assert (listed[0].source, listed[0].reporting_category) == ("ch_3", "charge")


_GOOD = {"id": "txn_9", "currency": "usd", "amount": 100, "fee": 3, "net": 97, "created": 1}


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"amount": 100.9}, "amount must be an integer"),
        ({"fee": "3"}, "fee must be an integer"),
        ({"net": True}, "net must be an integer"),
        ({"currency": "xyz"}, "unknown currency"),
        ({"id": ""}, "no id"),
        ({"created": 10**30}, "bad created"),
        ({"created": "2026-01-01"}, "bad created"),
    ],
)
def test_malformed_json_balance_transactions_are_refused(
    change: dict[str, object], message: str
) -> None:
    assert reports.parse_json(json.dumps([_GOOD]))[0].amount == 100
    with pytest.raises(reports.StripeImportError, match=message):
        reports.parse_json(json.dumps([{**_GOOD, **change}]))


def test_a_balance_transaction_listed_twice_is_refused() -> None:
    with pytest.raises(reports.StripeImportError, match="appears twice"):
        reports.parse_json(json.dumps([_GOOD, _GOOD]))
    row = "txn_1,usd,1.00,0.03,0.97\n"
    with pytest.raises(reports.StripeImportError, match="appears twice"):
        reports.parse_csv("balance_transaction_id,currency,gross,fee,net\n" + row + row)


def test_disputes_and_payouts_match_by_source_and_movement(
    engine: sa.Engine, season: Season
) -> None:
    """Escrow books a dispute's withdrawal and reinstatement as `<dispute>:withdrawn` and
    `:reinstated`, a payout as `<payout>:paid`; Stripe names them by source."""
    payment = "pi_" + season.transactions[1]["id"][4:]
    gross = season.transactions[1]["amount"]
    with engine.begin() as conn:
        escrow.open_dispute(conn, "du_report_1", payment, gross, cause="t")
        escrow.dispute_funds_withdrawn(conn, "du_report_1", payment, gross, 1_500, cause="t")
        escrow.dispute_funds_reinstated(conn, "du_report_1", payment, gross, 1_500, cause="t")
        escrow.payout(conn, "po_report_1", "EUR", 3_000, paid=True, cause="t")
    season.transactions += [
        so.balance_transaction(
            amount=-gross,
            fee=1_500,
            currency="eur",
            source="du_report_1",
            type="adjustment",
            reporting_category="dispute",
        ),
        so.balance_transaction(
            amount=gross,
            fee=-1_500,
            currency="eur",
            source="du_report_1",
            type="adjustment",
            reporting_category="dispute_reversal",
        ),
        so.balance_transaction(
            amount=-3_000, fee=0, currency="eur", source="po_report_1", type="payout"
        ),
    ]
    with engine.connect() as conn:
        report = reports.stripe_reconciliation(
            conn, reports.parse_json(json.dumps(season.transactions))
        )
    assert [r for r in report.rows if r.status != "matched"] == []
    assert (report.matched, report.differences) == (7, 0)
    assert {r.ledger_ref for r in report.rows} >= {
        "du_report_1:withdrawn",
        "du_report_1:reinstated",
        "po_report_1:paid",
    }


def test_the_balance_history_steps_by_the_second_and_ends_at_the_ledgers_balance(
    engine: sa.Engine, season: Season
) -> None:
    with engine.connect() as conn:
        history = reports.stripe_balance_history(conn)
        in_ledger = conn.execute(
            sa.text("""SELECT sum(CASE WHEN l.side = 'debit' THEN l.amount ELSE -l.amount END)
                         FROM payments.lines l JOIN payments.accounts a ON a.id = l.account_id
                        WHERE a.code = 'stripe_balance:eur'""")
        ).scalar_one()
    assert history and {p.currency for p in history} == {"EUR"}
    # The season takes seconds: drawn by the second (a step ends on a whole second).
    assert all(p.at.microsecond == 0 for p in history)
    assert len({p.at for p in history}) == len(history)
    assert history[-1].balance == in_ledger
    # Each step's balance is the running sum: the first step is a sale's net, positive.
    assert history[0].balance > 0
    (chart,) = reports.charts(history)
    assert chart.currency == "EUR" and [s.name for s in chart.series] == ["ledger"]
    assert chart.series[0].last == reports.money(int(in_ledger), "EUR")


def test_a_panel_per_currency_on_one_time_axis_with_ticks_in_money() -> None:
    start = datetime(2026, 1, 1, tzinfo=UTC)
    points = [
        reports.BalancePoint(currency=c, at=start + timedelta(days=d), balance=b)
        for c, d, b in (("USD", 0, 100), ("USD", 30, -50), ("JPY", 10, 7_000), ("KWD", 5, 1_500))
    ]
    stripe = [reports.BalancePoint(currency="USD", at=start + timedelta(days=31), balance=-50)]
    panels = reports.charts(points, stripe)
    assert [p.currency for p in panels] == ["JPY", "KWD", "USD"]
    # one time axis: every panel's first and last time tick are the same moments
    assert len({(p.x_ticks[0].label, p.x_ticks[-1].label) for p in panels}) == 1
    assert (
        panels[0].x_ticks[0].label == "2026-01-01 00:00"
        and panels[0].x_ticks[-1].label == "2026-02-01 00:00"
    )
    jpy, kwd, usd = panels
    # round ticks in each currency's own money, spanning the lowest and highest balance and 0
    assert [t.label for t in usd.y_ticks] == ["-0.50 USD", "0.00 USD", "0.50 USD", "1.00 USD"]
    assert [t.label for t in jpy.y_ticks] == [f"{n:,} JPY" for n in range(0, 8_001, 2_000)]
    assert [t.label for t in kwd.y_ticks] == ["0.000 KWD", "0.500 KWD", "1.000 KWD", "1.500 KWD"]
    # higher money is higher up the panel (a smaller y)
    assert [t.at for t in usd.y_ticks] == sorted((t.at for t in usd.y_ticks), reverse=True)
    assert [(s.name, s.last, s.dashed) for s in usd.series] == [
        ("ledger", "-0.50 USD", False),
        ("stripe", "-0.50 USD", True),
    ]
    assert [s.name for s in jpy.series] == ["ledger", "stripe"]  # Stripe has none: flat at 0


def test_report_all_without_balance_transactions_says_stripe_was_skipped(
    season: Season, cli_env: None
) -> None:
    result = liventix("report", "all")
    assert result.exit_code == 0, result.output
    captured = result
    assert "Stripe reconciliation" not in captured.stdout
    assert "the Stripe reconciliation was skipped (no --balance-transactions)" in captured.stderr


def test_an_external_reference_two_organizations_booked_is_matched_once(
    engine: sa.Engine, season: Season
) -> None:
    """External references are unique per booking organization only: two organizers' captures
    under one balance transaction id are two ledger entries; Stripe's one transaction matches
    one of them, and the other is missing in Stripe (not hidden behind the first)."""
    with engine.begin() as conn:
        for n in range(2):
            org = new_organizer(conn, name=f"Shared reference {n}")
            payment = escrow.CapturedPayment(
                payment_id=f"pi_shared_{n}",
                org_id=org,
                event_id="ev-shared",
                currency="EUR",
                gross=1_000,
                stripe_fee=59,
                event_ends_at=future(),
                charge_id=f"ch_shared_{n}",
                balance_transaction_id="txn_shared",
            )
            assert escrow.capture_payment(conn, payment, cause="t")
    season.transactions.append(
        so.balance_transaction(
            id="txn_shared", amount=1_000, fee=59, currency="eur", source="ch_shared_0"
        )
    )
    with engine.connect() as conn:
        report = reports.stripe_reconciliation(
            conn, reports.parse_json(json.dumps(season.transactions))
        )
    assert (report.matched, report.missing_in_stripe, report.missing_in_ledger) == (5, 1, 0)
    shared = [r for r in report.rows if r.ledger_ref == "txn_shared"]
    assert sorted(r.status for r in shared) == ["matched", "missing_in_stripe"]
    assert len({r.entry_id for r in shared}) == 2
    (unmatched,) = [r for r in shared if r.status == "missing_in_stripe"]
    assert (unmatched.ledger_net, unmatched.ledger_currency) == (1_000 - 59, "EUR")
    assert [b.difference for b in report.balances] == [1_000 - 59]
    assert report.differences == 2  # the entry and the balance


def test_a_transaction_in_another_currency_is_a_currency_mismatch(
    engine: sa.Engine,
    season: Season,
    cli_env: None,
    tmp_path: Path,
) -> None:
    """Stripe says USD where the ledger booked the capture (same reference) in EUR: not a
    match, however equal the amounts."""
    txn = season.transactions[0]
    txn["currency"] = "usd"
    with engine.connect() as conn:
        report = reports.stripe_reconciliation(
            conn, reports.parse_json(json.dumps(season.transactions))
        )
    (wrong,) = [r for r in report.rows if r.status != "matched"]
    assert (wrong.status, wrong.stripe_id, wrong.currency, wrong.ledger_currency) == (
        "currency_mismatch",
        txn["id"],
        "USD",
        "EUR",
    )
    assert (wrong.stripe_amount, wrong.ledger_amount) == (txn["amount"], txn["amount"])
    assert wrong.entry_id is not None and wrong.ledger_ref == txn["id"]
    assert (report.matched, report.currency_mismatches, report.missing_in_stripe) == (3, 1, 0)
    # the mismatch, and both currencies' balances
    assert report.differences == 3

    txns = season.write_json(tmp_path / "txns.json")
    result = liventix("report", "stripe-reconciliation", "--balance-transactions", str(txns))
    assert result.exit_code == 1, result.output
    assert "currency_mismatch" in result.stdout


def test_a_same_currency_entry_is_preferred_to_an_earlier_one_in_another(
    engine: sa.Engine, season: Season
) -> None:
    """Two organizers' entries under one reference, the first in USD, the second in EUR:
    Stripe's EUR transaction matches the EUR one, and the USD one is missing in Stripe."""
    with engine.begin() as conn:
        for n, currency in enumerate(("USD", "EUR")):
            org = new_organizer(conn, name=f"Two currencies {n}")
            payment = escrow.CapturedPayment(
                payment_id=f"pi_twocur_{n}",
                org_id=org,
                event_id="ev-twocur",
                currency=currency,
                gross=1_000,
                stripe_fee=59,
                event_ends_at=future(),
                charge_id=f"ch_twocur_{n}",
                balance_transaction_id="txn_twocur",
            )
            assert escrow.capture_payment(conn, payment, cause="t")
    season.transactions.append(
        so.balance_transaction(id="txn_twocur", amount=1_000, fee=59, currency="eur")
    )
    with engine.connect() as conn:
        report = reports.stripe_reconciliation(
            conn, reports.parse_json(json.dumps(season.transactions))
        )
    shared = {(r.status, r.ledger_currency) for r in report.rows if r.ledger_ref == "txn_twocur"}
    assert shared == {("matched", "EUR"), ("missing_in_stripe", "USD")}
    assert report.currency_mismatches == 0


@pytest.mark.parametrize(
    ("gross", "message"),
    [
        ("Infinity", "not a finite amount"),
        ("-inf", "not a finite amount"),
        ("NaN", "not a finite amount"),
        ("sNaN", "not a finite amount"),
        ("1e999999999", "beyond any amount"),
        ("1e-99999999", "more decimals"),
        ("", "not an amount"),
    ],
)
def test_csv_amounts_that_are_no_amounts_are_refused(gross: str, message: str) -> None:
    head = "balance_transaction_id,currency,gross,fee,net\n"
    assert reports.parse_csv(head + "txn_1,eur,1.00,0.03,0.97\n")[0].amount == 100
    with pytest.raises(reports.StripeImportError, match=message):
        reports.parse_csv(head + f"txn_1,eur,{gross},0.03,0.97\n")


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ("  ,eur,1.00,0.03,0.97", "line 2: no balance_transaction_id"),
        (",eur,1.00,0.03,0.97", "line 2: no balance_transaction_id"),
        ("txn_1,eur,1.00", "not an amount: None"),  # a short row: no fee, no net
    ],
)
def test_csv_rows_without_an_id_or_amounts_are_refused(row: str, message: str) -> None:
    with pytest.raises(reports.StripeImportError, match=message):
        reports.parse_csv(f"balance_transaction_id,currency,gross,fee,net\n{row}\n")


def test_an_unreadable_amount_in_the_csv_is_a_usage_error(
    season: Season, cli_env: None, tmp_path: Path
) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("balance_transaction_id,currency,gross,fee,net\ntxn_1,eur,Infinity,0,0\n")
    result = liventix("report", "stripe-reconciliation", "--balance-transactions", str(bad))
    assert result.exit_code == 2, result.output
    assert "not a finite amount" in result.stderr


def test_dead_and_pending_inbox_events_are_reported_by_outbox_health(
    engine: sa.Engine, season: Season, cli_env: None
) -> None:
    """Stripe's events the inbox could not handle: a dead one is a difference."""
    with engine.begin() as conn:
        for n, (status, attempts) in enumerate((("dead", 8), ("pending", 0), ("pending", 3))):
            outbox.store_event(conn, "stripe", f"evt_{n}", "charge.dispute.created", {})
            conn.execute(
                sa.text("""UPDATE messaging.inbox SET status = :status, attempts = :attempts
                            WHERE event_id = :id"""),
                {"status": status, "attempts": attempts, "id": f"evt_{n}"},
            )
    with engine.connect() as conn:
        report = reports.outbox_health(conn)
        for_an_organization = reports.outbox_health(conn, inbox=False)
    (row,) = report.inbox
    assert (row.source, row.event_type, row.pending, row.retrying, row.dead) == (
        "stripe",
        "charge.dispute.created",
        1,
        1,
        1,
    )
    assert row.oldest_dead_age_seconds is not None and row.oldest_open_age_seconds is not None
    assert report.differences == 1
    assert (for_an_organization.inbox, for_an_organization.differences) == ([], 0)
    result = liventix("report", "outbox-health")
    assert result.exit_code == 1, result.output
    out = result.stdout
    assert "Outbox health: 1 difference(s)" in out
    assert "Inbox (1)" in out and "charge.dispute.created" in out


def test_the_trial_balance_names_the_booking_organization(
    engine: sa.Engine, season: Season, cli_env: None
) -> None:
    """The platform's Stripe balance appears under the organizer whose sales booked it: the
    column says who booked, not whose account it is."""
    with engine.connect() as conn:
        report = reports.trial_balance(conn)
        name = conn.execute(
            sa.text("SELECT name FROM payments.organizations WHERE id = :id"),
            {"id": season.world.org},
        ).scalar_one()
    (stripe_line,) = [x for x in report.lines if x.code == "stripe_balance:eur"]
    assert (stripe_line.booked_by, stripe_line.booked_by_id) == (name, season.world.org)
    assert {t.booked_by for t in report.totals} == {name, "platform-wide"}
    result = liventix("report", "trial-balance", "--format", "csv")
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "booked_by,booked_by_id,currency,code,type,debit,credit" in out
    assert "scope" not in out

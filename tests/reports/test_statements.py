"""Finance's statements: the balance sheet, the income statement and the organizer statement
checked against amounts worked out by hand from the season's prices and the escrow policy,
periods that leave entries out, a planted unbalanced entry and a planted tie-out failure
reported as differences (exit 1), and the typed errors for an unknown organizer and an empty
period."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

import escrow
from liventix import reports
from tests.cli.runner import liventix
from tests.escrow_core.support import captured, future, new_organizer, past
from tests.reports.conftest import Season, clock

# The season (tests/reports/conftest.py): three orders of 2, 1 and 3 tickets at 25.00 EUR; the
# fake Stripe's fee is 2.9% + 30 (rounded down); the default policy takes 5% for the platform,
# the platform bears Stripe's fee and gives its fee back on refunds, pro rata (rounded down).
GROSS = (5_000, 2_500, 7_500)
STRIPE_FEES = (145 + 30, 72 + 30, 217 + 30)  # 175, 102, 247
PLATFORM_FEES = (250, 125, 375)
SHARES = tuple(g - p for g, p in zip(GROSS, PLATFORM_FEES, strict=True))  # 4750, 2375, 7125
REFUND = 2_500  # one ticket of the first order
FEE_BACK = 250 * REFUND // 5_000  # 125

SOLD_STRIPE_BALANCE = sum(GROSS) - sum(STRIPE_FEES)  # 14476
STRIPE_BALANCE = SOLD_STRIPE_BALANCE - REFUND  # 11976
SOLD_ESCROW = sum(SHARES)  # 14250
ESCROW = SOLD_ESCROW - (REFUND - FEE_BACK)  # 11875
REVENUE = sum(PLATFORM_FEES) - FEE_BACK  # 625
EXPENSE = sum(STRIPE_FEES)  # 524


def _totals(report: reports.BalanceSheetReport) -> list[tuple[str, int, int, int, int, int]]:
    return [
        (t.currency, t.assets, t.liabilities, t.equity, t.retained_earnings, t.difference)
        for t in report.totals
    ]


def test_balance_sheet_of_a_season(engine: sa.Engine, season: Season, cli_env: None) -> None:
    with engine.connect() as conn:
        now = reports.balance_sheet(conn, as_of=season.marks["end"])
        sold = reports.balance_sheet(conn, as_of=season.marks["sold"])
        before = reports.balance_sheet(conn, as_of=season.marks["start"])
    assert STRIPE_BALANCE == ESCROW + REVENUE - EXPENSE  # the hand-worked figures agree

    assert now.differences == 0
    assert _totals(now) == [("EUR", STRIPE_BALANCE, ESCROW, 0, REVENUE - EXPENSE, 0)]
    assert {(line.code.split(":")[0], line.type, line.balance) for line in now.lines} == {
        ("stripe_balance", "asset", STRIPE_BALANCE),
        ("platform_fees", "revenue", REVENUE),
        ("stripe_fees", "expense", EXPENSE),
        ("escrow", "liability", ESCROW),
    }
    # Per owner the sheet does not balance (the platform holds the cash, the organizer's
    # escrow account the liability); the owners' nets cancel out.
    platform, organizer = now.owners
    assert (platform.scope, platform.assets, platform.retained_earnings, platform.net) == (
        "Liventix (platform)",
        STRIPE_BALANCE,
        REVENUE - EXPENSE,
        ESCROW,
    )
    assert (organizer.org_id, organizer.liabilities, organizer.net) == (
        season.world.org,
        ESCROW,
        -ESCROW,
    )

    # as of the end of the sales: no refund yet
    assert _totals(sold) == [
        ("EUR", SOLD_STRIPE_BALANCE, SOLD_ESCROW, 0, sum(PLATFORM_FEES) - EXPENSE, 0)
    ]
    assert (before.totals, before.lines, before.differences) == ([], [], 0)

    result = liventix("report", "balance-sheet", "--format", "json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["differences"] == 0 and data["totals"][0]["assets"] == STRIPE_BALANCE
    as_of = season.marks["sold"].isoformat()
    result = liventix("report", "balance-sheet", "--as-of", as_of, "--format", "json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["totals"][0]["assets"] == SOLD_STRIPE_BALANCE


def test_income_statement_over_periods(engine: sa.Engine, season: Season, cli_env: None) -> None:
    start, sold, end = season.marks["start"], season.marks["sold"], season.marks["end"]
    with engine.connect() as conn:
        whole = reports.income_statement(conn, start=start, end=end)
        sales = reports.income_statement(conn, start=start, end=sold)
        refund = reports.income_statement(conn, start=sold, end=end)
        earlier = reports.income_statement(conn, start=start - timedelta(days=1), end=start)

    def figures(r: reports.IncomeStatementReport) -> list[tuple[str, int, int, int, int]]:
        return [(t.currency, t.revenue, t.expense, t.net_income, t.difference) for t in r.totals]

    assert figures(whole) == [("EUR", REVENUE, EXPENSE, REVENUE - EXPENSE, 0)]
    assert figures(sales) == [("EUR", 750, EXPENSE, 750 - EXPENSE, 0)]
    # the refund's period: the platform's fee given back, nothing earned
    assert figures(refund) == [("EUR", -FEE_BACK, 0, -FEE_BACK, 0)]
    assert [(o.scope, o.net_income) for o in whole.owners] == [
        ("Liventix (platform)", REVENUE - EXPENSE)
    ]
    # every line of the period counted: a sale debits gross - Stripe's fee to the Stripe
    # balance and the fee to expense, and credits the share and the platform's fee
    (total,) = sales.totals
    assert total.debits == total.credits == sum(GROSS)
    assert (earlier.totals, earlier.lines, earlier.differences) == ([], [], 0)
    assert sum(r.differences for r in (whole, sales, refund, earlier)) == 0

    args = ["report", "income-statement", "--from", sold.isoformat(), "--to", end.isoformat()]
    result = liventix(*args, "--format", "csv")
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert f"platform_fees:eur,revenue,{-FEE_BACK}" in out


def test_organizer_statement_of_a_season(
    engine: sa.Engine, season: Season, cli_env: None, tmp_path: Path
) -> None:
    org = season.world.org
    start, sold, end = season.marks["start"], season.marks["sold"], season.marks["end"]
    with engine.connect() as conn:
        whole = reports.organizer_statement(conn, org, start=start, end=end)
        after_sales = reports.organizer_statement(conn, org, start=sold, end=end)

    def moved(r: reports.OrganizerStatementReport) -> dict[str, tuple[int, int]]:
        return {m.category: (m.entries, m.total) for m in r.movements if m.entries}

    assert whole.differences == 0
    assert moved(whole) == {"sales": (3, SOLD_ESCROW), "refunds": (1, -(REFUND - FEE_BACK))}
    total = {b.kind: (b.opening, b.movements, b.closing) for b in whole.balances}
    assert total["total"] == total["escrow"] == (0, ESCROW, ESCROW)
    assert total["payable"] == total["receivable"] == (0, 0, 0)
    (sales,) = whole.sales
    assert (
        sales.captures,
        sales.gross,
        sales.platform_fee,
        sales.stripe_fee,
        sales.stripe_fee_borne,
        sales.organizer_share,
    ) == (3, sum(GROSS), sum(PLATFORM_FEES), EXPENSE, 0, SOLD_ESCROW)
    assert (sales.ledger_sales, sales.difference) == (SOLD_ESCROW, 0)
    (account,) = whole.tie_out
    assert account.code == f"escrow:{season.world.event}:eur"
    assert (account.closing, account.ledger_closing, account.difference) == (ESCROW, ESCROW, 0)

    # A period after the sales opens with them and sells nothing.
    assert after_sales.differences == 0
    assert moved(after_sales) == {"refunds": (1, -(REFUND - FEE_BACK))}
    (opening,) = [b for b in after_sales.balances if b.kind == "total"]
    assert (opening.opening, opening.closing) == (SOLD_ESCROW, ESCROW)
    assert [s.captures for s in after_sales.sales] == [0]

    result = liventix(
        "report",
        "organizer-statement",
        "--org",
        str(org),
        "--from",
        start.isoformat(),
        "--to",
        end.isoformat(),
        "--out",
        str(tmp_path),
    )
    assert result.exit_code == 0, result.output
    tie_out = (tmp_path / "organizer-statement-tie-out.csv").read_text()
    assert f"escrow:{season.world.event}:eur,escrow,0,{ESCROW},{ESCROW},{ESCROW},0" in tie_out


@dataclass
class Life:
    """An organizer taken through every kind of movement, and the clock between phases."""

    org: uuid.UUID
    marks: list[datetime]


def _life(engine: sa.Engine) -> Life:
    """Jazz Club (USD; bears Stripe's fee; no platform fee back on refunds; no hold period).

    Phase 1: pi_1 (10000, Stripe fee 320) and pi_2 (4000, fee 146) for event ev1, which ended.
    Phase 2: refund re_1 (2000 of pi_1); re_2 (1000 of pi_2) booked, then failed; dispute
             dp_1 (1500 of pi_1) withdrawn with a 1500 fee, then lost.
    Phase 3: ev1 released and transferred (tr_1).
    Phase 4: refund re_3 (500 of pi_2) past release, clawed back by reversal trr_1 of tr_1;
             ev2 sells pi_3 (1000, fee 59), refunds it in full (re_4) and is cancelled.
    """
    marks = [clock(engine)]
    with engine.begin() as conn:
        policy = escrow.Policy(
            bears_stripe_fees=True,
            refund_platform_fee=False,
            hold_period=timedelta(0),
            connected_account="acct_jazz",
        )
        org = new_organizer(conn, policy, name="Jazz Club")
        ended = past()
        for pid, gross, fee in (("pi_1", 10_000, 320), ("pi_2", 4_000, 146)):
            payment = captured(
                org, gross=gross, stripe_fee=fee, ends=ended, payment_id=pid, currency="USD"
            )
            escrow.capture_payment(conn, payment, cause="t")
    marks.append(clock(engine))
    with engine.begin() as conn:
        escrow.refund_payment(conn, "re_1", "pi_1", 2_000, failed=False, cause="t")
        escrow.refund_payment(conn, "re_2", "pi_2", 1_000, failed=False, cause="t")
        escrow.refund_payment(conn, "re_2", "pi_2", 1_000, failed=True, cause="t")
        escrow.dispute_funds_withdrawn(conn, "dp_1", "pi_1", 1_500, 1_500, cause="t")
        escrow.close_dispute(conn, "dp_1", "pi_1", 1_500, won=False, cause="t")
    marks.append(clock(engine))
    with engine.begin() as conn:
        escrow_id = escrow.open_escrow(conn, org, "ev1", "USD", ended)
        assert [s for _, s in escrow.release_due(conn)][-1] == "release_requested"
        assert escrow.transfer_created(conn, "tr_1", escrow_id, 9_334, cause="t")
    marks.append(clock(engine))
    with engine.begin() as conn:
        escrow.refund_payment(conn, "re_3", "pi_2", 500, failed=False, cause="t")
        escrow.transfer_reversed(conn, "trr_1", "tr_1", 500, cause="t")
        payment = captured(
            org, gross=1_000, stripe_fee=59, event_id="ev2", ends=future(), payment_id="pi_3"
        )
        escrow.capture_payment(conn, payment, cause="t")
        escrow.refund_payment(conn, "re_4", "pi_3", 1_000, failed=False, cause="t")
        escrow.cancel_event(conn, escrow.open_escrow(conn, org, "ev2", "USD", future()))
    marks.append(clock(engine))
    return Life(org, marks)


# Jazz Club by hand. Platform fee 5%; the organizer bears Stripe's fee:
SHARE_1 = 10_000 - 500 - 320  # 9180
SHARE_2 = 4_000 - 200 - 146  # 3654
SHARE_3 = 1_000 - 50 - 59  # 891
RELEASED = SHARE_1 + SHARE_2 - 2_000 - 1_500  # 9334 (re_2 came back; the lost dispute)
SHORTFALL = 1_000 - SHARE_3  # 109: ev2 refunded in full, no platform fee given back


def test_organizer_statement_through_every_category(engine: sa.Engine, cli_env: None) -> None:
    life = _life(engine)
    first, _, before_release, _, last = life.marks
    with engine.connect() as conn:
        whole = reports.organizer_statement(conn, life.org, start=first, end=last)
        tail = reports.organizer_statement(conn, life.org, start=before_release, end=last)

    def moved(r: reports.OrganizerStatementReport) -> dict[str, tuple[int, int, int, int, int]]:
        return {
            m.category: (m.entries, m.escrow, m.payable, m.receivable, m.total)
            for m in r.movements
            if m.entries
        }

    assert whole.differences == 0
    assert moved(whole) == {
        "sales": (3, SHARE_1 + SHARE_2 + SHARE_3, 0, 0, SHARE_1 + SHARE_2 + SHARE_3),
        # re_1, re_2 and its failure, re_3 (past release: the receivable), re_4
        "refunds": (5, -2_000 - 1_000 + 1_000 - 1_000, 0, 500, -3_000 - 500),
        "disputes": (1, -1_500, 0, 0, -1_500),  # the withdrawal touches the platform only
        "releases": (1, -RELEASED, RELEASED, 0, 0),
        "transfers": (1, 0, -RELEASED, 0, -RELEASED),
        "transfer_reversals": (1, 0, 0, -500, 500),
        "cancellations": (1, SHORTFALL, 0, SHORTFALL, 0),
    }
    balances = {b.kind: (b.opening, b.movements, b.closing) for b in whole.balances}
    assert balances == {
        "escrow": (0, 0, 0),
        "payable": (0, 0, 0),
        "receivable": (0, SHORTFALL, SHORTFALL),
        "total": (0, -SHORTFALL, -SHORTFALL),  # the organizer owes the shortfall
    }
    (sales,) = whole.sales
    assert (sales.gross, sales.platform_fee, sales.stripe_fee, sales.stripe_fee_borne) == (
        15_000,
        750,
        525,
        525,
    )
    assert sales.organizer_share == sales.ledger_sales == SHARE_1 + SHARE_2 + SHARE_3
    assert sales.difference == 0
    assert {(t.code, t.closing, t.ledger_closing) for t in whole.tie_out} == {
        ("escrow:ev1:usd", 0, 0),
        ("escrow:ev2:usd", 0, 0),
        ("payable:usd", 0, 0),
        ("receivable:usd", SHORTFALL, SHORTFALL),
    }

    # Per event: ev1's captures, refunds (re_3 past release, on the receivable), the lost
    # dispute, its release and transfer; ev2 sold, refunded and cancelled; the reversal
    # Stripe made on its own (no request names its transfer) belongs to no event.
    events = {
        e.event: (e.captures, e.gross, e.fees, e.ledger_sales, e.refunds, e.disputes, e.net)
        for e in whole.events
    }
    assert events == {
        "ev1": (2, 14_000, 700 + 466, SHARE_1 + SHARE_2, -2_500, -1_500, RELEASED - 500),
        "ev2": (1, 1_000, 50 + 59, SHARE_3, -1_000, 0, -SHORTFALL),
        "(no event)": (0, 0, 0, 0, 0, 0, 0),
    }
    paid = {e.event: (e.released, e.transferred, e.difference) for e in whole.events}
    assert paid == {"ev1": (RELEASED, RELEASED, 0), "ev2": (0, 0, 0), "(no event)": (0, -500, 0)}
    # tied out per currency: the events' ledger columns sum to the statement's movements
    totals: dict[str, reports.StatementMovement] = {m.category: m for m in whole.movements}
    checked: tuple[tuple[str, tuple[str, ...]], ...] = (
        ("ledger_sales", ("sales",)),
        ("refunds", ("refunds",)),
        ("disputes", ("disputes",)),
        ("transferred", ("transfers", "transfer_reversals")),
    )
    for column, categories in checked:
        expected = (
            -sum(totals[c].total for c in categories)
            if column == "transferred"
            else (sum(totals[c].total for c in categories))
        )
        assert sum(getattr(e, column) for e in whole.events) == expected, column
    assert sum(e.released for e in whole.events) == totals["releases"].payable
    # its tickets are none: escrow was told of the payments directly
    assert whole.ticket_types == []

    # From the release on: the escrow opens with what was released.
    assert tail.differences == 0
    ends = {b.kind: (b.opening, b.closing) for b in tail.balances}
    assert ends["total"] == (RELEASED, -SHORTFALL)
    assert ends["escrow"] == (RELEASED, 0)
    assert set(moved(tail)) == {
        "sales",
        "refunds",
        "releases",
        "transfers",
        "transfer_reversals",
        "cancellations",
    }
    assert moved(tail)["sales"] == (1, SHARE_3, 0, 0, SHARE_3)

    # by name on the command line
    args = ["--from", first.isoformat(), "--to", last.isoformat(), "--format", "json"]
    result = liventix("report", "organizer-statement", "--org", "Jazz Club", *args)
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["organizer"] == "Jazz Club" and data["differences"] == 0


def test_planted_unbalanced_entry_is_a_difference(
    engine: sa.Engine, season: Season, cli_env: None
) -> None:
    with engine.begin() as conn:  # a superuser's raw write, the balance trigger switched off
        conn.execute(sa.text("SET LOCAL session_replication_role = replica"))
        account = conn.execute(
            sa.text(
                "SELECT id FROM payments.accounts WHERE org_id = :org AND code LIKE 'escrow:%'"
            ),
            {"org": season.world.org},
        ).scalar_one()
        entry = uuid.uuid4()
        conn.execute(
            sa.text("""INSERT INTO payments.entries (id, org_id, description, idempotency_key)
                       VALUES (:id, :org, 'planted', 'planted:1')"""),
            {"id": entry, "org": season.world.org},
        )
        conn.execute(
            sa.text("""INSERT INTO payments.lines (entry_id, entry_org_id, org_id, account_id,
                                                   side, amount, currency, effective_at)
                       VALUES (:entry, :org, :org, :account, 'credit', 100, 'EUR', now())"""),
            {"entry": entry, "org": season.world.org, "account": account},
        )
    later = clock(engine)
    with engine.connect() as conn:
        sheet = reports.balance_sheet(conn, as_of=later)
        income = reports.income_statement(conn, start=season.marks["start"], end=later)
        before = reports.balance_sheet(conn, as_of=season.marks["end"])
        statement = reports.organizer_statement(
            conn, season.world.org, start=season.marks["start"], end=later
        )
    assert _totals(sheet) == [("EUR", STRIPE_BALANCE, ESCROW + 100, 0, REVENUE - EXPENSE, -100)]
    assert sheet.differences == 1
    assert [(t.debits - t.credits, t.difference) for t in income.totals] == [(-100, -100)]
    assert income.differences == 1
    assert before.differences == 0  # not yet effective then
    # The organizer's statement shows it under "other"; its balances still tie out.
    (other,) = [m for m in statement.movements if m.category == "other"]
    assert (other.entries, other.escrow, statement.differences) == (1, 100, 0)

    result = liventix("report", "balance-sheet")
    assert result.exit_code == 1, result.output
    assert "Balance sheet as of" in result.stdout
    result = liventix("report", "income-statement", "--from", season.marks["start"].isoformat())
    assert result.exit_code == 1, result.output
    result = liventix("report", "all")
    assert result.exit_code == 1, result.output
    out = result.stdout
    # the one-screen summary names both, among the differences listed first
    differences = out[out.index("Differences first:") : out.index("\nReport ")]
    assert "Balance sheet | Currencies out of balance: EUR | difference " in differences
    assert "Income statement | Currencies out of balance: EUR | difference " in differences


def test_planted_tie_out_failure_is_a_difference(
    engine: sa.Engine,
    season: Season,
    cli_env: None,
    tmp_path: Path,
) -> None:
    """The refund's escrow line dated a year after its entry: the period's movements (by
    entry) and the ledger's balance at its end (by line) no longer agree."""
    with engine.begin() as conn:
        conn.execute(sa.text("SET LOCAL session_replication_role = replica"))
        moved = conn.execute(
            sa.text("""UPDATE payments.lines l SET effective_at = l.effective_at + interval '1 year'
                         FROM payments.entries e, payments.accounts a
                        WHERE e.id = l.entry_id AND a.id = l.account_id
                          AND e.idempotency_key LIKE 'stripe:refund:%' AND a.code LIKE 'escrow:%'
                       RETURNING l.id""")
        ).all()
    assert len(moved) == 1
    start, end = season.marks["start"], season.marks["end"]
    with engine.connect() as conn:
        statement = reports.organizer_statement(conn, season.world.org, start=start, end=end)
    (account,) = statement.tie_out
    assert (account.movements, account.closing, account.ledger_closing, account.difference) == (
        SOLD_ESCROW - (REFUND - FEE_BACK),
        ESCROW,
        SOLD_ESCROW,
        ESCROW - SOLD_ESCROW,
    )
    assert statement.differences == 1

    org = str(season.world.org)
    period = ["--from", start.isoformat(), "--to", end.isoformat()]
    result = liventix("report", "organizer-statement", "--org", org, *period, "--format", "csv")
    assert result.exit_code == 1, result.output
    row = f"escrow:{season.world.event}:eur,escrow,0,{ESCROW},{ESCROW},{SOLD_ESCROW},-2375"
    assert row in result.stdout
    # the HTML page carries every organizer's statement
    page = tmp_path / "page.html"
    result = liventix("report", "organizer-statement", "--org", org, *period, "--html", str(page))
    assert result.exit_code == 1, result.output
    html = page.read_text()
    assert 'id="organizer-statement"' in html and "Balance sheet as of" in html
    assert "Income statement [" in html


def test_a_capture_booked_other_than_recorded_is_a_sales_difference(
    engine: sa.Engine, season: Season, cli_env: None
) -> None:
    """The first sale's entry written with a cent moved from the organizer's escrow line to
    the platform's fee line (the entry still balances): the payment's recorded share and what
    the sales moved disagree. The lines' recorded running totals are left as the engine wrote
    them, so the statement's tie-out (its closing balance is the stored total as of the end)
    sees the escrow line's cent too. The organizer's statement sees it, and so does the balance
    sheet: the escrow's categories (`escrow:eur`, in `owed_to_organizer:eur`) no longer sum to
    the ledger's balance of them, read from those running totals (the fee account is high
    volume: its balance is its lines' sum, so `fee_revenue:eur` agrees). `report all` counts
    them."""
    with engine.begin() as conn:  # a superuser's raw write, the ledger's triggers off
        conn.execute(sa.text("SET LOCAL session_replication_role = replica"))
        entry = conn.execute(
            sa.text("SELECT entry_id FROM payments.card_payments WHERE id = :id"),
            {"id": f"pi_{season.transactions[0]['id'][4:]}"},
        ).scalar_one()
        changed = conn.execute(
            sa.text("""UPDATE payments.lines l
                          SET amount = l.amount + CASE WHEN a.code LIKE 'escrow:%' THEN -1
                                                       ELSE 1 END
                         FROM payments.accounts a
                        WHERE a.id = l.account_id AND l.entry_id = :entry
                          AND (a.code LIKE 'escrow:%' OR a.code LIKE 'platform\\_fees:%')
                    RETURNING a.code"""),
            {"entry": entry},
        ).all()
    assert len(changed) == 2
    start, end = season.marks["start"], season.marks["end"]
    with engine.connect() as conn:
        statement = reports.organizer_statement(conn, season.world.org, start=start, end=end)
        others = [
            reports.trial_balance(conn),
            reports.balance_sheet(conn, as_of=end),
            reports.income_statement(conn, start=start, end=end),
            reports.ticket_tie_out(conn),
        ]
    (sales,) = statement.sales
    assert (sales.organizer_share, sales.ledger_sales, sales.difference) == (
        SOLD_ESCROW,
        SOLD_ESCROW - 1,
        1,
    )
    assert [t.difference for t in statement.tie_out] == [-1]
    # the breakdown ties the sales out per event too: the event's share is a cent off
    (event,) = statement.events
    assert (event.event, event.gross - event.fees, event.ledger_sales, event.difference) == (
        "Hamlet",
        SOLD_ESCROW,
        SOLD_ESCROW - 1,
        1,
    )
    assert statement.differences == 2
    trial, sheet, income, tickets = others
    assert [r.differences for r in (trial, income, tickets)] == [0, 0, 0]
    assert isinstance(sheet, reports.BalanceSheetReport)
    assert [t.difference for t in sheet.totals] == [0]  # the entry still balances
    assert {(c.code, c.balance - c.ledger_balance) for c in sheet.categories if c.difference} == {
        ("escrow:eur", -1),
        ("owed_to_organizer:eur", -1),
    }
    assert sheet.differences == 2

    org = str(season.world.org)
    period = ["--from", start.isoformat(), "--to", end.isoformat()]
    result = liventix("report", "organizer-statement", "--org", org, *period)
    assert result.exit_code == 1, result.output
    # `report all` shows every organizer's statement and counts its differences
    result = liventix("report", "all", *period)
    assert result.exit_code == 1, result.output
    captured = result
    name = f"Statement: Organizer {season.world.org.hex[:6]}"
    assert f"{name} | Accounts that do not tie out: EUR " in captured.stdout
    assert f"{name} | Sales that do not tie out: EUR " in captured.stdout
    assert "Categories that differ" in captured.stdout
    assert "4 difference(s) found" in captured.stderr


def test_unknown_organizer_and_bad_periods_are_typed_errors(
    engine: sa.Engine, season: Season, cli_env: None
) -> None:
    start, end = season.marks["start"], season.marks["end"]
    stranger = uuid.uuid4()
    with engine.connect() as conn:
        with pytest.raises(reports.UnknownOrganization) as unknown:
            reports.organizer_statement(conn, stranger, start=start, end=end)
        assert unknown.value.org_id == stranger
        assert isinstance(unknown.value, reports.ReportError)
        for a, b in ((end, start), (start, start)):
            with pytest.raises(reports.InvalidPeriod):
                reports.organizer_statement(conn, season.world.org, start=a, end=b)
            with pytest.raises(reports.InvalidPeriod):
                reports.income_statement(conn, start=a, end=b)
        with pytest.raises(reports.InvalidPeriod):
            reports.balance_sheet(conn, as_of=datetime(2026, 1, 1))  # no time zone
        with pytest.raises(reports.UnknownOrganization):
            reports.organization_id(conn, "Nobody")
        assert reports.organization_id(conn, str(season.world.org)) == season.world.org
    assert issubclass(reports.StripeImportError, reports.ReportError)

    result = liventix("report", "organizer-statement", "--org", str(stranger))
    assert result.exit_code == 2, result.output
    assert "No organization has this id" in result.stderr
    at = ["--from", "2026-03-01", "--to", "2026-02-01"]
    result = liventix("report", "organizer-statement", "--org", str(season.world.org), *at)
    assert result.exit_code == 2, result.output
    assert "period" in result.stderr
    result = liventix("report", "income-statement", *at)
    assert result.exit_code == 2, result.output
    assert "period" in result.stderr
    result = liventix("report", "balance-sheet", "--as-of", "yesterday")
    assert result.exit_code == 2, result.output


def test_two_organizers_of_one_name_must_be_named_by_id(
    engine: sa.Engine, season: Season, cli_env: None
) -> None:
    with engine.begin() as conn:
        new_organizer(conn, name="Twin")
        new_organizer(conn, name="Twin")
    with engine.connect() as conn, pytest.raises(reports.AmbiguousOrganization):
        reports.organization_id(conn, "Twin")
    result = liventix("report", "organizer-statement", "--org", "Twin")
    assert result.exit_code == 2, result.output


def test_categories_by_escrow_key() -> None:
    assert [
        reports.category(k)
        for k in (
            "stripe:capture:pi_1",
            "stripe:refund:re_1",
            "stripe:refund-failed:re_1",
            "stripe:dispute-lost:du_1",
            "escrow:release:e1",
            "stripe:transfer:tr_1",
            "stripe:transfer-reversal:trr_1",
            "escrow:cancel:e1",
            "escrow:settle:e1:re_1",
            "stripe:payout-paid:po_1",
            None,
        )
    ] == [
        "sales",
        "refunds",
        "refunds",
        "disputes",
        "releases",
        "transfers",
        "transfer_reversals",
        "cancellations",
        "cancellations",
        "other",
        "other",
    ]


def test_default_period_is_the_last_thirty_days(
    engine: sa.Engine, season: Season, cli_env: None
) -> None:
    result = liventix("report", "income-statement", "--format", "json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    start, end = datetime.fromisoformat(data["start"]), datetime.fromisoformat(data["end"])
    assert end - start == timedelta(days=30) and end >= season.marks["end"]
    assert data["totals"][0]["net_income"] == REVENUE - EXPENSE
    # a --to without a time zone is UTC; a period before the season is empty
    result = liventix("report", "income-statement", "--to", "2000-01-01", "--format", "json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert datetime.fromisoformat(data["end"]) == datetime(2000, 1, 1, tzinfo=UTC)
    assert data["totals"] == []

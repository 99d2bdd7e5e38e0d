"""The balance sheet by account category (issue 16 item 3): the season's accounts grouped
under the categories the chart seeded as they opened (the organizer's escrow under what is
owed to it, the platform's cash, fee revenue and processing costs), each category's balance
the sum of its members and equal to the ledger's own balance of the category, the sheet still
tying out; a line rewritten behind the ledger's back (its stored running totals kept) shows
as a category that differs."""

from __future__ import annotations

import json

import sqlalchemy as sa

from liventix import reports
from tests.cli.runner import liventix
from tests.reports.conftest import Season
from tests.reports.test_statements import ESCROW, EXPENSE, REVENUE, STRIPE_BALANCE


def _categories(sheet: reports.BalanceSheetReport) -> list[tuple[str, str, int, int, int]]:
    return [(c.code, c.nested_in, c.accounts, c.balance, c.difference) for c in sheet.categories]


def test_the_sheet_groups_its_lines_by_the_seeded_categories(
    engine: sa.Engine, season: Season, cli_env: None
) -> None:
    with engine.connect() as conn:
        sheet = reports.balance_sheet(conn, as_of=season.marks["end"])
        before = reports.balance_sheet(conn, as_of=season.marks["start"])
    assert sheet.differences == 0
    assert [t.difference for t in sheet.totals] == [0]
    # The platform first (its three categories), then the organizer's: what is owed to it,
    # then its escrow nested in it; each balance the hand-worked figure, equal to the ledger's.
    assert _categories(sheet) == [
        ("cash:eur", "", 1, STRIPE_BALANCE, 0),
        ("fee_revenue:eur", "", 1, REVENUE, 0),
        ("processing_costs:eur", "", 1, EXPENSE, 0),
        ("owed_to_organizer:eur", "", 1, ESCROW, 0),
        ("escrow:eur", "owed_to_organizer:eur", 1, ESCROW, 0),
    ]
    assert all(c.ledger_balance == c.balance for c in sheet.categories)
    assert [c.org_id for c in sheet.categories[3:]] == [season.world.org] * 2
    # Each line under the category holding its account directly, in the categories' order.
    assert [(line.category, line.code.split(":")[0], line.balance) for line in sheet.lines] == [
        ("cash:eur", "stripe_balance", STRIPE_BALANCE),
        ("fee_revenue:eur", "platform_fees", REVENUE),
        ("processing_costs:eur", "stripe_fees", EXPENSE),
        ("escrow:eur", "escrow", ESCROW),
    ]
    # Before anything was effective: no category is shown.
    assert (before.categories, before.lines, before.differences) == ([], [], 0)

    result = liventix("report", "balance-sheet", "--format", "json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert [(c["code"], c["balance"], c["difference"]) for c in data["categories"]] == [
        (code, balance, 0) for code, _, _, balance, _ in _categories(sheet)
    ]
    assert {x["category"] for x in data["lines"]} == {
        "cash:eur",
        "fee_revenue:eur",
        "processing_costs:eur",
        "escrow:eur",
    }
    text = liventix("report", "balance-sheet")
    assert text.exit_code == 0, text.output
    assert "Categories" in text.stdout and "owed_to_organizer:eur" in text.stdout  # not folded


def test_a_category_whose_members_do_not_sum_to_its_balance_is_a_difference(
    engine: sa.Engine, season: Season
) -> None:
    with engine.connect() as conn, conn.begin() as tx:
        # As a superuser can: an escrow line's amount rewritten with the triggers off, the
        # account's running totals (copied into its lines) left as they were.
        conn.execute(sa.text("SET LOCAL session_replication_role = replica"))
        conn.execute(
            sa.text("""
                UPDATE payments.lines SET amount = amount + 100
                 WHERE id = (SELECT min(l.id) FROM payments.lines l
                               JOIN payments.accounts a ON a.id = l.account_id
                              WHERE a.code LIKE 'escrow:%')
            """)
        )
        conn.execute(sa.text("SET LOCAL session_replication_role = origin"))
        sheet = reports.balance_sheet(conn, as_of=season.marks["end"])
        tx.rollback()
    differing = {c.code: c.difference for c in sheet.categories if c.difference}
    assert set(differing) == {"escrow:eur", "owed_to_organizer:eur"}
    assert len({abs(d) for d in differing.values()}) == 1  # the one rewritten line's 100
    assert abs(next(iter(differing.values()))) == 100
    assert sheet.differences >= 2

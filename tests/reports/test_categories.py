"""The chart seeded into categories and the category balances report: a season sold through
escrow puts its accounts into categories as they open (the organizer's escrow, the platform's
cash, fee revenue and processing costs), their balances equal the sums of their accounts, the
escrow tie-out agrees with escrow's own `held` and names a difference, and seeding accounts
opened without categories is idempotent."""

from __future__ import annotations

import subprocess
import sys
import uuid

import sqlalchemy as sa

import escrow
import ledger
from liventix import reports
from tests.reports.conftest import Season


def _categories(conn: sa.Connection) -> dict[tuple[object, str], ledger.Category]:
    found, more = ledger.list_categories(conn, limit=1000)
    assert not more
    return {(c.org_id, c.code): c for c in found}


def test_the_chart_joins_its_categories_as_it_opens(engine: sa.Engine, season: Season) -> None:
    org = season.world.org
    with engine.connect() as conn:
        platform = ledger.platform_org(conn)
        assert platform is not None
        found = _categories(conn)
        esc = found[(org, "escrow:eur")]
        owed = found[(org, "owed_to_organizer:eur")]
        assert esc.id in owed.category_ids
        accounts = ledger.list_accounts(conn, limit=1000).accounts
        by_code = {(a.org_id, a.code): a for a in accounts}
        escrow_accounts = [
            a for (o, c), a in by_code.items() if o == org and c.startswith("escrow:")
        ]
        assert set(esc.account_ids) == {a.id for a in escrow_accounts}
        assert esc.balance.posted == sum(a.balance.posted for a in escrow_accounts) > 0
        cash = found[(platform, "cash:eur")]
        assert by_code[(platform, "stripe_balance:eur")].id in cash.account_ids
        assert cash.balance.posted == sum(
            by_code[(platform, code)].balance.posted
            for code in ("stripe_balance:eur", "bank:eur", "disputed_funds:eur")
            if (platform, code) in by_code
        )
        fees = found[(platform, "fee_revenue:eur")]
        assert fees.balance.posted == by_code[(platform, "platform_fees:eur")].balance.posted > 0
        # what the platform owes the organizer: escrow + payable - receivable, credit normal
        assert owed.balance.posted == sum(
            found[(org, f"{stem}:eur")].balance.posted * sign
            for stem, sign in (("escrow", 1), ("payables", 1), ("receivables", -1))
            if (org, f"{stem}:eur") in found
        )

        report = reports.category_balances(conn)
        assert report.differences == 0
        (row,) = [r for r in report.escrow if r.org_id == org]
        held = conn.execute(
            sa.text("SELECT sum(held) FROM payments.escrows WHERE org_id = :o"), {"o": org}
        ).scalar_one()
        assert row.escrow_held == held == row.category_balance
        assert {r.code for r in report.rows} >= {"escrow:eur", "cash:eur", "fee_revenue:eur"}


def test_an_escrow_account_outside_its_category_is_a_difference(
    engine: sa.Engine, season: Season
) -> None:
    org = season.world.org
    with engine.begin() as conn:
        esc = _categories(conn)[(org, "escrow:eur")]
        ledger.remove_category_members(
            conn,
            org,
            ledger.CategoryMembers(
                idempotency_key="take-out", category_id=esc.id, account_ids=esc.account_ids
            ),
        )
        report = reports.category_balances(conn)
        assert report.differences == 1
        (row,) = [r for r in report.escrow if r.org_id == org]
        assert row.category_balance == 0 and row.difference == row.escrow_held > 0


def test_seeding_accounts_opened_without_categories_is_idempotent(conn: sa.Connection) -> None:
    org = uuid.uuid4()
    ledger.open_organization(conn, org, "Liventix", is_platform=True)
    # an account of the chart opened directly through the ledger: no category yet
    ledger.open_account(
        conn,
        org,
        ledger.OpenAccount(
            idempotency_key="old-bank", code="bank:chf", type="asset", currency="CHF"
        ),
    )
    assert ledger.find_category(conn, org, "cash:chf") is None
    assert escrow.seed_categories(conn) == 1
    cash = ledger.find_category(conn, org, "cash:chf")
    assert cash is not None
    assert escrow.seed_categories(conn) == 1  # replays: nothing changes
    assert len(ledger.get_category(conn, cash).account_ids) == 1


def test_the_cli_shows_category_balances(season: Season, cli_env: None) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "liventix", "report", "category-balances", "--format", "json"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert '"escrow:eur"' in done.stdout
    done = subprocess.run(
        [sys.executable, "-m", "liventix", "ledger", "categories", "--json"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert '"code": "fee_revenue:eur"' in done.stdout

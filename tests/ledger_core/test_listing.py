"""The ledger's public reads for other packages: lists of accounts and entries (keyset pages),
entries by id, accounts by code, an entry by its key, the platform and organizations; each
bounded by row-level security under the application's role."""

from __future__ import annotations

import uuid
from datetime import datetime

import pytest
import sqlalchemy as sa

import ledger
from tests.ledger_core.conftest import (
    ORG_A,
    ORG_B,
    PLATFORM,
    OpenAccountFn,
    present_key,
    transfer,
)


def _all_accounts(conn: sa.Connection, org: uuid.UUID | None, limit: int) -> list[ledger.Account]:
    out: list[ledger.Account] = []
    after = None
    for _ in range(100):
        page = ledger.list_accounts(conn, org, after=after, limit=limit)
        assert len(page.accounts) <= limit
        out.extend(page.accounts)
        if page.next_after is None:
            return out
        after = page.next_after
    raise AssertionError("the pages never ended")


def test_accounts_come_in_pages_oldest_first_with_their_balances(
    engine: sa.Engine, open_account: OpenAccountFn
) -> None:
    a_ids = [open_account(ORG_A, f"a{i}") for i in range(5)]
    sales = open_account(ORG_A, "sales", "revenue")
    b_ids = [open_account(ORG_B, f"b{i}") for i in range(2)]
    with engine.begin() as conn:
        ledger.post_entry(conn, ORG_A, transfer("t1", a_ids[2], sales, 70))
    with engine.connect() as conn:
        listed = _all_accounts(conn, ORG_A, 2)
        assert [a.id for a in listed] == [*a_ids, sales]
        assert {a.org_id for a in listed} == {ORG_A}
        by_id = {a.id: a for a in listed}
        assert by_id[a_ids[2]].balance.posted == 70 == ledger.balance(conn, a_ids[2]).posted
        assert by_id[sales].balance == ledger.balance(conn, sales)
        assert by_id[sales].code == "sales" and by_id[sales].type == "revenue"
        everyone = {a.id for a in _all_accounts(conn, None, 3)}
        assert {*a_ids, sales, *b_ids} <= everyone
        # exactly a page's worth: the last page says so by an empty next one
        exact = ledger.list_accounts(conn, ORG_B, limit=2)
        assert [a.id for a in exact.accounts] == b_ids and exact.next_after is not None
        assert ledger.list_accounts(conn, ORG_B, after=exact.next_after).accounts == ()


def test_entries_come_in_pages_with_their_lines_optionally_by_account(
    engine: sa.Engine, open_account: OpenAccountFn
) -> None:
    cash = open_account(ORG_A, "cash")
    bank = open_account(ORG_A, "bank")
    sales = open_account(ORG_A, "sales", "revenue")
    b_cash = open_account(ORG_B, "cash")
    b_sales = open_account(ORG_B, "sales", "revenue")
    ids = []
    for i in range(5):  # a transaction each: entries of one transaction share created_at
        with engine.begin() as conn:
            ids.append(ledger.post_entry(conn, ORG_A, transfer(f"c{i}", cash, sales, 10 + i)).id)
    with engine.begin() as conn:
        bank_entry = ledger.post_entry(conn, ORG_A, transfer("bank", bank, sales, 99)).id
        ledger.post_entry(conn, ORG_B, transfer("b", b_cash, b_sales, 5))
    with engine.connect() as conn:
        seen: list[ledger.Entry] = []
        after = None
        while True:
            page = ledger.list_entries(conn, ORG_A, account_id=cash, after=after, limit=2)
            seen.extend(page.entries)
            if page.next_after is None:
                break
            after = page.next_after
        assert [e.id for e in seen] == ids
        assert [[(x.account_id, x.side, x.amount) for x in e.lines] for e in seen] == [
            [(cash, "debit", 10 + i), (sales, "credit", 10 + i)] for i in range(5)
        ]
        assert seen[0] == ledger.get_entry(conn, ids[0])
        everything = ledger.list_entries(conn, ORG_A, limit=100)
        assert [e.id for e in everything.entries] == [*ids, bank_entry]
        assert everything.next_after is None
        assert ledger.list_entries(conn, ORG_B, account_id=cash).entries == ()


def test_entries_by_id_keep_the_order_asked_and_skip_unknown_ids(
    engine: sa.Engine, open_account: OpenAccountFn
) -> None:
    cash = open_account(ORG_A, "cash")
    sales = open_account(ORG_A, "sales", "revenue")
    with engine.begin() as conn:
        first = ledger.post_entry(conn, ORG_A, transfer("e1", cash, sales, 1)).id
        second = ledger.post_entry(conn, ORG_A, transfer("e2", cash, sales, 2)).id
    with engine.connect() as conn:
        got = ledger.get_entries(conn, [second, uuid.uuid4(), first, second])
        assert [e.id for e in got] == [second, first]
        assert [x.amount for x in got[0].lines] == [2, 2]
        assert ledger.get_entries(conn, []) == []


def test_accounts_by_code_and_by_organization_and_code(
    engine: sa.Engine, open_account: OpenAccountFn
) -> None:
    cash = open_account(ORG_A, "cash")
    sales = open_account(ORG_A, "sales", "revenue")
    b_cash = open_account(ORG_B, "cash")
    fees = open_account(PLATFORM, "fees", "revenue")
    with engine.begin() as conn:
        ledger.post_entry(conn, ORG_A, transfer("s", cash, sales, 40))
    with engine.connect() as conn:
        found = ledger.accounts_by_code(conn, ORG_A, ["cash", "sales", "nope"])
        assert set(found) == {"cash", "sales"}
        assert (found["cash"].id, found["cash"].balance.posted) == (cash, 40)
        assert (found["sales"].id, found["sales"].balance.posted) == (sales, 40)
        assert set(ledger.accounts_by_code(conn, ORG_A)) == {"cash", "sales"}
        assert ledger.accounts_by_code(conn, ORG_A, []) == {}
        pairs = [(ORG_A, "cash"), (ORG_B, "cash"), (PLATFORM, "fees"), (ORG_B, "sales")]
        assert ledger.find_accounts(conn, pairs) == {
            (ORG_A, "cash"): cash,
            (ORG_B, "cash"): b_cash,
            (PLATFORM, "fees"): fees,
        }
        assert ledger.find_accounts(conn, []) == {}


def test_entry_by_key_names_entries_only(engine: sa.Engine, open_account: OpenAccountFn) -> None:
    cash = open_account(ORG_A, "cash")
    wallet = open_account(ORG_A, "wallet", "liability", debits_must_not_exceed_credits=True)
    sales = open_account(ORG_A, "sales", "revenue")
    with engine.begin() as conn:
        posted = ledger.post_entry(conn, ORG_A, transfer("posted", cash, sales, 5)).id
        hold = ledger.create_hold(conn, ORG_A, ledger.CreateHold("hold", cash, sales, 3, "USD"))
        hold_post = ledger.post_hold(conn, ORG_A, ledger.PostHold("hold-post", hold.id)).id
        results = ledger.post_batch(conn, ORG_A, [transfer("refused", wallet, sales, 1)])
        assert isinstance(results[0].error, ledger.InsufficientFunds)
    with engine.connect() as conn:
        assert ledger.entry_by_key(conn, ORG_A, "posted") == posted
        assert ledger.entry_by_key(conn, ORG_A, "hold-post") == hold_post
        assert ledger.entry_by_key(conn, ORG_A, "hold") is None
        assert ledger.entry_by_key(conn, ORG_A, "refused") is None
        assert ledger.entry_by_key(conn, ORG_A, "never") is None
        assert ledger.entry_by_key(conn, ORG_B, "posted") is None


def test_platform_and_organizations(engine: sa.Engine, open_account: OpenAccountFn) -> None:
    with engine.connect() as conn:
        assert ledger.platform_org(conn) == PLATFORM
        assert ledger.organization_exists(conn, ORG_B)
        assert not ledger.organization_exists(conn, uuid.uuid4())


def test_an_organizations_role_reads_only_its_own(
    engine: sa.Engine, app_engine: sa.Engine, open_account: OpenAccountFn
) -> None:
    a_cash = open_account(ORG_A, "cash")
    a_sales = open_account(ORG_A, "sales", "revenue")
    b_cash = open_account(ORG_B, "cash")
    b_sales = open_account(ORG_B, "sales", "revenue")
    with engine.begin() as conn:
        a_entry = ledger.post_entry(conn, ORG_A, transfer("a", a_cash, a_sales, 5)).id
        b_entry = ledger.post_entry(conn, ORG_B, transfer("b", b_cash, b_sales, 6)).id
    with app_engine.begin() as conn:
        present_key(conn, ORG_A)
        assert {a.id for a in ledger.list_accounts(conn).accounts} == {a_cash, a_sales}
        assert ledger.list_accounts(conn, ORG_B).accounts == ()
        assert [e.id for e in ledger.list_entries(conn).entries] == [a_entry]
        assert ledger.list_entries(conn, ORG_B).entries == ()
        assert [e.id for e in ledger.get_entries(conn, [a_entry, b_entry])] == [a_entry]
        assert set(ledger.accounts_by_code(conn, ORG_B)) == set()
        assert ledger.find_accounts(conn, [(ORG_A, "cash"), (ORG_B, "cash")]) == {
            (ORG_A, "cash"): a_cash
        }
        assert ledger.entry_by_key(conn, ORG_A, "a") == a_entry
        assert ledger.entry_by_key(conn, ORG_B, "b") is None
        assert ledger.organization_exists(conn, ORG_A)
        assert not ledger.organization_exists(conn, ORG_B)
        assert ledger.platform_org(conn) is None
    with app_engine.begin() as conn:  # no key presented: nothing at all
        assert ledger.list_accounts(conn).accounts == ()
        assert ledger.list_entries(conn).entries == ()


@pytest.mark.parametrize("limit", [0, -1, 1001, True])
def test_a_bad_page_request_is_refused(engine: sa.Engine, orgs: None, limit: int) -> None:
    with engine.connect() as conn:
        with pytest.raises(ledger.InvalidRequest):
            ledger.list_accounts(conn, ORG_A, limit=limit)
        with pytest.raises(ledger.InvalidRequest):
            ledger.list_entries(conn, ORG_A, limit=limit)
        with pytest.raises(ledger.InvalidRequest):
            ledger.list_entries(conn, ORG_A, after=(datetime(2026, 1, 1), uuid.uuid4()))


def test_the_sql_expressions_agree_with_the_functions(
    engine: sa.Engine, open_account: OpenAccountFn
) -> None:
    cash = open_account(ORG_A, "cash")
    fees = open_account(PLATFORM, "fees", "revenue")
    platform_sql = ledger.platform_org_sql()
    org = f"CASE u.owner WHEN 'organizer' THEN CAST(:org AS uuid) ELSE {platform_sql} END"
    statement = sa.text(f"""
        SELECT u.code, {ledger.account_id_sql(org, "u.code")} AS id
          FROM (VALUES ('organizer', 'cash'), ('platform', 'fees'), ('platform', 'cash'),
                       ('organizer', 'nope')) AS u(owner, code)
    """)
    with engine.connect() as conn:
        rows = conn.execute(statement, {"org": ORG_A}).all()
        assert [r.id for r in rows] == [cash, fees, None, None]
        platform = conn.execute(sa.text(f"SELECT {ledger.platform_org_sql()}")).scalar_one()
        assert platform == ledger.platform_org(conn) == PLATFORM

"""Account categories on the real database: create, members, nesting, balances (now and as of
a time, each account counted once), one currency, no cycles, idempotency and tenancy."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime

import pytest
import sqlalchemy as sa

import ledger
from tests.ledger_core.conftest import ORG_A, ORG_B, OpenAccountFn, present_key, transfer


def _create(
    conn: sa.Connection, org: uuid.UUID, code: str, currency: str = "USD", side: str = "debit"
) -> uuid.UUID:
    return ledger.create_category(
        conn,
        org,
        ledger.CreateCategory(
            idempotency_key=f"cat-{code}",
            code=code,
            currency=currency,
            normal_side=side,  # type: ignore[arg-type]
        ),
    ).id


def _add(
    conn: sa.Connection,
    org: uuid.UUID,
    category: uuid.UUID,
    key: str,
    *,
    accounts: tuple[uuid.UUID, ...] = (),
    categories: tuple[uuid.UUID, ...] = (),
) -> ledger.CategoryWrite:
    return ledger.add_category_members(
        conn,
        org,
        ledger.CategoryMembers(
            idempotency_key=key, category_id=category, account_ids=accounts, category_ids=categories
        ),
    )


def _now(conn: sa.Connection) -> datetime:
    return conn.execute(sa.text("SELECT clock_timestamp()")).scalar_one()  # type: ignore[no-any-return]


def test_balances_are_the_sums_of_the_members_nested_once(
    conn: sa.Connection, open_account: OpenAccountFn
) -> None:
    cash = open_account(ORG_A, "cash", "asset")
    bank = open_account(ORG_A, "bank", "asset")
    sales = open_account(ORG_A, "sales", "revenue")
    ledger.post_entry(conn, ORG_A, transfer("t1", cash, sales, 700))
    ledger.post_entry(conn, ORG_A, transfer("t2", bank, sales, 300))
    ledger.create_hold(
        conn,
        ORG_A,
        ledger.CreateHold(
            idempotency_key="h1",
            debit_account_id=sales,
            credit_account_id=bank,
            amount=50,
            currency="USD",
        ),
    )
    leaf = _create(conn, ORG_A, "liquid")
    top = _create(conn, ORG_A, "assets")
    _add(conn, ORG_A, leaf, "m1", accounts=(cash, bank))
    # bank is reached twice (directly and through `liquid`): counted once
    _add(conn, ORG_A, top, "m2", accounts=(bank,), categories=(leaf,))

    got = ledger.get_category(conn, top)
    assert got.account_ids == (bank,) and got.category_ids == (leaf,)
    assert ledger.category_accounts(conn, top) == {cash, bank}
    b = got.balance
    assert (b.accounts, b.posted, b.pending, b.available) == (2, 1000, 950, 950)
    one = ledger.balance(conn, cash)
    two = ledger.balance(conn, bank)
    assert b.posted_debits == one.posted_debits + two.posted_debits
    assert b.pending_credits == one.pending_credits + two.pending_credits


def test_balance_as_of_a_time_uses_the_point_in_time_read(
    conn: sa.Connection, open_account: OpenAccountFn
) -> None:
    cash = open_account(ORG_A, "cash", "asset")
    sales = open_account(ORG_A, "sales", "revenue")
    hv = open_account(ORG_A, "hv", "asset", high_volume=True)
    ledger.post_entry(conn, ORG_A, transfer("t1", cash, sales, 100))
    ledger.post_entry(conn, ORG_A, transfer("t1b", hv, sales, 5))
    # One transaction (the rolled-back tier): every line is recorded at its start, so the
    # moment is told apart by an entry effective later.
    middle = _now(conn)
    ledger.post_entry(
        conn,
        ORG_A,
        transfer("t2", cash, sales, 40, effective_at=datetime(2999, 1, 1, tzinfo=middle.tzinfo)),
    )
    cat = _create(conn, ORG_A, "cash-like")
    _add(conn, ORG_A, cat, "m", accounts=(cash, hv))
    by_effective = ledger.category_balances(conn, [cat], at=middle, by="effective")[cat]
    assert by_effective.posted == 105
    expected = sum(ledger.balance_as_of(conn, a, middle, by="effective").posted for a in (cash, hv))
    assert by_effective.posted == expected
    assert ledger.get_category(conn, cat).balance.posted == 145
    # two roots reaching the same accounts, read together: each counts them once
    parent = _create(conn, ORG_A, "parent")
    _add(conn, ORG_A, parent, "p", categories=(cat,))
    both = ledger.category_balances(conn, [cat, parent], at=middle, by="effective")
    assert [both[c].posted for c in (cat, parent)] == [105, 105]
    assert [both[c].accounts for c in (cat, parent)] == [2, 2]
    now = ledger.category_balances(conn, [cat, parent])
    assert [now[c].posted for c in (cat, parent)] == [145, 145]


def test_one_currency_no_cycles_typed_refusals(
    conn: sa.Connection, open_account: OpenAccountFn
) -> None:
    eur = open_account(ORG_A, "eur-cash", "asset", currency="EUR")
    a = _create(conn, ORG_A, "a")
    b = _create(conn, ORG_A, "b")
    c = _create(conn, ORG_A, "c")
    e = _create(conn, ORG_A, "e", currency="EUR")
    with pytest.raises(ledger.CategoryCurrencyMismatch), conn.begin_nested():
        _add(conn, ORG_A, a, "x1", accounts=(eur,))
    with pytest.raises(ledger.CategoryCurrencyMismatch), conn.begin_nested():
        _add(conn, ORG_A, a, "x2", categories=(e,))
    _add(conn, ORG_A, a, "ab", categories=(b,))
    _add(conn, ORG_A, b, "bc", categories=(c,))
    with pytest.raises(ledger.CategoryCycle), conn.begin_nested():
        _add(conn, ORG_A, c, "ca", categories=(a,))
    with pytest.raises(ledger.CategoryCycle):
        _add(conn, ORG_A, a, "aa", categories=(a,))
    with pytest.raises(ledger.CategoryNotFound), conn.begin_nested():
        _add(conn, ORG_A, uuid.uuid4(), "nf", categories=(a,))
    with pytest.raises(ledger.AccountNotFound), conn.begin_nested():
        _add(conn, ORG_A, a, "anf", accounts=(uuid.uuid4(),))
    with pytest.raises(ledger.DuplicateCategoryCode), conn.begin_nested():
        ledger.create_category(
            conn,
            ORG_A,
            ledger.CreateCategory(
                idempotency_key="other", code="a", currency="USD", normal_side="debit"
            ),
        )
    with pytest.raises(ledger.UnknownCurrency), conn.begin_nested():
        _create(conn, ORG_A, "zzz", currency="ZZZ")
    with pytest.raises(ledger.InvalidRequest):
        ledger.CreateCategory(
            idempotency_key="k", code="", currency="USD", normal_side="debit"
        ).payload()


def test_the_database_refuses_a_cycle_and_another_currency_by_hand(
    conn: sa.Connection, open_account: OpenAccountFn
) -> None:
    eur = open_account(ORG_A, "eur-cash", "asset", currency="EUR")
    a = _create(conn, ORG_A, "a")
    b = _create(conn, ORG_A, "b")
    _add(conn, ORG_A, a, "ab", categories=(b,))
    insert = sa.text(
        "INSERT INTO payments.category_members (category_id, org_id, currency, account_id,"
        " member_category_id) VALUES (:c, :org, :cur, :acc, :mem)"
    )
    with pytest.raises(sa.exc.DBAPIError, match="category_cycle"), conn.begin_nested():
        conn.execute(insert, {"c": b, "org": ORG_A, "cur": "USD", "acc": None, "mem": a})
    with pytest.raises(sa.exc.IntegrityError, match="account_fkey"), conn.begin_nested():
        conn.execute(insert, {"c": a, "org": ORG_A, "cur": "USD", "acc": eur, "mem": None})


def test_idempotent_by_key_replay_and_conflict(
    conn: sa.Connection, open_account: OpenAccountFn
) -> None:
    cash = open_account(ORG_A, "cash", "asset")
    req = ledger.CreateCategory(idempotency_key="k1", code="x", currency="USD", normal_side="debit")
    first = ledger.create_category(conn, ORG_A, req)
    again = ledger.create_category(conn, ORG_A, req)
    assert (again.id, again.replayed, first.replayed) == (first.id, True, False)
    with pytest.raises(ledger.IdempotencyConflict), conn.begin_nested():
        ledger.create_category(
            conn,
            ORG_A,
            ledger.CreateCategory(
                idempotency_key="k1", code="y", currency="USD", normal_side="debit"
            ),
        )
    add = _add(conn, ORG_A, first.id, "m", accounts=(cash,))
    assert _add(conn, ORG_A, first.id, "m", accounts=(cash,)).replayed
    assert not add.replayed
    # the same key for another kind of write is a conflict too
    with pytest.raises(ledger.IdempotencyConflict), conn.begin_nested():
        ledger.remove_category_members(
            conn,
            ORG_A,
            ledger.CategoryMembers(idempotency_key="m", category_id=first.id, account_ids=(cash,)),
        )
    ledger.remove_category_members(
        conn,
        ORG_A,
        ledger.CategoryMembers(idempotency_key="rm", category_id=first.id, account_ids=(cash,)),
    )
    assert ledger.get_category(conn, first.id).account_ids == ()


@contextmanager
def as_org(conn: sa.Connection, org: uuid.UUID) -> Iterator[None]:
    """Act as the application's role with `org`'s API key, in a savepoint rolled back after
    (so the role and whatever it wrote end with it)."""
    nested = conn.begin_nested()
    try:
        conn.execute(sa.text("SET LOCAL ROLE liventix_app"))
        present_key(conn, org)
        yield
    finally:
        nested.rollback()


def test_an_organization_sees_and_groups_only_its_own(
    conn: sa.Connection, open_account: OpenAccountFn
) -> None:
    theirs = open_account(ORG_B, "cash", "asset")
    mine = _create(conn, ORG_A, "mine")
    with pytest.raises(ledger.AccountNotFound), conn.begin_nested():
        _add(conn, ORG_A, mine, "steal", accounts=(theirs,))
    b_cat = _create(conn, ORG_B, "theirs")
    with pytest.raises(ledger.CategoryNotFound), as_org(conn, ORG_B):
        ledger.get_category(conn, mine)
    with as_org(conn, ORG_B):
        assert [c.id for c in ledger.list_categories(conn)[0]] == [b_cat]
    with pytest.raises(ledger.OrganizationNotFound), as_org(conn, ORG_B):
        _create(conn, ORG_A, "forged")
    with pytest.raises(ledger.CategoryNotFound), as_org(conn, ORG_B):
        _add(conn, ORG_B, mine, "into-mine", accounts=(theirs,))
    with as_org(conn, ORG_B):
        _add(conn, ORG_B, b_cat, "own", accounts=(theirs,))
        assert ledger.get_category(conn, b_cat).account_ids == (theirs,)


def test_list_pages_with_balances(conn: sa.Connection, open_account: OpenAccountFn) -> None:
    created = {_create(conn, ORG_A, f"c{i}") for i in range(3)}
    # one transaction: one created_at, so the ids break the tie
    whole, more = ledger.list_categories(conn, ORG_A, limit=3)
    ids = [c.id for c in whole]
    assert set(ids) == created and not more
    page, more = ledger.list_categories(conn, ORG_A, limit=2)
    assert [c.id for c in page] == ids[:2] and more
    page, more = ledger.list_categories(conn, ORG_A, limit=2, starting_after=ids[1])
    assert [c.id for c in page] == ids[2:] and not more
    assert all(c.balance.posted == 0 for c in page)

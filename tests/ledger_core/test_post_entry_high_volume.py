"""The single posting's usual way (`payments.post_entry`, 3a) takes a sale with its fee: two
regular accounts, each on one line, and high-volume accounts (the platform's fee revenue),
read, not locked, judged as the set-based way judges them. Whatever does not fit goes the long
way (`payments.ledger_write`), nothing moved, with the same refusals as before."""

from __future__ import annotations

import itertools
import uuid

import pytest
import sqlalchemy as sa

import ledger
from tests.ledger_core.conftest import ORG_A, ORG_B, PLATFORM, OpenAccountFn

_LONG_WAY = (
    "SELECT coalesce(pg_stat_get_xact_function_calls("
    "'payments.ledger_write(jsonb)'::regprocedure), 0)"
)


def sale(
    key: str,
    cash: uuid.UUID,
    sales: uuid.UUID,
    fees: uuid.UUID,
    order: tuple[int, ...],
    *,
    amount: int = 100,
    fee: int = 5,
) -> ledger.PostEntry:
    """Cash debited `amount`, sales credited the rest, fees credited `fee`, in `order`."""
    lines = [
        ledger.Line(cash, "debit", amount, "USD"),
        ledger.Line(sales, "credit", amount - fee, "USD"),
        ledger.Line(fees, "credit", fee, "USD"),
    ]
    return ledger.PostEntry(key, [lines[i] for i in order])


def post_counting(engine: sa.Engine, request: ledger.PostEntry) -> tuple[object, int]:
    """Post in a transaction; the result (or the error raised) and how many times the long
    way was taken (-1: an invalid request, raised by the database, which ends the
    transaction; only the long way raises those)."""
    with engine.connect() as conn:
        conn.execute(sa.text("SET LOCAL track_functions = 'pl'"))
        # The transaction's counters also hold calls of the connection's earlier
        # transactions not yet flushed (statistics are flushed at most once a second): the
        # difference counts this one's.
        before = int(conn.execute(sa.text(_LONG_WAY)).scalar_one())
        try:
            outcome: object = ledger.post_entry(conn, ORG_A, request)
        except ledger.InvalidRequest as exc:  # raised in the database: the transaction failed
            conn.rollback()
            return exc, -1
        except ledger.LedgerError as exc:
            outcome = exc
        calls = int(conn.execute(sa.text(_LONG_WAY)).scalar_one()) - before
        conn.commit()
    return outcome, calls


@pytest.fixture
def accounts(open_account: OpenAccountFn) -> dict[str, uuid.UUID]:
    return {
        "cash": open_account(ORG_A, "cash", "asset"),
        "sales": open_account(ORG_A, "sales", "revenue"),
        "wallet": open_account(ORG_A, "wallet", "liability", debits_must_not_exceed_credits=True),
        "fees": open_account(PLATFORM, "fees", "revenue", high_volume=True),
        "fees2": open_account(PLATFORM, "fees2", "revenue", high_volume=True),
        "closed_fees": open_account(PLATFORM, "closed-fees", "revenue", high_volume=True),
        "euro_fees": open_account(PLATFORM, "euro-fees", "revenue", "EUR", high_volume=True),
        "a_fees": open_account(ORG_A, "a-fees", "revenue", high_volume=True),
    }


def _lines(engine: sa.Engine, entry: uuid.UUID) -> list[tuple[object, ...]]:
    with engine.connect() as conn:
        return [
            tuple(r)
            for r in conn.execute(
                sa.text(
                    "SELECT account_id, side, amount, account_version, account_posted_debits,"
                    " account_posted_credits, org_id FROM payments.lines WHERE entry_id = :e"
                    " ORDER BY id"
                ),
                {"e": entry},
            )
        ]


@pytest.mark.parametrize("order", list(itertools.permutations(range(3))))
def test_a_sale_with_its_fee_takes_the_usual_way(
    engine: sa.Engine, accounts: dict[str, uuid.UUID], order: tuple[int, ...]
) -> None:
    """Whatever the lines' order: posted without the long way, the lines in request order,
    the regular accounts' lines positioned, the fee's not (until the roll-up), balances
    exact."""
    a = accounts
    request = sale("s1", a["cash"], a["sales"], a["fees"], order)
    result, long_way = post_counting(engine, request)
    assert isinstance(result, ledger.WriteResult)
    assert long_way == 0
    expected = {
        a["cash"]: ("debit", 100, 1, 100, 0, ORG_A),
        a["sales"]: ("credit", 95, 1, 0, 95, ORG_A),
        a["fees"]: ("credit", 5, None, None, None, PLATFORM),
    }
    assert _lines(engine, result.id) == [
        (line.account_id, *expected[line.account_id]) for line in request.lines
    ]
    with engine.connect() as conn:
        assert ledger.balance(conn, a["fees"]).posted_credits == 5
        assert ledger.balance(conn, a["cash"]).posted_debits == 100
        assert ledger.balance(conn, a["sales"]).version == 1
    # A replay answers the first result, nothing moved.
    again, _ = post_counting(engine, request)
    assert again == ledger.WriteResult(id=result.id, replayed=True)
    with engine.connect() as conn:
        assert ledger.balance(conn, a["cash"]).version == 1


def test_two_fee_accounts(engine: sa.Engine, accounts: dict[str, uuid.UUID]) -> None:
    """Two regular accounts and two high-volume ones, four lines: the usual way."""
    a = accounts
    request = ledger.PostEntry(
        "s2",
        [
            ledger.Line(a["fees2"], "credit", 3, "USD"),
            ledger.Line(a["cash"], "debit", 100, "USD"),
            ledger.Line(a["sales"], "credit", 90, "USD"),
            ledger.Line(a["fees"], "credit", 7, "USD"),
        ],
    )
    result, long_way = post_counting(engine, request)
    assert isinstance(result, ledger.WriteResult)
    assert long_way == 0
    assert [line[3] for line in _lines(engine, result.id)] == [None, 1, 1, None]


@pytest.mark.parametrize(
    ("fee_account", "error", "long_way_calls"),
    [
        ("closed_fees", ledger.AccountClosed, 1),
        ("euro_fees", ledger.CurrencyMismatch, -1),
    ],
)
def test_a_fee_account_that_cannot_take_it_goes_the_long_way(
    engine: sa.Engine,
    accounts: dict[str, uuid.UUID],
    fee_account: str,
    error: type,
    long_way_calls: int,
) -> None:
    """A closed or other-currency fee account: nothing moved here, the long way refuses it
    as it did, typed, and the refusal is remembered under the key."""
    a = accounts
    with engine.begin() as conn:
        if fee_account == "closed_fees":
            ledger.close_account(conn, PLATFORM, ledger.CloseAccount("close", a["closed_fees"]))
    request = sale("s3", a["cash"], a["sales"], a[fee_account], (0, 1, 2))
    outcome, long_way = post_counting(engine, request)
    assert isinstance(outcome, error)
    assert long_way == long_way_calls
    with engine.connect() as conn:
        assert ledger.balance(conn, a["cash"]).version == 0
        assert ledger.balance(conn, a["sales"]).version == 0
    again, _ = post_counting(engine, request)
    assert isinstance(again, error)


def test_an_overdraft_beside_a_fee_is_refused(
    engine: sa.Engine, accounts: dict[str, uuid.UUID]
) -> None:
    """The wallet may not go below zero: refused (InsufficientFunds) the long way, the
    wallet, the other account and the fee untouched."""
    a = accounts
    request = ledger.PostEntry(
        "s4",
        [
            ledger.Line(a["wallet"], "debit", 100, "USD"),
            ledger.Line(a["sales"], "credit", 95, "USD"),
            ledger.Line(a["fees"], "credit", 5, "USD"),
        ],
    )
    outcome, long_way = post_counting(engine, request)
    assert isinstance(outcome, ledger.InsufficientFunds)
    assert long_way == 1
    with engine.connect() as conn:
        assert ledger.balance(conn, a["fees"]).posted_credits == 0
        assert ledger.balance(conn, a["wallet"]).version == 0


def test_a_large_fee_goes_the_long_way_and_posts(
    engine: sa.Engine, accounts: dict[str, uuid.UUID]
) -> None:
    """A fee line of 2**40 or more (the high-volume overflow hint) is judged the long way,
    which posts it."""
    a = accounts
    big = 2**40
    request = sale("s5", a["cash"], a["sales"], a["fees"], (0, 1, 2), amount=2 * big, fee=big)
    result, long_way = post_counting(engine, request)
    assert isinstance(result, ledger.WriteResult)
    assert long_way == 1
    with engine.connect() as conn:
        assert ledger.balance(conn, a["fees"]).posted_credits == big


def test_three_regular_accounts_go_the_set_based_way(
    engine: sa.Engine, accounts: dict[str, uuid.UUID], open_account: OpenAccountFn
) -> None:
    """Three regular accounts (not the usual entry): posted by the set-based statements, no
    long way, each line positioned."""
    a = accounts
    other = open_account(ORG_A, "other", "revenue")
    request = ledger.PostEntry(
        "s6",
        [
            ledger.Line(a["cash"], "debit", 100, "USD"),
            ledger.Line(a["sales"], "credit", 60, "USD"),
            ledger.Line(other, "credit", 40, "USD"),
        ],
    )
    result, long_way = post_counting(engine, request)
    assert isinstance(result, ledger.WriteResult)
    assert long_way == 0
    assert [line[3] for line in _lines(engine, result.id)] == [1, 1, 1]


def test_an_organizations_own_high_volume_account(
    engine: sa.Engine, accounts: dict[str, uuid.UUID]
) -> None:
    """A high-volume account of the organization itself takes the usual way too."""
    a = accounts
    request = sale("s7", a["cash"], a["sales"], a["a_fees"], (2, 0, 1))
    result, long_way = post_counting(engine, request)
    assert isinstance(result, ledger.WriteResult)
    assert long_way == 0
    assert _lines(engine, result.id)[0] == (a["a_fees"], "credit", 5, None, None, None, ORG_A)


def _hint(engine: sa.Engine, account: uuid.UUID) -> bool:
    with engine.connect() as conn:
        return bool(
            conn.execute(
                sa.text("SELECT large_unrolled FROM payments.accounts WHERE id = :a"),
                {"a": account},
            ).scalar_one()
        )


def test_a_large_line_of_another_organization_sends_the_fee_the_long_way_until_rolled_up(
    engine: sa.Engine, accounts: dict[str, uuid.UUID], open_account: OpenAccountFn
) -> None:
    """The overflow hint is read on the high-volume account's own row (pinned to its
    organization), not from its lines: a fee line of 2**40 or more in another organization's
    entry, not yet rolled up, raises it, and this organization's small sale on the same fee
    account goes the long way (which posts it); the roll-up lowers it, and the usual way
    takes the next sale."""
    a = accounts
    big = 2**40
    b_cash = open_account(ORG_B, "b-cash", "asset")
    b_sales = open_account(ORG_B, "b-sales", "revenue")
    assert not _hint(engine, a["fees"])
    with engine.begin() as conn:
        ledger.post_entry(
            conn, ORG_B, sale("b1", b_cash, b_sales, a["fees"], (0, 1, 2), amount=2 * big, fee=big)
        )
    assert _hint(engine, a["fees"])
    assert not _hint(engine, a["fees2"])
    small = sale("s8", a["cash"], a["sales"], a["fees"], (0, 1, 2))
    result, long_way = post_counting(engine, small)
    assert isinstance(result, ledger.WriteResult)
    assert long_way == 1
    with engine.begin() as conn:
        assert ledger.roll_up(conn) >= 2
    assert not _hint(engine, a["fees"])
    small = sale("s9", a["cash"], a["sales"], a["fees"], (1, 2, 0))
    result, long_way = post_counting(engine, small)
    assert isinstance(result, ledger.WriteResult)
    assert long_way == 0
    with engine.connect() as conn:
        assert ledger.balance(conn, a["fees"]).posted_credits == big + 10

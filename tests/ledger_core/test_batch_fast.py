"""The batch's fast door (`payments.post_batch_fast`) gives exactly what the long door
(`payments.post_batch`) gives: the same results, refusals and balances for the same batches,
whichever door took them; it takes a batch only when everything in it posts, and a batch it
declines is judged the long way with nothing of the attempt left."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import ledger
from liventix.testing.rollback import RolledBack, Transactions
from tests.ledger_core.conftest import ORG_A, PLATFORM, Doors, OpenAccountFn, transfer

NAMES = ("cash", "sales", "wallet", "closed", "euro", "fees")


def _book(db: Transactions, open_account: OpenAccountFn, tag: str) -> dict[str, uuid.UUID]:
    book = {
        "cash": open_account(ORG_A, f"cash-{tag}", "asset"),
        "sales": open_account(ORG_A, f"sales-{tag}", "revenue"),
        "wallet": open_account(
            ORG_A, f"wallet-{tag}", "liability", debits_must_not_exceed_credits=True
        ),
        "closed": open_account(ORG_A, f"closed-{tag}", "asset"),
        "euro": open_account(ORG_A, f"euro-{tag}", "asset", currency="EUR"),
        "fees": open_account(PLATFORM, f"fees-{tag}", "revenue", high_volume=True),
    }
    with db.begin() as conn:
        ledger.close_account(conn, ORG_A, ledger.CloseAccount(f"close-{tag}", book["closed"]))
    return book


def _outcome(results: list[ledger.BatchResult]) -> list[tuple[str, str | None, bool]]:
    return [(r.status, type(r.error).__name__ if r.error else None, r.replayed) for r in results]


def _state(db: Transactions, book: dict[str, uuid.UUID]) -> dict[str, tuple[int, ...]]:
    with db.connect() as conn:
        out: dict[str, tuple[int, ...]] = {}
        for name, account in book.items():
            b = ledger.balance(conn, account)
            lines = conn.execute(
                sa.text("SELECT count(*) FROM payments.lines WHERE account_id = :a"),
                {"a": account},
            ).scalar_one()
            out[name] = (b.posted_debits, b.posted_credits, b.version or 0, lines)
    return out


_REQUEST = st.tuples(
    st.sampled_from(NAMES),
    st.sampled_from(NAMES),
    st.integers(min_value=1, max_value=300),
    st.booleans(),  # linked to the next
    st.integers(min_value=0, max_value=5),  # which earlier key it may reuse (0: a new one)
)


@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(batches_=st.lists(st.lists(_REQUEST, min_size=1, max_size=6), min_size=1, max_size=4))
def test_both_doors_give_the_same_results(
    transactions: RolledBack, open_account: OpenAccountFn, doors: Doors, batches_: list[Any]
) -> None:
    tag = uuid.uuid4().hex[:8]
    fast_book = _book(transactions, open_account, f"f{tag}")
    long_book = _book(transactions, open_account, f"l{tag}")
    fast = _play(transactions, fast_book, batches_, f"f{tag}")
    doors.long_only = True
    try:
        assert _play(transactions, long_book, batches_, f"l{tag}") == fast
    finally:
        doors.long_only = False
    assert _state(transactions, long_book) == _state(transactions, fast_book)


def _play(
    db: Transactions, book: dict[str, uuid.UUID], batches_: list[Any], prefix: str
) -> list[list[tuple[str, str | None, bool]]]:
    """Post the batches (each in its own transaction) on this book; their outcomes."""
    outcomes = []
    for b, batch in enumerate(batches_):
        requests, links = [], []
        for i, (debit, credit, amount, linked, reuse) in enumerate(batch):
            key = f"{prefix}-{b if reuse == 0 or b == 0 else reuse % b}-{i}"
            requests.append(transfer(key, book[debit], book[credit], amount))
            links.append(linked)
        links[-1] = False
        try:
            with db.begin() as conn:
                outcomes.append(_outcome(ledger.post_batch(conn, ORG_A, requests, links=links)))
        except ledger.LedgerError as exc:  # the whole call refused (an invalid request)
            outcomes.append([(type(exc).__name__, None, False)])
    return outcomes


def test_a_plain_batch_takes_the_fast_door_and_replays_the_long_way(
    db: RolledBack, open_account: OpenAccountFn, doors: Doors
) -> None:
    cash = open_account(ORG_A, "cash", "asset")
    sales = open_account(ORG_A, "sales", "revenue")
    batch = [transfer(f"k{i}", cash, sales, 10 + i, description=f"d{i}") for i in range(50)]
    with db.begin() as conn:
        first = ledger.post_batch(conn, ORG_A, batch, links=[True] * 49 + [False])
    assert doors.fast_taken == 1
    assert all(r.status == "posted" for r in first)
    with db.begin() as conn:
        again = ledger.post_batch(conn, ORG_A, batch)
        single = ledger.post_entry(conn, ORG_A, batch[7])
    assert doors.fast_taken == 1  # a replay goes the long way
    assert [r.id for r in again] == [r.id for r in first] and all(r.replayed for r in again)
    assert single.replayed and single.id == first[7].id  # the fingerprint is the same
    with db.connect() as conn:
        entry = ledger.get_entry(conn, uuid.UUID(str(first[3].id)))
        assert (entry.description, [x.amount for x in entry.lines]) == ("d3", [13, 13])
        assert [x.account_version for x in entry.lines] == [4, 4]
        assert ledger.balance(conn, cash).posted == sum(10 + i for i in range(50))
        assert ledger.balance(conn, cash).version == 50


def test_an_overdraft_in_the_middle_is_judged_entry_by_entry(
    db: RolledBack, open_account: OpenAccountFn, doors: Doors
) -> None:
    """The wallet ends the batch in funds, but the second entry would overdraw it where it
    leaves it: the fast door declines and the long door refuses that entry alone."""
    cash = open_account(ORG_A, "cash", "asset")
    wallet = open_account(ORG_A, "wallet", "liability", debits_must_not_exceed_credits=True)
    batch = [
        transfer("fund", cash, wallet, 10),
        transfer("spend", wallet, cash, 15),
        transfer("refill", cash, wallet, 100),
    ]
    with db.begin() as conn:
        results = ledger.post_batch(conn, ORG_A, batch)
    assert doors.fast_taken == 0
    assert [r.status for r in results] == ["posted", "refused", "posted"]
    assert isinstance(results[1].error, ledger.InsufficientFunds)
    with db.connect() as conn:
        assert ledger.balance(conn, wallet).posted == 110
        assert ledger.balance(conn, wallet).version == 2


def test_the_fast_door_checks_who_acts_and_malformed_arrays(
    db: RolledBack, open_account: OpenAccountFn
) -> None:
    """Raw calls of the door: another organization's accounts, unbalanced or ragged arrays
    are declined (NULL), never posted; an unknown organization is refused."""
    cash = open_account(ORG_A, "cash", "asset")
    sales = open_account(ORG_A, "sales", "revenue")
    call = sa.text(
        "SELECT payments.post_batch_fast(:org, :keys, :hashes, :descr, CAST(:meta AS jsonb[]),"
        " CAST(:eff AS timestamptz[]), :refs, :entry_of, :accounts, :sides, :amounts, :curr)"
    )
    good: dict[str, Any] = {
        "org": ORG_A,
        "keys": ["a"],
        "hashes": ["h"],
        "descr": [""],
        "meta": [None],
        "eff": [None],
        "refs": [None],
        "entry_of": [1, 1],
        "accounts": [cash, sales],
        "sides": ["debit", "credit"],
        "amounts": [5, 5],
        "curr": ["USD", "USD"],
    }
    bad: list[dict[str, Any]] = [
        {"amounts": [5, 4]},  # unbalanced
        {"entry_of": [1, 2]},  # two entries of one line each
        {"hashes": ["h", "h"]},  # ragged
        {"curr": ["EUR", "EUR"]},  # not the accounts' currency
        {"org": uuid.UUID("00000000-0000-0000-0000-00000000000b")},  # not its accounts
        {"amounts": [-5, -5]},
        # a third line with a side that is neither, or no amount: sums skip NULLs
        {
            "entry_of": [1, 1, 1],
            "accounts": [cash, sales, sales],
            "sides": ["debit", "credit", "x"],
            "amounts": [5, 5, 7],
            "curr": ["USD"] * 3,
        },
        {
            "entry_of": [1, 1, 1],
            "accounts": [cash, sales, sales],
            "sides": ["debit", "credit", "debit"],
            "amounts": [5, 5, None],
            "curr": ["USD"] * 3,
        },
    ]
    with db.begin() as conn:
        for change in bad:
            assert conn.execute(call, {**good, **change}).scalar_one() is None, change
        assert conn.execute(sa.text("SELECT count(*) FROM payments.entries")).scalar_one() == 0
        with pytest.raises(ledger.OrganizationNotFound), ledger.translated_errors():
            conn.execute(call, {**good, "org": uuid.uuid4()})
    with db.begin() as conn:
        (ids,) = conn.execute(call, good).one()
        assert len(ids) == 1
        assert ledger.get_entry(conn, ids[0]).lines[0].amount == 5


def test_post_entries_takes_the_fast_door_all_or_nothing(
    db: RolledBack, open_account: OpenAccountFn, doors: Doors
) -> None:
    cash = open_account(ORG_A, "cash", "asset")
    wallet = open_account(ORG_A, "wallet", "liability", debits_must_not_exceed_credits=True)
    batch = [transfer(f"e{i}", cash, wallet, 5) for i in range(20)]
    with db.begin() as conn:
        first = ledger.post_entries(conn, ORG_A, batch)
    assert doors.fast_taken == 1 and not any(r.replayed for r in first)
    with db.begin() as conn:
        again = ledger.post_entries(conn, ORG_A, batch)
    assert doors.fast_taken == 1  # the replay went the long way
    assert [r.id for r in again] == [r.id for r in first] and all(r.replayed for r in again)
    overdraws = [transfer("ok", wallet, cash, 60), transfer("too-much", wallet, cash, 60)]
    with pytest.raises(ledger.InsufficientFunds), db.begin() as conn:
        ledger.post_entries(conn, ORG_A, overdraws)
    assert doors.fast_taken == 1
    with db.connect() as conn:
        assert ledger.balance(conn, wallet).posted == 100  # nothing of the refused batch
        assert ledger.entry_by_key(conn, ORG_A, "ok") is None


def test_the_fast_door_never_locks_another_organizations_accounts(
    engine: sa.Engine, open_account: OpenAccountFn
) -> None:
    """Declined for naming another organization's accounts, the door has locked none of them:
    its NULL leaves the caller's transaction open, and the owner's rights bypass row-level
    security, so a lock taken there would stall the other organization's postings."""
    cash = open_account(ORG_A, "cash", "asset")
    sales = open_account(ORG_A, "sales", "revenue")
    other = uuid.UUID("00000000-0000-0000-0000-00000000000b")
    call = sa.text(
        "SELECT payments.post_batch_fast(:org, ARRAY['k'], ARRAY['h'], ARRAY[''],"
        " CAST(ARRAY[NULL] AS jsonb[]), CAST(ARRAY[NULL] AS timestamptz[]),"
        " CAST(ARRAY[NULL] AS text[]), ARRAY[1, 1], :accounts, ARRAY['debit', 'credit'],"
        " CAST(ARRAY[5, 5] AS bigint[]), ARRAY['USD', 'USD'])"
    )
    with engine.connect() as caller, engine.connect() as owner, caller.begin():
        assert caller.execute(call, {"org": other, "accounts": [cash, sales]}).scalar() is None
        with owner.begin():
            owner.execute(sa.text("SET LOCAL lock_timeout = '2s'"))
            locked = owner.execute(
                sa.text("SELECT id FROM payments.accounts WHERE id = ANY(:ids) FOR UPDATE NOWAIT"),
                {"ids": [cash, sales]},
            ).all()
            assert len(locked) == 2  # NOWAIT: a lock held by the caller raises instead

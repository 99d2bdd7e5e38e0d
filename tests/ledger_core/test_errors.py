"""Every typed ledger error: its class, the ids and values it carries, and that a refused
request leaves no trace (no entry, line, hold or resolution, no key, balances unchanged).

A refusal that depends on the ledger's state is remembered under its idempotency key once the
caller's transaction commits (TigerBeetle's `id_already_failed`): the test that commits its own
connection, and the one that waits for the database's clock to pass a hold's expiry, run on the
committing tier (`engine`); every other test on the rolled-back tier (`db`, tests/conftest.py).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from fractions import Fraction
from typing import Any, TypeVar, cast

import pytest
import sqlalchemy as sa

import ledger
from liventix.testing.rollback import RolledBack, Transactions
from tests.ledger_core.conftest import ORG_A, ORG_B, PLATFORM, OpenAccountFn, transfer

E = TypeVar("E", bound=ledger.LedgerError)

COUNTED_TABLES = ("entries", "lines", "holds", "hold_resolutions", "idempotency_keys")


@dataclass(frozen=True)
class State:
    """Row counts of the ledger's append-only tables and every account's balance columns."""

    counts: dict[str, int]
    accounts: tuple[tuple[Any, ...], ...]


def snapshot(db: Transactions) -> State:
    """The ledger's state, read by the superuser (row-level security does not hide rows)."""
    with db.connect() as conn:
        counts = {
            t: int(conn.execute(sa.text(f"SELECT count(*) FROM payments.{t}")).scalar_one())
            for t in COUNTED_TABLES
        }
        rows = conn.execute(
            sa.text(
                "SELECT id, posted_debits, posted_credits, pending_debits, pending_credits,"
                " version, closed FROM payments.accounts ORDER BY id"
            )
        ).all()
    return State(counts=counts, accounts=tuple(tuple(r) for r in rows))


def refused(db: Transactions, error: type[E], write: Callable[[sa.Connection], object]) -> E:
    """Run `write` in a unit of work; assert it raises exactly `error` and wrote nothing."""
    before = snapshot(db)
    with pytest.raises(error) as info, db.begin() as conn:
        write(conn)
    assert type(info.value) is error
    assert snapshot(db) == before
    return info.value


def db_moment_from_now(db: Transactions, milliseconds: int) -> datetime:
    """The database clock plus `milliseconds`."""
    with db.connect() as conn:
        moment: datetime = conn.execute(
            sa.text("SELECT clock_timestamp() + make_interval(secs => :ms / 1000.0)"),
            {"ms": milliseconds},
        ).scalar_one()
    return moment


def wait_until_past(db: Transactions, moment: datetime) -> None:
    """Sleep until the database clock is past `moment`."""
    with db.connect() as conn:
        while conn.execute(sa.text("SELECT clock_timestamp() <= :t"), {"t": moment}).scalar_one():
            time.sleep(0.02)


@dataclass(frozen=True)
class Books:
    """Accounts of organization A (and one each of B and the platform), funded."""

    funding: uuid.UUID  # A, equity, no flag
    wallet: uuid.UUID  # A, liability, debits must not exceed credits; 1_000 available
    merchant: uuid.UUID  # A, liability, no flag
    card: uuid.UUID  # A, asset, credits must not exceed debits; 1_000 available
    b_cash: uuid.UUID  # B, asset
    fees: uuid.UUID  # platform, revenue


@pytest.fixture
def books(transactions: Transactions, open_account: OpenAccountFn) -> Books:
    """Organization A's accounts with the wallet and the card funded with 1_000 each."""
    b = Books(
        funding=open_account(ORG_A, "funding", "equity"),
        wallet=open_account(ORG_A, "wallet", "liability", debits_must_not_exceed_credits=True),
        merchant=open_account(ORG_A, "merchant", "liability"),
        card=open_account(ORG_A, "card", "asset", credits_must_not_exceed_debits=True),
        b_cash=open_account(ORG_B, "cash", "asset"),
        fees=open_account(PLATFORM, "fees", "revenue"),
    )
    with transactions.begin() as conn:
        ledger.post_entry(conn, ORG_A, transfer("fund-wallet", b.funding, b.wallet, 1_000))
        ledger.post_entry(conn, ORG_A, transfer("fund-card", b.card, b.funding, 1_000))
    return b


def posted(db: Transactions, account: uuid.UUID) -> int:
    """The account's posted balance on its normal side."""
    with db.connect() as conn:
        return ledger.balance(conn, account).posted


def available(db: Transactions, account: uuid.UUID) -> int:
    """The account's available balance on its normal side."""
    with db.connect() as conn:
        return ledger.balance(conn, account).available


def make_hold(
    db: Transactions,
    key: str,
    debit: uuid.UUID,
    credit: uuid.UUID,
    amount: int,
    *,
    expires_at: datetime | None = None,
) -> uuid.UUID:
    """Create a hold for organization A (committed) and return its id."""
    with db.begin() as conn:
        return ledger.create_hold(
            conn, ORG_A, ledger.CreateHold(key, debit, credit, amount, "USD", expires_at)
        ).id


# --- malformed requests: refused before any I/O -----------------------------------------------


def test_unbalanced_entry_names_the_currency_and_both_sums(db: RolledBack, books: Books) -> None:
    request = ledger.PostEntry(
        idempotency_key="unbalanced",
        lines=[
            ledger.Line(books.card, "debit", 100, "USD"),
            ledger.Line(books.merchant, "credit", 100, "USD"),
            ledger.Line(books.card, "debit", 70, "EUR"),
            ledger.Line(books.merchant, "credit", 30, "EUR"),
            ledger.Line(books.merchant, "credit", 25, "EUR"),
        ],
    )
    err = refused(db, ledger.UnbalancedEntry, lambda c: ledger.post_entry(c, ORG_A, request))
    assert (err.currency, err.debits, err.credits) == ("EUR", 70, 55)


@pytest.mark.parametrize("n_lines", [0, 1])
def test_too_few_lines(db: RolledBack, books: Books, n_lines: int) -> None:
    lines = [ledger.Line(books.card, "debit", 100, "USD")][:n_lines]
    request = ledger.PostEntry(idempotency_key="short", lines=lines)
    err = refused(db, ledger.TooFewLines, lambda c: ledger.post_entry(c, ORG_A, request))
    assert err.count == n_lines


@pytest.mark.parametrize("currency", ["XYZ", "usd", "", "EURO"])
def test_unknown_currency_on_a_line(db: RolledBack, books: Books, currency: str) -> None:
    request = transfer("bad-ccy", books.card, books.merchant, 100, currency)
    err = refused(db, ledger.UnknownCurrency, lambda c: ledger.post_entry(c, ORG_A, request))
    assert err.currency == currency


def test_unknown_currency_on_an_account_and_a_hold(db: RolledBack, books: Books) -> None:
    account = ledger.OpenAccount("open-xyz", "xyz", "asset", "XYZ")
    err = refused(db, ledger.UnknownCurrency, lambda c: ledger.open_account(c, ORG_A, account))
    assert err.currency == "XYZ"
    hold = ledger.CreateHold("hold-xyz", books.wallet, books.merchant, 10, "ABC")
    err = refused(db, ledger.UnknownCurrency, lambda c: ledger.create_hold(c, ORG_A, hold))
    assert err.currency == "ABC"


BAD_AMOUNTS: list[object] = [
    0,
    -1,
    -(2**63),
    1.5,
    100.0,
    Decimal("1.5"),
    Decimal("100"),
    Fraction(3, 2),
    Fraction(100, 1),
    True,
    2**63,
    2**64 + 1,
]


@pytest.mark.parametrize("amount", BAD_AMOUNTS, ids=repr)
def test_invalid_amount_on_a_line(db: RolledBack, books: Books, amount: object) -> None:
    request = transfer("bad-amount", books.card, books.merchant, cast(int, amount))
    err = refused(db, ledger.InvalidAmount, lambda c: ledger.post_entry(c, ORG_A, request))
    assert type(err.value) is type(amount)
    assert err.value == amount
    assert err.field == "amount"


@pytest.mark.parametrize("amount", [0, -5, 2**63, 2.5, False], ids=repr)
def test_invalid_amount_on_holds(db: RolledBack, books: Books, amount: object) -> None:
    hold_id = make_hold(db, "h", books.wallet, books.merchant, 100)
    bad = cast(int, amount)
    create = ledger.CreateHold("h-bad", books.wallet, books.merchant, bad, "USD")
    err = refused(db, ledger.InvalidAmount, lambda c: ledger.create_hold(c, ORG_A, create))
    assert (err.value, err.field) == (amount, "amount")
    post = ledger.PostHold("h-post-bad", hold_id, bad)
    err = refused(db, ledger.InvalidAmount, lambda c: ledger.post_hold(c, ORG_A, post))
    assert (err.value, err.field) == (amount, "amount")


@pytest.mark.parametrize("bound", ["gte", "lte", "version"])
def test_invalid_amount_in_a_condition(db: RolledBack, books: Books, bound: str) -> None:
    bounds: dict[str, Any] = {bound: 1.5}
    condition = ledger.Condition(books.card, **bounds)
    request = transfer("cond-bad", books.card, books.merchant, 10, conditions=[condition])
    err = refused(db, ledger.InvalidAmount, lambda c: ledger.post_entry(c, ORG_A, request))
    assert (err.value, err.field) == (1.5, f"conditions.{bound}")


def test_largest_amount_is_accepted_and_one_more_overflows(
    db: RolledBack, open_account: OpenAccountFn
) -> None:
    big = open_account(ORG_A, "big", "asset")
    source = open_account(ORG_A, "source", "equity")
    with db.begin() as conn:
        ledger.post_entry(conn, ORG_A, transfer("max", big, source, ledger.MAX_AMOUNT))
    assert posted(db, big) == 2**63 - 1
    err = refused(
        db,
        ledger.BalanceOverflow,
        lambda c: ledger.post_entry(c, ORG_A, transfer("one-more", big, source, 1)),
    )
    assert err.account_id == str(big)


def test_invalid_condition(db: RolledBack, books: Books, open_account: OpenAccountFn) -> None:
    # a condition on an account that is not in the entry
    request = transfer(
        "cond-elsewhere",
        books.card,
        books.merchant,
        10,
        conditions=[ledger.Condition(books.wallet, gte=0)],
    )
    err = refused(db, ledger.InvalidCondition, lambda c: ledger.post_entry(c, ORG_A, request))
    assert err.account_id == str(books.wallet)
    # a condition with no bound
    request = transfer(
        "cond-empty", books.card, books.merchant, 10, conditions=[ledger.Condition(books.card)]
    )
    err = refused(db, ledger.InvalidCondition, lambda c: ledger.post_entry(c, ORG_A, request))
    assert err.account_id == str(books.card)
    # the database refuses a condition on a high-volume account (no exact version there)
    busy = open_account(ORG_A, "busy", "revenue", high_volume=True)
    request = transfer(
        "cond-hv", books.card, busy, 10, conditions=[ledger.Condition(busy, lte=1_000)]
    )
    err = refused(db, ledger.InvalidCondition, lambda c: ledger.post_entry(c, ORG_A, request))
    assert err.account_id == str(busy)


def test_invalid_account_definitions(db: RolledBack, orgs: None) -> None:
    both_flags = ledger.OpenAccount(
        "open-both",
        "both",
        "asset",
        "USD",
        debits_must_not_exceed_credits=True,
        credits_must_not_exceed_debits=True,
    )
    err = refused(db, ledger.InvalidAccount, lambda c: ledger.open_account(c, ORG_A, both_flags))
    assert err.reason == "an account takes at most one overdraft flag"
    no_code = ledger.OpenAccount("open-empty", "", "asset", "USD")
    refused(db, ledger.InvalidAccount, lambda c: ledger.open_account(c, ORG_A, no_code))


def test_invalid_request_keys(db: RolledBack, books: Books) -> None:
    empty_key = transfer("", books.card, books.merchant, 10)
    refused(db, ledger.InvalidRequest, lambda c: ledger.post_entry(c, ORG_A, empty_key))
    same_keys = [transfer("k", books.card, books.merchant, 10)] * 2
    refused(db, ledger.InvalidRequest, lambda c: ledger.post_entries(c, ORG_A, same_keys))
    refused(db, ledger.InvalidRequest, lambda c: ledger.post_entries(c, ORG_A, []))


# --- accounts, organizations ------------------------------------------------------------------


def test_currency_mismatch_names_the_first_offending_account(
    db: RolledBack, books: Books, open_account: OpenAccountFn
) -> None:
    euros = open_account(ORG_A, "euros", "liability", currency="EUR")
    request = transfer("ccy", books.card, euros, 100, "USD")
    err = refused(db, ledger.CurrencyMismatch, lambda c: ledger.post_entry(c, ORG_A, request))
    assert (err.account_id, err.account_currency, err.line_currency) == (str(euros), "EUR", "USD")
    # every line in EUR: the first line's USD account is named
    request = transfer("ccy-2", books.card, euros, 100, "EUR")
    err = refused(db, ledger.CurrencyMismatch, lambda c: ledger.post_entry(c, ORG_A, request))
    assert (err.account_id, err.account_currency, err.line_currency) == (
        str(books.card),
        "USD",
        "EUR",
    )
    hold = ledger.CreateHold("ccy-hold", books.wallet, books.merchant, 10, "EUR")
    err = refused(db, ledger.CurrencyMismatch, lambda c: ledger.create_hold(c, ORG_A, hold))
    assert (err.account_currency, err.line_currency) == ("USD", "EUR")
    assert err.account_id in {str(books.wallet), str(books.merchant)}


def test_unknown_account(db: RolledBack, books: Books) -> None:
    ghost = uuid.uuid4()
    request = transfer("ghost", books.card, ghost, 100)
    err = refused(db, ledger.AccountNotFound, lambda c: ledger.post_entry(c, ORG_A, request))
    assert err.account_id == str(ghost)
    hold = ledger.CreateHold("ghost-hold", ghost, books.merchant, 10, "USD")
    err = refused(db, ledger.AccountNotFound, lambda c: ledger.create_hold(c, ORG_A, hold))
    assert err.account_id == str(ghost)


def test_closed_account_takes_no_posting_and_no_hold(db: RolledBack, books: Books) -> None:
    with db.begin() as conn:
        ledger.close_account(conn, ORG_A, ledger.CloseAccount("close-merchant", books.merchant))
    request = transfer("to-closed", books.card, books.merchant, 100)
    err = refused(db, ledger.AccountClosed, lambda c: ledger.post_entry(c, ORG_A, request))
    assert err.account_id == str(books.merchant)
    hold = ledger.CreateHold("hold-closed", books.wallet, books.merchant, 10, "USD")
    err = refused(db, ledger.AccountClosed, lambda c: ledger.create_hold(c, ORG_A, hold))
    assert err.account_id == str(books.merchant)
    # the other accounts still work
    with db.begin() as conn:
        ledger.post_entry(conn, ORG_A, transfer("open-ok", books.card, books.wallet, 100))
    assert posted(db, books.wallet) == 1_100


def test_another_organizations_account_is_refused_but_the_platforms_is_not(
    db: RolledBack, books: Books
) -> None:
    request = transfer("cross", books.b_cash, books.merchant, 100)
    err = refused(
        db,
        ledger.AccountOrganizationMismatch,
        lambda c: ledger.post_entry(c, ORG_A, request),
    )
    assert (err.account_id, err.org_id) == (str(books.b_cash), str(ORG_A))
    hold = ledger.CreateHold("cross-hold", books.b_cash, books.merchant, 10, "USD")
    err = refused(
        db, ledger.AccountOrganizationMismatch, lambda c: ledger.create_hold(c, ORG_A, hold)
    )
    assert (err.account_id, err.org_id) == (str(books.b_cash), str(ORG_A))
    close = ledger.CloseAccount("cross-close", books.b_cash)
    err = refused(
        db, ledger.AccountOrganizationMismatch, lambda c: ledger.close_account(c, ORG_A, close)
    )
    assert (err.account_id, err.org_id) == (str(books.b_cash), str(ORG_A))
    with db.begin() as conn:
        ledger.post_entry(conn, ORG_A, transfer("fee", books.card, books.fees, 50))
    assert posted(db, books.fees) == 50


def test_organization_not_found(db: RolledBack, books: Books) -> None:
    nobody = uuid.uuid4()
    request = transfer("nobody", books.card, books.merchant, 100)
    err = refused(db, ledger.OrganizationNotFound, lambda c: ledger.post_entry(c, nobody, request))
    assert err.org_id == str(nobody)
    account = ledger.OpenAccount("open-nobody", "cash", "asset", "USD")
    err = refused(
        db, ledger.OrganizationNotFound, lambda c: ledger.open_account(c, nobody, account)
    )
    assert err.org_id == str(nobody)


def test_duplicate_account_code(db: RolledBack, books: Books) -> None:
    again = ledger.OpenAccount("open-wallet-again", "wallet", "liability", "USD")
    err = refused(db, ledger.DuplicateAccountCode, lambda c: ledger.open_account(c, ORG_A, again))
    assert (err.org_id, err.account_code) == (str(ORG_A), "wallet")
    # the same code in another organization is fine
    with db.begin() as conn:
        ledger.open_account(conn, ORG_B, again)


def test_duplicate_external_reference(db: RolledBack, books: Books) -> None:
    with db.begin() as conn:
        first = ledger.post_entry(
            conn, ORG_A, transfer("ref-1", books.card, books.merchant, 100, external_ref="ch_1")
        )
    request = transfer("ref-2", books.card, books.merchant, 200, external_ref="ch_1")
    err = refused(
        db, ledger.DuplicateExternalReference, lambda c: ledger.post_entry(c, ORG_A, request)
    )
    assert (err.external_ref, err.entry_id) == ("ch_1", str(first.id))
    # inside a batch the whole batch is refused
    batch = [
        transfer("ref-3", books.card, books.merchant, 5, external_ref="ch_3"),
        transfer("ref-4", books.card, books.merchant, 7, external_ref="ch_1"),
    ]
    err = refused(
        db, ledger.DuplicateExternalReference, lambda c: ledger.post_entries(c, ORG_A, batch)
    )
    assert (err.external_ref, err.entry_id) == ("ch_1", str(first.id))


# --- funds ------------------------------------------------------------------------------------


def test_insufficient_funds_debits_must_not_exceed_credits(db: RolledBack, books: Books) -> None:
    request = transfer("overdraw", books.wallet, books.merchant, 1_500)
    err = refused(db, ledger.InsufficientFunds, lambda c: ledger.post_entry(c, ORG_A, request))
    assert (err.account_id, err.currency, err.balance, err.shortfall) == (
        str(books.wallet),
        "USD",
        1_000,
        500,
    )
    # the entry is judged as a whole: a credit in the same entry counts
    request = ledger.PostEntry(
        idempotency_key="overdraw-net",
        lines=[
            ledger.Line(books.wallet, "debit", 1_500, "USD"),
            ledger.Line(books.wallet, "credit", 300, "USD"),
            ledger.Line(books.merchant, "credit", 1_200, "USD"),
        ],
    )
    err = refused(db, ledger.InsufficientFunds, lambda c: ledger.post_entry(c, ORG_A, request))
    assert (err.account_id, err.balance, err.shortfall) == (str(books.wallet), 1_000, 200)
    with db.begin() as conn:
        ledger.post_entry(conn, ORG_A, transfer("exact", books.wallet, books.merchant, 1_000))
    assert posted(db, books.wallet) == 0


def test_insufficient_funds_credits_must_not_exceed_debits(db: RolledBack, books: Books) -> None:
    request = transfer("overcredit", books.merchant, books.card, 1_200)
    err = refused(db, ledger.InsufficientFunds, lambda c: ledger.post_entry(c, ORG_A, request))
    assert (err.account_id, err.currency, err.balance, err.shortfall) == (
        str(books.card),
        "USD",
        1_000,
        200,
    )
    with db.begin() as conn:
        ledger.post_entry(conn, ORG_A, transfer("exact", books.merchant, books.card, 1_000))
    assert posted(db, books.card) == 0


def test_pending_holds_reduce_what_debits_may_take(db: RolledBack, books: Books) -> None:
    make_hold(db, "hold-800", books.wallet, books.merchant, 800)
    assert available(db, books.wallet) == 200
    request = transfer("after-hold", books.wallet, books.merchant, 300)
    err = refused(db, ledger.InsufficientFunds, lambda c: ledger.post_entry(c, ORG_A, request))
    assert (err.account_id, err.balance, err.shortfall) == (str(books.wallet), 200, 100)
    hold = ledger.CreateHold("hold-300", books.wallet, books.merchant, 300, "USD")
    err = refused(db, ledger.InsufficientFunds, lambda c: ledger.create_hold(c, ORG_A, hold))
    assert (err.account_id, err.currency, err.balance, err.shortfall) == (
        str(books.wallet),
        "USD",
        200,
        100,
    )
    with db.begin() as conn:
        ledger.post_entry(conn, ORG_A, transfer("rest", books.wallet, books.merchant, 200))
    assert available(db, books.wallet) == 0


def test_pending_holds_reduce_what_credits_may_take(db: RolledBack, books: Books) -> None:
    make_hold(db, "hold-700", books.merchant, books.card, 700)
    assert available(db, books.card) == 300
    request = transfer("after-hold", books.merchant, books.card, 500)
    err = refused(db, ledger.InsufficientFunds, lambda c: ledger.post_entry(c, ORG_A, request))
    assert (err.account_id, err.balance, err.shortfall) == (str(books.card), 300, 200)
    hold = ledger.CreateHold("hold-301", books.merchant, books.card, 301, "USD")
    err = refused(db, ledger.InsufficientFunds, lambda c: ledger.create_hold(c, ORG_A, hold))
    assert (err.account_id, err.balance, err.shortfall) == (str(books.card), 300, 1)
    with db.begin() as conn:
        ledger.post_entry(conn, ORG_A, transfer("rest", books.merchant, books.card, 300))
    assert available(db, books.card) == 0


# --- holds ------------------------------------------------------------------------------------


def test_hold_not_found(db: RolledBack, books: Books) -> None:
    ghost = uuid.uuid4()
    err = refused(
        db,
        ledger.HoldNotFound,
        lambda c: ledger.post_hold(c, ORG_A, ledger.PostHold("post-ghost", ghost)),
    )
    assert err.hold_id == str(ghost)
    err = refused(
        db,
        ledger.HoldNotFound,
        lambda c: ledger.void_hold(c, ORG_A, ledger.VoidHold("void-ghost", ghost)),
    )
    assert err.hold_id == str(ghost)
    # another organization's hold is not found either
    hold_id = make_hold(db, "h", books.wallet, books.merchant, 100)
    err = refused(
        db,
        ledger.HoldNotFound,
        lambda c: ledger.post_hold(c, ORG_B, ledger.PostHold("post-other", hold_id)),
    )
    assert err.hold_id == str(hold_id)


def test_hold_already_posted(db: RolledBack, books: Books) -> None:
    hold_id = make_hold(db, "h", books.wallet, books.merchant, 400)
    with db.begin() as conn:
        ledger.post_hold(conn, ORG_A, ledger.PostHold("h-post", hold_id, 150))
    err = refused(
        db,
        ledger.HoldAlreadyPosted,
        lambda c: ledger.post_hold(c, ORG_A, ledger.PostHold("h-post-2", hold_id)),
    )
    assert (err.hold_id, err.resolution) == (str(hold_id), "posted")
    err = refused(
        db,
        ledger.HoldAlreadyPosted,
        lambda c: ledger.void_hold(c, ORG_A, ledger.VoidHold("h-void", hold_id)),
    )
    assert (err.hold_id, err.resolution) == (str(hold_id), "posted")
    assert (posted(db, books.wallet), available(db, books.wallet)) == (850, 850)


def test_hold_already_voided(db: RolledBack, books: Books) -> None:
    hold_id = make_hold(db, "h", books.wallet, books.merchant, 400)
    with db.begin() as conn:
        ledger.void_hold(conn, ORG_A, ledger.VoidHold("h-void", hold_id))
    err = refused(
        db,
        ledger.HoldAlreadyVoided,
        lambda c: ledger.post_hold(c, ORG_A, ledger.PostHold("h-post", hold_id)),
    )
    assert (err.hold_id, err.resolution) == (str(hold_id), "voided")
    err = refused(
        db,
        ledger.HoldAlreadyVoided,
        lambda c: ledger.void_hold(c, ORG_A, ledger.VoidHold("h-void-2", hold_id)),
    )
    assert (err.hold_id, err.resolution) == (str(hold_id), "voided")
    assert (posted(db, books.wallet), available(db, books.wallet)) == (1_000, 1_000)


def test_expired_hold_cannot_be_posted_before_or_after_the_sweep(
    engine: sa.Engine, books: Books
) -> None:
    expires_at = db_moment_from_now(engine, 150)
    hold_id = make_hold(engine, "h", books.wallet, books.merchant, 400, expires_at=expires_at)
    lasting = make_hold(engine, "h-lasting", books.wallet, books.merchant, 100)
    wait_until_past(engine, expires_at)

    # expired but not yet swept
    err = refused(
        engine,
        ledger.HoldExpired,
        lambda c: ledger.post_hold(c, ORG_A, ledger.PostHold("h-post", hold_id)),
    )
    assert err.hold_id == str(hold_id)
    assert datetime.fromisoformat(err.expires_at) == expires_at
    assert available(engine, books.wallet) == 500

    with engine.begin() as conn:
        assert ledger.expire_holds(conn) == 1
        assert ledger.get_hold(conn, hold_id).status == "expired"
        assert ledger.get_hold(conn, lasting).status == "open"
    assert available(engine, books.wallet) == 900

    gone = refused(
        engine,
        ledger.HoldAlreadyExpired,
        lambda c: ledger.post_hold(c, ORG_A, ledger.PostHold("h-post-2", hold_id)),
    )
    assert (gone.hold_id, gone.resolution) == (str(hold_id), "expired")
    gone = refused(
        engine,
        ledger.HoldAlreadyExpired,
        lambda c: ledger.void_hold(c, ORG_A, ledger.VoidHold("h-void", hold_id)),
    )
    assert (gone.hold_id, gone.resolution) == (str(hold_id), "expired")


def test_hold_amount_exceeded(db: RolledBack, books: Books) -> None:
    hold_id = make_hold(db, "h", books.wallet, books.merchant, 800)
    err = refused(
        db,
        ledger.HoldAmountExceeded,
        lambda c: ledger.post_hold(c, ORG_A, ledger.PostHold("h-post", hold_id, 801)),
    )
    assert (err.hold_id, err.held, err.requested) == (str(hold_id), 800, 801)
    with db.begin() as conn:
        ledger.post_hold(conn, ORG_A, ledger.PostHold("h-post-all", hold_id, 800))
    assert posted(db, books.merchant) == 800


# --- reversals, conditions --------------------------------------------------------------------


def test_entry_not_found(db: RolledBack, books: Books) -> None:
    ghost = uuid.uuid4()
    request = ledger.ReverseEntry("rev-ghost", ghost)
    err = refused(db, ledger.EntryNotFound, lambda c: ledger.reverse_entry(c, ORG_A, request))
    assert err.entry_id == str(ghost)
    # another organization's entry is not found either
    with db.begin() as conn:
        first = ledger.post_entry(conn, ORG_A, transfer("t", books.card, books.merchant, 10))
    request = ledger.ReverseEntry("rev-other", first.id)
    err = refused(db, ledger.EntryNotFound, lambda c: ledger.reverse_entry(c, ORG_B, request))
    assert err.entry_id == str(first.id)


def test_entry_already_reversed(db: RolledBack, books: Books) -> None:
    with db.begin() as conn:
        first = ledger.post_entry(conn, ORG_A, transfer("t", books.card, books.merchant, 250))
        reversal = ledger.reverse_entry(conn, ORG_A, ledger.ReverseEntry("t-rev", first.id))
    request = ledger.ReverseEntry("t-rev-2", first.id)
    err = refused(
        db, ledger.EntryAlreadyReversed, lambda c: ledger.reverse_entry(c, ORG_A, request)
    )
    assert (err.entry_id, err.reversal_entry_id) == (str(first.id), str(reversal.id))
    assert posted(db, books.merchant) == 0


def test_condition_failed_on_version(db: RolledBack, books: Books) -> None:
    with db.connect() as conn:
        version = ledger.balance(conn, books.card).version
    assert version == 1
    request = transfer(
        "v", books.card, books.merchant, 10, conditions=[ledger.Condition(books.card, version=7)]
    )
    err = refused(db, ledger.ConditionFailed, lambda c: ledger.post_entry(c, ORG_A, request))
    assert (err.account_id, err.condition, err.expected, err.actual) == (
        str(books.card),
        "version",
        7,
        1,
    )
    ok = transfer(
        "v-ok", books.card, books.merchant, 10, conditions=[ledger.Condition(books.card, version=1)]
    )
    # in a batch, a version condition sees the entries before it
    batch = [
        transfer("v-1", books.card, books.merchant, 10),
        transfer(
            "v-2",
            books.card,
            books.merchant,
            10,
            conditions=[ledger.Condition(books.card, version=1)],
        ),
    ]
    err = refused(db, ledger.ConditionFailed, lambda c: ledger.post_entries(c, ORG_A, batch))
    assert (err.condition, err.expected, err.actual) == ("version", 1, 2)
    with db.begin() as conn:
        ledger.post_entry(conn, ORG_A, ok)
    assert posted(db, books.card) == 1_010


def test_condition_failed_on_balance_bounds(db: RolledBack, books: Books) -> None:
    # the merchant (a liability) would hold 400 after the entry
    gte = transfer(
        "gte",
        books.card,
        books.merchant,
        400,
        conditions=[ledger.Condition(books.merchant, gte=401)],
    )
    err = refused(db, ledger.ConditionFailed, lambda c: ledger.post_entry(c, ORG_A, gte))
    assert (err.account_id, err.condition, err.expected, err.actual) == (
        str(books.merchant),
        "posted_balance_gte",
        401,
        400,
    )
    lte = transfer(
        "lte",
        books.card,
        books.merchant,
        400,
        conditions=[ledger.Condition(books.merchant, lte=399)],
    )
    err = refused(db, ledger.ConditionFailed, lambda c: ledger.post_entry(c, ORG_A, lte))
    assert (err.account_id, err.condition, err.expected, err.actual) == (
        str(books.merchant),
        "posted_balance_lte",
        399,
        400,
    )
    # available counts holds: 1_000 posted - 300 held - 500 posted now = 200
    make_hold(db, "h", books.wallet, books.merchant, 300)
    avail = transfer(
        "avail",
        books.wallet,
        books.merchant,
        500,
        conditions=[ledger.Condition(books.wallet, balance="available", gte=201)],
    )
    err = refused(db, ledger.ConditionFailed, lambda c: ledger.post_entry(c, ORG_A, avail))
    assert (err.account_id, err.condition, err.expected, err.actual) == (
        str(books.wallet),
        "available_balance_gte",
        201,
        200,
    )
    # pending counts holds on both sides: the merchant has 300 on the way, 500 posted now
    pending = transfer(
        "pending",
        books.wallet,
        books.merchant,
        500,
        conditions=[ledger.Condition(books.merchant, balance="pending", lte=799)],
    )
    err = refused(db, ledger.ConditionFailed, lambda c: ledger.post_entry(c, ORG_A, pending))
    assert (err.account_id, err.condition, err.expected, err.actual) == (
        str(books.merchant),
        "pending_balance_lte",
        799,
        800,
    )
    ok = transfer(
        "ok",
        books.wallet,
        books.merchant,
        500,
        conditions=[
            ledger.Condition(books.wallet, balance="available", gte=200, lte=200),
            ledger.Condition(books.merchant, gte=500, lte=500),
        ],
    )
    with db.begin() as conn:
        ledger.post_entry(conn, ORG_A, ok)
    assert posted(db, books.merchant) == 500


# --- idempotency ------------------------------------------------------------------------------


def test_idempotency_conflict(db: RolledBack, books: Books) -> None:
    with db.begin() as conn:
        ledger.post_entry(conn, ORG_A, transfer("pay-1", books.card, books.merchant, 100))
    request = transfer("pay-1", books.card, books.merchant, 101)
    err = refused(db, ledger.IdempotencyConflict, lambda c: ledger.post_entry(c, ORG_A, request))
    assert err.idempotency_key == "pay-1"
    # the same key for another operation
    hold = ledger.CreateHold("pay-1", books.wallet, books.merchant, 100, "USD")
    err = refused(db, ledger.IdempotencyConflict, lambda c: ledger.create_hold(c, ORG_A, hold))
    assert err.idempotency_key == "pay-1"
    # the same key and code, another account definition
    account = ledger.OpenAccount(f"open-{ORG_A}-wallet", "wallet", "asset", "USD")
    err = refused(db, ledger.IdempotencyConflict, lambda c: ledger.open_account(c, ORG_A, account))
    assert err.idempotency_key == f"open-{ORG_A}-wallet"


def test_idempotent_replay_returns_the_first_result_and_writes_nothing(
    db: RolledBack, books: Books
) -> None:
    request = transfer("pay-1", books.card, books.merchant, 100, external_ref="ch_1")
    with db.begin() as conn:
        first = ledger.post_entry(conn, ORG_A, request)
    assert not first.replayed
    before = snapshot(db)
    with db.begin() as conn:
        again = ledger.post_entry(conn, ORG_A, request)
        batch = ledger.post_entries(conn, ORG_A, [request])
    assert again == ledger.WriteResult(id=first.id, replayed=True)
    assert batch == [ledger.WriteResult(id=first.id, replayed=True)]
    assert snapshot(db) == before
    assert posted(db, books.merchant) == 100

    hold = ledger.CreateHold("hold-1", books.wallet, books.merchant, 300, "USD")
    with db.begin() as conn:
        created = ledger.create_hold(conn, ORG_A, hold)
    before = snapshot(db)
    with db.begin() as conn:
        assert ledger.create_hold(conn, ORG_A, hold) == ledger.WriteResult(created.id, True)
    assert snapshot(db) == before
    assert available(db, books.wallet) == 700


def test_refusal_is_remembered_under_its_key_after_funds_arrive(
    engine: sa.Engine, books: Books
) -> None:
    request = transfer("pay-1", books.wallet, books.merchant, 1_500)
    before = snapshot(engine)
    conn = engine.connect()
    try:
        with pytest.raises(ledger.InsufficientFunds) as info:
            ledger.post_entry(conn, ORG_A, request)
        conn.commit()
    finally:
        conn.close()
    assert (info.value.balance, info.value.shortfall) == (1_000, 500)
    after = snapshot(engine)
    assert after.accounts == before.accounts
    assert after.counts == {
        **before.counts,
        "idempotency_keys": before.counts["idempotency_keys"] + 1,
    }
    with engine.connect() as c:
        status = c.execute(
            sa.text("SELECT status FROM payments.idempotency_keys WHERE org_id = :o AND key = :k"),
            {"o": ORG_A, "k": "pay-1"},
        ).scalar_one()
    assert status == "failed"

    with engine.begin() as c:
        ledger.post_entry(c, ORG_A, transfer("top-up", books.funding, books.wallet, 1_000))
    assert available(engine, books.wallet) == 2_000

    # the same request under the same key: refused as the first time, with the first answer
    again = refused(
        engine, ledger.InsufficientFunds, lambda c: ledger.post_entry(c, ORG_A, request)
    )
    assert (again.account_id, again.balance, again.shortfall) == (str(books.wallet), 1_000, 500)
    # a different request under that key is still a conflict
    other = transfer("pay-1", books.wallet, books.merchant, 1_499)
    refused(engine, ledger.IdempotencyConflict, lambda c: ledger.post_entry(c, ORG_A, other))
    # under a new key the funds are there
    with engine.begin() as c:
        ledger.post_entry(c, ORG_A, transfer("pay-2", books.wallet, books.merchant, 1_500))
    assert posted(engine, books.wallet) == 500


def test_refused_condition_is_remembered_when_the_unit_of_work_commits(
    db: RolledBack, books: Books
) -> None:
    request = transfer(
        "v", books.card, books.merchant, 10, conditions=[ledger.Condition(books.card, version=2)]
    )
    with db.begin() as conn:
        with pytest.raises(ledger.ConditionFailed) as info:
            ledger.post_entry(conn, ORG_A, request)
        # the transaction is still usable: the failure came back as a result, not an error
        assert ledger.balance(conn, books.card).version == 1
    assert (info.value.expected, info.value.actual) == (2, 1)

    # now the card's version is 2, so the condition would hold; the key keeps the refusal
    with db.begin() as conn:
        ledger.post_entry(conn, ORG_A, transfer("bump", books.card, books.merchant, 1))
        assert ledger.balance(conn, books.card).version == 2
    again = refused(db, ledger.ConditionFailed, lambda c: ledger.post_entry(c, ORG_A, request))
    assert (again.condition, again.expected, again.actual) == ("version", 2, 1)
    fresh = transfer(
        "v-2", books.card, books.merchant, 10, conditions=[ledger.Condition(books.card, version=2)]
    )
    with db.begin() as conn:
        ledger.post_entry(conn, ORG_A, fresh)
    assert posted(db, books.merchant) == 11


def test_rolled_back_refusal_is_not_remembered(db: RolledBack, books: Books) -> None:
    request = transfer("pay-1", books.wallet, books.merchant, 1_500)
    refused(db, ledger.InsufficientFunds, lambda c: ledger.post_entry(c, ORG_A, request))
    with db.begin() as c:
        ledger.post_entry(c, ORG_A, transfer("top-up", books.funding, books.wallet, 1_000))
        result = ledger.post_entry(c, ORG_A, request)
    assert not result.replayed
    assert posted(db, books.wallet) == 500


# --- batches ----------------------------------------------------------------------------------


def _batch(books: Books, bad: ledger.PostEntry | None) -> list[ledger.PostEntry]:
    entries = [transfer(f"b-{i}", books.wallet, books.merchant, 10) for i in range(49)]
    if bad is not None:
        entries.insert(37, bad)
    return entries


@pytest.mark.parametrize("reason", ["funds", "account", "closed", "replayed-refusal"])
def test_a_batch_with_one_bad_entry_writes_nothing(
    db: RolledBack, books: Books, reason: str
) -> None:
    ghost = uuid.uuid4()
    # 37 entries of 10 came before: 630 of the wallet's 1_000 are left for the 38th
    bad = {
        "funds": transfer("bad", books.wallet, books.merchant, 700),
        "account": transfer("bad", books.wallet, ghost, 7),
        "closed": transfer("bad", books.card, books.fees, 7),
        "replayed-refusal": transfer("bad", books.wallet, books.merchant, 5_000),
    }[reason]
    if reason == "closed":
        with db.begin() as conn:
            ledger.close_account(conn, PLATFORM, ledger.CloseAccount("close-fees", books.fees))
    if reason == "replayed-refusal":
        # the bad entry's key already holds a remembered refusal
        with db.begin() as conn, pytest.raises(ledger.InsufficientFunds):
            ledger.post_entry(conn, ORG_A, bad)
    batch = _batch(books, bad)
    assert len(batch) == 50
    expected: type[ledger.LedgerError] = {
        "funds": ledger.InsufficientFunds,
        "account": ledger.AccountNotFound,
        "closed": ledger.AccountClosed,
        "replayed-refusal": ledger.InsufficientFunds,
    }[reason]
    err = refused(db, expected, lambda c: ledger.post_entries(c, ORG_A, batch))
    if reason == "funds":
        assert isinstance(err, ledger.InsufficientFunds)
        assert (err.account_id, err.balance, err.shortfall) == (str(books.wallet), 630, 70)
    elif reason == "account":
        assert isinstance(err, ledger.AccountNotFound)
        assert err.account_id == str(ghost)
    elif reason == "closed":
        assert isinstance(err, ledger.AccountClosed)
        assert err.account_id == str(books.fees)
    else:
        assert isinstance(err, ledger.InsufficientFunds)
        assert (err.balance, err.shortfall) == (1_000, 4_000)

    # the good 49 under the same keys: nothing of them was kept, so they all post now
    before = snapshot(db)
    with db.begin() as conn:
        results = ledger.post_entries(conn, ORG_A, _batch(books, None))
    assert [r.replayed for r in results] == [False] * 49
    after = snapshot(db)
    assert after.counts["entries"] == before.counts["entries"] + 49
    assert after.counts["lines"] == before.counts["lines"] + 98
    assert posted(db, books.wallet) == 510


# --- the error catalogue ----------------------------------------------------------------------


def _subclasses(cls: type[ledger.LedgerError]) -> Iterator[type[ledger.LedgerError]]:
    for sub in cls.__subclasses__():
        yield sub
        yield from _subclasses(sub)


def test_recorded_error_codes_match_the_python_errors(db: RolledBack) -> None:
    with db.connect() as conn:
        in_database: list[str] = conn.execute(
            sa.text("SELECT payments.recorded_error_codes()")
        ).scalar_one()
    assert len(in_database) == len(set(in_database))
    # The errors the database raises are the leaves; HoldAlreadyResolved is only the base of
    # hold_already_posted / _voided / _expired and is never raised under its own code.
    recorded_leaves = {
        cls.code
        for cls in _subclasses(ledger.LedgerError)
        if cls.recorded and not cls.__subclasses__()
    }
    assert set(in_database) == recorded_leaves
    assert len(recorded_leaves) == 10
    not_leaves = {
        cls.code for cls in _subclasses(ledger.LedgerError) if cls.recorded and cls.__subclasses__()
    }
    assert not_leaves == {"hold_already_resolved"}

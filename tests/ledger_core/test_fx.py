"""Currency conversion: the arithmetic for any amounts, rates and currencies (hypothesis,
pure), and `convert` on the real database: two balanced entries through the platform's FX
liquidity accounts, the conversion recorded and checked by PostgreSQL, idempotency, refusals
that write nothing, and an organization converting with its own key."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal
from fractions import Fraction

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import ledger
from ledger.fx import set_fx_rate
from tests.ledger_core.conftest import ORG_A, ORG_B, PLATFORM, OpenAccountFn, present_key

CURRENCIES = sorted(ledger.CURRENCY_EXPONENTS)
rates = st.one_of(
    st.fractions(min_value=Fraction(1, 10**6), max_value=Fraction(10**6)).filter(
        lambda r: r > 0 and max(r.numerator, r.denominator) < 10**18
    ),
    st.decimals(min_value=Decimal("0.000001"), max_value=Decimal(10**6), places=8).filter(
        lambda d: d > 0
    ),
    st.integers(min_value=1, max_value=10**6),
)
pairs = st.tuples(st.sampled_from(CURRENCIES), st.sampled_from(CURRENCIES)).filter(
    lambda p: p[0] != p[1]
)


def _exact(amount: int, source: str, target: str, rate: Fraction) -> Fraction:
    shift = ledger.CURRENCY_EXPONENTS[target] - ledger.CURRENCY_EXPONENTS[source]
    return amount * rate * Fraction(10) ** shift


@given(amount=st.integers(min_value=1, max_value=10**15), pair=pairs, rate=rates)
def test_the_customer_never_gets_more_and_the_rounding_is_below_one_minor_unit(
    amount: int, pair: tuple[str, str], rate: Fraction | Decimal | int
) -> None:
    source, target = pair
    exact = _exact(amount, source, target, Fraction(rate))
    try:
        q = ledger.quote(amount, source, target, rate)
    except ledger.ConversionTooSmall:
        assert exact < 1
        return
    except ledger.InvalidAmount:
        assert exact >= ledger.MAX_AMOUNT + 1
        return
    assert q.target_amount <= exact < q.target_amount + 1
    assert 0 <= q.rounding < 1
    assert q.target_amount + q.rounding == exact
    assert q.rate == Fraction(rate)


def test_hand_worked_exponents() -> None:
    # 10.00 EUR at 1.0843 USD/EUR = 10.843 USD: 10.84 USD, 0.3 cent kept
    q = ledger.quote(1000, "EUR", "USD", "1.0843")
    assert (q.target_amount, q.rounding) == (1084, Fraction(3, 10))
    # 10.00 USD at 149.257 JPY/USD = 1492.57 JPY: 1492 JPY (exponent 0)
    assert ledger.quote(1000, "USD", "JPY", Decimal("149.257")).target_amount == 1492
    # 1000 JPY at 0.00205 KWD/JPY = 2.05 KWD = 2050 fils (exponent 3), exact
    q = ledger.quote(1000, "JPY", "KWD", "0.00205")
    assert (q.target_amount, q.rounding) == (2050, Fraction(0))
    # a repeating rate, kept exact: 1.00 GBP at 1000/921 EUR/GBP
    q = ledger.quote(100, "GBP", "EUR", "1000/921")
    assert q.target_amount == 108 and q.rounding == Fraction(100 * 1000, 921) - 108


@pytest.mark.parametrize("bad", [1.5, "nan", "inf", "0", "-1", "1/0", "abc", True, None, "1e40"])
def test_rates_are_exact_positive_numbers(bad: object) -> None:
    with pytest.raises(ledger.InvalidRate):
        ledger.parse_rate(bad)


def test_refusals_of_the_arithmetic() -> None:
    with pytest.raises(ledger.ConversionTooSmall):
        ledger.quote(1, "USD", "EUR", "0.5")
    with pytest.raises(ledger.SameCurrency):
        ledger.quote(100, "USD", "USD", 1)
    with pytest.raises(ledger.UnknownCurrency):
        ledger.quote(100, "USD", "XXX", 1)
    with pytest.raises(ledger.InvalidAmount):
        ledger.quote(0, "USD", "EUR", 1)
    with pytest.raises(ledger.InvalidAmount):
        ledger.quote(ledger.MAX_AMOUNT, "USD", "JPY", 200)


# -- on the database ------------------------------------------------------------------------


@pytest.fixture
def wallets(conn: sa.Connection, open_account: OpenAccountFn) -> dict[str, uuid.UUID]:
    """Org A's customer wallets (liabilities) in EUR, USD, JPY and KWD, the EUR one funded."""
    found = {
        cur: open_account(ORG_A, f"wallet:{cur.lower()}", "liability", currency=cur)
        for cur in ("EUR", "USD", "JPY", "KWD")
    }
    cash = open_account(ORG_A, "cash:eur", "asset", currency="EUR")
    ledger.post_entry(
        conn,
        ORG_A,
        ledger.PostEntry(
            idempotency_key="fund",
            lines=[
                ledger.Line(cash, "debit", 10**9, "EUR"),
                ledger.Line(found["EUR"], "credit", 10**9, "EUR"),
            ],
        ),
    )
    return found


def _convert(
    conn: sa.Connection,
    key: str,
    source: uuid.UUID,
    target: uuid.UUID,
    *,
    amount: int,
    rate: object,
    set_rate: bool = True,
) -> ledger.Conversion:
    """Convert as the connection's caller, the platform (the owner) first setting `rate` as
    the pair's current rate unless `set_rate` is false; `rate` is the request's expectation."""
    if set_rate:
        _set_rate(conn, source, target, rate)
    return ledger.convert(
        conn,
        ORG_A,
        ledger.Convert(
            idempotency_key=key,
            source_account_id=source,
            target_account_id=target,
            amount=amount,
            rate=rate,  # type: ignore[arg-type]
        ),
    )


def _set_rate(conn: sa.Connection, source: uuid.UUID, target: uuid.UUID, rate: object) -> None:
    """The platform's current rate for the accounts' pair (nothing when the pair or the rate
    is one the refusal under test is about)."""
    rows = conn.execute(
        sa.text("SELECT id, currency FROM payments.accounts WHERE id IN (:s, :t)"),
        {"s": source, "t": target},
    ).all()
    currencies: dict[uuid.UUID, str] = {r.id: r.currency for r in rows}
    pair = currencies.get(source), currencies.get(target)
    if None in pair or pair[0] == pair[1]:
        return
    try:
        exact = ledger.parse_rate(rate)
    except ledger.InvalidRate:
        return
    set_fx_rate(conn, str(pair[0]), str(pair[1]), exact)


def test_convert_posts_two_balanced_entries_through_liquidity(
    conn: sa.Connection, wallets: dict[str, uuid.UUID]
) -> None:
    c = _convert(conn, "fx1", wallets["EUR"], wallets["USD"], amount=1000, rate="1.0843")
    assert (c.source_amount, c.target_amount, c.rounding, c.replayed) == (
        1000,
        1084,
        Fraction(3, 10),
        False,
    )
    assert (c.rate, c.rate_text) == (Fraction(10843, 10000), "1.0843")
    liquidity = ledger.fx_liquidity_accounts(conn, ["EUR", "USD"])
    out, into = ledger.get_entry(conn, c.source_entry_id), ledger.get_entry(conn, c.target_entry_id)
    assert {(x.account_id, x.side, x.amount, x.currency) for x in out.lines} == {
        (wallets["EUR"], "debit", 1000, "EUR"),
        (liquidity["EUR"], "credit", 1000, "EUR"),
    }
    assert {(x.account_id, x.side, x.amount, x.currency) for x in into.lines} == {
        (liquidity["USD"], "debit", 1084, "USD"),
        (wallets["USD"], "credit", 1084, "USD"),
    }
    # the platform's position: long what it received, short what it paid
    assert ledger.balance(conn, liquidity["EUR"]).posted == 1000
    assert ledger.balance(conn, liquidity["USD"]).posted == -1084
    assert ledger.balance(conn, wallets["USD"]).posted == 1084
    assert ledger.get_conversion(conn, c.id) == c
    assert ledger.list_conversions(conn, ORG_A) == ([c], False)


def test_replay_and_conflict_by_key(conn: sa.Connection, wallets: dict[str, uuid.UUID]) -> None:
    first = _convert(conn, "k", wallets["EUR"], wallets["JPY"], amount=500, rate=Decimal("161.5"))
    again = _convert(conn, "k", wallets["EUR"], wallets["JPY"], amount=500, rate=Fraction(323, 2))
    assert again.replayed and again.id == first.id and again.target_amount == first.target_amount
    assert ledger.balance(conn, wallets["JPY"]).posted == first.target_amount == 807
    with pytest.raises(ledger.IdempotencyConflict), conn.begin_nested():
        _convert(conn, "k", wallets["EUR"], wallets["JPY"], amount=501, rate=Decimal("161.5"))


def test_refusals_write_nothing(
    conn: sa.Connection, wallets: dict[str, uuid.UUID], open_account: OpenAccountFn
) -> None:
    theirs = open_account(ORG_B, "wallet:usd", "liability", currency="USD")
    other_eur = open_account(ORG_A, "other:eur", "liability", currency="EUR")
    count = sa.text(
        "SELECT (SELECT count(*) FROM payments.conversions), "
        "(SELECT count(*) FROM payments.entries)"
    )
    before = conn.execute(count).one()
    cases: list[tuple[type[Exception], uuid.UUID, uuid.UUID, int, object]] = [
        (ledger.SameCurrency, wallets["EUR"], other_eur, 100, 1),
        (ledger.AccountNotFound, wallets["EUR"], uuid.uuid4(), 100, 1),
        (ledger.AccountOrganizationMismatch, wallets["EUR"], theirs, 100, 1),
        (ledger.ConversionTooSmall, wallets["EUR"], wallets["USD"], 1, "0.001"),
        (ledger.InvalidRate, wallets["EUR"], wallets["USD"], 100, 1.08),
        (ledger.InvalidAmount, wallets["EUR"], wallets["USD"], 0, 1),
        (ledger.AccountsMustBeDifferent, wallets["EUR"], wallets["EUR"], 100, 1),
    ]
    for i, (error, source, target, amount, rate) in enumerate(cases):
        with pytest.raises(error), conn.begin_nested():
            _convert(conn, f"bad{i}", source, target, amount=amount, rate=rate)
    assert conn.execute(count).one() == before


def test_the_database_checks_the_rounding_and_the_entries(
    conn: sa.Connection, wallets: dict[str, uuid.UUID]
) -> None:
    c = _convert(conn, "fx", wallets["EUR"], wallets["KWD"], amount=1000, rate="0.33")
    assert c.target_amount == 3300  # 10.00 EUR at 0.33 = 3.300 KWD
    copy = sa.text("""
        INSERT INTO payments.conversions (org_id, idempotency_key, request_hash,
            source_account_id, target_account_id, source_currency, target_currency,
            source_exponent, target_exponent, source_amount, target_amount, rate_numerator,
            rate_denominator, rate, source_entry_id, target_entry_id)
        SELECT org_id, 'forged', request_hash, source_account_id, target_account_id,
               source_currency, target_currency, source_exponent, target_exponent,
               source_amount, target_amount, :num, :den, rate,
               source_entry_id, target_entry_id
          FROM payments.conversions WHERE id = :id""")
    # the entries carry the amounts, but at 0.34 the target would be 3.400 KWD: refused
    with (
        pytest.raises(sa.exc.IntegrityError, match="conversions_rounded_down"),
        conn.begin_nested(),
    ):
        conn.execute(copy, {"id": c.id, "num": 34, "den": 100})
    with pytest.raises(sa.exc.DBAPIError, match="invalid_request"), conn.begin_nested():
        # rounded right, but the entries carry other amounts: the trigger refuses
        conn.execute(
            sa.text(
                copy.text.replace(
                    "source_amount, target_amount, :num",
                    "source_amount * 2, target_amount * 2, :num",
                )
            ),
            {"id": c.id, "num": 33, "den": 100},
        )
    with pytest.raises(sa.exc.DBAPIError, match="append-only"), conn.begin_nested():
        conn.execute(
            sa.text("UPDATE payments.conversions SET rate = 'x' WHERE id = :id"), {"id": c.id}
        )


@contextmanager
def as_org(conn: sa.Connection, org: uuid.UUID | None) -> Iterator[None]:
    """The application's role with `org`'s key (None: the platform's), in a savepoint rolled
    back after."""
    nested = conn.begin_nested()
    try:
        role = "liventix_app" if org else "liventix_platform"
        conn.execute(sa.text(f"SET LOCAL ROLE {role}"))
        present_key(conn, org)
        yield
    finally:
        nested.rollback()


def test_an_organization_converts_with_its_key_once_the_platform_opened_liquidity(
    conn: sa.Connection, wallets: dict[str, uuid.UUID]
) -> None:
    set_fx_rate(conn, "EUR", "USD", "1.1")
    with pytest.raises(ledger.FxLiquidityMissing), as_org(conn, ORG_A):
        _convert(
            conn, "org", wallets["EUR"], wallets["USD"], amount=1000, rate="1.1", set_rate=False
        )
    for currency in ("EUR", "USD"):
        ledger.open_fx_liquidity(conn, currency)
    set_fx_rate(conn, "EUR", "USD", "1.1")
    with as_org(conn, ORG_A):
        c = _convert(
            conn, "org", wallets["EUR"], wallets["USD"], amount=1000, rate="1.1", set_rate=False
        )
        assert c.target_amount == 1100
        assert ledger.balance(conn, wallets["USD"]).posted == 1100
    with as_org(conn, ORG_B):
        assert ledger.list_conversions(conn) == ([], False)
    with pytest.raises(ledger.AccountNotFound), as_org(conn, ORG_B):
        _convert(
            conn, "steal", wallets["EUR"], wallets["USD"], amount=1000, rate="1.1", set_rate=False
        )


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    amount=st.integers(min_value=1, max_value=10**8),
    target=st.sampled_from(["USD", "JPY", "KWD"]),
    rate=rates,
)
def test_any_conversion_balances_and_never_overpays_on_the_database(
    conn: sa.Connection,
    wallets: dict[str, uuid.UUID],
    amount: int,
    target: str,
    rate: Fraction | Decimal | int,
) -> None:
    with conn.begin_nested() as nested:
        try:
            c = _convert(
                conn, f"h-{uuid.uuid4()}", wallets["EUR"], wallets[target], amount=amount, rate=rate
            )
        except (ledger.ConversionTooSmall, ledger.InvalidAmount):
            nested.rollback()
            return
        exact = _exact(amount, "EUR", target, Fraction(rate))
        assert c.target_amount <= exact < c.target_amount + 1
        for entry_id in (c.source_entry_id, c.target_entry_id):
            lines = ledger.get_entry(conn, entry_id).lines
            assert len({x.currency for x in lines}) == 1
            assert sum(x.amount if x.side == "debit" else -x.amount for x in lines) == 0
        nested.rollback()


def test_platform_key_opens_missing_liquidity_itself(
    conn: sa.Connection, open_account: OpenAccountFn
) -> None:
    eur = open_account(PLATFORM, "treasury:eur", "asset", currency="EUR")
    usd = open_account(PLATFORM, "treasury:usd", "asset", currency="USD")
    with as_org(conn, None):
        c = ledger.convert(
            conn,
            PLATFORM,
            ledger.Convert(
                idempotency_key="p",
                source_account_id=eur,
                target_account_id=usd,
                amount=10,
                rate=2,
            ),
        )
        assert c.target_amount == 20
        assert set(ledger.fx_liquidity_accounts(conn, ["EUR", "USD"])) == {"EUR", "USD"}

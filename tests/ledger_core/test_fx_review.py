"""The security review's conversion findings, on the real database: an organization converts
only at the platform's rate (`payments.fx_rates`, set by the platform alone; a rate in its
request is an expectation) (D1); it cannot make `payments.convert` replay an entry it posted
itself under the conversion's inner keys (D2); a conversion row must name entries through the
platform's liquidity accounts (D2); the door's rounding is integer division, as the CHECK's
(N1)."""

from __future__ import annotations

import json
import uuid
from fractions import Fraction

import pytest
import sqlalchemy as sa

import ledger
from ledger.fx import FxRateChanged, FxRateMissing, get_fx_rate, set_fx_rate
from tests.ledger_core.conftest import ORG_A, OpenAccountFn
from tests.ledger_core.test_fx import _convert, as_org, wallets

__all__ = ["wallets"]


def _entry(key: str, hash_: str, lines: list[tuple[uuid.UUID, str, int, str]]) -> dict[str, object]:
    return {
        "key": key,
        "hash": hash_,
        "kind": "standard",
        "description": "mine",
        "metadata": {},
        "effective_at": None,
        "external_ref": None,
        "conditions": [],
        "lines": [
            {"account_id": str(a), "side": s, "amount": n, "currency": c} for a, s, n, c in lines
        ],
    }


def _write(conn: sa.Connection, body: dict[str, object], function: str) -> object:
    return conn.execute(
        sa.text(f"SELECT payments.{function}(CAST(:p AS jsonb))"), {"p": json.dumps(body)}
    ).scalar_one()


def test_convert_never_replays_an_entry_the_organization_posted_under_its_keys(
    conn: sa.Connection, wallets: dict[str, uuid.UUID], open_account: OpenAccountFn
) -> None:
    other_eur = open_account(ORG_A, "other:eur", "liability", currency="EUR")
    for currency in ("EUR", "USD"):
        ledger.open_fx_liquidity(conn, currency)
    set_fx_rate(conn, "EUR", "USD", "1.1")
    request = {
        "org_id": str(ORG_A),
        "key": "K",
        "hash": "h",
        "source_account_id": str(wallets["EUR"]),
        "target_account_id": str(wallets["USD"]),
        "source_amount": 1000,
        "target_amount": 1100,
        "rate_numerator": "11",
        "rate_denominator": "10",
        "rate": "1.1",
        "description": "",
        "metadata": {},
    }
    with as_org(conn, ORG_A):
        # the organization posts fx:K:source itself: its EUR leaves to another of its accounts
        _write(
            conn,
            {
                "org_id": str(ORG_A),
                "operation": "post_entries",
                "record_failure": False,
                "requests": [
                    _entry(
                        "fx:K:source",
                        "h:source",
                        [
                            (wallets["EUR"], "debit", 1000, "EUR"),
                            (other_eur, "credit", 1000, "EUR"),
                        ],
                    )
                ],
            },
            "ledger_write",
        )
        with pytest.raises(sa.exc.DBAPIError, match="idempotency_conflict"), conn.begin_nested():
            _write(conn, request, "convert")
        assert ledger.balance(conn, wallets["USD"]).posted == 0
        assert ledger.balance(conn, other_eur).posted == 1000
        # a key nobody used converts, and its replay answers the same conversion
        request["key"] = "K2"
        first = _write(conn, request, "convert")
        again = _write(conn, request, "convert")
        assert isinstance(first, dict) and isinstance(again, dict)
        assert (first["replayed"], again["replayed"], again["id"]) == (False, True, first["id"])
        assert ledger.balance(conn, wallets["USD"]).posted == 1100


def test_a_conversion_names_entries_through_the_liquidity_accounts(
    conn: sa.Connection, wallets: dict[str, uuid.UUID], open_account: OpenAccountFn
) -> None:
    other_eur = open_account(ORG_A, "other:eur", "liability", currency="EUR")
    cash_usd = open_account(ORG_A, "cash:usd", "asset", currency="USD")
    out = ledger.post_entry(
        conn,
        ORG_A,
        ledger.PostEntry(
            idempotency_key="out",
            lines=[
                ledger.Line(wallets["EUR"], "debit", 1000, "EUR"),
                ledger.Line(other_eur, "credit", 1000, "EUR"),
            ],
        ),
    )
    into = ledger.post_entry(
        conn,
        ORG_A,
        ledger.PostEntry(
            idempotency_key="into",
            lines=[
                ledger.Line(cash_usd, "debit", 1100, "USD"),
                ledger.Line(wallets["USD"], "credit", 1100, "USD"),
            ],
        ),
    )
    with pytest.raises(sa.exc.DBAPIError, match="invalid_request"), conn.begin_nested():
        conn.execute(
            sa.text("""
                INSERT INTO payments.conversions (org_id, idempotency_key, request_hash,
                    source_account_id, target_account_id, source_currency, target_currency,
                    source_exponent, target_exponent, source_amount, target_amount,
                    rate_numerator, rate_denominator, rate, source_entry_id, target_entry_id)
                VALUES (:org, 'forged', 'h', :s, :t, 'EUR', 'USD', 2, 2, 1000, 1100, 11, 10,
                        '1.1', :out, :into)"""),
            {
                "org": ORG_A,
                "s": wallets["EUR"],
                "t": wallets["USD"],
                "out": out.id,
                "into": into.id,
            },
        )


def test_the_door_rounds_down_by_integer_division_at_extreme_rates(
    conn: sa.Connection, wallets: dict[str, uuid.UUID]
) -> None:
    # 2 cents at (10^17 - 1) / 10^17 is 1.99999999999999998 cents: 1 cent, which numeric's
    # `/` (a limited scale) would round up to 2 and so refuse the exact quote
    rate = Fraction(10**17 - 1, 10**17)
    c = _convert(conn, "edge", wallets["EUR"], wallets["USD"], amount=2, rate=rate)
    assert (c.target_amount, c.rate) == (1, rate)
    assert c.rounding == 2 * rate - 1


def test_an_organization_converts_only_at_the_platforms_rate(
    conn: sa.Connection, wallets: dict[str, uuid.UUID]
) -> None:
    for currency in ("EUR", "USD"):
        ledger.open_fx_liquidity(conn, currency)

    def convert(key: str, rate: str | None, amount: int = 1000) -> ledger.Conversion:
        return ledger.convert(
            conn,
            ORG_A,
            ledger.Convert(
                idempotency_key=key,
                source_account_id=wallets["EUR"],
                target_account_id=wallets["USD"],
                amount=amount,
                rate=rate,
            ),
        )

    with as_org(conn, ORG_A):
        with pytest.raises(FxRateMissing), conn.begin_nested():
            convert("none-yet", None)
        with pytest.raises(ledger.PermissionDenied), conn.begin_nested():
            set_fx_rate(conn, "EUR", "USD", "1000000")
        with pytest.raises(sa.exc.ProgrammingError), conn.begin_nested():
            conn.execute(
                sa.text(
                    "INSERT INTO payments.fx_rates (source_currency, target_currency,"
                    " rate_numerator, rate_denominator) VALUES ('EUR', 'USD', 1000000, 1)"
                )
            )
    with as_org(conn, None):  # the platform's key sets the rate (stored reduced)
        assert set_fx_rate(conn, "EUR", "USD", "2.20").rate == Fraction(11, 5)
    set_fx_rate(conn, "EUR", "USD", "1.1")  # the owner's later rate supersedes it
    with as_org(conn, ORG_A):
        current = get_fx_rate(conn, "EUR", "USD")
        assert current is not None and current.rate == Fraction(11, 10)
        # the review's request: 1 cent at "1000000" is refused, typed, with the current rate
        with pytest.raises(FxRateChanged) as refused, conn.begin_nested():
            convert("greedy", "1000000", amount=1)
        assert refused.value.details["rate"] == "11/10"
        # nor can the door be handed the rate directly
        body = {
            "org_id": str(ORG_A),
            "key": "raw",
            "hash": "h",
            "source_account_id": str(wallets["EUR"]),
            "target_account_id": str(wallets["USD"]),
            "source_amount": 1,
            "target_amount": 1000000,
            "rate_numerator": "1000000",
            "rate_denominator": "1",
            "description": "",
            "metadata": {},
        }
        with pytest.raises(sa.exc.DBAPIError, match="fx_rate_changed"), conn.begin_nested():
            _write(conn, body, "convert")
        assert ledger.balance(conn, wallets["USD"]).posted == 0
        # the current rate, expected or not, is the one used
        assert convert("expects", "1.10").target_amount == 1100
        made = convert("trusts", None)
        assert (made.target_amount, made.rate) == (1100, Fraction(11, 10))
        assert ledger.balance(conn, wallets["USD"]).posted == 2200

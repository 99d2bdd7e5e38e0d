"""The FX positions report: per currency, the platform's liquidity balance beside what its
conversions received and paid; a posting to a liquidity account outside a conversion is a
difference. `report all` includes it."""

from __future__ import annotations

import uuid

import sqlalchemy as sa

import ledger
from liventix import reports


def _account(conn: sa.Connection, org: uuid.UUID, code: str, currency: str, kind: str) -> uuid.UUID:
    return ledger.open_account(
        conn,
        org,
        ledger.OpenAccount(idempotency_key=f"open-{code}", code=code, type=kind, currency=currency),  # type: ignore[arg-type]
    ).id


def test_positions_per_currency_and_a_stray_posting(conn: sa.Connection) -> None:
    platform, org = uuid.uuid4(), uuid.uuid4()
    ledger.open_organization(conn, platform, "Liventix", is_platform=True)
    ledger.open_organization(conn, org, "Org")
    eur = _account(conn, org, "wallet:eur", "EUR", "liability")
    usd = _account(conn, org, "wallet:usd", "USD", "liability")
    cash = _account(conn, org, "cash:eur", "EUR", "asset")
    ledger.post_entry(
        conn,
        org,
        ledger.PostEntry(
            idempotency_key="fund",
            lines=[
                ledger.Line(cash, "debit", 5000, "EUR"),
                ledger.Line(eur, "credit", 5000, "EUR"),
            ],
        ),
    )
    for n, (source, target, amount, rate) in enumerate(
        [(eur, usd, 1000, "1.0843"), (eur, usd, 2000, "1.1"), (usd, eur, 500, "0.9")]
    ):
        ledger.convert(
            conn,
            org,
            ledger.Convert(
                idempotency_key=f"c{n}",
                source_account_id=source,
                target_account_id=target,
                amount=amount,
                rate=rate,
            ),
        )
    report = reports.fx_positions(conn)
    rows = {r.currency: r for r in report.rows}
    # EUR: received 1000 + 2000, paid 450; USD: received 500, paid 1084 + 2200
    assert (rows["EUR"].received, rows["EUR"].paid, rows["EUR"].position) == (3000, 450, 2550)
    assert (rows["USD"].received, rows["USD"].paid, rows["USD"].position) == (500, 3284, -2784)
    assert (rows["EUR"].conversions_from, rows["EUR"].conversions_to) == (2, 1)
    assert all(r.liquidity_balance == r.position for r in report.rows)
    assert report.differences == 0

    bank = _account(conn, platform, "bank:usd", "USD", "asset")
    liquidity = rows["USD"].liquidity_account_id
    assert liquidity is not None
    ledger.post_entry(
        conn,
        platform,
        ledger.PostEntry(
            idempotency_key="stray",
            lines=[
                ledger.Line(bank, "debit", 7, "USD"),
                ledger.Line(liquidity, "credit", 7, "USD"),
            ],
        ),
    )
    report = reports.fx_positions(conn)
    assert report.differences == 1
    (off,) = [r for r in report.rows if r.difference]
    assert (off.currency, off.difference) == ("USD", 7)
    assert "FX positions" in [
        r.title
        for r in reports.every_report(
            conn,
            transactions=None,
            as_of=conn.execute(sa.text("SELECT now()")).scalar_one(),
            start=conn.execute(sa.text("SELECT now() - interval '1 day'")).scalar_one(),
            end=conn.execute(sa.text("SELECT now()")).scalar_one(),
        )
    ]

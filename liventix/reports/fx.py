"""The FX positions report: per currency, the platform's FX liquidity account's balance (its
position from conversions: positive, the platform received that currency; negative, it paid it
out), beside the conversions in and out of the currency that produced it. A difference is a
currency whose liquidity balance is not what its conversions add up to (a posting to the
liquidity account outside a conversion).

The read side: the ledger's conversions and accounts through its public face, on the
caller's connection (row-level security applies: the platform sees every organization's)."""

from __future__ import annotations

import uuid
from collections import defaultdict
from typing import ClassVar

from sqlalchemy import Connection, text

import ledger
from liventix.reports.base import Report, Table, _Row, _table


class FxPositionRow(_Row):
    """One currency's FX position."""

    money: ClassVar[tuple[str, ...]] = (
        "received",
        "paid",
        "position",
        "liquidity_balance",
        "difference",
    )
    checks: ClassVar[tuple[str, ...]] = ("difference",)

    currency: str
    liquidity_account_id: uuid.UUID | None
    conversions_from: int
    """Conversions out of this currency (the platform received it)."""
    conversions_to: int
    """Conversions into this currency (the platform paid it)."""
    received: int
    paid: int
    position: int
    liquidity_balance: int
    difference: int


class FxPositionsReport(Report):
    """The platform's position per currency from conversions through its liquidity accounts."""

    name: str = "fx-positions"
    title: str = "FX positions"
    rows: list[FxPositionRow]

    def tables(self) -> list[Table]:
        return [_table("Positions", list(self.rows), FxPositionRow)]


_SUMS = text("""
    SELECT currency, sum(n_from) AS n_from, sum(n_to) AS n_to, sum(received) AS received,
           sum(paid) AS paid
      FROM (SELECT source_currency AS currency, count(*) AS n_from, 0 AS n_to,
                   sum(source_amount) AS received, 0 AS paid
              FROM payments.conversions GROUP BY source_currency
            UNION ALL
            SELECT target_currency, 0, count(*), 0, sum(target_amount)
              FROM payments.conversions GROUP BY target_currency) x
     GROUP BY currency
""")


def fx_positions(conn: Connection) -> FxPositionsReport:
    """Per currency touched by a conversion (or holding a liquidity account): what the platform
    received and paid through conversions, and its liquidity account's posted balance."""
    sums = {r.currency: r for r in conn.execute(_SUMS)}
    found: dict[str, uuid.UUID] = ledger.fx_liquidity_accounts(
        conn, sorted(ledger.CURRENCY_EXPONENTS)
    )
    rows = []
    totals: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0, 0])
    for currency in sorted(set(sums) | set(found)):
        s = sums.get(currency)
        if s is not None:
            totals[currency] = [int(s.n_from), int(s.n_to), int(s.received), int(s.paid)]
        n_from, n_to, received, paid = totals[currency]
        account = found.get(currency)
        balance = ledger.balance(conn, account).posted if account is not None else 0
        rows.append(
            FxPositionRow(
                currency=currency,
                liquidity_account_id=account,
                conversions_from=n_from,
                conversions_to=n_to,
                received=received,
                paid=paid,
                position=received - paid,
                liquidity_balance=balance,
                difference=balance - (received - paid),
            )
        )
    return FxPositionsReport(differences=sum(1 for r in rows if r.difference), rows=rows)

"""Which reports make up `all`, in the order they are shown: the one list that
`liventix report all` and the demo both build."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import Connection

from liventix.reports.builders import escrow_position, outbox_health, ticket_tie_out, trial_balance
from liventix.reports.categories import category_balances
from liventix.reports.fx import fx_positions
from liventix.reports.models import Report, StripeTransaction
from liventix.reports.organizer import organizer_statement, organizers
from liventix.reports.reconciliation import stripe_reconciliation
from liventix.reports.statements import balance_sheet, income_statement


def every_report(
    conn: Connection,
    *,
    transactions: Sequence[StripeTransaction] | None,
    as_of: datetime,
    start: datetime,
    end: datetime,
) -> list[Report]:
    """Every report on the connection's snapshot: the trial balance, the balance sheet as of
    `as_of`, the income statement for [start, end), the escrow position, the account
    categories' balances as of `as_of`, the FX positions, the Stripe reconciliation (when
    Stripe's balance transactions are given), the ticket tie-out, the outbox's health, then
    every organizer's statement for [start, end)."""
    out: list[Report] = [
        trial_balance(conn),
        balance_sheet(conn, as_of=as_of),
        income_statement(conn, start=start, end=end),
        escrow_position(conn),
        category_balances(conn, as_of=as_of),
        fx_positions(conn),
    ]
    if transactions is not None:
        out.append(stripe_reconciliation(conn, transactions))
    out += [ticket_tie_out(conn), outbox_health(conn)]
    out += [organizer_statement(conn, org, start=start, end=end) for org in organizers(conn)]
    return out

"""What escrow's tests share: the platform and organizer set-up, captured payments, and
reading the ledger back line by line (account code, side, amount) and per account code."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import sqlalchemy as sa

import escrow
import ledger

PLATFORM = uuid.UUID("00000000-0000-0000-0000-000000000001")

Line = tuple[str, str, int]
"""An entry line as the tests check it: (account code, side, amount)."""


def past(minutes: int = 1) -> datetime:
    """A moment that has passed (an event that has ended)."""
    return datetime.now(UTC) - timedelta(minutes=minutes)


def future(days: int = 30) -> datetime:
    """A moment still to come (an event that has not ended)."""
    return datetime.now(UTC) + timedelta(days=days)


def ensure_platform(conn: sa.Connection) -> None:
    """Register the platform organization once per database."""
    exists = conn.execute(sa.text("SELECT 1 FROM payments.organizations WHERE is_platform")).first()
    if exists is None:
        ledger.open_organization(conn, PLATFORM, "Liventix", is_platform=True)


def new_organizer(
    conn: sa.Connection, policy: escrow.Policy | None = None, name: str = "Jazz Club"
) -> uuid.UUID:
    """A fresh organizer (and the platform, if missing) with its terms."""
    ensure_platform(conn)
    org = uuid.uuid4()
    ledger.open_organization(conn, org, name)
    escrow.set_policy(conn, org, policy or escrow.Policy())
    return org


def captured(
    org: uuid.UUID,
    *,
    gross: int,
    stripe_fee: int,
    event_id: str = "ev1",
    ends: datetime | None = None,
    payment_id: str | None = None,
    currency: str = "USD",
) -> escrow.CapturedPayment:
    """A captured payment of `gross` with Stripe's `stripe_fee` for the organizer's event."""
    pid = payment_id or f"pi_{uuid.uuid4().hex[:24]}"
    return escrow.CapturedPayment(
        payment_id=pid,
        org_id=org,
        event_id=event_id,
        currency=currency,
        gross=gross,
        stripe_fee=stripe_fee,
        event_ends_at=ends or future(),
        charge_id=f"ch_{pid[3:]}",
        balance_transaction_id=f"txn_{pid[3:]}",
    )


def escrow_of(conn: sa.Connection, payment: escrow.CapturedPayment) -> escrow.Escrow:
    """The escrow a captured payment was booked into."""
    escrow_id = conn.execute(
        sa.text("SELECT escrow_id FROM payments.card_payments WHERE id = :id"),
        {"id": payment.payment_id},
    ).scalar_one()
    return escrow.get_escrow(conn, escrow_id)


def entry_lines(conn: sa.Connection, entry_id: uuid.UUID) -> list[Line]:
    """The entry's lines as (account code, side, amount), sorted."""
    entry = ledger.get_entry(conn, entry_id)
    codes: dict[uuid.UUID, str] = dict(
        conn.execute(
            sa.text("SELECT id, code FROM payments.accounts WHERE id = ANY(:ids)"),
            {"ids": [line.account_id for line in entry.lines]},
        ).all()
    )
    return sorted((codes[line.account_id], line.side, line.amount) for line in entry.lines)


def entry_by_ref(conn: sa.Connection, org: uuid.UUID, external_ref: str) -> uuid.UUID:
    """The entry booked for `org` under an external reference (exactly one)."""
    found: uuid.UUID = conn.execute(
        sa.text("SELECT id FROM payments.entries WHERE org_id = :org AND external_ref = :ref"),
        {"org": org, "ref": external_ref},
    ).scalar_one()
    return found


def lines_by_ref(conn: sa.Connection, org: uuid.UUID, external_ref: str) -> list[Line]:
    """The lines of the entry booked for `org` under an external reference."""
    return entry_lines(conn, entry_by_ref(conn, org, external_ref))


def entries_count(conn: sa.Connection, org: uuid.UUID) -> int:
    """How many entries are booked for `org`."""
    count: int = conn.execute(
        sa.text("SELECT count(*) FROM payments.entries WHERE org_id = :org"), {"org": org}
    ).scalar_one()
    return count


def net_by_code(conn: sa.Connection, org: uuid.UUID) -> dict[str, int]:
    """Debits minus credits per account code, over the entries booked for `org` (the
    platform's accounts included: each organization's share of them)."""
    rows = conn.execute(
        sa.text("""SELECT a.code,
                          sum(CASE WHEN l.side = 'debit' THEN l.amount ELSE -l.amount END) AS net
                     FROM payments.lines l JOIN payments.accounts a ON a.id = l.account_id
                    WHERE l.entry_org_id = :org
                    GROUP BY a.code"""),
        {"org": org},
    ).all()
    return {r.code: int(r.net) for r in rows if int(r.net) != 0}


def liability(conn: sa.Connection, org: uuid.UUID, code: str) -> int:
    """The organizer-owned liability account's posted balance (credits minus debits)."""
    account = ledger.find_account(conn, org, code)
    return 0 if account is None else ledger.balance(conn, account).posted


def release_entry(conn: sa.Connection, escrow_id: uuid.UUID) -> uuid.UUID | None:
    """The entry of the escrow's release (None when nothing moved)."""
    for t in escrow.transitions(conn, escrow_id):
        if t["event"] == "request_release":
            entry: uuid.UUID | None = t["entry_id"]
            return entry
    raise AssertionError("the escrow was never released")


def release(conn: sa.Connection, escrow_id: uuid.UUID) -> escrow.Escrow:
    """Take an escrow whose event and hold period are over to release, as the worker does."""
    escrow.release_due(conn)
    return escrow.get_escrow(conn, escrow_id)


def audit(conn: sa.Connection, escrow_id: uuid.UUID) -> list[tuple[str, str, str]]:
    """The escrow's audit trail as (from, to, event)."""
    return [
        (t["from_state"], t["to_state"], t["event"]) for t in escrow.transitions(conn, escrow_id)
    ]


def row(conn: sa.Connection, sql: str, **params: Any) -> Any:
    """One row of a query."""
    return conn.execute(sa.text(sql), params).one()


def recorded_payment(conn: sa.Connection, payment_id: str) -> Any:
    """A card payment's record as the capture wrote it, and whether its escrow's audit row
    names the same ledger entry (`same`)."""
    return row(
        conn,
        """SELECT p.org_id, p.escrow_id, p.charge_id, p.gross, p.platform_fee, p.stripe_fee,
                  p.bears_stripe_fees, p.refund_platform_fee, t.entry_id = p.entry_id AS same
             FROM payments.card_payments p
             JOIN payments.escrow_transitions t ON t.entry_id = p.entry_id
            WHERE p.id = :id""",
        id=payment_id,
    )


@contextmanager
def driver_statements() -> Iterator[list[str]]:
    """Every statement sent through psycopg's cursors meanwhile, in this process: counted
    at the driver, because the ledger's door and the payment's hot path run on the driver
    cursor, where SQLAlchemy's events do not see them (BEGIN and COMMIT are not counted)."""
    seen: list[str] = []
    original = psycopg.Cursor.execute

    def counting(self: psycopg.Cursor[Any], query: Any, *args: Any, **kwargs: Any) -> Any:
        seen.append(str(query))
        return original(self, query, *args, **kwargs)

    setattr(psycopg.Cursor, "execute", counting)  # noqa: B010 (a measuring instrument, undone)
    try:
        yield seen
    finally:
        setattr(psycopg.Cursor, "execute", original)  # noqa: B010

"""The card's side of escrow's store: `payments.card_payments`, `card_refunds` and
`card_disputes`, as named statements and small functions.

Other packages read these tables only through escrow's public face: `payment_amounts`, and
for a statement of their own that must stay one round trip, the scalar SQL expressions
`paid_sql` and `refunded_sql`.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy import Connection, text

# -- what other packages read: the amounts paid and refunded of a payment ----------------

# The gross captured for a payment (its PaymentIntent's id), 0 if none was captured; `{org}`,
# the payment's organization when the caller knows it (issue 19 part 4: a statement on a
# hot path reads one organization's rows), else no filter.
_PAID = "coalesce((SELECT cp.gross FROM payments.card_payments cp WHERE cp.id = {payment}{org}), 0)"
# What was refunded of it: its refunds that did not fail (a failed one gave the money back).
_REFUNDED = """coalesce((SELECT sum(r.amount) FROM payments.card_refunds r
                 WHERE r.payment_id = {payment}{org} AND NOT r.failed), 0)"""


@dataclass(frozen=True)
class PaymentAmounts:
    """What a card payment brought in and what was refunded of it (minor units)."""

    paid: int
    refunded: int


def paid_sql(payment_id: str, org: str | None = None) -> str:
    """A scalar SQL expression: the gross captured for the payment whose id (the
    PaymentIntent's) is the SQL expression `payment_id` (a column or placeholder), 0 if none.
    For another package's statement that must read it in the same round trip. `org`, an
    SQL expression for the payment's organization (a placeholder, or the distribution column
    of a row pinned to one), pins the read to it."""
    return _PAID.format(payment=payment_id, org=_org_filter("cp", org))


def refunded_sql(payment_id: str, org: str | None = None) -> str:
    """A scalar SQL expression: what was refunded (refunds that did not fail) of the payment
    whose id is the SQL expression `payment_id`, 0 if nothing; `org` as for `paid_sql`."""
    return _REFUNDED.format(payment=payment_id, org=_org_filter("r", org))


def _org_filter(alias: str, org: str | None) -> str:
    return "" if org is None else f" AND {alias}.org_id = {org}"


_PAYMENT_AMOUNTS = text(f"SELECT {paid_sql(':id')} AS paid, {refunded_sql(':id')} AS refunded")
_PAYMENT_ORG = text("SELECT org_id FROM payments.card_payments WHERE id = :id")


def payment_org(conn: Connection, payment_id: str) -> uuid.UUID | None:
    """The organization whose escrow captured the payment (a PaymentIntent's id), or None
    when escrow never captured it."""
    found: uuid.UUID | None = conn.execute(_PAYMENT_ORG, {"id": payment_id}).scalar_one_or_none()
    return found


def payment_amounts(conn: Connection, payment_id: str | None) -> PaymentAmounts:
    """What the payment (a PaymentIntent's id) brought in and what was refunded of it, as
    escrow booked them; zeros for a payment escrow never captured (or none)."""
    if payment_id is None:
        return PaymentAmounts(paid=0, refunded=0)
    row = conn.execute(_PAYMENT_AMOUNTS, {"id": payment_id}).one()
    return PaymentAmounts(paid=int(row.paid), refunded=int(row.refunded))


# -- card payments -------------------------------------------------------------------------

_PAYMENT_EXISTS = text("SELECT 1 FROM payments.card_payments WHERE id = :id")
_RECORD_PAYMENT = text("""
    INSERT INTO payments.card_payments
        (id, org_id, escrow_id, charge_id, balance_transaction_id, currency, gross,
         platform_fee, stripe_fee, bears_stripe_fees, refund_platform_fee, entry_id)
    VALUES (:payment, :org, :escrow, :charge, :txn, :currency, :gross, :fee, :stripe_fee,
            :bears, :refund_fee, :entry)""")
_LOCK_PAYMENT = text("""
    SELECT id, org_id, escrow_id, currency, gross, platform_fee, refund_platform_fee, refunded
      FROM payments.card_payments WHERE id = :id FOR UPDATE""")
_PAYMENT_FOR_CHARGE = text("SELECT id FROM payments.card_payments WHERE charge_id = :c")
_ADD_REFUNDED = text("UPDATE payments.card_payments SET refunded = refunded + :a WHERE id = :id")


@dataclass(frozen=True)
class CardPayment:
    """A captured payment as escrow recorded it."""

    id: str
    org_id: uuid.UUID
    escrow_id: uuid.UUID
    currency: str
    gross: int
    platform_fee: int
    refund_platform_fee: bool
    refunded: int


def payment_exists(conn: Connection, payment_id: str) -> bool:
    """Whether the payment was captured."""
    return conn.execute(_PAYMENT_EXISTS, {"id": payment_id}).first() is not None


def record_payment(conn: Connection, values: Mapping[str, Any]) -> None:
    """Record a captured payment (`values`: payment, org, escrow, charge, txn, currency, gross,
    fee, stripe_fee, bears, refund_fee, entry)."""
    conn.execute(_RECORD_PAYMENT, values)


def lock_payment(conn: Connection, payment_id: str) -> CardPayment | None:
    """The captured payment, locked; None if it was not captured (yet)."""
    row = conn.execute(_LOCK_PAYMENT, {"id": payment_id}).first()
    return None if row is None else CardPayment(**row._asdict())


def payment_id_for_charge(conn: Connection, charge_id: str) -> str | None:
    """The captured payment of a Stripe charge, if known."""
    found: str | None = conn.execute(_PAYMENT_FOR_CHARGE, {"c": charge_id}).scalar_one_or_none()
    return found


def add_refunded(conn: Connection, payment_id: str, amount: int) -> None:
    """Add `amount` (negative: a refund that failed) to what was refunded of the payment."""
    conn.execute(_ADD_REFUNDED, {"a": amount, "id": payment_id})


# -- card refunds --------------------------------------------------------------------------

_REFUND = text("""
    SELECT amount, fee_back, charged_to, failed, entry_id
      FROM payments.card_refunds WHERE id = :id""")
_RECORD_REFUND = text("""
    INSERT INTO payments.card_refunds
        (id, payment_id, org_id, amount, fee_back, charged_to, failed, entry_id)
    VALUES (:id, :payment, :org, :amount, :fee_back, :target, :failed, :entry)""")
_REFUND_FAILED = text("UPDATE payments.card_refunds SET failed = true WHERE id = :id")


@dataclass(frozen=True)
class CardRefund:
    """A refund as escrow recorded it: where it was charged and the entry that booked it."""

    amount: int
    fee_back: int
    charged_to: str
    failed: bool
    entry_id: uuid.UUID


def get_refund(conn: Connection, refund_id: str) -> CardRefund | None:
    """The refund as recorded, or None."""
    row = conn.execute(_REFUND, {"id": refund_id}).first()
    return None if row is None else CardRefund(**row._asdict())


def record_refund(conn: Connection, values: Mapping[str, Any]) -> None:
    """Record a refund (`values`: id, payment, org, amount, fee_back, target, failed,
    entry)."""
    conn.execute(_RECORD_REFUND, values)


def mark_refund_failed(conn: Connection, refund_id: str) -> None:
    """The refund failed."""
    conn.execute(_REFUND_FAILED, {"id": refund_id})


# -- card disputes -------------------------------------------------------------------------

_DISPUTE_STATUSES = text("SELECT status FROM payments.card_disputes WHERE payment_id = :id")
_LOCK_DISPUTE = text("""
    SELECT id, payment_id, escrow_id, amount, status, withdrawn, reinstated
      FROM payments.card_disputes WHERE id = :id FOR UPDATE""")
_RECORD_DISPUTE = text("""
    INSERT INTO payments.card_disputes (id, payment_id, org_id, escrow_id, amount)
    VALUES (:id, :payment, :org, :escrow, :amount)""")
_FUNDS_MOVED = {
    moved: text(
        f"UPDATE payments.card_disputes SET {moved} = true, updated_at = now() WHERE id = :id"
    )
    for moved in ("withdrawn", "reinstated")
}
_CLOSE_DISPUTE = text("""
    UPDATE payments.card_disputes SET status = :status, updated_at = now() WHERE id = :id""")

FundsMove = Literal["withdrawn", "reinstated"]


@dataclass(frozen=True)
class CardDispute:
    """A dispute as escrow recorded it."""

    id: str
    payment_id: str
    escrow_id: uuid.UUID
    amount: int
    status: str
    withdrawn: bool
    reinstated: bool

    def moved(self, move: FundsMove) -> bool:
        """Whether Stripe's move of its funds (withdrawn, reinstated) was booked."""
        return self.withdrawn if move == "withdrawn" else self.reinstated


def dispute_statuses(conn: Connection, payment_id: str) -> list[str]:
    """The statuses of the payment's disputes."""
    return list(conn.execute(_DISPUTE_STATUSES, {"id": payment_id}).scalars())


def lock_dispute(conn: Connection, dispute_id: str) -> CardDispute | None:
    """The dispute, locked, or None."""
    row = conn.execute(_LOCK_DISPUTE, {"id": dispute_id}).first()
    return None if row is None else CardDispute(**row._asdict())


def record_dispute(
    conn: Connection,
    dispute_id: str,
    payment_id: str,
    *,
    org_id: uuid.UUID,
    escrow_id: uuid.UUID,
    amount: int,
) -> None:
    """Record a dispute of the payment (open)."""
    conn.execute(
        _RECORD_DISPUTE,
        {
            "id": dispute_id,
            "payment": payment_id,
            "org": org_id,
            "escrow": escrow_id,
            "amount": amount,
        },
    )


def mark_funds_moved(conn: Connection, dispute_id: str, move: FundsMove) -> None:
    """Stripe's move of the dispute's funds is booked."""
    conn.execute(_FUNDS_MOVED[move], {"id": dispute_id})


def close_dispute_row(conn: Connection, dispute_id: str, *, won: bool) -> None:
    """The dispute is closed, won or lost."""
    conn.execute(_CLOSE_DISPUTE, {"id": dispute_id, "status": "won" if won else "lost"})

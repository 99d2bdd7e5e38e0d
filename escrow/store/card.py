"""The card's side of escrow's store: `payments.card_payments`, `card_refunds` and
`card_disputes`, as named statements and small functions.

Other packages read these tables only through escrow's public face: `payment_amounts`, and
for a statement of their own that must stay one round trip, the scalar SQL expressions
`paid_sql` and `refunded_sql`.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Connection, text

# -- what other packages read: the amounts paid and refunded of a payment ----------------

# The gross captured for a payment (its PaymentIntent's id), 0 if none was captured.
_PAID = "coalesce((SELECT cp.gross FROM payments.card_payments cp WHERE cp.id = {payment}), 0)"
# What was refunded of it: its refunds that did not fail (a failed one gave the money back).
_REFUNDED = """coalesce((SELECT sum(r.amount) FROM payments.card_refunds r
                 WHERE r.payment_id = {payment} AND NOT r.failed), 0)"""


@dataclass(frozen=True)
class PaymentAmounts:
    """What a card payment brought in and what was refunded of it (minor units)."""

    paid: int
    refunded: int


def paid_sql(payment_id: str) -> str:
    """A scalar SQL expression: the gross captured for the payment whose id (the
    PaymentIntent's) is the SQL expression `payment_id` (a column or placeholder), 0 if none.
    For another package's statement that must read it in the same round trip."""
    return _PAID.format(payment=payment_id)


def refunded_sql(payment_id: str) -> str:
    """A scalar SQL expression: what was refunded (refunds that did not fail) of the payment
    whose id is the SQL expression `payment_id`, 0 if nothing."""
    return _REFUNDED.format(payment=payment_id)


_PAYMENT_AMOUNTS = text(f"SELECT {paid_sql(':id')} AS paid, {refunded_sql(':id')} AS refunded")


def payment_amounts(conn: Connection, payment_id: str | None) -> PaymentAmounts:
    """What the payment (a PaymentIntent's id) brought in and what was refunded of it, as
    escrow booked them; zeros for a payment escrow never captured (or none)."""
    if payment_id is None:
        return PaymentAmounts(paid=0, refunded=0)
    row = conn.execute(_PAYMENT_AMOUNTS, {"id": payment_id}).one()
    return PaymentAmounts(paid=int(row.paid), refunded=int(row.refunded))

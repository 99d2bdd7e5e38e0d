"""Escrow's store: every SQL statement on escrow's tables (`payments.escrows`,
`escrow_transitions`, `organizer_policies`, `card_payments`, `card_refunds`,
`card_disputes`, `organizer_transfers`, `transfer_reversal_requests`, `platform_payouts`),
as named statements at the top of each module and small functions below them. Nothing here
decides: the use cases call these on the caller's connection and never commit.
"""

from __future__ import annotations

from escrow.store.card import PaymentAmounts, paid_sql, payment_amounts, refunded_sql

__all__ = ["PaymentAmounts", "paid_sql", "payment_amounts", "refunded_sql"]

"""What escrow needs from Stripe, as a protocol (the application implements it with the
stripe library; escrow never imports it)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol


@dataclass(frozen=True)
class ChargeFacts:
    """A PaymentIntent's charge as its balance transaction tells it."""

    charge_id: str
    balance_transaction_id: str | None
    stripe_fee: int
    created: datetime | None = None
    """When Stripe made the charge: when the buyer confirmed the payment (a card's at its
    success, a bank debit's at its start, days before it succeeds); None if not said."""


@dataclass(frozen=True)
class RefundFacts:
    """One refund of a charge."""

    refund_id: str
    payment_intent_id: str
    amount: int
    status: str


class StripeReader(Protocol):
    """Looks up what Stripe's events do not carry."""

    def charge_facts(self, payment_intent_id: str) -> ChargeFacts:
        """The charge and the fee of a succeeded PaymentIntent."""
        ...

    def refunds_of_charge(self, charge_id: str) -> list[RefundFacts]:
        """Every refund of a charge."""
        ...

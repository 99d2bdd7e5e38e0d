"""What ticketing needs from Stripe, as a protocol (implemented by the application's gateway)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class CreatedIntent:
    """A PaymentIntent as the front end needs it."""

    payment_intent_id: str
    client_secret: str


class PaymentGateway(Protocol):
    """Creates PaymentIntents and refunds (idempotently, by key)."""

    def create_payment_intent(
        self, amount: int, currency: str, metadata: dict[str, str], idempotency_key: str
    ) -> CreatedIntent:
        """Create (or, for a key seen before, return) a PaymentIntent."""
        ...

    def create_refund(
        self, payment_intent_id: str, amount: int, metadata: dict[str, str], idempotency_key: str
    ) -> str:
        """Refund part of a payment; returns Stripe's refund id."""
        ...

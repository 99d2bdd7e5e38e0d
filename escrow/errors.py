"""Escrow's errors: one base, leaves that carry the ids involved."""

from __future__ import annotations

from typing import Any


class EscrowError(Exception):
    """The escrow refused the request."""

    def __init__(self, message: str | None = None, **details: Any) -> None:
        self.details = details
        for name, value in details.items():
            setattr(self, name, value)
        text = message or (type(self).__doc__ or type(self).__name__).strip()
        if details:
            text += " (" + ", ".join(f"{k}={v!r}" for k, v in details.items()) + ")"
        super().__init__(text)


class EscrowNotFound(EscrowError):
    """No such escrow is visible to this organization."""

    escrow_id: str


class InvalidTransition(EscrowError):
    """The escrow's state does not allow this event."""

    escrow_id: str
    state: str
    event: str


class ConcurrentTransition(EscrowError):
    """Another transaction moved the escrow first (compare-and-set lost)."""

    escrow_id: str
    expected_state: str


class PaymentNotFound(EscrowError):
    """No captured payment with this id (it may not have arrived yet)."""

    payment_id: str


class RefundExceedsPayment(EscrowError):
    """The refunds would exceed what was paid."""

    payment_id: str
    paid: int
    refunded: int
    requested: int


class ReversalExceedsTransfer(EscrowError):
    """The reversals would exceed the transfer."""

    transfer_id: str
    amount: int
    reversed: int
    requested: int


class ReversalRequestNotFound(EscrowError):
    """No transfer reversal was asked under this id."""

    request_id: str


class NotYetApplicable(EscrowError):
    """The event depends on another that has not been processed yet; retry later."""

    reason: str


class InvalidAmount(EscrowError):
    """Amounts are positive integers of minor units."""

    value: object

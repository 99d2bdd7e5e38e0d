"""What escrow tells the outside world: its outbox message types and their payloads."""

from __future__ import annotations

from pydantic import BaseModel

import outbox


class EscrowStateChanged(BaseModel):
    """`escrow.state_changed`: an escrow moved from one state to another."""

    escrow_id: str
    event_id: str
    currency: str
    from_state: str
    to_state: str
    event: str
    held: int


class EscrowReleased(BaseModel):
    """`escrow.released`: an escrow's money was released to the organizer's payable."""

    escrow_id: str
    event_id: str
    currency: str
    amount: int


class TransferRequested(BaseModel):
    """`stripe.transfer.requested`: the task that asks Stripe for the organizer's transfer."""

    escrow_id: str
    org_id: str
    event_id: str
    amount: int
    currency: str
    destination: str | None
    source_transaction: str | None = None
    """The charge that funds the transfer, when one does (a payment captured after the
    release): Stripe then makes the transfer once that charge's funds are available."""


class TransferReversalRequested(BaseModel):
    """`stripe.transfer_reversal.requested`: the task that asks Stripe to reverse part of a
    transfer, recovering what the organizer owes after release."""

    request_id: str
    org_id: str
    transfer_id: str
    amount: int
    currency: str


outbox.register_message_type("escrow.state_changed", EscrowStateChanged)
outbox.register_message_type("escrow.released", EscrowReleased)
outbox.register_message_type("stripe.transfer.requested", TransferRequested)
outbox.register_message_type("stripe.transfer_reversal.requested", TransferReversalRequested)

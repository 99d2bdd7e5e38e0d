"""What escrow's use cases take and give (pure: no I/O): an escrow as stored, an organizer's
terms, a captured payment as Stripe reports it."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, fields
from datetime import datetime, timedelta
from typing import Any


@dataclass(frozen=True)
class Escrow:
    """An escrow as stored."""

    id: uuid.UUID
    org_id: uuid.UUID
    event_id: str
    currency: str
    state: str
    event_ends_at: datetime
    ended_at: datetime | None
    hold_until: datetime | None
    open_disputes: int
    captured: int
    refunded: int
    charged_back: int
    held: int
    released: int
    version: int


ESCROW_FIELDS: tuple[str, ...] = tuple(f.name for f in fields(Escrow))
"""The escrow's columns, in the dataclass's order."""


def escrow_of(row: Any) -> Escrow:
    """The escrow of a row that has (at least) its columns."""
    return Escrow(**{name: getattr(row, name) for name in ESCROW_FIELDS})


@dataclass(frozen=True)
class Policy:
    """An organizer's terms: the platform's fee, who bears Stripe's fee, refund of the fee,
    the hold period after the event, where transfers and payout notices go."""

    platform_fee_bps: int = 500
    platform_fee_fixed: int = 0
    bears_stripe_fees: bool = False
    refund_platform_fee: bool = True
    hold_period: timedelta = timedelta(days=3)
    connected_account: str | None = None
    payout_email: str | None = None


@dataclass(frozen=True)
class CapturedPayment:
    """A captured card payment as Stripe reports it (PaymentIntent, charge, balance txn)."""

    payment_id: str
    org_id: uuid.UUID
    event_id: str
    currency: str
    gross: int
    stripe_fee: int
    event_ends_at: datetime
    charge_id: str | None = None
    balance_transaction_id: str | None = None

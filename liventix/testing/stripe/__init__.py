"""The Stripe stand-in: one in-memory Stripe account (`StripeStandIn`) served over HTTP in
Stripe's wire format (`StandInServer`), for the demo, the tests and the benchmarks, and for a
user's own tests (see `liventix.testing`)."""

from __future__ import annotations

from liventix.testing.stripe.account import StripeStandIn
from liventix.testing.stripe.faults import HANG_SECONDS, Weather
from liventix.testing.stripe.objects import (
    API_VERSION,
    CANCELABLE,
    CANCELLATION_REASONS,
    DISPUTE_FEE,
    IdempotencyError,
    Intent,
    Refund,
    StripeObject,
    StripeRefusal,
    Transfer,
    TransferReversal,
    balance_transaction_of,
    charge_of,
    event,
    new_id,
    stripe_fee,
)
from liventix.testing.stripe.server import StandInServer, main

__all__ = [
    "API_VERSION",
    "CANCELABLE",
    "CANCELLATION_REASONS",
    "DISPUTE_FEE",
    "HANG_SECONDS",
    "IdempotencyError",
    "Intent",
    "Refund",
    "StandInServer",
    "StripeObject",
    "StripeRefusal",
    "StripeStandIn",
    "Transfer",
    "TransferReversal",
    "Weather",
    "balance_transaction_of",
    "charge_of",
    "event",
    "main",
    "new_id",
    "stripe_fee",
]

"""The Stripe stand-in: one in-memory Stripe account (`StripeStandIn`) answering Stripe's API
over HTTP in Stripe's wire format (`start()`, or `StandInServer`), for the demo, the tests and
the benchmarks, and for a user's own tests (see `liventix.testing`).

The modules: `objects` (ids, errors, the account's records and their JSON), `shapes`
(Stripe's full objects, after its fixtures, for seeding; Connect's in `connect_shapes`),
`base` (the account's state and its event log), `event_log` (`GET /v1/events` over that
log), `faults` (Stripe's weather), `account` (payments, refunds, disputes), `connect`
(transfers, reversals, payouts), `seeded` (objects seeded for a test's story), `routes` (the
API), `server` (HTTP), `webhooks` (Stripe's events signed into the application), `cli`."""

from __future__ import annotations

from liventix.testing.stripe import shapes
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
from liventix.testing.stripe.seeded import Payment
from liventix.testing.stripe.server import StandInServer
from liventix.testing.stripe.standin import StripeStandIn
from liventix.testing.stripe.webhooks import Delivered, deliver, deliver_event, signature_header
from liventix.testing.stripe.wire import Recorded, unflatten

__all__ = [
    "API_VERSION",
    "CANCELABLE",
    "CANCELLATION_REASONS",
    "DISPUTE_FEE",
    "HANG_SECONDS",
    "Delivered",
    "IdempotencyError",
    "Intent",
    "Payment",
    "Recorded",
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
    "deliver",
    "deliver_event",
    "event",
    "new_id",
    "shapes",
    "signature_header",
    "stripe_fee",
    "unflatten",
]

"""The Stripe gateway: the one place that calls Stripe's API, with the stripe library.

It answers escrow's `StripeReader` (a PaymentIntent's charge and fee, a charge's refunds)
and makes the organizer's transfers; it lists Stripe's events for the catch-up
(`list_events`). Stripe's 429 raises `StripeBusy` (transient: the inbox defers the event
seconds); every call first takes a token from the process's budget (`Budget`,
LIVENTIX_STRIPE_MAX_RPS). `api_base` lets tests and the demo point it at a
Stripe-compatible server on 127.0.0.1.
"""

from __future__ import annotations

from liventix.stripe_gateway.budget import Budget, StripeBusy, default_max_rps
from liventix.stripe_gateway.gateway import EventsPage, StripeGateway
from liventix.stripe_gateway.intents import DirectIntents
from liventix.stripe_gateway.pool import PooledHTTPClient, StripeSettings, http_client

__all__ = [
    "Budget",
    "DirectIntents",
    "EventsPage",
    "PooledHTTPClient",
    "StripeBusy",
    "StripeGateway",
    "StripeSettings",
    "default_max_rps",
    "http_client",
]

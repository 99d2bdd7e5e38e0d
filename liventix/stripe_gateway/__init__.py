"""The Stripe gateway: the one place that calls Stripe's API, with the stripe library.

It answers escrow's `StripeReader` (a PaymentIntent's charge and fee, a charge's refunds)
and makes the organizer's transfers; it lists Stripe's events for the catch-up
(`list_events`). `api_base` lets tests and the demo point it at a
Stripe-compatible server on 127.0.0.1.
"""

from __future__ import annotations

from liventix.stripe_gateway.gateway import EventsPage, StripeGateway
from liventix.stripe_gateway.intents import DirectIntents
from liventix.stripe_gateway.pool import PooledHTTPClient, StripeSettings, http_client

__all__ = [
    "DirectIntents",
    "EventsPage",
    "PooledHTTPClient",
    "StripeGateway",
    "StripeSettings",
    "http_client",
]

"""Stripe's webhooks in (`POST /v1/stripe/webhook`): `routes`, `schemas`."""

"""Stripe's webhook: its answer."""

from __future__ import annotations

from pydantic import (
    BaseModel,
)


class StripeWebhookResponse(BaseModel):
    """The event was stored (or had been: `duplicate`)."""

    received: bool
    event_id: str
    duplicate: bool

"""Stripe's events into the application, as Stripe sends them: signed with the stripe
library's own helper (`signature_header`, for `POST /v1/stripe/webhook` over HTTP), or
received straight through `liventix.stripe_events.receive_stripe_webhook` on a connection
(`deliver_event`, `deliver`), as the webhook endpoint does."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field

import sqlalchemy as sa
import stripe

from liventix.stripe_events import receive_stripe_webhook
from liventix.testing.stripe.objects import StripeObject


def signature_header(body: bytes, secret: str, timestamp: int | None = None) -> str:
    """The `Stripe-Signature` header Stripe would send with this body."""
    when = int(time.time()) if timestamp is None else timestamp
    header: str = stripe.WebhookSignature.generate_signature_header(
        body.decode(), secret, timestamp=when
    )
    return header


@dataclass
class Delivered:
    """What `deliver_event` stored: the event id and whether it was new."""

    event_id: str
    new: bool
    body: bytes = field(repr=False)


def deliver_event(
    conn: sa.Connection, event: StripeObject, secret: str, timestamp: int | None = None
) -> Delivered:
    """Sign the event's body and receive it as the webhook endpoint does, on `conn`."""
    body = json.dumps(event, separators=(",", ":")).encode()
    event_id, new = receive_stripe_webhook(
        conn, body, signature_header(body, secret, timestamp), secret
    )
    return Delivered(event_id, new, body)


def deliver(engine: sa.Engine, *events: StripeObject, secret: str) -> list[Delivered]:
    """Deliver each event in its own committed transaction, as separate POSTs would."""
    out = []
    for evt in events:
        with engine.begin() as conn:
            out.append(deliver_event(conn, evt, secret))
    return out

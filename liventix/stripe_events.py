"""Stripe's webhooks in: verify the signature on the raw body with the stripe library, then
store the event in the outbox's inbox, keyed by Stripe's event id, on the caller's transaction.

A duplicate is acknowledged and ignored; a bad, missing or stale signature is refused with
`outbox.InvalidSignature` and stores nothing. Handlers registered in the inbox (source
`stripe`) process the events later, each in the transaction of its effects.
"""

from __future__ import annotations

import json
from typing import Any

import stripe
from sqlalchemy import Connection

import outbox

SOURCE = "stripe"
TOLERANCE_SECONDS = 300


def receive_stripe_webhook(
    conn: Connection,
    body: bytes,
    signature_header: str | None,
    secret: str,
    *,
    tolerance: int = TOLERANCE_SECONDS,
) -> tuple[str, bool]:
    """Verify and store one Stripe event; return (event id, True if new)."""
    if not signature_header:
        raise outbox.InvalidSignature(reason="no Stripe-Signature header")
    try:
        # Verifies the raw bytes (never re-serialised JSON), constant-time, with tolerance.
        stripe.Webhook.construct_event(body, signature_header, secret, tolerance=tolerance)
    except stripe.SignatureVerificationError as exc:
        raise outbox.InvalidSignature(reason=str(exc)) from exc
    except ValueError as exc:
        raise outbox.InvalidSignature(reason=f"the body is not JSON: {exc}") from exc
    event: dict[str, Any] = json.loads(body)
    event_id = event.get("id")
    event_type = event.get("type")
    if not isinstance(event_id, str) or not isinstance(event_type, str):
        raise outbox.InvalidSignature(reason="the event has no id or type")
    new = outbox.store_event(conn, SOURCE, event_id, event_type, event)
    return event_id, new

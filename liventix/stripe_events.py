"""Stripe's webhooks in: verify the signature on the raw body with the stripe library, check
that the body is an event the inbox can keep, then store it in the outbox's inbox, keyed by
Stripe's event id, on the caller's transaction.

A duplicate is acknowledged and ignored. Every refusal stores nothing and raises, before any
database work, a subclass of `outbox.InvalidSignature` (one exception for a caller to catch):

- `EventTooLarge`: the body is larger than `MAX_EVENT_BYTES` (checked before the signature);
- `outbox.InvalidSignature` itself: a missing, malformed, wrong, stale signature, or one
  timestamped more than the tolerance in the future (the stripe library checks the past
  only), or a body that is not UTF-8 (Stripe signs UTF-8 text);
- `UnusableEvent`: the signature verified but the body is no event object to keep: not
  JSON, nested deeper than `MAX_JSON_DEPTH`, not an object, text PostgreSQL cannot store
  (`\\u0000`, an unpaired surrogate), a number that is not finite, or an `id`, `type` or
  `data.object` missing, of the wrong type or too long.

Stripe's own list of its events (`GET /v1/events`, read by `liventix.stripe_catchup` when a
webhook never came) is kept the same way: `check_listed_event` applies the same shape checks
to each item (there is no signature: the list is read over the API with the platform's key)
and `store_listed_event` stores it under the same key, so a listed event and its webhook,
in either order, are one event in the inbox.

Handlers registered in the inbox (source `stripe`) process the events later, each in the
transaction of its effects.
"""

from __future__ import annotations

import json
import math
import re
import time
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection

import outbox
from liventix.json_limits import MAX_JSON_DEPTH, too_deep

SOURCE = "stripe"
TOLERANCE_SECONDS = 300
MAX_EVENT_BYTES = 256 * 1024
"""Stripe's events are a few KB: 256 KB is generous."""
MAX_EVENT_ID = 254
"""Stripe's ids are shorter than 255 characters."""
MAX_EVENT_TYPE = 99
"""Stripe's event types are shorter than 100 characters."""
MAX_SIGNATURE_HEADER = 8192
_VISIBLE_ASCII = re.compile(r"^[!-~]+$")
# PostgreSQL's text and jsonb take neither NUL nor a lone surrogate (no UTF-8 for it).
_UNSTORABLE = re.compile(r"[\x00\ud800-\udfff]")


class EventTooLarge(outbox.InvalidSignature):
    """The webhook body is larger than an event may be; it was not read further."""


class UnusableEvent(outbox.InvalidSignature):
    """The body's signature verified, but it is not an event the inbox can keep."""


@dataclass(frozen=True)
class VerifiedEvent:
    """A Stripe event whose signature verified and whose shape the inbox can keep."""

    id: str
    type: str
    payload: dict[str, Any]
    body: str
    """The raw body as Stripe sent it (what the signature covers)."""
    signature: str
    """The `Stripe-Signature` header it came with."""


def _signature_timestamp(header: str) -> int:
    # As the stripe library reads it (`WebhookSignature._get_timestamp_and_signatures`).
    items = [item.split("=", 2) for item in header.split(",")]
    return int(next(item[1] for item in items if item[0] == "t"))


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"the number {text[:40]} is not finite")
    return value


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _unstorable_at(value: Any, path: str) -> str | None:
    """The path of the first string (value or key) PostgreSQL cannot store, else None.
    The depth is bounded before parsing, so the recursion is too."""
    if isinstance(value, str):
        return path if _UNSTORABLE.search(value) else None
    if isinstance(value, dict):
        for key, item in value.items():
            if _UNSTORABLE.search(key):
                return f"{path}.<key>"
            found = _unstorable_at(item, f"{path}.{key}")
            if found is not None:
                return found
    if isinstance(value, list):
        for index, item in enumerate(value):
            found = _unstorable_at(item, f"{path}.{index}")
            if found is not None:
                return found
    return None


def _text(event: dict[str, Any], name: str, longest: int) -> str:
    value = event.get(name)
    if not isinstance(value, str) or not value:
        raise UnusableEvent(reason=f"the event's {name} is not a non-empty string")
    if len(value) > longest:
        raise UnusableEvent(reason=f"the event's {name} is longer than {longest} characters")
    if not _VISIBLE_ASCII.match(value):
        raise UnusableEvent(reason=f"the event's {name} is not visible ASCII")
    return value


def verify_stripe_webhook(
    body: bytes,
    signature_header: str | None,
    secret: str,
    *,
    tolerance: int = TOLERANCE_SECONDS,
) -> VerifiedEvent:
    """The event in `body`, once its size, signature, timestamp and shape are checked (see
    the module for what is refused); touches no database."""
    if len(body) > MAX_EVENT_BYTES:
        raise EventTooLarge(reason=f"the body is larger than {MAX_EVENT_BYTES} bytes")
    if not signature_header:
        raise outbox.InvalidSignature(reason="no Stripe-Signature header")
    if len(signature_header) > MAX_SIGNATURE_HEADER:
        raise outbox.InvalidSignature(reason="the Stripe-Signature header is too long")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise outbox.InvalidSignature(reason="the body is not UTF-8") from exc
    # Imported here: every CLI process imports this module (liventix.database registers the
    # webhook secret through it), and most never verify an event.
    import stripe  # noqa: PLC0415 (the only use; see above)

    try:
        # The raw text (never re-serialised JSON), constant-time, the past's tolerance.
        stripe.WebhookSignature.verify_header(text, signature_header, secret, tolerance)
    except stripe.SignatureVerificationError as exc:
        raise outbox.InvalidSignature(reason=str(exc)) from exc
    # The library refuses only what is too old: a timestamp far ahead is refused here (the
    # same clock as the library's check, the same tolerance).
    if _signature_timestamp(signature_header) > time.time() + tolerance:
        raise outbox.InvalidSignature(
            reason=f"the signature's timestamp is more than {tolerance} s in the future"
        )
    event, event_id, event_type = _usable(text)
    return VerifiedEvent(event_id, event_type, event, text, signature_header)


def _usable(text: str) -> tuple[dict[str, Any], str, str]:
    """The event in `text` with its id and type, once its shape is one the inbox can keep
    (the module's `UnusableEvent` list); the same checks for a webhook's body and for an
    event of Stripe's list."""
    if too_deep(text, MAX_JSON_DEPTH):
        raise UnusableEvent(reason=f"the body nests deeper than {MAX_JSON_DEPTH}")
    try:
        event = json.loads(text, parse_float=_finite, parse_constant=_no_constant)
    except (ValueError, RecursionError) as exc:
        raise UnusableEvent(reason=f"the body is not JSON: {str(exc)[:200]}") from exc
    if not isinstance(event, dict):
        raise UnusableEvent(reason=f"the body is a JSON {type(event).__name__}, not an object")
    bad = _unstorable_at(event, "event")
    if bad is not None:
        raise UnusableEvent(reason=f"{bad} holds NUL or an unpaired surrogate")
    event_id = _text(event, "id", MAX_EVENT_ID)
    event_type = _text(event, "type", MAX_EVENT_TYPE)
    data = event.get("data")
    if not isinstance(data, dict) or not isinstance(data.get("object"), dict):
        raise UnusableEvent(reason="the event's data.object is not an object")
    return event, event_id, event_type


@dataclass(frozen=True)
class ListedEvent:
    """An event read from Stripe's own list (`GET /v1/events`, over the API with the
    platform's key: no signature to check) whose shape the inbox can keep."""

    id: str
    type: str
    created: int
    """When Stripe created it (Unix seconds): where the catch-up's cursor moves."""
    payload: dict[str, Any]


def check_listed_event(item: object) -> ListedEvent:
    """An item of Stripe's event list as the inbox keeps it, checked as a webhook's body is
    (its JSON text: size, depth, storable text, finite numbers, `id`, `type`, `data.object`)
    and for a `created` in Unix seconds; raises `UnusableEvent` otherwise."""
    try:
        text = json.dumps(item, ensure_ascii=False, allow_nan=True, separators=(",", ":"))
    except (TypeError, ValueError, RecursionError) as exc:
        raise UnusableEvent(reason=f"the item is not JSON: {str(exc)[:200]}") from exc
    if len(text.encode("utf-8", "surrogatepass")) > MAX_EVENT_BYTES:
        raise UnusableEvent(reason=f"the event is larger than {MAX_EVENT_BYTES} bytes")
    event, event_id, event_type = _usable(text)
    created = event.get("created")
    if type(created) is not int or created < 0:
        raise UnusableEvent(reason="the event's created is not a Unix time in seconds")
    return ListedEvent(event_id, event_type, created, event)


def store_listed_event(conn: Connection, event: ListedEvent) -> bool:
    """Store an event read from Stripe's list in the inbox on the caller's transaction, as a
    delivered webhook is stored (source `stripe`, its event id): False if it was already
    there (delivered, or listed before). For the schema's owner (the worker, the CLI)."""
    return outbox.store_event(conn, SOURCE, event.id, event.type, event.payload)


def store_verified_event(conn: Connection, event: VerifiedEvent) -> bool:
    """Store a verified event in the inbox on the caller's transaction; False if it was
    already there. For the schema's owner (tools, tests); the API uses
    `receive_verified_event`."""
    return outbox.store_event(conn, SOURCE, event.id, event.type, event.payload)


def receive_verified_event(conn: Connection, event: VerifiedEvent) -> bool:
    """Store a verified event through the database's own check of its signature (the way the
    application's roles add to the inbox); False if it was already there. Raises
    `outbox.InboxNotConfigured` when no secret is registered (`register_webhook_secret`)."""
    received = outbox.receive_signed_event(conn, SOURCE, event.body, event.signature)
    return received.stored


def register_webhook_secret(conn: Connection, secret: str | None) -> None:
    """Register Stripe's webhook signing secret in the database (None: forget it), so that
    it checks every event the API stores. The schema's owner only (`liventix serve` does it
    at start-up, through `liventix.database.prepare`)."""
    outbox.set_inbox_secret(conn, SOURCE, secret, tolerance_s=TOLERANCE_SECONDS)


def receive_stripe_webhook(
    conn: Connection,
    body: bytes,
    signature_header: str | None,
    secret: str,
    *,
    tolerance: int = TOLERANCE_SECONDS,
) -> tuple[str, bool]:
    """Verify and store one Stripe event; return (event id, True if new)."""
    event = verify_stripe_webhook(body, signature_header, secret, tolerance=tolerance)
    return event.id, store_verified_event(conn, event)

"""The outbox's errors: one base, leaves that carry the ids involved."""

from __future__ import annotations

from typing import Any


class OutboxError(Exception):
    """The outbox refused the request."""

    def __init__(self, message: str | None = None, **details: Any) -> None:
        self.details = details
        for name, value in details.items():
            setattr(self, name, value)
        text = message or (type(self).__doc__ or type(self).__name__).strip()
        if details:
            text += " (" + ", ".join(f"{k}={v!r}" for k, v in details.items()) + ")"
        super().__init__(text)


class UnknownMessageType(OutboxError):
    """No payload model is registered for this message type."""

    message_type: str


class InvalidPayload(OutboxError):
    """The payload is not an instance of the model registered for its message type."""

    message_type: str


class InvalidEndpoint(OutboxError):
    """The endpoint's URL or event types are invalid."""

    reason: str


class EndpointNotFound(OutboxError):
    """No such endpoint is visible to this organization."""

    endpoint_id: str


class DeliveryNotFound(OutboxError):
    """No such delivery is visible to this organization."""

    delivery_id: int


class InvalidSignature(OutboxError):
    """The event's signature did not verify; nothing was stored."""

    reason: str


class InboxNotConfigured(OutboxError):
    """No signing secret is registered in the database for this inbox source."""

    source: str


class TargetRefused(InvalidEndpoint):
    """The endpoint's host is, or resolves to, an address webhooks may not reach."""

    reason: str
    host: str

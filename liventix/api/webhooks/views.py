"""From the outbox's values to the webhooks slice's response models."""

from __future__ import annotations

from typing import Literal

import outbox
from liventix.api.webhooks import read_side
from liventix.api.webhooks import schemas as m


def endpoint(e: outbox.Endpoint) -> m.EndpointResponse:
    """An endpoint response."""
    return m.EndpointResponse(
        id=e.id,
        org_id=e.org_id,
        url=e.url,
        event_types=list(e.event_types),
        enabled=e.enabled,
        disabled_reason=e.disabled_reason,
        failing_since=e.failing_since,
        created_at=e.created_at,
    )


Channel = Literal["webhook", "email", "task"]


def delivery(d: read_side.Delivery) -> m.DeliveryResponse:
    """A delivery response."""
    return m.DeliveryResponse(
        id=d.id,
        message_id=d.message_id,
        type=d.type,
        channel=d.channel,  # type: ignore[arg-type]
        endpoint_id=d.endpoint_id,
        status=d.status,  # type: ignore[arg-type]
        attempts=d.attempts,
        next_attempt_at=d.next_attempt_at,
        last_error=d.last_error,
        created_at=d.created_at,
        finished_at=d.finished_at,
    )


def attempt(a: read_side.Attempt) -> m.AttemptResponse:
    """An attempt response."""
    return m.AttemptResponse(
        attempt=a.attempt,
        started_at=a.started_at,
        duration_ms=a.duration_ms,
        status_code=a.status_code,
        response_body=a.response_body,
        error=a.error,
        succeeded=a.succeeded,
    )

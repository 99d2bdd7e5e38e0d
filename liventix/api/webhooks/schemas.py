"""Webhook endpoints and deliveries: request and response bodies."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal

from pydantic import (
    BaseModel,
    Field,
    StrictInt,
)

from liventix.api.pages import ListObject
from liventix.api.schemas import RequestModel

EventType = Annotated[str, Field(pattern=r"^[a-z0-9_]+(\.[a-z0-9_]+)+$", max_length=100)]


class CreateEndpointRequest(RequestModel):
    """Register a webhook endpoint (every event type when `event_types` is empty)."""

    url: Annotated[str, Field(min_length=1, max_length=2000, examples=["https://example.com/"])]
    event_types: Annotated[list[EventType], Field(max_length=100)] = Field(default_factory=list)
    description: Annotated[str, Field(max_length=500)] = ""


class EndpointResponse(BaseModel):
    """A webhook endpoint (its secrets are shown only when created or rotated)."""

    id: uuid.UUID
    org_id: uuid.UUID
    url: str
    event_types: list[str]
    enabled: bool
    disabled_reason: str | None
    failing_since: datetime | None
    created_at: datetime


class EndpointCreatedResponse(EndpointResponse):
    """A new endpoint and its signing secret (shown once)."""

    secret: str


class EndpointList(ListObject[EndpointResponse]):
    """A page of the organization's endpoints, oldest first."""


class RotateSecretRequest(RequestModel):
    """Rotate the signing secret; the old ones keep signing for `grace_seconds`."""

    grace_seconds: Annotated[StrictInt, Field(ge=0, le=7 * 24 * 3600)] = 24 * 3600


class SecretResponse(BaseModel):
    """The endpoint's new signing secret (shown once)."""

    endpoint_id: uuid.UUID
    secret: str


class DisableEndpointRequest(RequestModel):
    """Disable an endpoint: it gets no new deliveries."""

    reason: Annotated[str, Field(min_length=1, max_length=500)] | None = None


class DeliveryResponse(BaseModel):
    """One delivery of a message (to a webhook endpoint, an e-mail address or a task)."""

    id: int
    message_id: uuid.UUID
    type: str
    channel: Literal["webhook", "email", "task"]
    endpoint_id: uuid.UUID | None
    status: Literal["pending", "delivering", "succeeded", "dead", "cancelled"]
    attempts: int
    next_attempt_at: datetime
    last_error: str | None
    created_at: datetime
    finished_at: datetime | None


class DeliveryList(ListObject[DeliveryResponse]):
    """A page of deliveries, newest first."""


class AttemptResponse(BaseModel):
    """One try of a delivery."""

    attempt: int
    started_at: datetime
    duration_ms: int
    status_code: int | None
    response_body: str | None
    error: str | None
    succeeded: bool


class AttemptList(ListObject[AttemptResponse]):
    """A delivery's attempts, first first (whole: `has_more` is false)."""


class RequeueResponse(BaseModel):
    """How many dead deliveries were brought back."""

    requeued: int

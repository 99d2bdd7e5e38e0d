"""Escrows' response bodies."""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import (
    BaseModel,
)

from liventix.api.pages import ListObject
from liventix.api.schemas import Amount


class EscrowResponse(BaseModel):
    """An escrow: the organizer's revenue of one event held until release."""

    id: uuid.UUID
    org_id: uuid.UUID
    event_id: str
    currency: str
    state: str
    event_ends_at: datetime
    ended_at: datetime | None
    hold_until: datetime | None
    open_disputes: int
    captured: Amount
    refunded: Amount
    charged_back: Amount
    held: Amount
    released: Amount
    version: int


class EscrowList(ListObject[EscrowResponse]):
    """A page of escrows, oldest first."""


class EscrowTransitionResponse(BaseModel):
    """One step of an escrow's audit trail."""

    from_state: str
    to_state: str
    event: str
    cause: str | None
    entry_id: uuid.UUID | None
    created_at: datetime


class EscrowTransitionList(ListObject[EscrowTransitionResponse]):
    """An escrow's audit trail, oldest first (whole: `has_more` is false)."""


class ReleaseStep(BaseModel):
    """An escrow moved one step by the release run."""

    escrow_id: uuid.UUID
    state: str


class ReleaseDueResponse(BaseModel):
    """Every step the release run took."""

    steps: list[ReleaseStep]

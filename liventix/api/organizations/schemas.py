"""Organizations: request and response bodies."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, Field

from liventix.api.pages import ListObject
from liventix.api.schemas import RequestModel


class CreateOrganizationRequest(RequestModel):
    """Register an organization (an organizer): its name."""

    name: Annotated[
        str, Field(min_length=1, max_length=200, pattern=r"\S", examples=["Riverside Jazz Club"])
    ]


class OrganizationResponse(BaseModel):
    """An organization: the platform itself (`is_platform`) or an organizer."""

    id: uuid.UUID
    name: str
    is_platform: bool
    created_at: datetime


class OrganizationList(ListObject[OrganizationResponse]):
    """Organizations, oldest first; `has_more` when the page was cut at `limit`."""

"""Health and readiness answers."""

from __future__ import annotations

from typing import Literal

from pydantic import (
    BaseModel,
)


class HealthResponse(BaseModel):
    """The process is up."""

    status: Literal["ok"]


class ReadyResponse(BaseModel):
    """The database answers and its schema is at the newest migration."""

    status: Literal["ready"]
    revision: str

"""The reports' errors: one base, one leaf per reason, each carrying what it is about; the
docstring is the default message."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any


class ReportError(Exception):
    """A report cannot be built as asked."""

    def __init__(self, message: str | None = None, **details: Any) -> None:
        self.details: dict[str, Any] = details
        for name, value in details.items():
            setattr(self, name, value)
        text = message or (type(self).__doc__ or type(self).__name__).strip()
        if details:
            text += " (" + ", ".join(f"{k}={v!r}" for k, v in details.items()) + ")"
        super().__init__(text)


class StripeImportError(ReportError, ValueError):
    """The file is not balance transactions in an accepted format."""


class UnknownOrganization(ReportError):
    """No organization has this id (or name)."""

    org_id: uuid.UUID
    name: str


class AmbiguousOrganization(ReportError):
    """More than one organization has this name: name it by id."""

    name: str
    org_ids: list[str]


class InvalidPeriod(ReportError):
    """A period runs from an earlier start to a later end, both with a time zone."""

    start: datetime
    end: datetime

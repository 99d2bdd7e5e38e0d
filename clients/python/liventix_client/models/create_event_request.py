from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import Any, TypeVar

from attrs import define as _attrs_define

from ..models.create_event_request_currency import CreateEventRequestCurrency

T = TypeVar("T", bound="CreateEventRequest")


@_attrs_define
class CreateEventRequest:
    """Create an event.

    Attributes:
        name (str):
        currency (CreateEventRequestCurrency): ISO 4217 code
        starts_at (datetime.datetime):
        ends_at (datetime.datetime):
    """

    name: str
    currency: CreateEventRequestCurrency
    starts_at: datetime.datetime
    ends_at: datetime.datetime

    def to_dict(self) -> dict[str, Any]:
        name = self.name

        currency = self.currency.value

        starts_at = self.starts_at.isoformat()

        ends_at = self.ends_at.isoformat()

        field_dict: dict[str, Any] = {}

        field_dict.update(
            {
                "name": name,
                "currency": currency,
                "starts_at": starts_at,
                "ends_at": ends_at,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        name = d.pop("name")

        currency = CreateEventRequestCurrency(d.pop("currency"))

        starts_at = datetime.datetime.fromisoformat(d.pop("starts_at"))

        ends_at = datetime.datetime.fromisoformat(d.pop("ends_at"))

        create_event_request = cls(
            name=name,
            currency=currency,
            starts_at=starts_at,
            ends_at=ends_at,
        )

        return create_event_request

from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeVar, cast
from uuid import UUID

from attrs import define as _attrs_define
from attrs import field as _attrs_field

if TYPE_CHECKING:
    from ..models.ticket_type_response import TicketTypeResponse


T = TypeVar("T", bound="EventResponse")


@_attrs_define
class EventResponse:
    """An event and its ticket types.

    Attributes:
        id (UUID):
        org_id (UUID):
        name (str):
        currency (str):
        starts_at (datetime.datetime):
        ends_at (datetime.datetime):
        cancelled_at (datetime.datetime | None):
        ticket_types (list[TicketTypeResponse]):
    """

    id: UUID
    org_id: UUID
    name: str
    currency: str
    starts_at: datetime.datetime
    ends_at: datetime.datetime
    cancelled_at: datetime.datetime | None
    ticket_types: list[TicketTypeResponse]
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        id = str(self.id)

        org_id = str(self.org_id)

        name = self.name

        currency = self.currency

        starts_at = self.starts_at.isoformat()

        ends_at = self.ends_at.isoformat()

        cancelled_at: None | str
        if isinstance(self.cancelled_at, datetime.datetime):
            cancelled_at = self.cancelled_at.isoformat()
        else:
            cancelled_at = self.cancelled_at

        ticket_types = []
        for ticket_types_item_data in self.ticket_types:
            ticket_types_item = ticket_types_item_data.to_dict()
            ticket_types.append(ticket_types_item)

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "id": id,
                "org_id": org_id,
                "name": name,
                "currency": currency,
                "starts_at": starts_at,
                "ends_at": ends_at,
                "cancelled_at": cancelled_at,
                "ticket_types": ticket_types,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.ticket_type_response import TicketTypeResponse  # noqa: PLC0415

        d = dict(src_dict)
        id = UUID(d.pop("id"))

        org_id = UUID(d.pop("org_id"))

        name = d.pop("name")

        currency = d.pop("currency")

        starts_at = datetime.datetime.fromisoformat(d.pop("starts_at"))

        ends_at = datetime.datetime.fromisoformat(d.pop("ends_at"))

        def _parse_cancelled_at(data: object) -> datetime.datetime | None:
            if data is None:
                return data
            try:
                if not isinstance(data, str):
                    raise TypeError()
                cancelled_at_type_0 = datetime.datetime.fromisoformat(data)

                return cancelled_at_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(datetime.datetime | None, data)

        cancelled_at = _parse_cancelled_at(d.pop("cancelled_at"))

        ticket_types = []
        _ticket_types = d.pop("ticket_types")
        for ticket_types_item_data in _ticket_types:
            ticket_types_item = TicketTypeResponse.from_dict(ticket_types_item_data)

            ticket_types.append(ticket_types_item)

        event_response = cls(
            id=id,
            org_id=org_id,
            name=name,
            currency=currency,
            starts_at=starts_at,
            ends_at=ends_at,
            cancelled_at=cancelled_at,
            ticket_types=ticket_types,
        )

        event_response.additional_properties = d
        return event_response

    @property
    def additional_keys(self) -> list[str]:
        return list(self.additional_properties.keys())

    def __getitem__(self, key: str) -> Any:
        return self.additional_properties[key]

    def __setitem__(self, key: str, value: Any) -> None:
        self.additional_properties[key] = value

    def __delitem__(self, key: str) -> None:
        del self.additional_properties[key]

    def __contains__(self, key: str) -> bool:
        return key in self.additional_properties

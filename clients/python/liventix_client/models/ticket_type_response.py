from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeVar
from uuid import UUID

from attrs import define as _attrs_define
from attrs import field as _attrs_field

if TYPE_CHECKING:
    from ..models.amount import Amount


T = TypeVar("T", bound="TicketTypeResponse")


@_attrs_define
class TicketTypeResponse:
    """A ticket type and its counters.

    Attributes:
        id (UUID):
        event_id (UUID):
        name (str):
        price (Amount): An amount of minor units in a currency (a balance: zero or negative too).
        capacity (int):
        held (int):
        sold (int):
        available (int):
        sales_start (datetime.datetime):
        sales_end (datetime.datetime):
    """

    id: UUID
    event_id: UUID
    name: str
    price: Amount
    capacity: int
    held: int
    sold: int
    available: int
    sales_start: datetime.datetime
    sales_end: datetime.datetime
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        id = str(self.id)

        event_id = str(self.event_id)

        name = self.name

        price = self.price.to_dict()

        capacity = self.capacity

        held = self.held

        sold = self.sold

        available = self.available

        sales_start = self.sales_start.isoformat()

        sales_end = self.sales_end.isoformat()

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "id": id,
                "event_id": event_id,
                "name": name,
                "price": price,
                "capacity": capacity,
                "held": held,
                "sold": sold,
                "available": available,
                "sales_start": sales_start,
                "sales_end": sales_end,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.amount import Amount  # noqa: PLC0415

        d = dict(src_dict)
        id = UUID(d.pop("id"))

        event_id = UUID(d.pop("event_id"))

        name = d.pop("name")

        price = Amount.from_dict(d.pop("price"))

        capacity = d.pop("capacity")

        held = d.pop("held")

        sold = d.pop("sold")

        available = d.pop("available")

        sales_start = datetime.datetime.fromisoformat(d.pop("sales_start"))

        sales_end = datetime.datetime.fromisoformat(d.pop("sales_end"))

        ticket_type_response = cls(
            id=id,
            event_id=event_id,
            name=name,
            price=price,
            capacity=capacity,
            held=held,
            sold=sold,
            available=available,
            sales_start=sales_start,
            sales_end=sales_end,
        )

        ticket_type_response.additional_properties = d
        return ticket_type_response

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

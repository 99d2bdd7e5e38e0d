from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeVar

from attrs import define as _attrs_define

if TYPE_CHECKING:
    from ..models.money import Money


T = TypeVar("T", bound="TicketTypeRequest")


@_attrs_define
class TicketTypeRequest:
    """Add a ticket type to an event (its price in the event's currency).

    Attributes:
        name (str):
        price (Money): A positive amount of minor units in a currency.
        capacity (int):
        sales_start (datetime.datetime):
        sales_end (datetime.datetime):
    """

    name: str
    price: Money
    capacity: int
    sales_start: datetime.datetime
    sales_end: datetime.datetime

    def to_dict(self) -> dict[str, Any]:
        name = self.name

        price = self.price.to_dict()

        capacity = self.capacity

        sales_start = self.sales_start.isoformat()

        sales_end = self.sales_end.isoformat()

        field_dict: dict[str, Any] = {}

        field_dict.update(
            {
                "name": name,
                "price": price,
                "capacity": capacity,
                "sales_start": sales_start,
                "sales_end": sales_end,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.money import Money  # noqa: PLC0415

        d = dict(src_dict)
        name = d.pop("name")

        price = Money.from_dict(d.pop("price"))

        capacity = d.pop("capacity")

        sales_start = datetime.datetime.fromisoformat(d.pop("sales_start"))

        sales_end = datetime.datetime.fromisoformat(d.pop("sales_end"))

        ticket_type_request = cls(
            name=name,
            price=price,
            capacity=capacity,
            sales_start=sales_start,
            sales_end=sales_end,
        )

        return ticket_type_request

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from attrs import define as _attrs_define
from attrs import field as _attrs_field

T = TypeVar("T", bound="OrderEvent")


@_attrs_define
class OrderEvent:
    """`order.paid`, `order.cancelled`, `order.refunded`: an order's state and amounts.

    Attributes:
        order_id (str):
        event_id (str):
        status (str):
        amount (int):
        refunded (int):
        currency (str):
    """

    order_id: str
    event_id: str
    status: str
    amount: int
    refunded: int
    currency: str
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        order_id = self.order_id

        event_id = self.event_id

        status = self.status

        amount = self.amount

        refunded = self.refunded

        currency = self.currency

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "order_id": order_id,
                "event_id": event_id,
                "status": status,
                "amount": amount,
                "refunded": refunded,
                "currency": currency,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        order_id = d.pop("order_id")

        event_id = d.pop("event_id")

        status = d.pop("status")

        amount = d.pop("amount")

        refunded = d.pop("refunded")

        currency = d.pop("currency")

        order_event = cls(
            order_id=order_id,
            event_id=event_id,
            status=status,
            amount=amount,
            refunded=refunded,
            currency=currency,
        )

        order_event.additional_properties = d
        return order_event

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

from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Literal, TypeVar, cast

from attrs import define as _attrs_define
from attrs import field as _attrs_field

if TYPE_CHECKING:
    from ..models.order_event import OrderEvent


T = TypeVar("T", bound="OrderRefundedWebhook")


@_attrs_define
class OrderRefundedWebhook:
    """The `order.refunded` webhook's body.

    Attributes:
        type_ (Literal['order.refunded']):
        timestamp (datetime.datetime): When the event happened (the message was written)
        data (OrderEvent): `order.paid`, `order.cancelled`, `order.refunded`: an order's state and amounts.
    """

    type_: Literal["order.refunded"]
    timestamp: datetime.datetime
    data: OrderEvent
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        type_ = self.type_

        timestamp = self.timestamp.isoformat()

        data = self.data.to_dict()

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "type": type_,
                "timestamp": timestamp,
                "data": data,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.order_event import OrderEvent  # noqa: PLC0415

        d = dict(src_dict)
        type_ = cast(Literal["order.refunded"], d.pop("type"))
        if type_ != "order.refunded":
            raise ValueError(f"type must match const 'order.refunded', got '{type_}'")

        timestamp = datetime.datetime.fromisoformat(d.pop("timestamp"))

        data = OrderEvent.from_dict(d.pop("data"))

        order_refunded_webhook = cls(
            type_=type_,
            timestamp=timestamp,
            data=data,
        )

        order_refunded_webhook.additional_properties = d
        return order_refunded_webhook

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

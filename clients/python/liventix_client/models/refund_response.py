from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeVar
from uuid import UUID

from attrs import define as _attrs_define
from attrs import field as _attrs_field

if TYPE_CHECKING:
    from ..models.order_response import OrderResponse


T = TypeVar("T", bound="RefundResponse")


@_attrs_define
class RefundResponse:
    """The refund asked of Stripe, and the order after it.

    Attributes:
        refund_id (UUID):
        order (OrderResponse): An order, what was paid and refunded for it (as the ledger booked it), its tickets.
    """

    refund_id: UUID
    order: OrderResponse
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        refund_id = str(self.refund_id)

        order = self.order.to_dict()

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "refund_id": refund_id,
                "order": order,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.order_response import OrderResponse  # noqa: PLC0415

        d = dict(src_dict)
        refund_id = UUID(d.pop("refund_id"))

        order = OrderResponse.from_dict(d.pop("order"))

        refund_response = cls(
            refund_id=refund_id,
            order=order,
        )

        refund_response.additional_properties = d
        return refund_response

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

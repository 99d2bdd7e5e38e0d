from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar
from uuid import UUID

from attrs import define as _attrs_define

T = TypeVar("T", bound="CheckoutItemRequest")


@_attrs_define
class CheckoutItemRequest:
    """So many tickets of one type.

    Attributes:
        ticket_type_id (UUID):
        quantity (int):
    """

    ticket_type_id: UUID
    quantity: int

    def to_dict(self) -> dict[str, Any]:
        ticket_type_id = str(self.ticket_type_id)

        quantity = self.quantity

        field_dict: dict[str, Any] = {}

        field_dict.update(
            {
                "ticket_type_id": ticket_type_id,
                "quantity": quantity,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        ticket_type_id = UUID(d.pop("ticket_type_id"))

        quantity = d.pop("quantity")

        checkout_item_request = cls(
            ticket_type_id=ticket_type_id,
            quantity=quantity,
        )

        return checkout_item_request

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeVar
from uuid import UUID

from attrs import define as _attrs_define

if TYPE_CHECKING:
    from ..models.checkout_item_request import CheckoutItemRequest


T = TypeVar("T", bound="CheckoutRequest")


@_attrs_define
class CheckoutRequest:
    """Start a checkout: hold the tickets and create the PaymentIntent.

    Attributes:
        event_id (UUID):
        buyer_email (str):
        items (list[CheckoutItemRequest]):
    """

    event_id: UUID
    buyer_email: str
    items: list[CheckoutItemRequest]

    def to_dict(self) -> dict[str, Any]:
        event_id = str(self.event_id)

        buyer_email = self.buyer_email

        items = []
        for items_item_data in self.items:
            items_item = items_item_data.to_dict()
            items.append(items_item)

        field_dict: dict[str, Any] = {}

        field_dict.update(
            {
                "event_id": event_id,
                "buyer_email": buyer_email,
                "items": items,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.checkout_item_request import CheckoutItemRequest  # noqa: PLC0415

        d = dict(src_dict)
        event_id = UUID(d.pop("event_id"))

        buyer_email = d.pop("buyer_email")

        items = []
        _items = d.pop("items")
        for items_item_data in _items:
            items_item = CheckoutItemRequest.from_dict(items_item_data)

            items.append(items_item)

        checkout_request = cls(
            event_id=event_id,
            buyer_email=buyer_email,
            items=items,
        )

        return checkout_request

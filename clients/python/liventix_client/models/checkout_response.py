from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeVar
from uuid import UUID

from attrs import define as _attrs_define
from attrs import field as _attrs_field

if TYPE_CHECKING:
    from ..models.amount import Amount


T = TypeVar("T", bound="CheckoutResponse")


@_attrs_define
class CheckoutResponse:
    """What the front end needs to take the payment.

    Attributes:
        order_id (UUID):
        total (Amount): An amount of minor units in a currency (a balance: zero or negative too).
        payment_intent_id (str):
        client_secret (str):
        hold_expires_at (datetime.datetime):
    """

    order_id: UUID
    total: Amount
    payment_intent_id: str
    client_secret: str
    hold_expires_at: datetime.datetime
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        order_id = str(self.order_id)

        total = self.total.to_dict()

        payment_intent_id = self.payment_intent_id

        client_secret = self.client_secret

        hold_expires_at = self.hold_expires_at.isoformat()

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "order_id": order_id,
                "total": total,
                "payment_intent_id": payment_intent_id,
                "client_secret": client_secret,
                "hold_expires_at": hold_expires_at,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.amount import Amount  # noqa: PLC0415

        d = dict(src_dict)
        order_id = UUID(d.pop("order_id"))

        total = Amount.from_dict(d.pop("total"))

        payment_intent_id = d.pop("payment_intent_id")

        client_secret = d.pop("client_secret")

        hold_expires_at = datetime.datetime.fromisoformat(d.pop("hold_expires_at"))

        checkout_response = cls(
            order_id=order_id,
            total=total,
            payment_intent_id=payment_intent_id,
            client_secret=client_secret,
            hold_expires_at=hold_expires_at,
        )

        checkout_response.additional_properties = d
        return checkout_response

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

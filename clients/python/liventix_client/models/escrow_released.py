from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from attrs import define as _attrs_define
from attrs import field as _attrs_field

T = TypeVar("T", bound="EscrowReleased")


@_attrs_define
class EscrowReleased:
    """`escrow.released`: an escrow's money was released to the organizer's payable.

    Attributes:
        escrow_id (str):
        event_id (str):
        currency (str):
        amount (int):
    """

    escrow_id: str
    event_id: str
    currency: str
    amount: int
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        escrow_id = self.escrow_id

        event_id = self.event_id

        currency = self.currency

        amount = self.amount

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "escrow_id": escrow_id,
                "event_id": event_id,
                "currency": currency,
                "amount": amount,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        escrow_id = d.pop("escrow_id")

        event_id = d.pop("event_id")

        currency = d.pop("currency")

        amount = d.pop("amount")

        escrow_released = cls(
            escrow_id=escrow_id,
            event_id=event_id,
            currency=currency,
            amount=amount,
        )

        escrow_released.additional_properties = d
        return escrow_released

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

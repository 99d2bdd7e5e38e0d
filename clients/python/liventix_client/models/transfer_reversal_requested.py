from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from attrs import define as _attrs_define
from attrs import field as _attrs_field

T = TypeVar("T", bound="TransferReversalRequested")


@_attrs_define
class TransferReversalRequested:
    """`stripe.transfer_reversal.requested`: the task that asks Stripe to reverse part of a
    transfer, recovering what the organizer owes after release.

        Attributes:
            request_id (str):
            org_id (str):
            transfer_id (str):
            amount (int):
            currency (str):
    """

    request_id: str
    org_id: str
    transfer_id: str
    amount: int
    currency: str
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        request_id = self.request_id

        org_id = self.org_id

        transfer_id = self.transfer_id

        amount = self.amount

        currency = self.currency

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "request_id": request_id,
                "org_id": org_id,
                "transfer_id": transfer_id,
                "amount": amount,
                "currency": currency,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        request_id = d.pop("request_id")

        org_id = d.pop("org_id")

        transfer_id = d.pop("transfer_id")

        amount = d.pop("amount")

        currency = d.pop("currency")

        transfer_reversal_requested = cls(
            request_id=request_id,
            org_id=org_id,
            transfer_id=transfer_id,
            amount=amount,
            currency=currency,
        )

        transfer_reversal_requested.additional_properties = d
        return transfer_reversal_requested

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

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, cast

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

T = TypeVar("T", bound="TransferRequested")


@_attrs_define
class TransferRequested:
    """`stripe.transfer.requested`: the task that asks Stripe for the organizer's transfer.

    Attributes:
        escrow_id (str):
        org_id (str):
        event_id (str):
        amount (int):
        currency (str):
        destination (None | str):
        source_transaction (None | str | Unset):
    """

    escrow_id: str
    org_id: str
    event_id: str
    amount: int
    currency: str
    destination: None | str
    source_transaction: None | str | Unset = UNSET
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        escrow_id = self.escrow_id

        org_id = self.org_id

        event_id = self.event_id

        amount = self.amount

        currency = self.currency

        destination: None | str
        destination = self.destination

        source_transaction: None | str | Unset
        if isinstance(self.source_transaction, Unset):
            source_transaction = UNSET
        else:
            source_transaction = self.source_transaction

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "escrow_id": escrow_id,
                "org_id": org_id,
                "event_id": event_id,
                "amount": amount,
                "currency": currency,
                "destination": destination,
            }
        )
        if source_transaction is not UNSET:
            field_dict["source_transaction"] = source_transaction

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        escrow_id = d.pop("escrow_id")

        org_id = d.pop("org_id")

        event_id = d.pop("event_id")

        amount = d.pop("amount")

        currency = d.pop("currency")

        def _parse_destination(data: object) -> None | str:
            if data is None:
                return data
            return cast(None | str, data)

        destination = _parse_destination(d.pop("destination"))

        def _parse_source_transaction(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        source_transaction = _parse_source_transaction(d.pop("source_transaction", UNSET))

        transfer_requested = cls(
            escrow_id=escrow_id,
            org_id=org_id,
            event_id=event_id,
            amount=amount,
            currency=currency,
            destination=destination,
            source_transaction=source_transaction,
        )

        transfer_requested.additional_properties = d
        return transfer_requested

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

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar
from uuid import UUID

from attrs import define as _attrs_define
from attrs import field as _attrs_field

T = TypeVar("T", bound="EscrowPositionRow")


@_attrs_define
class EscrowPositionRow:
    """What one escrow says it holds beside its ledger account's balance.

    Attributes:
        org_id (UUID):
        organizer (str):
        event_id (str):
        currency (str):
        state (str):
        escrow_held (int):
        ledger_balance (int):
        difference (int):
    """

    org_id: UUID
    organizer: str
    event_id: str
    currency: str
    state: str
    escrow_held: int
    ledger_balance: int
    difference: int
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        org_id = str(self.org_id)

        organizer = self.organizer

        event_id = self.event_id

        currency = self.currency

        state = self.state

        escrow_held = self.escrow_held

        ledger_balance = self.ledger_balance

        difference = self.difference

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "org_id": org_id,
                "organizer": organizer,
                "event_id": event_id,
                "currency": currency,
                "state": state,
                "escrow_held": escrow_held,
                "ledger_balance": ledger_balance,
                "difference": difference,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        org_id = UUID(d.pop("org_id"))

        organizer = d.pop("organizer")

        event_id = d.pop("event_id")

        currency = d.pop("currency")

        state = d.pop("state")

        escrow_held = d.pop("escrow_held")

        ledger_balance = d.pop("ledger_balance")

        difference = d.pop("difference")

        escrow_position_row = cls(
            org_id=org_id,
            organizer=organizer,
            event_id=event_id,
            currency=currency,
            state=state,
            escrow_held=escrow_held,
            ledger_balance=ledger_balance,
            difference=difference,
        )

        escrow_position_row.additional_properties = d
        return escrow_position_row

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

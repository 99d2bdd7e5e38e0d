from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from attrs import define as _attrs_define
from attrs import field as _attrs_field

T = TypeVar("T", bound="EscrowStateChanged")


@_attrs_define
class EscrowStateChanged:
    """`escrow.state_changed`: an escrow moved from one state to another.

    Attributes:
        escrow_id (str):
        event_id (str):
        currency (str):
        from_state (str):
        to_state (str):
        event (str):
        held (int):
    """

    escrow_id: str
    event_id: str
    currency: str
    from_state: str
    to_state: str
    event: str
    held: int
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        escrow_id = self.escrow_id

        event_id = self.event_id

        currency = self.currency

        from_state = self.from_state

        to_state = self.to_state

        event = self.event

        held = self.held

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "escrow_id": escrow_id,
                "event_id": event_id,
                "currency": currency,
                "from_state": from_state,
                "to_state": to_state,
                "event": event,
                "held": held,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        escrow_id = d.pop("escrow_id")

        event_id = d.pop("event_id")

        currency = d.pop("currency")

        from_state = d.pop("from_state")

        to_state = d.pop("to_state")

        event = d.pop("event")

        held = d.pop("held")

        escrow_state_changed = cls(
            escrow_id=escrow_id,
            event_id=event_id,
            currency=currency,
            from_state=from_state,
            to_state=to_state,
            event=event,
            held=held,
        )

        escrow_state_changed.additional_properties = d
        return escrow_state_changed

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

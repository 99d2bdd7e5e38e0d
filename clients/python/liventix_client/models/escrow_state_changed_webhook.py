from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Literal, TypeVar, cast

from attrs import define as _attrs_define
from attrs import field as _attrs_field

if TYPE_CHECKING:
    from ..models.escrow_state_changed import EscrowStateChanged


T = TypeVar("T", bound="EscrowStateChangedWebhook")


@_attrs_define
class EscrowStateChangedWebhook:
    """The `escrow.state_changed` webhook's body.

    Attributes:
        type_ (Literal['escrow.state_changed']):
        timestamp (datetime.datetime): When the event happened (the message was written)
        data (EscrowStateChanged): `escrow.state_changed`: an escrow moved from one state to another.
    """

    type_: Literal["escrow.state_changed"]
    timestamp: datetime.datetime
    data: EscrowStateChanged
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
        from ..models.escrow_state_changed import EscrowStateChanged  # noqa: PLC0415

        d = dict(src_dict)
        type_ = cast(Literal["escrow.state_changed"], d.pop("type"))
        if type_ != "escrow.state_changed":
            raise ValueError(f"type must match const 'escrow.state_changed', got '{type_}'")

        timestamp = datetime.datetime.fromisoformat(d.pop("timestamp"))

        data = EscrowStateChanged.from_dict(d.pop("data"))

        escrow_state_changed_webhook = cls(
            type_=type_,
            timestamp=timestamp,
            data=data,
        )

        escrow_state_changed_webhook.additional_properties = d
        return escrow_state_changed_webhook

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

from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Literal, TypeVar, cast

from attrs import define as _attrs_define
from attrs import field as _attrs_field

if TYPE_CHECKING:
    from ..models.checkpoint_sealed import CheckpointSealed


T = TypeVar("T", bound="LedgerCheckpointSealedWebhook")


@_attrs_define
class LedgerCheckpointSealedWebhook:
    """The `ledger.checkpoint.sealed` webhook's body.

    Attributes:
        type_ (Literal['ledger.checkpoint.sealed']):
        timestamp (datetime.datetime): When the event happened (the message was written)
        data (CheckpointSealed): Payload of `ledger.checkpoint.sealed`: a checkpoint of an organization's chain (scope
            `organization`) or of the platform's (`platform`, org_id null), its hash and its
            predecessor's (hex SHA-256), as `ledger.verify` recomputes them.
    """

    type_: Literal["ledger.checkpoint.sealed"]
    timestamp: datetime.datetime
    data: CheckpointSealed
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
        from ..models.checkpoint_sealed import CheckpointSealed  # noqa: PLC0415

        d = dict(src_dict)
        type_ = cast(Literal["ledger.checkpoint.sealed"], d.pop("type"))
        if type_ != "ledger.checkpoint.sealed":
            raise ValueError(f"type must match const 'ledger.checkpoint.sealed', got '{type_}'")

        timestamp = datetime.datetime.fromisoformat(d.pop("timestamp"))

        data = CheckpointSealed.from_dict(d.pop("data"))

        ledger_checkpoint_sealed_webhook = cls(
            type_=type_,
            timestamp=timestamp,
            data=data,
        )

        ledger_checkpoint_sealed_webhook.additional_properties = d
        return ledger_checkpoint_sealed_webhook

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

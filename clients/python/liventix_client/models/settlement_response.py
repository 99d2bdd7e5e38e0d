from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeVar
from uuid import UUID

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

if TYPE_CHECKING:
    from ..models.amount import Amount
    from ..models.settlement_response_metadata import SettlementResponseMetadata


T = TypeVar("T", bound="SettlementResponse")


@_attrs_define
class SettlementResponse:
    """A settlement: what it covered on its account, and its net there.

    Attributes:
        id (UUID):
        org_id (UUID):
        account_id (UUID):
        amount (Amount): An amount of minor units in a currency (a balance: zero or negative too).
        debits (int):
        credits_ (int):
        entry_count (int):
        up_to (datetime.datetime):
        description (str):
        metadata (SettlementResponseMetadata):
        created_at (datetime.datetime):
        object_ (str | Unset):  Default: 'settlement'.
    """

    id: UUID
    org_id: UUID
    account_id: UUID
    amount: Amount
    debits: int
    credits_: int
    entry_count: int
    up_to: datetime.datetime
    description: str
    metadata: SettlementResponseMetadata
    created_at: datetime.datetime
    object_: str | Unset = "settlement"
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        id = str(self.id)

        org_id = str(self.org_id)

        account_id = str(self.account_id)

        amount = self.amount.to_dict()

        debits = self.debits

        credits_ = self.credits_

        entry_count = self.entry_count

        up_to = self.up_to.isoformat()

        description = self.description

        metadata = self.metadata.to_dict()

        created_at = self.created_at.isoformat()

        object_ = self.object_

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "id": id,
                "org_id": org_id,
                "account_id": account_id,
                "amount": amount,
                "debits": debits,
                "credits": credits_,
                "entry_count": entry_count,
                "up_to": up_to,
                "description": description,
                "metadata": metadata,
                "created_at": created_at,
            }
        )
        if object_ is not UNSET:
            field_dict["object"] = object_

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.amount import Amount  # noqa: PLC0415
        from ..models.settlement_response_metadata import SettlementResponseMetadata  # noqa: PLC0415

        d = dict(src_dict)
        id = UUID(d.pop("id"))

        org_id = UUID(d.pop("org_id"))

        account_id = UUID(d.pop("account_id"))

        amount = Amount.from_dict(d.pop("amount"))

        debits = d.pop("debits")

        credits_ = d.pop("credits")

        entry_count = d.pop("entry_count")

        up_to = datetime.datetime.fromisoformat(d.pop("up_to"))

        description = d.pop("description")

        metadata = SettlementResponseMetadata.from_dict(d.pop("metadata"))

        created_at = datetime.datetime.fromisoformat(d.pop("created_at"))

        object_ = d.pop("object", UNSET)

        settlement_response = cls(
            id=id,
            org_id=org_id,
            account_id=account_id,
            amount=amount,
            debits=debits,
            credits_=credits_,
            entry_count=entry_count,
            up_to=up_to,
            description=description,
            metadata=metadata,
            created_at=created_at,
            object_=object_,
        )

        settlement_response.additional_properties = d
        return settlement_response

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

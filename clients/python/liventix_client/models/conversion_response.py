from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Literal, TypeVar, cast
from uuid import UUID

from attrs import define as _attrs_define
from attrs import field as _attrs_field

if TYPE_CHECKING:
    from ..models.amount import Amount


T = TypeVar("T", bound="ConversionResponse")


@_attrs_define
class ConversionResponse:
    """A conversion: both amounts, the exact rate, the rounding the platform kept (a fraction
    of one target minor unit, as `numerator/denominator`) and the two entries it posted.

        Attributes:
            object_ (Literal['conversion']):  Default: 'conversion'.
            id (UUID):
            org_id (UUID):
            source_account_id (UUID):
            target_account_id (UUID):
            source (Amount): An amount of minor units in a currency (a balance: zero or negative too).
            target (Amount): An amount of minor units in a currency (a balance: zero or negative too).
            rate (str): As a decimal when it has one, else numerator/denominator
            rounding (str): Exact conversion minus target amount, in target minor units
            source_entry_id (UUID):
            target_entry_id (UUID):
            created_at (datetime.datetime):
    """

    id: UUID
    org_id: UUID
    source_account_id: UUID
    target_account_id: UUID
    source: Amount
    target: Amount
    rate: str
    rounding: str
    source_entry_id: UUID
    target_entry_id: UUID
    created_at: datetime.datetime
    object_: Literal["conversion"] = "conversion"
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        object_ = self.object_

        id = str(self.id)

        org_id = str(self.org_id)

        source_account_id = str(self.source_account_id)

        target_account_id = str(self.target_account_id)

        source = self.source.to_dict()

        target = self.target.to_dict()

        rate = self.rate

        rounding = self.rounding

        source_entry_id = str(self.source_entry_id)

        target_entry_id = str(self.target_entry_id)

        created_at = self.created_at.isoformat()

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "object": object_,
                "id": id,
                "org_id": org_id,
                "source_account_id": source_account_id,
                "target_account_id": target_account_id,
                "source": source,
                "target": target,
                "rate": rate,
                "rounding": rounding,
                "source_entry_id": source_entry_id,
                "target_entry_id": target_entry_id,
                "created_at": created_at,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.amount import Amount  # noqa: PLC0415

        d = dict(src_dict)
        object_ = cast(Literal["conversion"], d.pop("object"))
        if object_ != "conversion":
            raise ValueError(f"object must match const 'conversion', got '{object_}'")

        id = UUID(d.pop("id"))

        org_id = UUID(d.pop("org_id"))

        source_account_id = UUID(d.pop("source_account_id"))

        target_account_id = UUID(d.pop("target_account_id"))

        source = Amount.from_dict(d.pop("source"))

        target = Amount.from_dict(d.pop("target"))

        rate = d.pop("rate")

        rounding = d.pop("rounding")

        source_entry_id = UUID(d.pop("source_entry_id"))

        target_entry_id = UUID(d.pop("target_entry_id"))

        created_at = datetime.datetime.fromisoformat(d.pop("created_at"))

        conversion_response = cls(
            object_=object_,
            id=id,
            org_id=org_id,
            source_account_id=source_account_id,
            target_account_id=target_account_id,
            source=source,
            target=target,
            rate=rate,
            rounding=rounding,
            source_entry_id=source_entry_id,
            target_entry_id=target_entry_id,
            created_at=created_at,
        )

        conversion_response.additional_properties = d
        return conversion_response

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

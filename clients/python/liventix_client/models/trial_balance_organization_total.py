from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar
from uuid import UUID

from attrs import define as _attrs_define
from attrs import field as _attrs_field

T = TypeVar("T", bound="TrialBalanceOrganizationTotal")


@_attrs_define
class TrialBalanceOrganizationTotal:
    """Debits beside credits of the entries one organization booked, in one currency.

    Attributes:
        org_id (UUID):
        currency (str):
        debits (int):
        credits_ (int):
        difference (int):
    """

    org_id: UUID
    currency: str
    debits: int
    credits_: int
    difference: int
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        org_id = str(self.org_id)

        currency = self.currency

        debits = self.debits

        credits_ = self.credits_

        difference = self.difference

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "org_id": org_id,
                "currency": currency,
                "debits": debits,
                "credits": credits_,
                "difference": difference,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        org_id = UUID(d.pop("org_id"))

        currency = d.pop("currency")

        debits = d.pop("debits")

        credits_ = d.pop("credits")

        difference = d.pop("difference")

        trial_balance_organization_total = cls(
            org_id=org_id,
            currency=currency,
            debits=debits,
            credits_=credits_,
            difference=difference,
        )

        trial_balance_organization_total.additional_properties = d
        return trial_balance_organization_total

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

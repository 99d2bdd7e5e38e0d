from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar
from uuid import UUID

from attrs import define as _attrs_define
from attrs import field as _attrs_field

T = TypeVar("T", bound="TrialBalanceRowResponse")


@_attrs_define
class TrialBalanceRowResponse:
    """One account's posted balance in the debit or credit column.

    Attributes:
        org_id (UUID):
        account_id (UUID):
        code (str):
        type_ (str):
        currency (str):
        debit (int):
        credit (int):
    """

    org_id: UUID
    account_id: UUID
    code: str
    type_: str
    currency: str
    debit: int
    credit: int
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        org_id = str(self.org_id)

        account_id = str(self.account_id)

        code = self.code

        type_ = self.type_

        currency = self.currency

        debit = self.debit

        credit = self.credit

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "org_id": org_id,
                "account_id": account_id,
                "code": code,
                "type": type_,
                "currency": currency,
                "debit": debit,
                "credit": credit,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        org_id = UUID(d.pop("org_id"))

        account_id = UUID(d.pop("account_id"))

        code = d.pop("code")

        type_ = d.pop("type")

        currency = d.pop("currency")

        debit = d.pop("debit")

        credit = d.pop("credit")

        trial_balance_row_response = cls(
            org_id=org_id,
            account_id=account_id,
            code=code,
            type_=type_,
            currency=currency,
            debit=debit,
            credit=credit,
        )

        trial_balance_row_response.additional_properties = d
        return trial_balance_row_response

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

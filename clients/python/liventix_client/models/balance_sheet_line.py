from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar
from uuid import UUID

from attrs import define as _attrs_define
from attrs import field as _attrs_field

T = TypeVar("T", bound="BalanceSheetLine")


@_attrs_define
class BalanceSheetLine:
    """One account's balance on its normal side, from its lines effective by the moment, under
    the category that holds it directly (the chart's: `escrow:eur`, `cash:usd`, ...; empty
    for an account in none).

        Attributes:
            scope (str):
            org_id (UUID):
            currency (str):
            category (str):
            code (str):
            type_ (str):
            balance (int):
    """

    scope: str
    org_id: UUID
    currency: str
    category: str
    code: str
    type_: str
    balance: int
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        scope = self.scope

        org_id = str(self.org_id)

        currency = self.currency

        category = self.category

        code = self.code

        type_ = self.type_

        balance = self.balance

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "scope": scope,
                "org_id": org_id,
                "currency": currency,
                "category": category,
                "code": code,
                "type": type_,
                "balance": balance,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        scope = d.pop("scope")

        org_id = UUID(d.pop("org_id"))

        currency = d.pop("currency")

        category = d.pop("category")

        code = d.pop("code")

        type_ = d.pop("type")

        balance = d.pop("balance")

        balance_sheet_line = cls(
            scope=scope,
            org_id=org_id,
            currency=currency,
            category=category,
            code=code,
            type_=type_,
            balance=balance,
        )

        balance_sheet_line.additional_properties = d
        return balance_sheet_line

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

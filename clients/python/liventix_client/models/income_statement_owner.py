from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar
from uuid import UUID

from attrs import define as _attrs_define
from attrs import field as _attrs_field

T = TypeVar("T", bound="IncomeStatementOwner")


@_attrs_define
class IncomeStatementOwner:
    """One owner's revenue, expense and net income in one currency over the period.

    Attributes:
        scope (str):
        org_id (UUID):
        currency (str):
        revenue (int):
        expense (int):
        net_income (int):
    """

    scope: str
    org_id: UUID
    currency: str
    revenue: int
    expense: int
    net_income: int
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        scope = self.scope

        org_id = str(self.org_id)

        currency = self.currency

        revenue = self.revenue

        expense = self.expense

        net_income = self.net_income

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "scope": scope,
                "org_id": org_id,
                "currency": currency,
                "revenue": revenue,
                "expense": expense,
                "net_income": net_income,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        scope = d.pop("scope")

        org_id = UUID(d.pop("org_id"))

        currency = d.pop("currency")

        revenue = d.pop("revenue")

        expense = d.pop("expense")

        net_income = d.pop("net_income")

        income_statement_owner = cls(
            scope=scope,
            org_id=org_id,
            currency=currency,
            revenue=revenue,
            expense=expense,
            net_income=net_income,
        )

        income_statement_owner.additional_properties = d
        return income_statement_owner

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

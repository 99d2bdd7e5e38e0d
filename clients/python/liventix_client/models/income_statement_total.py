from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from attrs import define as _attrs_define
from attrs import field as _attrs_field

T = TypeVar("T", bound="IncomeStatementTotal")


@_attrs_define
class IncomeStatementTotal:
    """Every owner together in one currency; `debits` and `credits` are all the period's
    lines (every account), which differ only if something unbalanced was booked.

        Attributes:
            currency (str):
            revenue (int):
            expense (int):
            net_income (int):
            debits (int):
            credits_ (int):
            difference (int):
    """

    currency: str
    revenue: int
    expense: int
    net_income: int
    debits: int
    credits_: int
    difference: int
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        currency = self.currency

        revenue = self.revenue

        expense = self.expense

        net_income = self.net_income

        debits = self.debits

        credits_ = self.credits_

        difference = self.difference

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "currency": currency,
                "revenue": revenue,
                "expense": expense,
                "net_income": net_income,
                "debits": debits,
                "credits": credits_,
                "difference": difference,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        currency = d.pop("currency")

        revenue = d.pop("revenue")

        expense = d.pop("expense")

        net_income = d.pop("net_income")

        debits = d.pop("debits")

        credits_ = d.pop("credits")

        difference = d.pop("difference")

        income_statement_total = cls(
            currency=currency,
            revenue=revenue,
            expense=expense,
            net_income=net_income,
            debits=debits,
            credits_=credits_,
            difference=difference,
        )

        income_statement_total.additional_properties = d
        return income_statement_total

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

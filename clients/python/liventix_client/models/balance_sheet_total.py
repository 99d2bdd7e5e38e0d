from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from attrs import define as _attrs_define
from attrs import field as _attrs_field

T = TypeVar("T", bound="BalanceSheetTotal")


@_attrs_define
class BalanceSheetTotal:
    """Every owner together in one currency: assets beside liabilities + equity + retained
    earnings; a nonzero `difference` is an unbalanced ledger.

        Attributes:
            currency (str):
            assets (int):
            liabilities (int):
            equity (int):
            revenue (int):
            expense (int):
            retained_earnings (int):
            difference (int):
    """

    currency: str
    assets: int
    liabilities: int
    equity: int
    revenue: int
    expense: int
    retained_earnings: int
    difference: int
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        currency = self.currency

        assets = self.assets

        liabilities = self.liabilities

        equity = self.equity

        revenue = self.revenue

        expense = self.expense

        retained_earnings = self.retained_earnings

        difference = self.difference

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "currency": currency,
                "assets": assets,
                "liabilities": liabilities,
                "equity": equity,
                "revenue": revenue,
                "expense": expense,
                "retained_earnings": retained_earnings,
                "difference": difference,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        currency = d.pop("currency")

        assets = d.pop("assets")

        liabilities = d.pop("liabilities")

        equity = d.pop("equity")

        revenue = d.pop("revenue")

        expense = d.pop("expense")

        retained_earnings = d.pop("retained_earnings")

        difference = d.pop("difference")

        balance_sheet_total = cls(
            currency=currency,
            assets=assets,
            liabilities=liabilities,
            equity=equity,
            revenue=revenue,
            expense=expense,
            retained_earnings=retained_earnings,
            difference=difference,
        )

        balance_sheet_total.additional_properties = d
        return balance_sheet_total

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

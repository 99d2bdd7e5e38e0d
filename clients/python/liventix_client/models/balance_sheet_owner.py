from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar
from uuid import UUID

from attrs import define as _attrs_define
from attrs import field as _attrs_field

T = TypeVar("T", bound="BalanceSheetOwner")


@_attrs_define
class BalanceSheetOwner:
    """One owner's sections in one currency. `net` = assets - liabilities - equity - retained
    earnings of its own accounts: what entries crossing owners left on its side, not an error
    (the platform holds the cash whose liability sits on the organizers' accounts).

        Attributes:
            scope (str):
            org_id (UUID):
            currency (str):
            assets (int):
            liabilities (int):
            equity (int):
            revenue (int):
            expense (int):
            retained_earnings (int):
            net (int):
    """

    scope: str
    org_id: UUID
    currency: str
    assets: int
    liabilities: int
    equity: int
    revenue: int
    expense: int
    retained_earnings: int
    net: int
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        scope = self.scope

        org_id = str(self.org_id)

        currency = self.currency

        assets = self.assets

        liabilities = self.liabilities

        equity = self.equity

        revenue = self.revenue

        expense = self.expense

        retained_earnings = self.retained_earnings

        net = self.net

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "scope": scope,
                "org_id": org_id,
                "currency": currency,
                "assets": assets,
                "liabilities": liabilities,
                "equity": equity,
                "revenue": revenue,
                "expense": expense,
                "retained_earnings": retained_earnings,
                "net": net,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        scope = d.pop("scope")

        org_id = UUID(d.pop("org_id"))

        currency = d.pop("currency")

        assets = d.pop("assets")

        liabilities = d.pop("liabilities")

        equity = d.pop("equity")

        revenue = d.pop("revenue")

        expense = d.pop("expense")

        retained_earnings = d.pop("retained_earnings")

        net = d.pop("net")

        balance_sheet_owner = cls(
            scope=scope,
            org_id=org_id,
            currency=currency,
            assets=assets,
            liabilities=liabilities,
            equity=equity,
            revenue=revenue,
            expense=expense,
            retained_earnings=retained_earnings,
            net=net,
        )

        balance_sheet_owner.additional_properties = d
        return balance_sheet_owner

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

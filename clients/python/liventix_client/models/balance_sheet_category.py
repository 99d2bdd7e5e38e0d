from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar
from uuid import UUID

from attrs import define as _attrs_define
from attrs import field as _attrs_field

T = TypeVar("T", bound="BalanceSheetCategory")


@_attrs_define
class BalanceSheetCategory:
    """One account category's posted balance by the moment, on its normal side: the sum of
    the lines of every account it reaches (nested categories followed, each account once),
    beside the ledger's own balance of the category as of the moment
    (`ledger.category_balances`, by effective date); a nonzero `difference` is a category
    whose balance is not the sum of its members.

        Attributes:
            scope (str):
            org_id (UUID):
            currency (str):
            code (str):
            name (str):
            nested_in (str):
            normal_side (str):
            accounts (int):
            balance (int):
            ledger_balance (int):
            difference (int):
    """

    scope: str
    org_id: UUID
    currency: str
    code: str
    name: str
    nested_in: str
    normal_side: str
    accounts: int
    balance: int
    ledger_balance: int
    difference: int
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        scope = self.scope

        org_id = str(self.org_id)

        currency = self.currency

        code = self.code

        name = self.name

        nested_in = self.nested_in

        normal_side = self.normal_side

        accounts = self.accounts

        balance = self.balance

        ledger_balance = self.ledger_balance

        difference = self.difference

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "scope": scope,
                "org_id": org_id,
                "currency": currency,
                "code": code,
                "name": name,
                "nested_in": nested_in,
                "normal_side": normal_side,
                "accounts": accounts,
                "balance": balance,
                "ledger_balance": ledger_balance,
                "difference": difference,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        scope = d.pop("scope")

        org_id = UUID(d.pop("org_id"))

        currency = d.pop("currency")

        code = d.pop("code")

        name = d.pop("name")

        nested_in = d.pop("nested_in")

        normal_side = d.pop("normal_side")

        accounts = d.pop("accounts")

        balance = d.pop("balance")

        ledger_balance = d.pop("ledger_balance")

        difference = d.pop("difference")

        balance_sheet_category = cls(
            scope=scope,
            org_id=org_id,
            currency=currency,
            code=code,
            name=name,
            nested_in=nested_in,
            normal_side=normal_side,
            accounts=accounts,
            balance=balance,
            ledger_balance=ledger_balance,
            difference=difference,
        )

        balance_sheet_category.additional_properties = d
        return balance_sheet_category

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

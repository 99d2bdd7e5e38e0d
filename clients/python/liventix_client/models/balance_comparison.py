from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from attrs import define as _attrs_define
from attrs import field as _attrs_field

T = TypeVar("T", bound="BalanceComparison")


@_attrs_define
class BalanceComparison:
    """The ledger's Stripe balance beside the sum of Stripe's nets, per currency.

    Attributes:
        currency (str):
        ledger_balance (int):
        stripe_balance (int):
        difference (int):
    """

    currency: str
    ledger_balance: int
    stripe_balance: int
    difference: int
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        currency = self.currency

        ledger_balance = self.ledger_balance

        stripe_balance = self.stripe_balance

        difference = self.difference

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "currency": currency,
                "ledger_balance": ledger_balance,
                "stripe_balance": stripe_balance,
                "difference": difference,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        currency = d.pop("currency")

        ledger_balance = d.pop("ledger_balance")

        stripe_balance = d.pop("stripe_balance")

        difference = d.pop("difference")

        balance_comparison = cls(
            currency=currency,
            ledger_balance=ledger_balance,
            stripe_balance=stripe_balance,
            difference=difference,
        )

        balance_comparison.additional_properties = d
        return balance_comparison

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

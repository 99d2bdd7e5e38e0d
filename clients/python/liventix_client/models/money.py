from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from attrs import define as _attrs_define

from ..models.money_currency import MoneyCurrency

T = TypeVar("T", bound="Money")


@_attrs_define
class Money:
    """A positive amount of minor units in a currency.

    Attributes:
        amount (int): Minor units, a positive 64-bit integer
        currency (MoneyCurrency): ISO 4217 code
    """

    amount: int
    currency: MoneyCurrency

    def to_dict(self) -> dict[str, Any]:
        amount = self.amount

        currency = self.currency.value

        field_dict: dict[str, Any] = {}

        field_dict.update(
            {
                "amount": amount,
                "currency": currency,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        amount = d.pop("amount")

        currency = MoneyCurrency(d.pop("currency"))

        money = cls(
            amount=amount,
            currency=currency,
        )

        return money

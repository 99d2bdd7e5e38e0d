from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from attrs import define as _attrs_define
from attrs import field as _attrs_field

T = TypeVar("T", bound="StatementBalance")


@_attrs_define
class StatementBalance:
    """One kind of account (or the total owed: escrow + payable - receivable) in one
    currency: opening, the period's movements, closing.

        Attributes:
            currency (str):
            kind (str):
            opening (int):
            movements (int):
            closing (int):
    """

    currency: str
    kind: str
    opening: int
    movements: int
    closing: int
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        currency = self.currency

        kind = self.kind

        opening = self.opening

        movements = self.movements

        closing = self.closing

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "currency": currency,
                "kind": kind,
                "opening": opening,
                "movements": movements,
                "closing": closing,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        currency = d.pop("currency")

        kind = d.pop("kind")

        opening = d.pop("opening")

        movements = d.pop("movements")

        closing = d.pop("closing")

        statement_balance = cls(
            currency=currency,
            kind=kind,
            opening=opening,
            movements=movements,
            closing=closing,
        )

        statement_balance.additional_properties = d
        return statement_balance

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

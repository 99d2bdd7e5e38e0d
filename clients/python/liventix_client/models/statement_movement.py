from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..models.statement_movement_category import StatementMovementCategory

T = TypeVar("T", bound="StatementMovement")


@_attrs_define
class StatementMovement:
    """One category's entries in the period and how they moved each kind of account (each
    on its normal side) and the total owed to the organizer.

        Attributes:
            currency (str):
            category (StatementMovementCategory):
            entries (int):
            escrow (int):
            payable (int):
            receivable (int):
            total (int):
    """

    currency: str
    category: StatementMovementCategory
    entries: int
    escrow: int
    payable: int
    receivable: int
    total: int
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        currency = self.currency

        category = self.category.value

        entries = self.entries

        escrow = self.escrow

        payable = self.payable

        receivable = self.receivable

        total = self.total

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "currency": currency,
                "category": category,
                "entries": entries,
                "escrow": escrow,
                "payable": payable,
                "receivable": receivable,
                "total": total,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        currency = d.pop("currency")

        category = StatementMovementCategory(d.pop("category"))

        entries = d.pop("entries")

        escrow = d.pop("escrow")

        payable = d.pop("payable")

        receivable = d.pop("receivable")

        total = d.pop("total")

        statement_movement = cls(
            currency=currency,
            category=category,
            entries=entries,
            escrow=escrow,
            payable=payable,
            receivable=receivable,
            total=total,
        )

        statement_movement.additional_properties = d
        return statement_movement

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

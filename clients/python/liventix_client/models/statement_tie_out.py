from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..models.statement_tie_out_kind import StatementTieOutKind

T = TypeVar("T", bound="StatementTieOut")


@_attrs_define
class StatementTieOut:
    """One account: opening + movements beside the ledger's balance as of the end.

    Attributes:
        currency (str):
        code (str):
        kind (StatementTieOutKind):
        opening (int):
        movements (int):
        closing (int):
        ledger_closing (int):
        difference (int):
    """

    currency: str
    code: str
    kind: StatementTieOutKind
    opening: int
    movements: int
    closing: int
    ledger_closing: int
    difference: int
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        currency = self.currency

        code = self.code

        kind = self.kind.value

        opening = self.opening

        movements = self.movements

        closing = self.closing

        ledger_closing = self.ledger_closing

        difference = self.difference

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "currency": currency,
                "code": code,
                "kind": kind,
                "opening": opening,
                "movements": movements,
                "closing": closing,
                "ledger_closing": ledger_closing,
                "difference": difference,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        currency = d.pop("currency")

        code = d.pop("code")

        kind = StatementTieOutKind(d.pop("kind"))

        opening = d.pop("opening")

        movements = d.pop("movements")

        closing = d.pop("closing")

        ledger_closing = d.pop("ledger_closing")

        difference = d.pop("difference")

        statement_tie_out = cls(
            currency=currency,
            code=code,
            kind=kind,
            opening=opening,
            movements=movements,
            closing=closing,
            ledger_closing=ledger_closing,
            difference=difference,
        )

        statement_tie_out.additional_properties = d
        return statement_tie_out

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

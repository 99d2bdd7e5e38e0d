from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeVar

from attrs import define as _attrs_define
from attrs import field as _attrs_field

if TYPE_CHECKING:
    from ..models.trial_balance_row_response import TrialBalanceRowResponse
    from ..models.trial_balance_total import TrialBalanceTotal


T = TypeVar("T", bound="TrialBalanceResponse")


@_attrs_define
class TrialBalanceResponse:
    """Every account's balance per currency; balanced when debits equal credits.

    Attributes:
        rows (list[TrialBalanceRowResponse]):
        totals (list[TrialBalanceTotal]):
        balanced (bool):
    """

    rows: list[TrialBalanceRowResponse]
    totals: list[TrialBalanceTotal]
    balanced: bool
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        rows = []
        for rows_item_data in self.rows:
            rows_item = rows_item_data.to_dict()
            rows.append(rows_item)

        totals = []
        for totals_item_data in self.totals:
            totals_item = totals_item_data.to_dict()
            totals.append(totals_item)

        balanced = self.balanced

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "rows": rows,
                "totals": totals,
                "balanced": balanced,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.trial_balance_row_response import TrialBalanceRowResponse  # noqa: PLC0415
        from ..models.trial_balance_total import TrialBalanceTotal  # noqa: PLC0415

        d = dict(src_dict)
        rows = []
        _rows = d.pop("rows")
        for rows_item_data in _rows:
            rows_item = TrialBalanceRowResponse.from_dict(rows_item_data)

            rows.append(rows_item)

        totals = []
        _totals = d.pop("totals")
        for totals_item_data in _totals:
            totals_item = TrialBalanceTotal.from_dict(totals_item_data)

            totals.append(totals_item)

        balanced = d.pop("balanced")

        trial_balance_response = cls(
            rows=rows,
            totals=totals,
            balanced=balanced,
        )

        trial_balance_response.additional_properties = d
        return trial_balance_response

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

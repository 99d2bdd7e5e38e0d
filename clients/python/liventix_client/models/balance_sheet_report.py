from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeVar

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

if TYPE_CHECKING:
    from ..models.balance_sheet_category import BalanceSheetCategory
    from ..models.balance_sheet_line import BalanceSheetLine
    from ..models.balance_sheet_owner import BalanceSheetOwner
    from ..models.balance_sheet_total import BalanceSheetTotal


T = TypeVar("T", bound="BalanceSheetReport")


@_attrs_define
class BalanceSheetReport:
    """The balance sheet by effective date: per owner and currency, and platform-wide.

    Attributes:
        differences (int):
        as_of (datetime.datetime):
        totals (list[BalanceSheetTotal]):
        owners (list[BalanceSheetOwner]):
        categories (list[BalanceSheetCategory]):
        lines (list[BalanceSheetLine]):
        name (str | Unset):  Default: 'balance-sheet'.
        title (str | Unset):  Default: 'Balance sheet'.
    """

    differences: int
    as_of: datetime.datetime
    totals: list[BalanceSheetTotal]
    owners: list[BalanceSheetOwner]
    categories: list[BalanceSheetCategory]
    lines: list[BalanceSheetLine]
    name: str | Unset = "balance-sheet"
    title: str | Unset = "Balance sheet"
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        differences = self.differences

        as_of = self.as_of.isoformat()

        totals = []
        for totals_item_data in self.totals:
            totals_item = totals_item_data.to_dict()
            totals.append(totals_item)

        owners = []
        for owners_item_data in self.owners:
            owners_item = owners_item_data.to_dict()
            owners.append(owners_item)

        categories = []
        for categories_item_data in self.categories:
            categories_item = categories_item_data.to_dict()
            categories.append(categories_item)

        lines = []
        for lines_item_data in self.lines:
            lines_item = lines_item_data.to_dict()
            lines.append(lines_item)

        name = self.name

        title = self.title

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "differences": differences,
                "as_of": as_of,
                "totals": totals,
                "owners": owners,
                "categories": categories,
                "lines": lines,
            }
        )
        if name is not UNSET:
            field_dict["name"] = name
        if title is not UNSET:
            field_dict["title"] = title

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.balance_sheet_category import BalanceSheetCategory  # noqa: PLC0415
        from ..models.balance_sheet_line import BalanceSheetLine  # noqa: PLC0415
        from ..models.balance_sheet_owner import BalanceSheetOwner  # noqa: PLC0415
        from ..models.balance_sheet_total import BalanceSheetTotal  # noqa: PLC0415

        d = dict(src_dict)
        differences = d.pop("differences")

        as_of = datetime.datetime.fromisoformat(d.pop("as_of"))

        totals = []
        _totals = d.pop("totals")
        for totals_item_data in _totals:
            totals_item = BalanceSheetTotal.from_dict(totals_item_data)

            totals.append(totals_item)

        owners = []
        _owners = d.pop("owners")
        for owners_item_data in _owners:
            owners_item = BalanceSheetOwner.from_dict(owners_item_data)

            owners.append(owners_item)

        categories = []
        _categories = d.pop("categories")
        for categories_item_data in _categories:
            categories_item = BalanceSheetCategory.from_dict(categories_item_data)

            categories.append(categories_item)

        lines = []
        _lines = d.pop("lines")
        for lines_item_data in _lines:
            lines_item = BalanceSheetLine.from_dict(lines_item_data)

            lines.append(lines_item)

        name = d.pop("name", UNSET)

        title = d.pop("title", UNSET)

        balance_sheet_report = cls(
            differences=differences,
            as_of=as_of,
            totals=totals,
            owners=owners,
            categories=categories,
            lines=lines,
            name=name,
            title=title,
        )

        balance_sheet_report.additional_properties = d
        return balance_sheet_report

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

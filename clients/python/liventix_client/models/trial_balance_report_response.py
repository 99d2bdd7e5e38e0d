from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Literal, TypeVar, cast

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

if TYPE_CHECKING:
    from ..models.trial_balance_organization_total import TrialBalanceOrganizationTotal
    from ..models.trial_balance_row_response import TrialBalanceRowResponse
    from ..models.trial_balance_total import TrialBalanceTotal


T = TypeVar("T", bound="TrialBalanceReportResponse")


@_attrs_define
class TrialBalanceReportResponse:
    """The trial balance as a report: per account, per currency, per booking organization;
    a difference is an (organization, currency) or a currency whose debits differ from its
    credits (as `liventix report trial-balance` counts them).

        Attributes:
            rows (list[TrialBalanceRowResponse]):
            totals (list[TrialBalanceTotal]):
            balanced (bool):
            differences (int):
            organizations (list[TrialBalanceOrganizationTotal]):
            name (Literal['trial-balance'] | Unset):  Default: 'trial-balance'.
            title (str | Unset):  Default: 'Trial balance'.
    """

    rows: list[TrialBalanceRowResponse]
    totals: list[TrialBalanceTotal]
    balanced: bool
    differences: int
    organizations: list[TrialBalanceOrganizationTotal]
    name: Literal["trial-balance"] | Unset = "trial-balance"
    title: str | Unset = "Trial balance"
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

        differences = self.differences

        organizations = []
        for organizations_item_data in self.organizations:
            organizations_item = organizations_item_data.to_dict()
            organizations.append(organizations_item)

        name = self.name

        title = self.title

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "rows": rows,
                "totals": totals,
                "balanced": balanced,
                "differences": differences,
                "organizations": organizations,
            }
        )
        if name is not UNSET:
            field_dict["name"] = name
        if title is not UNSET:
            field_dict["title"] = title

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.trial_balance_organization_total import TrialBalanceOrganizationTotal  # noqa: PLC0415
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

        differences = d.pop("differences")

        organizations = []
        _organizations = d.pop("organizations")
        for organizations_item_data in _organizations:
            organizations_item = TrialBalanceOrganizationTotal.from_dict(organizations_item_data)

            organizations.append(organizations_item)

        name = cast(Literal["trial-balance"] | Unset, d.pop("name", UNSET))
        if name != "trial-balance" and not isinstance(name, Unset):
            raise ValueError(f"name must match const 'trial-balance', got '{name}'")

        title = d.pop("title", UNSET)

        trial_balance_report_response = cls(
            rows=rows,
            totals=totals,
            balanced=balanced,
            differences=differences,
            organizations=organizations,
            name=name,
            title=title,
        )

        trial_balance_report_response.additional_properties = d
        return trial_balance_report_response

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

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeVar

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

if TYPE_CHECKING:
    from ..models.ticket_tie_out_row import TicketTieOutRow


T = TypeVar("T", bound="TicketTieOutReport")


@_attrs_define
class TicketTieOutReport:
    """Per event: tickets sold, refunded and checked in beside the ledger's payments.

    Attributes:
        differences (int):
        rows (list[TicketTieOutRow]):
        name (str | Unset):  Default: 'ticket-tie-out'.
        title (str | Unset):  Default: 'Ticket tie-out'.
    """

    differences: int
    rows: list[TicketTieOutRow]
    name: str | Unset = "ticket-tie-out"
    title: str | Unset = "Ticket tie-out"
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        differences = self.differences

        rows = []
        for rows_item_data in self.rows:
            rows_item = rows_item_data.to_dict()
            rows.append(rows_item)

        name = self.name

        title = self.title

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "differences": differences,
                "rows": rows,
            }
        )
        if name is not UNSET:
            field_dict["name"] = name
        if title is not UNSET:
            field_dict["title"] = title

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.ticket_tie_out_row import TicketTieOutRow  # noqa: PLC0415

        d = dict(src_dict)
        differences = d.pop("differences")

        rows = []
        _rows = d.pop("rows")
        for rows_item_data in _rows:
            rows_item = TicketTieOutRow.from_dict(rows_item_data)

            rows.append(rows_item)

        name = d.pop("name", UNSET)

        title = d.pop("title", UNSET)

        ticket_tie_out_report = cls(
            differences=differences,
            rows=rows,
            name=name,
            title=title,
        )

        ticket_tie_out_report.additional_properties = d
        return ticket_tie_out_report

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

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeVar

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

if TYPE_CHECKING:
    from ..models.inbox_health_row import InboxHealthRow
    from ..models.outbox_health_row import OutboxHealthRow


T = TypeVar("T", bound="OutboxHealthReport")


@_attrs_define
class OutboxHealthReport:
    """Pending, retrying and dead deliveries per endpoint, and inbox events per source and
    type (the platform's: empty for an organization); dead ones count as differences.

        Attributes:
            differences (int):
            rows (list[OutboxHealthRow]):
            inbox (list[InboxHealthRow]):
            name (str | Unset):  Default: 'outbox-health'.
            title (str | Unset):  Default: 'Outbox health'.
    """

    differences: int
    rows: list[OutboxHealthRow]
    inbox: list[InboxHealthRow]
    name: str | Unset = "outbox-health"
    title: str | Unset = "Outbox health"
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        differences = self.differences

        rows = []
        for rows_item_data in self.rows:
            rows_item = rows_item_data.to_dict()
            rows.append(rows_item)

        inbox = []
        for inbox_item_data in self.inbox:
            inbox_item = inbox_item_data.to_dict()
            inbox.append(inbox_item)

        name = self.name

        title = self.title

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "differences": differences,
                "rows": rows,
                "inbox": inbox,
            }
        )
        if name is not UNSET:
            field_dict["name"] = name
        if title is not UNSET:
            field_dict["title"] = title

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.inbox_health_row import InboxHealthRow  # noqa: PLC0415
        from ..models.outbox_health_row import OutboxHealthRow  # noqa: PLC0415

        d = dict(src_dict)
        differences = d.pop("differences")

        rows = []
        _rows = d.pop("rows")
        for rows_item_data in _rows:
            rows_item = OutboxHealthRow.from_dict(rows_item_data)

            rows.append(rows_item)

        inbox = []
        _inbox = d.pop("inbox")
        for inbox_item_data in _inbox:
            inbox_item = InboxHealthRow.from_dict(inbox_item_data)

            inbox.append(inbox_item)

        name = d.pop("name", UNSET)

        title = d.pop("title", UNSET)

        outbox_health_report = cls(
            differences=differences,
            rows=rows,
            inbox=inbox,
            name=name,
            title=title,
        )

        outbox_health_report.additional_properties = d
        return outbox_health_report

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

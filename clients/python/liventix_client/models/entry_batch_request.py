from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeVar

from attrs import define as _attrs_define

if TYPE_CHECKING:
    from ..models.batch_entry_request import BatchEntryRequest


T = TypeVar("T", bound="EntryBatchRequest")


@_attrs_define
class EntryBatchRequest:
    """Entries to post, each on its own unless linked.

    Attributes:
        entries (list[BatchEntryRequest]):
    """

    entries: list[BatchEntryRequest]

    def to_dict(self) -> dict[str, Any]:
        entries = []
        for entries_item_data in self.entries:
            entries_item = entries_item_data.to_dict()
            entries.append(entries_item)

        field_dict: dict[str, Any] = {}

        field_dict.update(
            {
                "entries": entries,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.batch_entry_request import BatchEntryRequest  # noqa: PLC0415

        d = dict(src_dict)
        entries = []
        _entries = d.pop("entries")
        for entries_item_data in _entries:
            entries_item = BatchEntryRequest.from_dict(entries_item_data)

            entries.append(entries_item)

        entry_batch_request = cls(
            entries=entries,
        )

        return entry_batch_request

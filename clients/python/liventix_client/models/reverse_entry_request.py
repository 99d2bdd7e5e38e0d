from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeVar, cast

from attrs import define as _attrs_define

from ..types import UNSET, Unset

if TYPE_CHECKING:
    from ..models.reverse_entry_request_metadata import ReverseEntryRequestMetadata


T = TypeVar("T", bound="ReverseEntryRequest")


@_attrs_define
class ReverseEntryRequest:
    """Reverse an entry (once).

    Attributes:
        description (str | Unset):  Default: ''.
        metadata (ReverseEntryRequestMetadata | Unset): JSON object of strings, integers, booleans, null, objects and
            arrays: at most 50 keys of 1 to 40 characters, each value at most 500 characters (a string's length, any other
            value's compact JSON), as Stripe's metadata
        effective_at (datetime.datetime | None | Unset):
    """

    description: str | Unset = ""
    metadata: ReverseEntryRequestMetadata | Unset = UNSET
    effective_at: datetime.datetime | None | Unset = UNSET

    def to_dict(self) -> dict[str, Any]:
        description = self.description

        metadata: dict[str, Any] | Unset = UNSET
        if not isinstance(self.metadata, Unset):
            metadata = self.metadata.to_dict()

        effective_at: None | str | Unset
        if isinstance(self.effective_at, Unset):
            effective_at = UNSET
        elif isinstance(self.effective_at, datetime.datetime):
            effective_at = self.effective_at.isoformat()
        else:
            effective_at = self.effective_at

        field_dict: dict[str, Any] = {}

        field_dict.update({})
        if description is not UNSET:
            field_dict["description"] = description
        if metadata is not UNSET:
            field_dict["metadata"] = metadata
        if effective_at is not UNSET:
            field_dict["effective_at"] = effective_at

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.reverse_entry_request_metadata import ReverseEntryRequestMetadata  # noqa: PLC0415

        d = dict(src_dict)
        description = d.pop("description", UNSET)

        _metadata = d.pop("metadata", UNSET)
        metadata: ReverseEntryRequestMetadata | Unset
        if isinstance(_metadata, Unset):
            metadata = UNSET
        else:
            metadata = ReverseEntryRequestMetadata.from_dict(_metadata)

        def _parse_effective_at(data: object) -> datetime.datetime | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, str):
                    raise TypeError()
                effective_at_type_0 = datetime.datetime.fromisoformat(data)

                return effective_at_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(datetime.datetime | None | Unset, data)

        effective_at = _parse_effective_at(d.pop("effective_at", UNSET))

        reverse_entry_request = cls(
            description=description,
            metadata=metadata,
            effective_at=effective_at,
        )

        return reverse_entry_request

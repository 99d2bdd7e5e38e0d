from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeVar, cast

from attrs import define as _attrs_define

from ..types import UNSET, Unset

if TYPE_CHECKING:
    from ..models.batch_entry_request_metadata import BatchEntryRequestMetadata
    from ..models.condition_request import ConditionRequest
    from ..models.line_request import LineRequest


T = TypeVar("T", bound="BatchEntryRequest")


@_attrs_define
class BatchEntryRequest:
    """An entry of a batch; `linked` ties it to the next entry (the last may not be linked).

    Attributes:
        lines (list[LineRequest]):
        description (str | Unset):  Default: ''.
        metadata (BatchEntryRequestMetadata | Unset): JSON object of strings, integers, booleans, null, objects and
            arrays: at most 50 keys of 1 to 40 characters, each value at most 500 characters (a string's length, any other
            value's compact JSON), as Stripe's metadata
        effective_at (datetime.datetime | None | Unset):
        external_ref (None | str | Unset):
        conditions (list[ConditionRequest] | Unset):
        linked (bool | Unset):  Default: False.
    """

    lines: list[LineRequest]
    description: str | Unset = ""
    metadata: BatchEntryRequestMetadata | Unset = UNSET
    effective_at: datetime.datetime | None | Unset = UNSET
    external_ref: None | str | Unset = UNSET
    conditions: list[ConditionRequest] | Unset = UNSET
    linked: bool | Unset = False

    def to_dict(self) -> dict[str, Any]:
        lines = []
        for lines_item_data in self.lines:
            lines_item = lines_item_data.to_dict()
            lines.append(lines_item)

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

        external_ref: None | str | Unset
        if isinstance(self.external_ref, Unset):
            external_ref = UNSET
        else:
            external_ref = self.external_ref

        conditions: list[dict[str, Any]] | Unset = UNSET
        if not isinstance(self.conditions, Unset):
            conditions = []
            for conditions_item_data in self.conditions:
                conditions_item = conditions_item_data.to_dict()
                conditions.append(conditions_item)

        linked = self.linked

        field_dict: dict[str, Any] = {}

        field_dict.update(
            {
                "lines": lines,
            }
        )
        if description is not UNSET:
            field_dict["description"] = description
        if metadata is not UNSET:
            field_dict["metadata"] = metadata
        if effective_at is not UNSET:
            field_dict["effective_at"] = effective_at
        if external_ref is not UNSET:
            field_dict["external_ref"] = external_ref
        if conditions is not UNSET:
            field_dict["conditions"] = conditions
        if linked is not UNSET:
            field_dict["linked"] = linked

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.batch_entry_request_metadata import BatchEntryRequestMetadata  # noqa: PLC0415
        from ..models.condition_request import ConditionRequest  # noqa: PLC0415
        from ..models.line_request import LineRequest  # noqa: PLC0415

        d = dict(src_dict)
        lines = []
        _lines = d.pop("lines")
        for lines_item_data in _lines:
            lines_item = LineRequest.from_dict(lines_item_data)

            lines.append(lines_item)

        description = d.pop("description", UNSET)

        _metadata = d.pop("metadata", UNSET)
        metadata: BatchEntryRequestMetadata | Unset
        if isinstance(_metadata, Unset):
            metadata = UNSET
        else:
            metadata = BatchEntryRequestMetadata.from_dict(_metadata)

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

        def _parse_external_ref(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        external_ref = _parse_external_ref(d.pop("external_ref", UNSET))

        _conditions = d.pop("conditions", UNSET)
        conditions: list[ConditionRequest] | Unset = UNSET
        if _conditions is not UNSET:
            conditions = []
            for conditions_item_data in _conditions:
                conditions_item = ConditionRequest.from_dict(conditions_item_data)

                conditions.append(conditions_item)

        linked = d.pop("linked", UNSET)

        batch_entry_request = cls(
            lines=lines,
            description=description,
            metadata=metadata,
            effective_at=effective_at,
            external_ref=external_ref,
            conditions=conditions,
            linked=linked,
        )

        return batch_entry_request

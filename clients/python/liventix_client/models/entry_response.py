from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeVar, cast
from uuid import UUID

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..models.entry_response_kind import EntryResponseKind

if TYPE_CHECKING:
    from ..models.entry_line_response import EntryLineResponse
    from ..models.entry_response_metadata import EntryResponseMetadata


T = TypeVar("T", bound="EntryResponse")


@_attrs_define
class EntryResponse:
    """A posted entry and its lines.

    Attributes:
        id (UUID):
        org_id (UUID):
        kind (EntryResponseKind):
        description (str):
        metadata (EntryResponseMetadata):
        effective_at (datetime.datetime):
        created_at (datetime.datetime):
        external_ref (None | str):
        reverses_entry_id (None | UUID):
        hold_id (None | UUID):
        lines (list[EntryLineResponse]):
    """

    id: UUID
    org_id: UUID
    kind: EntryResponseKind
    description: str
    metadata: EntryResponseMetadata
    effective_at: datetime.datetime
    created_at: datetime.datetime
    external_ref: None | str
    reverses_entry_id: None | UUID
    hold_id: None | UUID
    lines: list[EntryLineResponse]
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        id = str(self.id)

        org_id = str(self.org_id)

        kind = self.kind.value

        description = self.description

        metadata = self.metadata.to_dict()

        effective_at = self.effective_at.isoformat()

        created_at = self.created_at.isoformat()

        external_ref: None | str
        external_ref = self.external_ref

        reverses_entry_id: None | str
        if isinstance(self.reverses_entry_id, UUID):
            reverses_entry_id = str(self.reverses_entry_id)
        else:
            reverses_entry_id = self.reverses_entry_id

        hold_id: None | str
        if isinstance(self.hold_id, UUID):
            hold_id = str(self.hold_id)
        else:
            hold_id = self.hold_id

        lines = []
        for lines_item_data in self.lines:
            lines_item = lines_item_data.to_dict()
            lines.append(lines_item)

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "id": id,
                "org_id": org_id,
                "kind": kind,
                "description": description,
                "metadata": metadata,
                "effective_at": effective_at,
                "created_at": created_at,
                "external_ref": external_ref,
                "reverses_entry_id": reverses_entry_id,
                "hold_id": hold_id,
                "lines": lines,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.entry_line_response import EntryLineResponse  # noqa: PLC0415
        from ..models.entry_response_metadata import EntryResponseMetadata  # noqa: PLC0415

        d = dict(src_dict)
        id = UUID(d.pop("id"))

        org_id = UUID(d.pop("org_id"))

        kind = EntryResponseKind(d.pop("kind"))

        description = d.pop("description")

        metadata = EntryResponseMetadata.from_dict(d.pop("metadata"))

        effective_at = datetime.datetime.fromisoformat(d.pop("effective_at"))

        created_at = datetime.datetime.fromisoformat(d.pop("created_at"))

        def _parse_external_ref(data: object) -> None | str:
            if data is None:
                return data
            return cast(None | str, data)

        external_ref = _parse_external_ref(d.pop("external_ref"))

        def _parse_reverses_entry_id(data: object) -> None | UUID:
            if data is None:
                return data
            try:
                if not isinstance(data, str):
                    raise TypeError()
                reverses_entry_id_type_0 = UUID(data)

                return reverses_entry_id_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(None | UUID, data)

        reverses_entry_id = _parse_reverses_entry_id(d.pop("reverses_entry_id"))

        def _parse_hold_id(data: object) -> None | UUID:
            if data is None:
                return data
            try:
                if not isinstance(data, str):
                    raise TypeError()
                hold_id_type_0 = UUID(data)

                return hold_id_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(None | UUID, data)

        hold_id = _parse_hold_id(d.pop("hold_id"))

        lines = []
        _lines = d.pop("lines")
        for lines_item_data in _lines:
            lines_item = EntryLineResponse.from_dict(lines_item_data)

            lines.append(lines_item)

        entry_response = cls(
            id=id,
            org_id=org_id,
            kind=kind,
            description=description,
            metadata=metadata,
            effective_at=effective_at,
            created_at=created_at,
            external_ref=external_ref,
            reverses_entry_id=reverses_entry_id,
            hold_id=hold_id,
            lines=lines,
        )

        entry_response.additional_properties = d
        return entry_response

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

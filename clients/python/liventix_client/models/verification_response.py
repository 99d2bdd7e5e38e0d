from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Literal, TypeVar, cast
from uuid import UUID

from attrs import define as _attrs_define
from attrs import field as _attrs_field

if TYPE_CHECKING:
    from ..models.mismatch_response import MismatchResponse


T = TypeVar("T", bound="VerificationResponse")


@_attrs_define
class VerificationResponse:
    """Every sealed entry and checkpoint recomputed: clean, or what no longer matches.

    Attributes:
        object_ (Literal['verification']):  Default: 'verification'.
        org_id (None | UUID):
        clean (bool):
        entries (int):
        lines (int):
        checkpoints (int):
        last_seq (int | None):
        mismatches (list[MismatchResponse]):
    """

    org_id: None | UUID
    clean: bool
    entries: int
    lines: int
    checkpoints: int
    last_seq: int | None
    mismatches: list[MismatchResponse]
    object_: Literal["verification"] = "verification"
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        object_ = self.object_

        org_id: None | str
        if isinstance(self.org_id, UUID):
            org_id = str(self.org_id)
        else:
            org_id = self.org_id

        clean = self.clean

        entries = self.entries

        lines = self.lines

        checkpoints = self.checkpoints

        last_seq: int | None
        last_seq = self.last_seq

        mismatches = []
        for mismatches_item_data in self.mismatches:
            mismatches_item = mismatches_item_data.to_dict()
            mismatches.append(mismatches_item)

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "object": object_,
                "org_id": org_id,
                "clean": clean,
                "entries": entries,
                "lines": lines,
                "checkpoints": checkpoints,
                "last_seq": last_seq,
                "mismatches": mismatches,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.mismatch_response import MismatchResponse  # noqa: PLC0415

        d = dict(src_dict)
        object_ = cast(Literal["verification"], d.pop("object"))
        if object_ != "verification":
            raise ValueError(f"object must match const 'verification', got '{object_}'")

        def _parse_org_id(data: object) -> None | UUID:
            if data is None:
                return data
            try:
                if not isinstance(data, str):
                    raise TypeError()
                org_id_type_0 = UUID(data)

                return org_id_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(None | UUID, data)

        org_id = _parse_org_id(d.pop("org_id"))

        clean = d.pop("clean")

        entries = d.pop("entries")

        lines = d.pop("lines")

        checkpoints = d.pop("checkpoints")

        def _parse_last_seq(data: object) -> int | None:
            if data is None:
                return data
            return cast(int | None, data)

        last_seq = _parse_last_seq(d.pop("last_seq"))

        mismatches = []
        _mismatches = d.pop("mismatches")
        for mismatches_item_data in _mismatches:
            mismatches_item = MismatchResponse.from_dict(mismatches_item_data)

            mismatches.append(mismatches_item)

        verification_response = cls(
            object_=object_,
            org_id=org_id,
            clean=clean,
            entries=entries,
            lines=lines,
            checkpoints=checkpoints,
            last_seq=last_seq,
            mismatches=mismatches,
        )

        verification_response.additional_properties = d
        return verification_response

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

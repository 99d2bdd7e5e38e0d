from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import Any, Literal, TypeVar, cast
from uuid import UUID

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..models.checkpoint_response_scope import CheckpointResponseScope

T = TypeVar("T", bound="CheckpointResponse")


@_attrs_define
class CheckpointResponse:
    """A checkpoint: the entries sealed in one run, hash-chained to the previous one.

    Attributes:
        object_ (Literal['checkpoint']):  Default: 'checkpoint'.
        scope (CheckpointResponseScope):
        org_id (None | UUID):
        seq (int):
        hash_ (str): Hex SHA-256 (docs/ledger-integrity.md gives its input)
        previous_hash (None | str):
        entry_count (int):
        cut_at (datetime.datetime): Entries recorded before it are sealed by now
        sealed_at (datetime.datetime):
    """

    scope: CheckpointResponseScope
    org_id: None | UUID
    seq: int
    hash_: str
    previous_hash: None | str
    entry_count: int
    cut_at: datetime.datetime
    sealed_at: datetime.datetime
    object_: Literal["checkpoint"] = "checkpoint"
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        object_ = self.object_

        scope = self.scope.value

        org_id: None | str
        if isinstance(self.org_id, UUID):
            org_id = str(self.org_id)
        else:
            org_id = self.org_id

        seq = self.seq

        hash_ = self.hash_

        previous_hash: None | str
        previous_hash = self.previous_hash

        entry_count = self.entry_count

        cut_at = self.cut_at.isoformat()

        sealed_at = self.sealed_at.isoformat()

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "object": object_,
                "scope": scope,
                "org_id": org_id,
                "seq": seq,
                "hash": hash_,
                "previous_hash": previous_hash,
                "entry_count": entry_count,
                "cut_at": cut_at,
                "sealed_at": sealed_at,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        object_ = cast(Literal["checkpoint"], d.pop("object"))
        if object_ != "checkpoint":
            raise ValueError(f"object must match const 'checkpoint', got '{object_}'")

        scope = CheckpointResponseScope(d.pop("scope"))

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

        seq = d.pop("seq")

        hash_ = d.pop("hash")

        def _parse_previous_hash(data: object) -> None | str:
            if data is None:
                return data
            return cast(None | str, data)

        previous_hash = _parse_previous_hash(d.pop("previous_hash"))

        entry_count = d.pop("entry_count")

        cut_at = datetime.datetime.fromisoformat(d.pop("cut_at"))

        sealed_at = datetime.datetime.fromisoformat(d.pop("sealed_at"))

        checkpoint_response = cls(
            object_=object_,
            scope=scope,
            org_id=org_id,
            seq=seq,
            hash_=hash_,
            previous_hash=previous_hash,
            entry_count=entry_count,
            cut_at=cut_at,
            sealed_at=sealed_at,
        )

        checkpoint_response.additional_properties = d
        return checkpoint_response

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

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, cast

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..models.checkpoint_sealed_scope import CheckpointSealedScope

T = TypeVar("T", bound="CheckpointSealed")


@_attrs_define
class CheckpointSealed:
    """Payload of `ledger.checkpoint.sealed`: a checkpoint of an organization's chain (scope
    `organization`) or of the platform's (`platform`, org_id null), its hash and its
    predecessor's (hex SHA-256), as `ledger.verify` recomputes them.

        Attributes:
            scope (CheckpointSealedScope):
            org_id (None | str):
            seq (int):
            hash_ (str):
            previous_hash (None | str):
            entry_count (int):
            cut_at (str):
            sealed_at (str):
    """

    scope: CheckpointSealedScope
    org_id: None | str
    seq: int
    hash_: str
    previous_hash: None | str
    entry_count: int
    cut_at: str
    sealed_at: str
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        scope = self.scope.value

        org_id: None | str
        org_id = self.org_id

        seq = self.seq

        hash_ = self.hash_

        previous_hash: None | str
        previous_hash = self.previous_hash

        entry_count = self.entry_count

        cut_at = self.cut_at

        sealed_at = self.sealed_at

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
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
        scope = CheckpointSealedScope(d.pop("scope"))

        def _parse_org_id(data: object) -> None | str:
            if data is None:
                return data
            return cast(None | str, data)

        org_id = _parse_org_id(d.pop("org_id"))

        seq = d.pop("seq")

        hash_ = d.pop("hash")

        def _parse_previous_hash(data: object) -> None | str:
            if data is None:
                return data
            return cast(None | str, data)

        previous_hash = _parse_previous_hash(d.pop("previous_hash"))

        entry_count = d.pop("entry_count")

        cut_at = d.pop("cut_at")

        sealed_at = d.pop("sealed_at")

        checkpoint_sealed = cls(
            scope=scope,
            org_id=org_id,
            seq=seq,
            hash_=hash_,
            previous_hash=previous_hash,
            entry_count=entry_count,
            cut_at=cut_at,
            sealed_at=sealed_at,
        )

        checkpoint_sealed.additional_properties = d
        return checkpoint_sealed

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

from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeVar, cast
from uuid import UUID

from attrs import define as _attrs_define

from ..types import UNSET, Unset

if TYPE_CHECKING:
    from ..models.create_settlement_request_metadata import CreateSettlementRequestMetadata


T = TypeVar("T", bound="CreateSettlementRequest")


@_attrs_define
class CreateSettlementRequest:
    """Settle an account: every entry with a line on it recorded by `up_to` (default: now)
    and not settled on it yet, or only `entry_ids` (each must be one of those).

        Attributes:
            account_id (UUID):
            up_to (datetime.datetime | None | Unset):
            entry_ids (list[UUID] | None | Unset):
            description (str | Unset):  Default: ''.
            metadata (CreateSettlementRequestMetadata | Unset): JSON object of strings, integers, booleans, null, objects
                and arrays: at most 50 keys of 1 to 40 characters, each value at most 500 characters (a string's length, any
                other value's compact JSON), as Stripe's metadata
    """

    account_id: UUID
    up_to: datetime.datetime | None | Unset = UNSET
    entry_ids: list[UUID] | None | Unset = UNSET
    description: str | Unset = ""
    metadata: CreateSettlementRequestMetadata | Unset = UNSET

    def to_dict(self) -> dict[str, Any]:
        account_id = str(self.account_id)

        up_to: None | str | Unset
        if isinstance(self.up_to, Unset):
            up_to = UNSET
        elif isinstance(self.up_to, datetime.datetime):
            up_to = self.up_to.isoformat()
        else:
            up_to = self.up_to

        entry_ids: list[str] | None | Unset
        if isinstance(self.entry_ids, Unset):
            entry_ids = UNSET
        elif isinstance(self.entry_ids, list):
            entry_ids = []
            for entry_ids_type_0_item_data in self.entry_ids:
                entry_ids_type_0_item = str(entry_ids_type_0_item_data)
                entry_ids.append(entry_ids_type_0_item)

        else:
            entry_ids = self.entry_ids

        description = self.description

        metadata: dict[str, Any] | Unset = UNSET
        if not isinstance(self.metadata, Unset):
            metadata = self.metadata.to_dict()

        field_dict: dict[str, Any] = {}

        field_dict.update(
            {
                "account_id": account_id,
            }
        )
        if up_to is not UNSET:
            field_dict["up_to"] = up_to
        if entry_ids is not UNSET:
            field_dict["entry_ids"] = entry_ids
        if description is not UNSET:
            field_dict["description"] = description
        if metadata is not UNSET:
            field_dict["metadata"] = metadata

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.create_settlement_request_metadata import CreateSettlementRequestMetadata  # noqa: PLC0415

        d = dict(src_dict)
        account_id = UUID(d.pop("account_id"))

        def _parse_up_to(data: object) -> datetime.datetime | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, str):
                    raise TypeError()
                up_to_type_0 = datetime.datetime.fromisoformat(data)

                return up_to_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(datetime.datetime | None | Unset, data)

        up_to = _parse_up_to(d.pop("up_to", UNSET))

        def _parse_entry_ids(data: object) -> list[UUID] | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, list):
                    raise TypeError()
                entry_ids_type_0 = []
                _entry_ids_type_0 = data
                for entry_ids_type_0_item_data in _entry_ids_type_0:
                    entry_ids_type_0_item = UUID(entry_ids_type_0_item_data)

                    entry_ids_type_0.append(entry_ids_type_0_item)

                return entry_ids_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(list[UUID] | None | Unset, data)

        entry_ids = _parse_entry_ids(d.pop("entry_ids", UNSET))

        description = d.pop("description", UNSET)

        _metadata = d.pop("metadata", UNSET)
        metadata: CreateSettlementRequestMetadata | Unset
        if isinstance(_metadata, Unset):
            metadata = UNSET
        else:
            metadata = CreateSettlementRequestMetadata.from_dict(_metadata)

        create_settlement_request = cls(
            account_id=account_id,
            up_to=up_to,
            entry_ids=entry_ids,
            description=description,
            metadata=metadata,
        )

        return create_settlement_request

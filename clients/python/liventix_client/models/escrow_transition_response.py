from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import Any, TypeVar, cast
from uuid import UUID

from attrs import define as _attrs_define
from attrs import field as _attrs_field

T = TypeVar("T", bound="EscrowTransitionResponse")


@_attrs_define
class EscrowTransitionResponse:
    """One step of an escrow's audit trail.

    Attributes:
        from_state (str):
        to_state (str):
        event (str):
        cause (None | str):
        entry_id (None | UUID):
        created_at (datetime.datetime):
    """

    from_state: str
    to_state: str
    event: str
    cause: None | str
    entry_id: None | UUID
    created_at: datetime.datetime
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        from_state = self.from_state

        to_state = self.to_state

        event = self.event

        cause: None | str
        cause = self.cause

        entry_id: None | str
        if isinstance(self.entry_id, UUID):
            entry_id = str(self.entry_id)
        else:
            entry_id = self.entry_id

        created_at = self.created_at.isoformat()

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "from_state": from_state,
                "to_state": to_state,
                "event": event,
                "cause": cause,
                "entry_id": entry_id,
                "created_at": created_at,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        from_state = d.pop("from_state")

        to_state = d.pop("to_state")

        event = d.pop("event")

        def _parse_cause(data: object) -> None | str:
            if data is None:
                return data
            return cast(None | str, data)

        cause = _parse_cause(d.pop("cause"))

        def _parse_entry_id(data: object) -> None | UUID:
            if data is None:
                return data
            try:
                if not isinstance(data, str):
                    raise TypeError()
                entry_id_type_0 = UUID(data)

                return entry_id_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(None | UUID, data)

        entry_id = _parse_entry_id(d.pop("entry_id"))

        created_at = datetime.datetime.fromisoformat(d.pop("created_at"))

        escrow_transition_response = cls(
            from_state=from_state,
            to_state=to_state,
            event=event,
            cause=cause,
            entry_id=entry_id,
            created_at=created_at,
        )

        escrow_transition_response.additional_properties = d
        return escrow_transition_response

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

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, cast

from attrs import define as _attrs_define
from attrs import field as _attrs_field

T = TypeVar("T", bound="InboxHealthRow")


@_attrs_define
class InboxHealthRow:
    """One source's and event type's open and dead events received from outside.

    Attributes:
        source (str):
        event_type (str):
        pending (int):
        deferred (int):
        retrying (int):
        dead (int):
        oldest_open_age_seconds (int | None):
        oldest_dead_age_seconds (int | None):
    """

    source: str
    event_type: str
    pending: int
    deferred: int
    retrying: int
    dead: int
    oldest_open_age_seconds: int | None
    oldest_dead_age_seconds: int | None
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        source = self.source

        event_type = self.event_type

        pending = self.pending

        deferred = self.deferred

        retrying = self.retrying

        dead = self.dead

        oldest_open_age_seconds: int | None
        oldest_open_age_seconds = self.oldest_open_age_seconds

        oldest_dead_age_seconds: int | None
        oldest_dead_age_seconds = self.oldest_dead_age_seconds

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "source": source,
                "event_type": event_type,
                "pending": pending,
                "deferred": deferred,
                "retrying": retrying,
                "dead": dead,
                "oldest_open_age_seconds": oldest_open_age_seconds,
                "oldest_dead_age_seconds": oldest_dead_age_seconds,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        source = d.pop("source")

        event_type = d.pop("event_type")

        pending = d.pop("pending")

        deferred = d.pop("deferred")

        retrying = d.pop("retrying")

        dead = d.pop("dead")

        def _parse_oldest_open_age_seconds(data: object) -> int | None:
            if data is None:
                return data
            return cast(int | None, data)

        oldest_open_age_seconds = _parse_oldest_open_age_seconds(d.pop("oldest_open_age_seconds"))

        def _parse_oldest_dead_age_seconds(data: object) -> int | None:
            if data is None:
                return data
            return cast(int | None, data)

        oldest_dead_age_seconds = _parse_oldest_dead_age_seconds(d.pop("oldest_dead_age_seconds"))

        inbox_health_row = cls(
            source=source,
            event_type=event_type,
            pending=pending,
            deferred=deferred,
            retrying=retrying,
            dead=dead,
            oldest_open_age_seconds=oldest_open_age_seconds,
            oldest_dead_age_seconds=oldest_dead_age_seconds,
        )

        inbox_health_row.additional_properties = d
        return inbox_health_row

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

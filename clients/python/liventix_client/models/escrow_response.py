from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeVar, cast
from uuid import UUID

from attrs import define as _attrs_define
from attrs import field as _attrs_field

if TYPE_CHECKING:
    from ..models.amount import Amount


T = TypeVar("T", bound="EscrowResponse")


@_attrs_define
class EscrowResponse:
    """An escrow: the organizer's revenue of one event held until release.

    Attributes:
        id (UUID):
        org_id (UUID):
        event_id (str):
        currency (str):
        state (str):
        event_ends_at (datetime.datetime):
        ended_at (datetime.datetime | None):
        hold_until (datetime.datetime | None):
        open_disputes (int):
        captured (Amount): An amount of minor units in a currency (a balance: zero or negative too).
        refunded (Amount): An amount of minor units in a currency (a balance: zero or negative too).
        charged_back (Amount): An amount of minor units in a currency (a balance: zero or negative too).
        held (Amount): An amount of minor units in a currency (a balance: zero or negative too).
        released (Amount): An amount of minor units in a currency (a balance: zero or negative too).
        version (int):
    """

    id: UUID
    org_id: UUID
    event_id: str
    currency: str
    state: str
    event_ends_at: datetime.datetime
    ended_at: datetime.datetime | None
    hold_until: datetime.datetime | None
    open_disputes: int
    captured: Amount
    refunded: Amount
    charged_back: Amount
    held: Amount
    released: Amount
    version: int
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        id = str(self.id)

        org_id = str(self.org_id)

        event_id = self.event_id

        currency = self.currency

        state = self.state

        event_ends_at = self.event_ends_at.isoformat()

        ended_at: None | str
        if isinstance(self.ended_at, datetime.datetime):
            ended_at = self.ended_at.isoformat()
        else:
            ended_at = self.ended_at

        hold_until: None | str
        if isinstance(self.hold_until, datetime.datetime):
            hold_until = self.hold_until.isoformat()
        else:
            hold_until = self.hold_until

        open_disputes = self.open_disputes

        captured = self.captured.to_dict()

        refunded = self.refunded.to_dict()

        charged_back = self.charged_back.to_dict()

        held = self.held.to_dict()

        released = self.released.to_dict()

        version = self.version

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "id": id,
                "org_id": org_id,
                "event_id": event_id,
                "currency": currency,
                "state": state,
                "event_ends_at": event_ends_at,
                "ended_at": ended_at,
                "hold_until": hold_until,
                "open_disputes": open_disputes,
                "captured": captured,
                "refunded": refunded,
                "charged_back": charged_back,
                "held": held,
                "released": released,
                "version": version,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.amount import Amount  # noqa: PLC0415

        d = dict(src_dict)
        id = UUID(d.pop("id"))

        org_id = UUID(d.pop("org_id"))

        event_id = d.pop("event_id")

        currency = d.pop("currency")

        state = d.pop("state")

        event_ends_at = datetime.datetime.fromisoformat(d.pop("event_ends_at"))

        def _parse_ended_at(data: object) -> datetime.datetime | None:
            if data is None:
                return data
            try:
                if not isinstance(data, str):
                    raise TypeError()
                ended_at_type_0 = datetime.datetime.fromisoformat(data)

                return ended_at_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(datetime.datetime | None, data)

        ended_at = _parse_ended_at(d.pop("ended_at"))

        def _parse_hold_until(data: object) -> datetime.datetime | None:
            if data is None:
                return data
            try:
                if not isinstance(data, str):
                    raise TypeError()
                hold_until_type_0 = datetime.datetime.fromisoformat(data)

                return hold_until_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(datetime.datetime | None, data)

        hold_until = _parse_hold_until(d.pop("hold_until"))

        open_disputes = d.pop("open_disputes")

        captured = Amount.from_dict(d.pop("captured"))

        refunded = Amount.from_dict(d.pop("refunded"))

        charged_back = Amount.from_dict(d.pop("charged_back"))

        held = Amount.from_dict(d.pop("held"))

        released = Amount.from_dict(d.pop("released"))

        version = d.pop("version")

        escrow_response = cls(
            id=id,
            org_id=org_id,
            event_id=event_id,
            currency=currency,
            state=state,
            event_ends_at=event_ends_at,
            ended_at=ended_at,
            hold_until=hold_until,
            open_disputes=open_disputes,
            captured=captured,
            refunded=refunded,
            charged_back=charged_back,
            held=held,
            released=released,
            version=version,
        )

        escrow_response.additional_properties = d
        return escrow_response

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

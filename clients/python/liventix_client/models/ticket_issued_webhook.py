from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Literal, TypeVar, cast

from attrs import define as _attrs_define
from attrs import field as _attrs_field

if TYPE_CHECKING:
    from ..models.ticket_event import TicketEvent


T = TypeVar("T", bound="TicketIssuedWebhook")


@_attrs_define
class TicketIssuedWebhook:
    """The `ticket.issued` webhook's body.

    Attributes:
        type_ (Literal['ticket.issued']):
        timestamp (datetime.datetime): When the event happened (the message was written)
        data (TicketEvent): `ticket.issued`, `ticket.transferred`, `ticket.checked_in`, `ticket.refunded`, ...
    """

    type_: Literal["ticket.issued"]
    timestamp: datetime.datetime
    data: TicketEvent
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        type_ = self.type_

        timestamp = self.timestamp.isoformat()

        data = self.data.to_dict()

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "type": type_,
                "timestamp": timestamp,
                "data": data,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.ticket_event import TicketEvent  # noqa: PLC0415

        d = dict(src_dict)
        type_ = cast(Literal["ticket.issued"], d.pop("type"))
        if type_ != "ticket.issued":
            raise ValueError(f"type must match const 'ticket.issued', got '{type_}'")

        timestamp = datetime.datetime.fromisoformat(d.pop("timestamp"))

        data = TicketEvent.from_dict(d.pop("data"))

        ticket_issued_webhook = cls(
            type_=type_,
            timestamp=timestamp,
            data=data,
        )

        ticket_issued_webhook.additional_properties = d
        return ticket_issued_webhook

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

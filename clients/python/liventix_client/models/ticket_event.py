from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from attrs import define as _attrs_define
from attrs import field as _attrs_field

T = TypeVar("T", bound="TicketEvent")


@_attrs_define
class TicketEvent:
    """`ticket.issued`, `ticket.transferred`, `ticket.checked_in`, `ticket.refunded`, ...

    Attributes:
        ticket_id (str):
        order_id (str):
        event_id (str):
        status (str):
        holder_email (str):
        code (str):
    """

    ticket_id: str
    order_id: str
    event_id: str
    status: str
    holder_email: str
    code: str
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        ticket_id = self.ticket_id

        order_id = self.order_id

        event_id = self.event_id

        status = self.status

        holder_email = self.holder_email

        code = self.code

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "ticket_id": ticket_id,
                "order_id": order_id,
                "event_id": event_id,
                "status": status,
                "holder_email": holder_email,
                "code": code,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        ticket_id = d.pop("ticket_id")

        order_id = d.pop("order_id")

        event_id = d.pop("event_id")

        status = d.pop("status")

        holder_email = d.pop("holder_email")

        code = d.pop("code")

        ticket_event = cls(
            ticket_id=ticket_id,
            order_id=order_id,
            event_id=event_id,
            status=status,
            holder_email=holder_email,
            code=code,
        )

        ticket_event.additional_properties = d
        return ticket_event

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

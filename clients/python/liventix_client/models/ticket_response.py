from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeVar, cast
from uuid import UUID

from attrs import define as _attrs_define
from attrs import field as _attrs_field

if TYPE_CHECKING:
    from ..models.amount import Amount


T = TypeVar("T", bound="TicketResponse")


@_attrs_define
class TicketResponse:
    """A ticket.

    Attributes:
        id (UUID):
        order_id (UUID):
        org_id (UUID):
        event_id (UUID):
        ticket_type_id (UUID):
        status (str):
        code (str):
        holder_email (str):
        price (Amount): An amount of minor units in a currency (a balance: zero or negative too).
        replaces (None | UUID):
        checked_in_at (datetime.datetime | None):
        checked_in_by (None | str):
    """

    id: UUID
    order_id: UUID
    org_id: UUID
    event_id: UUID
    ticket_type_id: UUID
    status: str
    code: str
    holder_email: str
    price: Amount
    replaces: None | UUID
    checked_in_at: datetime.datetime | None
    checked_in_by: None | str
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        id = str(self.id)

        order_id = str(self.order_id)

        org_id = str(self.org_id)

        event_id = str(self.event_id)

        ticket_type_id = str(self.ticket_type_id)

        status = self.status

        code = self.code

        holder_email = self.holder_email

        price = self.price.to_dict()

        replaces: None | str
        if isinstance(self.replaces, UUID):
            replaces = str(self.replaces)
        else:
            replaces = self.replaces

        checked_in_at: None | str
        if isinstance(self.checked_in_at, datetime.datetime):
            checked_in_at = self.checked_in_at.isoformat()
        else:
            checked_in_at = self.checked_in_at

        checked_in_by: None | str
        checked_in_by = self.checked_in_by

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "id": id,
                "order_id": order_id,
                "org_id": org_id,
                "event_id": event_id,
                "ticket_type_id": ticket_type_id,
                "status": status,
                "code": code,
                "holder_email": holder_email,
                "price": price,
                "replaces": replaces,
                "checked_in_at": checked_in_at,
                "checked_in_by": checked_in_by,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.amount import Amount  # noqa: PLC0415

        d = dict(src_dict)
        id = UUID(d.pop("id"))

        order_id = UUID(d.pop("order_id"))

        org_id = UUID(d.pop("org_id"))

        event_id = UUID(d.pop("event_id"))

        ticket_type_id = UUID(d.pop("ticket_type_id"))

        status = d.pop("status")

        code = d.pop("code")

        holder_email = d.pop("holder_email")

        price = Amount.from_dict(d.pop("price"))

        def _parse_replaces(data: object) -> None | UUID:
            if data is None:
                return data
            try:
                if not isinstance(data, str):
                    raise TypeError()
                replaces_type_0 = UUID(data)

                return replaces_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(None | UUID, data)

        replaces = _parse_replaces(d.pop("replaces"))

        def _parse_checked_in_at(data: object) -> datetime.datetime | None:
            if data is None:
                return data
            try:
                if not isinstance(data, str):
                    raise TypeError()
                checked_in_at_type_0 = datetime.datetime.fromisoformat(data)

                return checked_in_at_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(datetime.datetime | None, data)

        checked_in_at = _parse_checked_in_at(d.pop("checked_in_at"))

        def _parse_checked_in_by(data: object) -> None | str:
            if data is None:
                return data
            return cast(None | str, data)

        checked_in_by = _parse_checked_in_by(d.pop("checked_in_by"))

        ticket_response = cls(
            id=id,
            order_id=order_id,
            org_id=org_id,
            event_id=event_id,
            ticket_type_id=ticket_type_id,
            status=status,
            code=code,
            holder_email=holder_email,
            price=price,
            replaces=replaces,
            checked_in_at=checked_in_at,
            checked_in_by=checked_in_by,
        )

        ticket_response.additional_properties = d
        return ticket_response

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

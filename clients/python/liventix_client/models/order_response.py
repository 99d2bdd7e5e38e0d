from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeVar, cast
from uuid import UUID

from attrs import define as _attrs_define
from attrs import field as _attrs_field

if TYPE_CHECKING:
    from ..models.amount import Amount
    from ..models.ticket_response import TicketResponse


T = TypeVar("T", bound="OrderResponse")


@_attrs_define
class OrderResponse:
    """An order, what was paid and refunded for it (as the ledger booked it), its tickets.

    Attributes:
        id (UUID):
        org_id (UUID):
        event_id (UUID):
        buyer_email (str):
        status (str):
        amount (Amount): An amount of minor units in a currency (a balance: zero or negative too).
        paid (Amount): An amount of minor units in a currency (a balance: zero or negative too).
        refunded (Amount): An amount of minor units in a currency (a balance: zero or negative too).
        payment_intent_id (None | str):
        hold_expires_at (datetime.datetime):
        cancel_reason (None | str):
        tickets (list[TicketResponse]):
    """

    id: UUID
    org_id: UUID
    event_id: UUID
    buyer_email: str
    status: str
    amount: Amount
    paid: Amount
    refunded: Amount
    payment_intent_id: None | str
    hold_expires_at: datetime.datetime
    cancel_reason: None | str
    tickets: list[TicketResponse]
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        id = str(self.id)

        org_id = str(self.org_id)

        event_id = str(self.event_id)

        buyer_email = self.buyer_email

        status = self.status

        amount = self.amount.to_dict()

        paid = self.paid.to_dict()

        refunded = self.refunded.to_dict()

        payment_intent_id: None | str
        payment_intent_id = self.payment_intent_id

        hold_expires_at = self.hold_expires_at.isoformat()

        cancel_reason: None | str
        cancel_reason = self.cancel_reason

        tickets = []
        for tickets_item_data in self.tickets:
            tickets_item = tickets_item_data.to_dict()
            tickets.append(tickets_item)

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "id": id,
                "org_id": org_id,
                "event_id": event_id,
                "buyer_email": buyer_email,
                "status": status,
                "amount": amount,
                "paid": paid,
                "refunded": refunded,
                "payment_intent_id": payment_intent_id,
                "hold_expires_at": hold_expires_at,
                "cancel_reason": cancel_reason,
                "tickets": tickets,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.amount import Amount  # noqa: PLC0415
        from ..models.ticket_response import TicketResponse  # noqa: PLC0415

        d = dict(src_dict)
        id = UUID(d.pop("id"))

        org_id = UUID(d.pop("org_id"))

        event_id = UUID(d.pop("event_id"))

        buyer_email = d.pop("buyer_email")

        status = d.pop("status")

        amount = Amount.from_dict(d.pop("amount"))

        paid = Amount.from_dict(d.pop("paid"))

        refunded = Amount.from_dict(d.pop("refunded"))

        def _parse_payment_intent_id(data: object) -> None | str:
            if data is None:
                return data
            return cast(None | str, data)

        payment_intent_id = _parse_payment_intent_id(d.pop("payment_intent_id"))

        hold_expires_at = datetime.datetime.fromisoformat(d.pop("hold_expires_at"))

        def _parse_cancel_reason(data: object) -> None | str:
            if data is None:
                return data
            return cast(None | str, data)

        cancel_reason = _parse_cancel_reason(d.pop("cancel_reason"))

        tickets = []
        _tickets = d.pop("tickets")
        for tickets_item_data in _tickets:
            tickets_item = TicketResponse.from_dict(tickets_item_data)

            tickets.append(tickets_item)

        order_response = cls(
            id=id,
            org_id=org_id,
            event_id=event_id,
            buyer_email=buyer_email,
            status=status,
            amount=amount,
            paid=paid,
            refunded=refunded,
            payment_intent_id=payment_intent_id,
            hold_expires_at=hold_expires_at,
            cancel_reason=cancel_reason,
            tickets=tickets,
        )

        order_response.additional_properties = d
        return order_response

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

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from attrs import define as _attrs_define
from attrs import field as _attrs_field

T = TypeVar("T", bound="StatementTicketType")


@_attrs_define
class StatementTicketType:
    """One ticket type's tickets among the period's captures: sold (issued, checked in,
    refunded, invalidated) and refunded, their face value (`gross`), the captures' fees
    shared among the tickets of each payment by price (`fees`, whole minor units: the
    largest remainders get the odd ones), `share` = gross - fees, and the face value of its
    refunded tickets.

        Attributes:
            currency (str):
            event_id (str):
            event (str):
            ticket_type_id (str):
            ticket_type (str):
            tickets_sold (int):
            tickets_refunded (int):
            gross (int):
            fees (int):
            share (int):
            refunded_value (int):
    """

    currency: str
    event_id: str
    event: str
    ticket_type_id: str
    ticket_type: str
    tickets_sold: int
    tickets_refunded: int
    gross: int
    fees: int
    share: int
    refunded_value: int
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        currency = self.currency

        event_id = self.event_id

        event = self.event

        ticket_type_id = self.ticket_type_id

        ticket_type = self.ticket_type

        tickets_sold = self.tickets_sold

        tickets_refunded = self.tickets_refunded

        gross = self.gross

        fees = self.fees

        share = self.share

        refunded_value = self.refunded_value

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "currency": currency,
                "event_id": event_id,
                "event": event,
                "ticket_type_id": ticket_type_id,
                "ticket_type": ticket_type,
                "tickets_sold": tickets_sold,
                "tickets_refunded": tickets_refunded,
                "gross": gross,
                "fees": fees,
                "share": share,
                "refunded_value": refunded_value,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        currency = d.pop("currency")

        event_id = d.pop("event_id")

        event = d.pop("event")

        ticket_type_id = d.pop("ticket_type_id")

        ticket_type = d.pop("ticket_type")

        tickets_sold = d.pop("tickets_sold")

        tickets_refunded = d.pop("tickets_refunded")

        gross = d.pop("gross")

        fees = d.pop("fees")

        share = d.pop("share")

        refunded_value = d.pop("refunded_value")

        statement_ticket_type = cls(
            currency=currency,
            event_id=event_id,
            event=event,
            ticket_type_id=ticket_type_id,
            ticket_type=ticket_type,
            tickets_sold=tickets_sold,
            tickets_refunded=tickets_refunded,
            gross=gross,
            fees=fees,
            share=share,
            refunded_value=refunded_value,
        )

        statement_ticket_type.additional_properties = d
        return statement_ticket_type

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

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar
from uuid import UUID

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

T = TypeVar("T", bound="TicketTieOutRow")


@_attrs_define
class TicketTieOutRow:
    """One event's tickets beside the ledger's sales and refunds.

    Attributes:
        org_id (UUID):
        event_id (UUID):
        event (str):
        currency (str):
        tickets_sold (int):
        tickets_refunded (int):
        tickets_checked_in (int):
        tickets_sold_value (int):
        ledger_sales (int):
        sales_difference (int):
        tickets_refunded_value (int):
        ledger_refunds (int):
        refunds_difference (int):
        ledger_refunds_without_tickets (int | Unset):  Default: 0.
    """

    org_id: UUID
    event_id: UUID
    event: str
    currency: str
    tickets_sold: int
    tickets_refunded: int
    tickets_checked_in: int
    tickets_sold_value: int
    ledger_sales: int
    sales_difference: int
    tickets_refunded_value: int
    ledger_refunds: int
    refunds_difference: int
    ledger_refunds_without_tickets: int | Unset = 0
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        org_id = str(self.org_id)

        event_id = str(self.event_id)

        event = self.event

        currency = self.currency

        tickets_sold = self.tickets_sold

        tickets_refunded = self.tickets_refunded

        tickets_checked_in = self.tickets_checked_in

        tickets_sold_value = self.tickets_sold_value

        ledger_sales = self.ledger_sales

        sales_difference = self.sales_difference

        tickets_refunded_value = self.tickets_refunded_value

        ledger_refunds = self.ledger_refunds

        refunds_difference = self.refunds_difference

        ledger_refunds_without_tickets = self.ledger_refunds_without_tickets

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "org_id": org_id,
                "event_id": event_id,
                "event": event,
                "currency": currency,
                "tickets_sold": tickets_sold,
                "tickets_refunded": tickets_refunded,
                "tickets_checked_in": tickets_checked_in,
                "tickets_sold_value": tickets_sold_value,
                "ledger_sales": ledger_sales,
                "sales_difference": sales_difference,
                "tickets_refunded_value": tickets_refunded_value,
                "ledger_refunds": ledger_refunds,
                "refunds_difference": refunds_difference,
            }
        )
        if ledger_refunds_without_tickets is not UNSET:
            field_dict["ledger_refunds_without_tickets"] = ledger_refunds_without_tickets

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        org_id = UUID(d.pop("org_id"))

        event_id = UUID(d.pop("event_id"))

        event = d.pop("event")

        currency = d.pop("currency")

        tickets_sold = d.pop("tickets_sold")

        tickets_refunded = d.pop("tickets_refunded")

        tickets_checked_in = d.pop("tickets_checked_in")

        tickets_sold_value = d.pop("tickets_sold_value")

        ledger_sales = d.pop("ledger_sales")

        sales_difference = d.pop("sales_difference")

        tickets_refunded_value = d.pop("tickets_refunded_value")

        ledger_refunds = d.pop("ledger_refunds")

        refunds_difference = d.pop("refunds_difference")

        ledger_refunds_without_tickets = d.pop("ledger_refunds_without_tickets", UNSET)

        ticket_tie_out_row = cls(
            org_id=org_id,
            event_id=event_id,
            event=event,
            currency=currency,
            tickets_sold=tickets_sold,
            tickets_refunded=tickets_refunded,
            tickets_checked_in=tickets_checked_in,
            tickets_sold_value=tickets_sold_value,
            ledger_sales=ledger_sales,
            sales_difference=sales_difference,
            tickets_refunded_value=tickets_refunded_value,
            ledger_refunds=ledger_refunds,
            refunds_difference=refunds_difference,
            ledger_refunds_without_tickets=ledger_refunds_without_tickets,
        )

        ticket_tie_out_row.additional_properties = d
        return ticket_tie_out_row

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

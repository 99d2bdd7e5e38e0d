from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, cast

from attrs import define as _attrs_define
from attrs import field as _attrs_field

T = TypeVar("T", bound="StatementEvent")


@_attrs_define
class StatementEvent:
    """One event's part of the organizer's period, in one currency. `captures`, `gross` and
    `fees` (the platform's fee and the Stripe fee the organizer bore) are the captures
    recorded (card_payments); the rest is what the event's entries moved on the organizer's
    accounts in the ledger (escrow + payable - receivable, each on its normal side):
    `ledger_sales`, `refunds` and `disputes` (negative: money back to buyers), `net` (their
    sum: what the event earned the organizer), `released` (moved to payable) and
    `transferred` (paid out by transfers, less what reversals recovered). `difference` =
    gross - fees - ledger_sales (the sales tie-out per event). Entries no event is found
    for (a payout, an entry booked by hand) are the row with no `event_id`: the rows' ledger
    columns sum to the statement's movements per currency.

        Attributes:
            currency (str):
            event_id (None | str):
            event (str):
            captures (int):
            gross (int):
            fees (int):
            ledger_sales (int):
            refunds (int):
            disputes (int):
            net (int):
            released (int):
            transferred (int):
            difference (int):
    """

    currency: str
    event_id: None | str
    event: str
    captures: int
    gross: int
    fees: int
    ledger_sales: int
    refunds: int
    disputes: int
    net: int
    released: int
    transferred: int
    difference: int
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        currency = self.currency

        event_id: None | str
        event_id = self.event_id

        event = self.event

        captures = self.captures

        gross = self.gross

        fees = self.fees

        ledger_sales = self.ledger_sales

        refunds = self.refunds

        disputes = self.disputes

        net = self.net

        released = self.released

        transferred = self.transferred

        difference = self.difference

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "currency": currency,
                "event_id": event_id,
                "event": event,
                "captures": captures,
                "gross": gross,
                "fees": fees,
                "ledger_sales": ledger_sales,
                "refunds": refunds,
                "disputes": disputes,
                "net": net,
                "released": released,
                "transferred": transferred,
                "difference": difference,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        currency = d.pop("currency")

        def _parse_event_id(data: object) -> None | str:
            if data is None:
                return data
            return cast(None | str, data)

        event_id = _parse_event_id(d.pop("event_id"))

        event = d.pop("event")

        captures = d.pop("captures")

        gross = d.pop("gross")

        fees = d.pop("fees")

        ledger_sales = d.pop("ledger_sales")

        refunds = d.pop("refunds")

        disputes = d.pop("disputes")

        net = d.pop("net")

        released = d.pop("released")

        transferred = d.pop("transferred")

        difference = d.pop("difference")

        statement_event = cls(
            currency=currency,
            event_id=event_id,
            event=event,
            captures=captures,
            gross=gross,
            fees=fees,
            ledger_sales=ledger_sales,
            refunds=refunds,
            disputes=disputes,
            net=net,
            released=released,
            transferred=transferred,
            difference=difference,
        )

        statement_event.additional_properties = d
        return statement_event

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

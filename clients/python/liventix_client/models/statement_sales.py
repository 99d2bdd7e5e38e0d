from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from attrs import define as _attrs_define
from attrs import field as _attrs_field

T = TypeVar("T", bound="StatementSales")


@_attrs_define
class StatementSales:
    """The period's captures: gross, the platform's fee, Stripe's fee and the part of it the
    organizer bore, and the organizer's share (gross - platform fee - fee borne), tied out to
    `ledger_sales`, what the sales entries moved on the organizer's accounts (the sales
    movement's total): a nonzero `difference` is a capture booked other than recorded.

        Attributes:
            currency (str):
            captures (int):
            gross (int):
            platform_fee (int):
            stripe_fee (int):
            stripe_fee_borne (int):
            organizer_share (int):
            ledger_sales (int):
            difference (int):
    """

    currency: str
    captures: int
    gross: int
    platform_fee: int
    stripe_fee: int
    stripe_fee_borne: int
    organizer_share: int
    ledger_sales: int
    difference: int
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        currency = self.currency

        captures = self.captures

        gross = self.gross

        platform_fee = self.platform_fee

        stripe_fee = self.stripe_fee

        stripe_fee_borne = self.stripe_fee_borne

        organizer_share = self.organizer_share

        ledger_sales = self.ledger_sales

        difference = self.difference

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "currency": currency,
                "captures": captures,
                "gross": gross,
                "platform_fee": platform_fee,
                "stripe_fee": stripe_fee,
                "stripe_fee_borne": stripe_fee_borne,
                "organizer_share": organizer_share,
                "ledger_sales": ledger_sales,
                "difference": difference,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        currency = d.pop("currency")

        captures = d.pop("captures")

        gross = d.pop("gross")

        platform_fee = d.pop("platform_fee")

        stripe_fee = d.pop("stripe_fee")

        stripe_fee_borne = d.pop("stripe_fee_borne")

        organizer_share = d.pop("organizer_share")

        ledger_sales = d.pop("ledger_sales")

        difference = d.pop("difference")

        statement_sales = cls(
            currency=currency,
            captures=captures,
            gross=gross,
            platform_fee=platform_fee,
            stripe_fee=stripe_fee,
            stripe_fee_borne=stripe_fee_borne,
            organizer_share=organizer_share,
            ledger_sales=ledger_sales,
            difference=difference,
        )

        statement_sales.additional_properties = d
        return statement_sales

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

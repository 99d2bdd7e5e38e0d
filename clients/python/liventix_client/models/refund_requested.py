from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from attrs import define as _attrs_define
from attrs import field as _attrs_field

T = TypeVar("T", bound="RefundRequested")


@_attrs_define
class RefundRequested:
    """`stripe.refund.requested`: the task that asks Stripe to refund part of a payment.

    Attributes:
        refund_id (str):
        order_id (str):
        payment_intent_id (str):
        amount (int):
        currency (str):
        reason (str):
    """

    refund_id: str
    order_id: str
    payment_intent_id: str
    amount: int
    currency: str
    reason: str
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        refund_id = self.refund_id

        order_id = self.order_id

        payment_intent_id = self.payment_intent_id

        amount = self.amount

        currency = self.currency

        reason = self.reason

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "refund_id": refund_id,
                "order_id": order_id,
                "payment_intent_id": payment_intent_id,
                "amount": amount,
                "currency": currency,
                "reason": reason,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        refund_id = d.pop("refund_id")

        order_id = d.pop("order_id")

        payment_intent_id = d.pop("payment_intent_id")

        amount = d.pop("amount")

        currency = d.pop("currency")

        reason = d.pop("reason")

        refund_requested = cls(
            refund_id=refund_id,
            order_id=order_id,
            payment_intent_id=payment_intent_id,
            amount=amount,
            currency=currency,
            reason=reason,
        )

        refund_requested.additional_properties = d
        return refund_requested

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

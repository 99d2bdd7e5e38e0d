from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Literal, TypeVar, cast

from attrs import define as _attrs_define
from attrs import field as _attrs_field

if TYPE_CHECKING:
    from ..models.intent_cancel_requested import IntentCancelRequested


T = TypeVar("T", bound="StripePaymentIntentCancelRequestedWebhook")


@_attrs_define
class StripePaymentIntentCancelRequestedWebhook:
    """The `stripe.payment_intent.cancel.requested` webhook's body.

    Attributes:
        type_ (Literal['stripe.payment_intent.cancel.requested']):
        timestamp (datetime.datetime): When the event happened (the message was written)
        data (IntentCancelRequested): `stripe.payment_intent.cancel.requested`: the task that asks Stripe to cancel the
            PaymentIntent of an order released unpaid, or of one whose hold expired (the sweeper asks
            first: the order's seats are released once Stripe says the intent is canceled). An intent
            never recorded on its order is found again by its creation request (`intent_*`, the same
            key and parameters).
    """

    type_: Literal["stripe.payment_intent.cancel.requested"]
    timestamp: datetime.datetime
    data: IntentCancelRequested
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
        from ..models.intent_cancel_requested import IntentCancelRequested  # noqa: PLC0415

        d = dict(src_dict)
        type_ = cast(Literal["stripe.payment_intent.cancel.requested"], d.pop("type"))
        if type_ != "stripe.payment_intent.cancel.requested":
            raise ValueError(f"type must match const 'stripe.payment_intent.cancel.requested', got '{type_}'")

        timestamp = datetime.datetime.fromisoformat(d.pop("timestamp"))

        data = IntentCancelRequested.from_dict(d.pop("data"))

        stripe_payment_intent_cancel_requested_webhook = cls(
            type_=type_,
            timestamp=timestamp,
            data=data,
        )

        stripe_payment_intent_cancel_requested_webhook.additional_properties = d
        return stripe_payment_intent_cancel_requested_webhook

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

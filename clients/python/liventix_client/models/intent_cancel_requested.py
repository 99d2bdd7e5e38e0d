from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeVar, cast

from attrs import define as _attrs_define
from attrs import field as _attrs_field

if TYPE_CHECKING:
    from ..models.intent_cancel_requested_intent_metadata import IntentCancelRequestedIntentMetadata


T = TypeVar("T", bound="IntentCancelRequested")


@_attrs_define
class IntentCancelRequested:
    """`stripe.payment_intent.cancel.requested`: the task that asks Stripe to cancel the
    PaymentIntent of an order released unpaid, or of one whose hold expired (the sweeper asks
    first: the order's seats are released once Stripe says the intent is canceled). An intent
    never recorded on its order is found again by its creation request (`intent_*`, the same
    key and parameters).

        Attributes:
            order_id (str):
            payment_intent_id (None | str):
            intent_amount (int):
            intent_currency (str):
            intent_metadata (IntentCancelRequestedIntentMetadata):
            intent_idempotency_key (str):
            reason (str):
    """

    order_id: str
    payment_intent_id: None | str
    intent_amount: int
    intent_currency: str
    intent_metadata: IntentCancelRequestedIntentMetadata
    intent_idempotency_key: str
    reason: str
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        order_id = self.order_id

        payment_intent_id: None | str
        payment_intent_id = self.payment_intent_id

        intent_amount = self.intent_amount

        intent_currency = self.intent_currency

        intent_metadata = self.intent_metadata.to_dict()

        intent_idempotency_key = self.intent_idempotency_key

        reason = self.reason

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "order_id": order_id,
                "payment_intent_id": payment_intent_id,
                "intent_amount": intent_amount,
                "intent_currency": intent_currency,
                "intent_metadata": intent_metadata,
                "intent_idempotency_key": intent_idempotency_key,
                "reason": reason,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.intent_cancel_requested_intent_metadata import IntentCancelRequestedIntentMetadata  # noqa: PLC0415

        d = dict(src_dict)
        order_id = d.pop("order_id")

        def _parse_payment_intent_id(data: object) -> None | str:
            if data is None:
                return data
            return cast(None | str, data)

        payment_intent_id = _parse_payment_intent_id(d.pop("payment_intent_id"))

        intent_amount = d.pop("intent_amount")

        intent_currency = d.pop("intent_currency")

        intent_metadata = IntentCancelRequestedIntentMetadata.from_dict(d.pop("intent_metadata"))

        intent_idempotency_key = d.pop("intent_idempotency_key")

        reason = d.pop("reason")

        intent_cancel_requested = cls(
            order_id=order_id,
            payment_intent_id=payment_intent_id,
            intent_amount=intent_amount,
            intent_currency=intent_currency,
            intent_metadata=intent_metadata,
            intent_idempotency_key=intent_idempotency_key,
            reason=reason,
        )

        intent_cancel_requested.additional_properties = d
        return intent_cancel_requested

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

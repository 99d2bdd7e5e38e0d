"""Stripe's objects as the stand-in keeps and answers them: the ids, the errors Stripe
answers, the account's records (intents, refunds, transfers and their reversals) and the
JSON objects built from them, in the shapes of Stripe's own fixtures
(`../shared/stripe/fixtures3.json`)."""

from __future__ import annotations

import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

API_VERSION = "2024-06-20"
DISPUTE_FEE = 1_500
"""Stripe's dispute fee, in the currency's minor units."""

StripeObject = dict[str, Any]

CANCELABLE_LISTED = (
    "requires_payment_method",
    "requires_capture",
    "requires_confirmation",
    "requires_action",
    "processing",
)
"""The PaymentIntent statuses Stripe's refusal to cancel names as cancelable (its message)."""
CANCELABLE = (
    "requires_payment_method",
    "requires_capture",
    "requires_confirmation",
    "requires_action",
)
"""The PaymentIntent statuses the stand-in's `POST /v1/payment_intents/{id}/cancel` cancels:
Stripe's, but `processing`, which Stripe cancels only in rare cases (a payment under way:
refused with `payment_intent_unexpected_state`, as for `succeeded` and `canceled`)."""
PAYABLE = ("requires_payment_method", "requires_confirmation", "requires_action", "processing")
"""The PaymentIntent statuses in which the stand-in's buyer can still pay (or be declined)."""
CANCELLATION_REASONS = ("duplicate", "fraudulent", "requested_by_customer", "abandoned")


def stripe_fee(amount: int) -> int:
    """The stand-in's card fee: 2.9 % + 30."""
    return amount * 29 // 1000 + 30


def now() -> int:
    """Stripe's timestamps: seconds since the epoch."""
    return int(time.time())


def list_object(url: str, data: Sequence[StripeObject] = ()) -> StripeObject:
    """A Stripe list of `data`, all of it on this page."""
    return {"object": "list", "data": list(data), "has_more": False, "url": url}


def new_id(prefix: str) -> str:
    """A Stripe-looking object id."""
    return f"{prefix}_{uuid.uuid4().hex[:24]}"


def charge_of(payment_intent_id: str) -> str:
    """The id of the charge of a PaymentIntent (one charge per intent here)."""
    return f"ch_{payment_intent_id[3:]}"


def balance_transaction_of(payment_intent_id: str) -> str:
    """The id of the balance transaction of a PaymentIntent's charge."""
    return f"txn_{payment_intent_id[3:]}"


class StripeRefusal(Exception):
    """A request Stripe refuses: answered 400 (404 for a missing object) with Stripe's error
    object."""

    def __init__(
        self,
        message: str,
        *,
        type: str = "invalid_request_error",
        code: str | None = None,
        status: int = 400,
        payment_intent: StripeObject | None = None,
    ) -> None:
        super().__init__(message)
        self.type = type
        self.code = code
        self.status = status
        self.payment_intent = payment_intent

    def as_json(self) -> StripeObject:
        """Stripe's error object (with the PaymentIntent, for an error about one, as Stripe's
        `error.payment_intent`)."""
        doc = f"https://stripe.com/docs/error-codes/{self.code}" if self.code else None
        error: StripeObject = {
            "type": self.type,
            "code": self.code,
            "message": str(self),
            "doc_url": doc,
        }
        if self.payment_intent is not None:
            error["payment_intent"] = self.payment_intent
        return {"error": error}


class IdempotencyError(StripeRefusal):
    """Stripe's `idempotency_error`: a key reused with other parameters."""

    def __init__(self, key: str) -> None:
        super().__init__(
            "Keys for idempotent requests can only be used with the same parameters they were "
            f"first used with. Try using a key other than '{key.partition(':')[2] or key}' if you "
            "meant to execute a different request.",
            type="idempotency_error",
        )
        self.key = key


@dataclass
class Intent:
    """A PaymentIntent as the stand-in keeps it."""

    id: str
    amount: int
    currency: str
    metadata: dict[str, str]
    client_secret: str
    created: int = field(default_factory=lambda: int(time.time()))
    status: str = "requires_payment_method"
    """requires_payment_method (awaiting the buyer), processing (paid with an asynchronous
    method, not yet confirmed), succeeded or canceled."""
    canceled_at: int | None = None
    cancellation_reason: str | None = None
    declined: bool = False
    """The buyer's last attempt was declined (`last_payment_error`)."""
    charged: int | None = None
    """When its charge was made (Unix seconds), as Stripe makes it when the buyer confirms:
    a card's at its success, a bank debit's at its start (`processing`); None: no charge
    under way or made (none yet, or the last one failed)."""


@dataclass
class Refund:
    """A refund as the stand-in keeps it: it succeeds at once, and may fail later
    (`fail_refund`: the money comes back as a `refund_failure` balance transaction)."""

    id: str
    payment_intent_id: str
    amount: int
    currency: str
    metadata: dict[str, str]
    status: str = "succeeded"
    balance_transaction: str | None = None
    created: int = field(default_factory=lambda: int(time.time()))


@dataclass
class TransferReversal:
    """A reversal of (part of) a transfer: the money comes back from the connected
    account."""

    id: str
    transfer_id: str
    amount: int
    currency: str
    metadata: dict[str, str]
    balance_transaction: str


@dataclass
class Transfer:
    """A transfer to an organizer's connected account (funded by one charge when it names
    its `source_transaction`)."""

    id: str
    amount: int
    currency: str
    destination: str
    metadata: dict[str, str]
    source_transaction: str | None = None
    transfer_group: str | None = None
    reversals: list[TransferReversal] = field(default_factory=list)

    @property
    def amount_reversed(self) -> int:
        """What its reversals brought back so far."""
        return sum(r.amount for r in self.reversals)


def reversal_object(reversal: TransferReversal) -> StripeObject:
    """A TransferReversal object."""
    return {
        "id": reversal.id,
        "object": "transfer_reversal",
        "amount": reversal.amount,
        "balance_transaction": reversal.balance_transaction,
        "created": int(time.time()),
        "currency": reversal.currency,
        "destination_payment_refund": None,
        "metadata": dict(reversal.metadata),
        "source_refund": None,
        "transfer": reversal.transfer_id,
    }


def transfer_object(transfer: Transfer) -> StripeObject:
    """A Transfer object, with its reversals."""
    return {
        "id": transfer.id,
        "object": "transfer",
        "amount": transfer.amount,
        "amount_reversed": transfer.amount_reversed,
        "currency": transfer.currency,
        "destination": transfer.destination,
        "metadata": dict(transfer.metadata),
        "reversals": list_object(
            f"/v1/transfers/{transfer.id}/reversals",
            [reversal_object(r) for r in transfer.reversals],
        ),
        "reversed": transfer.amount_reversed >= transfer.amount,
        "source_transaction": transfer.source_transaction,
        "transfer_group": transfer.transfer_group,
    }


def event(type: str, obj: StripeObject, *, id: str | None = None) -> StripeObject:
    """A Stripe Event envelope around `obj`, as Stripe posts it to a webhook."""
    return {
        "id": id or new_id("evt"),
        "object": "event",
        "api_version": API_VERSION,
        "created": int(time.time()),
        "data": {"object": obj},
        "livemode": False,
        "pending_webhooks": 1,
        "request": {"id": None, "idempotency_key": None},
        "type": type,
    }


def intent_object(intent: Intent, status: str | None = None) -> StripeObject:
    """A PaymentIntent object, in its own status unless `status` is given (an event's
    snapshot of an earlier moment)."""
    status = status or intent.status
    succeeded = status == "succeeded"
    canceled = status == "canceled"
    return {
        "id": intent.id,
        "object": "payment_intent",
        "amount": intent.amount,
        "amount_capturable": 0,
        "amount_received": intent.amount if succeeded else 0,
        "automatic_payment_methods": {"enabled": True},
        "canceled_at": intent.canceled_at if canceled else None,
        "cancellation_reason": intent.cancellation_reason if canceled else None,
        "capture_method": "automatic",
        "client_secret": intent.client_secret,
        "confirmation_method": "automatic",
        "created": intent.created,
        "currency": intent.currency,
        "latest_charge": charge_of(intent.id) if succeeded else None,
        "livemode": False,
        "metadata": dict(intent.metadata),
        "status": status,
        "last_payment_error": (
            {"type": "card_error", "code": "card_declined"}
            if status == "requires_payment_method" and intent.declined
            else None
        ),
    }


def refund_object(refund: Refund, status: str) -> StripeObject:
    """A Refund object in `status`."""
    return {
        "id": refund.id,
        "object": "refund",
        "amount": refund.amount,
        "balance_transaction": refund.balance_transaction,
        "charge": charge_of(refund.payment_intent_id),
        "created": refund.created,
        "currency": refund.currency,
        "metadata": dict(refund.metadata),
        "payment_intent": refund.payment_intent_id,
        "status": status,
    }


def dispute_object(
    intent: Intent, dispute_id: str, status: str, txns: list[dict[str, int]]
) -> StripeObject:
    """A Dispute object with the balance transactions it moved so far (amount and fee)."""
    return {
        "id": dispute_id,
        "object": "dispute",
        "amount": intent.amount,
        "balance_transactions": txns,
        "charge": charge_of(intent.id),
        "currency": intent.currency,
        "metadata": {},
        "payment_intent": intent.id,
        "reason": "fraudulent",
        "status": status,
    }

"""Builders of Stripe's API objects, shaped after Stripe's own examples (stripe/openapi
`fixtures3.json`: `payment_intent`, `charge`, `balance_transaction`, `refund`, `dispute`,
`transfer`, `transfer_reversal`, `payout`; the `event` envelope is `objects.event`), for the
objects a test seeds at the stand-in (`seeded.py`) and for Stripe's side of a test's story.

Each builder returns a fresh JSON-ready dict with the fields the project reads and the
neighbouring fields Stripe sends with them; ids are generated with Stripe's prefixes unless
given. Amounts are integers of minor units; currencies are lower case, as Stripe writes them.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence

from liventix.testing.stripe.connect_shapes import payout, transfer, transfer_reversal
from liventix.testing.stripe.objects import (
    API_VERSION,
    StripeObject,
    event,
    list_object,
    new_id,
    now,
)

__all__ = [
    "API_VERSION",
    "StripeObject",
    "balance_transaction",
    "charge",
    "dispute",
    "dispute_reinstatement",
    "dispute_withdrawal",
    "event",
    "new_id",
    "now",
    "payment_intent",
    "payout",
    "refund",
    "transfer",
    "transfer_reversal",
]


def balance_transaction(
    *,
    amount: int,
    fee: int,
    currency: str = "usd",
    source: str | None = None,
    type: str = "charge",
    reporting_category: str | None = None,
    id: str | None = None,
) -> StripeObject:
    """A BalanceTransaction: `amount` signed (negative when money leaves), `fee` Stripe's
    fee (negative when returned), `net` = amount - fee."""
    fee_details = (
        [
            {
                "amount": fee,
                "application": None,
                "currency": currency,
                "description": "Stripe processing fees",
                "type": "stripe_fee",
            }
        ]
        if fee
        else []
    )
    return {
        "id": id or new_id("txn"),
        "object": "balance_transaction",
        "amount": amount,
        "available_on": now() + 2 * 86_400,
        "balance_type": "payments",
        "created": now(),
        "currency": currency,
        "description": None,
        "exchange_rate": None,
        "fee": fee,
        "fee_details": fee_details,
        "net": amount - fee,
        "reporting_category": reporting_category or type,
        "source": source,
        "status": "pending",
        "type": type,
    }


def charge(
    *,
    amount: int,
    currency: str = "usd",
    payment_intent: str | None = None,
    balance_transaction: str | StripeObject | None = None,
    refunds: Sequence[StripeObject] = (),
    include_refunds: bool = True,
    metadata: Mapping[str, str] | None = None,
    id: str | None = None,
    created: int | None = None,
) -> StripeObject:
    """A captured, succeeded card Charge, made at `created` (None: now). With
    `include_refunds=False` the `refunds` list is left out, as API versions since 2022-11-15
    do."""
    charge_id = id or new_id("ch")
    refunded = sum(int(r["amount"]) for r in refunds if r["status"] in ("succeeded", "pending"))
    obj: StripeObject = {
        "id": charge_id,
        "object": "charge",
        "amount": amount,
        "amount_captured": amount,
        "amount_refunded": refunded,
        "application": None,
        "application_fee": None,
        "application_fee_amount": None,
        "balance_transaction": balance_transaction,
        "billing_details": {
            "address": {
                "city": None,
                "country": None,
                "line1": None,
                "line2": None,
                "postal_code": None,
                "state": None,
            },
            "email": None,
            "name": "Jenny Rosen",
            "phone": None,
            "tax_id": None,
        },
        "calculated_statement_descriptor": "LIVENTIX",
        "captured": True,
        "created": now() if created is None else created,
        "currency": currency,
        "customer": None,
        "description": None,
        "disputed": False,
        "failure_balance_transaction": None,
        "failure_code": None,
        "failure_message": None,
        "fraud_details": {},
        "livemode": False,
        "metadata": dict(metadata or {}),
        "on_behalf_of": None,
        "outcome": {
            "network_status": "approved_by_network",
            "reason": None,
            "risk_level": "normal",
            "seller_message": "Payment complete.",
            "type": "authorized",
        },
        "paid": True,
        "payment_intent": payment_intent,
        "payment_method": new_id("pm"),
        "payment_method_details": {
            "card": {"brand": "visa", "country": "US", "last4": "4242", "network": "visa"},
            "type": "card",
        },
        "receipt_email": None,
        "receipt_url": None,
        "refunded": refunded >= amount,
        "review": None,
        "shipping": None,
        "source_transfer": None,
        "statement_descriptor": None,
        "statement_descriptor_suffix": None,
        "status": "succeeded",
        "transfer_data": None,
        "transfer_group": None,
    }
    if include_refunds:
        obj["refunds"] = list_object(f"/v1/charges/{charge_id}/refunds", refunds)
    return obj


def payment_intent(
    *,
    amount: int,
    currency: str = "usd",
    metadata: Mapping[str, str] | None = None,
    latest_charge: str | StripeObject | None = None,
    status: str = "succeeded",
    id: str | None = None,
) -> StripeObject:
    """A PaymentIntent (automatic capture): succeeded with its latest charge, or not yet."""
    pi_id = id or new_id("pi")
    succeeded = status == "succeeded"
    return {
        "id": pi_id,
        "object": "payment_intent",
        "amount": amount,
        "amount_capturable": 0,
        "amount_details": {"tip": {}},
        "amount_received": amount if succeeded else 0,
        "application": None,
        "application_fee_amount": None,
        "automatic_payment_methods": {"enabled": True},
        "canceled_at": None,
        "cancellation_reason": None,
        "capture_method": "automatic",
        "client_secret": f"{pi_id}_secret_{uuid.uuid4().hex[:24]}",
        "confirmation_method": "automatic",
        "created": now(),
        "currency": currency,
        "customer": None,
        "description": None,
        "last_payment_error": None,
        "latest_charge": latest_charge,
        "livemode": False,
        "metadata": dict(metadata or {}),
        "next_action": None,
        "on_behalf_of": None,
        "payment_method": new_id("pm"),
        "payment_method_types": ["card"],
        "processing": None,
        "receipt_email": None,
        "review": None,
        "setup_future_usage": None,
        "shipping": None,
        "source": None,
        "statement_descriptor": None,
        "statement_descriptor_suffix": None,
        "status": status,
        "transfer_data": None,
        "transfer_group": None,
    }


def refund(
    *,
    amount: int,
    charge: str,
    payment_intent: str | None,
    currency: str = "usd",
    status: str = "succeeded",
    balance_transaction: str | None = None,
    id: str | None = None,
) -> StripeObject:
    """A Refund of a charge: pending, succeeded, failed or canceled."""
    return {
        "id": id or new_id("re"),
        "object": "refund",
        "amount": amount,
        "balance_transaction": balance_transaction,
        "charge": charge,
        "created": now(),
        "currency": currency,
        "destination_details": {"card": {"type": "reversal"}, "type": "card"},
        "failure_balance_transaction": None,
        "failure_reason": "expired_or_canceled_card" if status == "failed" else None,
        "metadata": {},
        "payment_intent": payment_intent,
        "reason": "requested_by_customer",
        "receipt_number": None,
        "source_transfer_reversal": None,
        "status": status,
        "transfer_reversal": None,
    }


def dispute(
    *,
    amount: int,
    charge: str,
    payment_intent: str | None,
    currency: str = "usd",
    status: str = "needs_response",
    balance_transactions: Sequence[StripeObject] = (),
    id: str | None = None,
) -> StripeObject:
    """A Dispute of a charge, with the balance transactions that moved its funds (the
    withdrawal: negative amount and the dispute fee; a reinstatement: positive amount and the
    fee returned as a negative fee)."""
    return {
        "id": id or new_id("dp"),
        "object": "dispute",
        "amount": amount,
        "balance_transactions": list(balance_transactions),
        "charge": charge,
        "created": now(),
        "currency": currency,
        "evidence": {"customer_name": None, "product_description": None, "receipt": None},
        "evidence_details": {
            "due_by": now() + 14 * 86_400,
            "has_evidence": False,
            "past_due": False,
            "submission_count": 0,
        },
        "is_charge_refundable": False,
        "livemode": False,
        "metadata": {},
        "payment_intent": payment_intent,
        "payment_method_details": {
            "card": {"brand": "visa", "case_type": "chargeback", "network_reason_code": "10.4"},
            "type": "card",
        },
        "reason": "fraudulent",
        "status": status,
    }


def dispute_withdrawal(
    dispute_id: str, amount: int, fee: int, currency: str = "usd"
) -> StripeObject:
    """The balance transaction of a dispute's withdrawal: -amount, and Stripe's dispute fee."""
    return balance_transaction(
        amount=-amount,
        fee=fee,
        currency=currency,
        source=dispute_id,
        type="adjustment",
        reporting_category="dispute",
    )


def dispute_reinstatement(
    dispute_id: str, amount: int, fee_returned: int, currency: str = "usd"
) -> StripeObject:
    """The balance transaction of a won dispute's reinstatement: +amount, the fee returned."""
    return balance_transaction(
        amount=amount,
        fee=-fee_returned,
        currency=currency,
        source=dispute_id,
        type="adjustment",
        reporting_category="dispute_reversal",
    )

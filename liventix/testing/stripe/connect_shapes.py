"""Builders of Stripe Connect's objects (a Transfer to a connected account, its
TransferReversals, a Payout of the platform's balance), shaped after Stripe's own examples
(`fixtures3.json`: `transfer`, `transfer_reversal`, `payout`); `shapes` re-exports them beside
the card's objects."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from liventix.testing.stripe.objects import StripeObject, list_object, new_id, now


def transfer_reversal(
    *, amount: int, transfer: str, currency: str = "usd", id: str | None = None
) -> StripeObject:
    """A TransferReversal: part (or all) of a transfer back from the connected account."""
    return {
        "id": id or new_id("trr"),
        "object": "transfer_reversal",
        "amount": amount,
        "balance_transaction": new_id("txn"),
        "created": now(),
        "currency": currency,
        "destination_payment_refund": new_id("pyr"),
        "metadata": {},
        "source_refund": None,
        "transfer": transfer,
    }


def transfer(
    *,
    amount: int,
    destination: str,
    currency: str = "usd",
    metadata: Mapping[str, str] | None = None,
    transfer_group: str | None = None,
    reversals: Sequence[StripeObject] = (),
    id: str | None = None,
) -> StripeObject:
    """A Transfer to a connected account, with its reversals list."""
    transfer_id = id or new_id("tr")
    reversed_amount = sum(int(r["amount"]) for r in reversals)
    return {
        "id": transfer_id,
        "object": "transfer",
        "amount": amount,
        "amount_reversed": reversed_amount,
        "balance_transaction": new_id("txn"),
        "created": now(),
        "currency": currency,
        "description": None,
        "destination": destination,
        "destination_payment": new_id("py"),
        "livemode": False,
        "metadata": dict(metadata or {}),
        "reversals": list_object(f"/v1/transfers/{transfer_id}/reversals", reversals),
        "reversed": reversed_amount >= amount,
        "source_transaction": None,
        "source_type": "card",
        "transfer_group": transfer_group,
    }


def payout(
    *, amount: int, currency: str = "usd", status: str = "paid", id: str | None = None
) -> StripeObject:
    """A Payout of the platform's balance to its bank: in_transit, paid or failed."""
    failed = status == "failed"
    return {
        "id": id or new_id("po"),
        "object": "payout",
        "amount": amount,
        "application_fee": None,
        "application_fee_amount": None,
        "arrival_date": now() + 86_400,
        "automatic": True,
        "balance_transaction": new_id("txn"),
        "created": now(),
        "currency": currency,
        "description": "STRIPE PAYOUT",
        "destination": new_id("ba"),
        "failure_balance_transaction": new_id("txn") if failed else None,
        "failure_code": "account_closed" if failed else None,
        "failure_message": "The bank account has been closed." if failed else None,
        "livemode": False,
        "metadata": {},
        "method": "standard",
        "original_payout": None,
        "reconciliation_status": "not_applicable",
        "reversed_by": None,
        "source_type": "card",
        "statement_descriptor": None,
        "status": status,
        "trace_id": {"status": "supported", "value": None},
        "type": "bank_account",
    }

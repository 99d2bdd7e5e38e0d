"""An in-process stand-in for the platform's Stripe account, for the demo.

It answers the `StripeGateway` calls the application makes (PaymentIntents, refunds,
transfers, and escrow's `StripeReader` questions) from memory, idempotent by key like Stripe,
and keeps what a Stripe account keeps: a balance transaction for every movement of the
balance (charges, refunds, disputes, transfers, payouts). It builds the events Stripe would
send about them, in Stripe's shapes (`../shared/stripe/fixtures3.json` is the reference), and
exports the balance transactions as the API lists them, for finance's reconciliation.
Nothing leaves the process.
"""

from __future__ import annotations

import threading
import time
import uuid
from dataclasses import dataclass
from typing import Any

import escrow
import ticketing_fsm
from escrow.stripe_events import META_ESCROW
from liventix.stripe_gateway import StripeGateway, StripeSettings

API_VERSION = "2024-06-20"
DISPUTE_FEE = 1_500
"""Stripe's dispute fee, in the currency's minor units."""

StripeObject = dict[str, Any]


def stripe_fee(amount: int) -> int:
    """The stand-in's card fee: 2.9 % + 30."""
    return amount * 29 // 1000 + 30


def new_id(prefix: str) -> str:
    """A Stripe-looking object id."""
    return f"{prefix}_{uuid.uuid4().hex[:24]}"


def charge_of(payment_intent_id: str) -> str:
    """The id of the charge of a PaymentIntent (one charge per intent here)."""
    return f"ch_{payment_intent_id[3:]}"


def balance_transaction_of(payment_intent_id: str) -> str:
    """The id of the balance transaction of a PaymentIntent's charge."""
    return f"txn_{payment_intent_id[3:]}"


@dataclass
class Intent:
    """A PaymentIntent as the stand-in keeps it."""

    id: str
    amount: int
    currency: str
    metadata: dict[str, str]
    client_secret: str


@dataclass
class Refund:
    """A refund as the stand-in keeps it (they all succeed)."""

    id: str
    payment_intent_id: str
    amount: int
    currency: str
    metadata: dict[str, str]


def event(type: str, obj: StripeObject) -> StripeObject:
    """A Stripe Event envelope around `obj`."""
    return {
        "id": new_id("evt"),
        "object": "event",
        "api_version": API_VERSION,
        "created": int(time.time()),
        "data": {"object": obj},
        "livemode": False,
        "pending_webhooks": 1,
        "request": {"id": None, "idempotency_key": None},
        "type": type,
    }


def intent_object(intent: Intent, status: str) -> StripeObject:
    """A PaymentIntent object in `status`."""
    succeeded = status == "succeeded"
    return {
        "id": intent.id,
        "object": "payment_intent",
        "amount": intent.amount,
        "amount_received": intent.amount if succeeded else 0,
        "currency": intent.currency,
        "latest_charge": charge_of(intent.id) if succeeded else None,
        "metadata": dict(intent.metadata),
        "status": status,
        "last_payment_error": None if succeeded else {"code": "card_declined"},
    }


def refund_object(refund: Refund, status: str) -> StripeObject:
    """A Refund object in `status`."""
    return {
        "id": refund.id,
        "object": "refund",
        "amount": refund.amount,
        "charge": charge_of(refund.payment_intent_id),
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


class StripeStandIn(StripeGateway):
    """The platform's Stripe account, in memory (thread-safe: the workers call it)."""

    def __init__(self) -> None:
        super().__init__(StripeSettings(max_network_retries=0))
        self.intents: dict[str, Intent] = {}
        self.refunds: dict[str, Refund] = {}
        self.transfers: dict[str, tuple[str, int, str, str]] = {}
        self._balance: list[StripeObject] = []
        self._keys: dict[str, str] = {}
        self._lock = threading.Lock()

    def _once(self, key: str, prefix: str) -> tuple[str, bool]:
        with self._lock:
            if key in self._keys:
                return self._keys[key], False
            self._keys[key] = made = new_id(prefix)
            return made, True

    def _move(
        self,
        *,
        txn_id: str | None = None,
        source: str,
        currency: str,
        amount: int,
        fee: int,
        category: str,
        description: str,
    ) -> None:
        """Record one movement of the balance, as a BalanceTransaction object."""
        now = int(time.time())
        txn: StripeObject = {
            "id": txn_id or new_id("txn"),
            "object": "balance_transaction",
            "amount": amount,
            "available_on": now,
            "created": now,
            "currency": currency.lower(),
            "description": description,
            "exchange_rate": None,
            "fee": fee,
            "fee_details": (
                [{"amount": fee, "currency": currency.lower(), "type": "stripe_fee"}] if fee else []
            ),
            "net": amount - fee,
            "reporting_category": category,
            "source": source,
            "status": "available",
            "type": category,
        }
        with self._lock:
            self._balance.append(txn)

    def balance_transactions(self) -> list[StripeObject]:
        """Every movement of the balance so far, oldest first (as `/v1/balance_transactions`
        lists them, but in chronological order)."""
        with self._lock:
            return [dict(t) for t in self._balance]

    def balance(self) -> dict[str, int]:
        """The balance per currency (upper case): the sum of the movements' nets."""
        out: dict[str, int] = {}
        for txn in self.balance_transactions():
            cur = str(txn["currency"]).upper()
            out[cur] = out.get(cur, 0) + int(txn["net"])
        return out

    # -- the gateway's calls --

    def create_payment_intent(
        self, amount: int, currency: str, metadata: dict[str, str], idempotency_key: str
    ) -> ticketing_fsm.CreatedIntent:
        """A PaymentIntent awaiting payment; the same key returns the same intent."""
        pi, new = self._once(f"pi:{idempotency_key}", "pi")
        if new:
            self.intents[pi] = Intent(
                pi, amount, currency.lower(), dict(metadata), f"{pi}_secret_{uuid.uuid4().hex}"
            )
        return ticketing_fsm.CreatedIntent(pi, self.intents[pi].client_secret)

    def create_refund(
        self, payment_intent_id: str, amount: int, metadata: dict[str, str], idempotency_key: str
    ) -> str:
        """A refund (it succeeds at once and leaves the balance); the same key returns the
        same refund."""
        refund_id, new = self._once(f"re:{idempotency_key}", "re")
        if new:
            currency = self.intents[payment_intent_id].currency
            with self._lock:
                self.refunds[refund_id] = Refund(
                    refund_id, payment_intent_id, amount, currency, dict(metadata)
                )
            self._move(
                source=refund_id,
                currency=currency,
                amount=-amount,
                fee=0,
                category="refund",
                description=f"REFUND FOR CHARGE {charge_of(payment_intent_id)}",
            )
        return refund_id

    def create_transfer(
        self, request: escrow.TransferRequested, idempotency_key: str
    ) -> tuple[str, int]:
        """A transfer to the organizer's connected account (it leaves the balance)."""
        if not request.destination:
            raise ValueError(f"organizer {request.org_id} has no connected account")
        transfer_id, new = self._once(f"tr:{idempotency_key}", "tr")
        if new:
            with self._lock:
                self.transfers[transfer_id] = (
                    request.escrow_id,
                    request.amount,
                    request.destination,
                    request.currency.lower(),
                )
            self._move(
                source=transfer_id,
                currency=request.currency,
                amount=-request.amount,
                fee=0,
                category="transfer",
                description=f"Transfer to {request.destination}",
            )
        return transfer_id, self.transfers[transfer_id][1]

    def charge_facts(self, payment_intent_id: str) -> escrow.ChargeFacts:
        """The intent's charge and its fee."""
        intent = self.intents[payment_intent_id]
        return escrow.ChargeFacts(
            charge_id=charge_of(payment_intent_id),
            balance_transaction_id=balance_transaction_of(payment_intent_id),
            stripe_fee=stripe_fee(intent.amount),
        )

    def refunds_of_charge(self, charge_id: str) -> list[escrow.RefundFacts]:
        """Every refund of the charge (all succeeded)."""
        with self._lock:
            refunds = list(self.refunds.values())
        return [
            escrow.RefundFacts(r.id, r.payment_intent_id, r.amount, "succeeded")
            for r in refunds
            if charge_of(r.payment_intent_id) == charge_id
        ]

    # -- what happens at Stripe, and the events it sends about it --

    def succeed(self, payment_intent_id: str) -> StripeObject:
        """The buyer pays: the charge lands on the balance, less Stripe's fee."""
        intent = self.intents[payment_intent_id]
        self._move(
            txn_id=balance_transaction_of(intent.id),
            source=charge_of(intent.id),
            currency=intent.currency,
            amount=intent.amount,
            fee=stripe_fee(intent.amount),
            category="charge",
            description=f"Payment {intent.id}",
        )
        return event("payment_intent.succeeded", intent_object(intent, "succeeded"))

    def fail(self, payment_intent_id: str) -> StripeObject:
        """The card is declined: nothing moves."""
        obj = intent_object(self.intents[payment_intent_id], "requires_payment_method")
        return event("payment_intent.payment_failed", obj)

    def dispute(self, payment_intent_id: str, outcome: str) -> list[StripeObject]:
        """A dispute of the intent's charge, to its close as `outcome` ('won' or 'lost'): the
        amount and the dispute fee leave the balance; winning brings both back."""
        intent = self.intents[payment_intent_id]
        dp = new_id("du")
        withdrawn = [{"amount": -intent.amount, "fee": DISPUTE_FEE}]
        self._move(
            source=dp,
            currency=intent.currency,
            amount=-intent.amount,
            fee=DISPUTE_FEE,
            category="dispute",
            description=f"Chargeback withdrawal for {charge_of(intent.id)}",
        )
        events = [
            event("charge.dispute.created", dispute_object(intent, dp, "needs_response", [])),
            event(
                "charge.dispute.funds_withdrawn",
                dispute_object(intent, dp, "under_review", withdrawn),
            ),
        ]
        if outcome == "won":
            back = [*withdrawn, {"amount": intent.amount, "fee": -DISPUTE_FEE}]
            self._move(
                source=dp,
                currency=intent.currency,
                amount=intent.amount,
                fee=-DISPUTE_FEE,
                category="dispute_reversal",
                description=f"Chargeback reversal for {charge_of(intent.id)}",
            )
            events.append(
                event("charge.dispute.funds_reinstated", dispute_object(intent, dp, "won", back))
            )
            events.append(event("charge.dispute.closed", dispute_object(intent, dp, "won", back)))
        else:
            events.append(
                event("charge.dispute.closed", dispute_object(intent, dp, "lost", withdrawn))
            )
        return events

    def payout(self, currency: str, amount: int) -> StripeObject:
        """A payout of `amount` to the platform's bank, paid: `payout.paid`."""
        po = new_id("po")
        self._move(
            source=po,
            currency=currency,
            amount=-amount,
            fee=0,
            category="payout",
            description="STRIPE PAYOUT",
        )
        return event(
            "payout.paid",
            {
                "id": po,
                "object": "payout",
                "amount": amount,
                "arrival_date": int(time.time()),
                "currency": currency.lower(),
                "method": "standard",
                "status": "paid",
                "type": "bank_account",
            },
        )

    def refund_events(
        self, refund: Refund, *, stale_first: bool, with_charge: bool
    ) -> list[StripeObject]:
        """Stripe's events about a refund: `refund.updated` (after a stale pending snapshot
        when `stale_first`), and `charge.refunded` with the charge's refunds when
        `with_charge`."""
        out = []
        if stale_first:
            out.append(event("refund.updated", refund_object(refund, "pending")))
        out.append(event("refund.updated", refund_object(refund, "succeeded")))
        if with_charge:
            with self._lock:
                siblings = [
                    r
                    for r in self.refunds.values()
                    if r.payment_intent_id == refund.payment_intent_id
                ]
            out.append(
                event(
                    "charge.refunded",
                    {
                        "id": charge_of(refund.payment_intent_id),
                        "object": "charge",
                        "payment_intent": refund.payment_intent_id,
                        "currency": refund.currency,
                        "refunds": {"data": [refund_object(r, "succeeded") for r in siblings]},
                    },
                )
            )
        return out

    def transfer_events(self) -> list[StripeObject]:
        """`transfer.created` for every transfer made, in a stable order."""
        with self._lock:
            transfers = sorted(self.transfers.items(), key=lambda t: (t[1][1], t[1][2], t[1][3]))
        return [
            event(
                "transfer.created",
                {
                    "id": transfer_id,
                    "object": "transfer",
                    "amount": amount,
                    "currency": currency,
                    "destination": destination,
                    "metadata": {META_ESCROW: escrow_id},
                },
            )
            for transfer_id, (escrow_id, amount, destination, currency) in transfers
        ]

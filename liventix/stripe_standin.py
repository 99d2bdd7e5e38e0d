"""An in-process stand-in for the platform's Stripe account, for the demo, tests and benches.

`StandInServer` serves, on 127.0.0.1 in Stripe's wire format, the part of Stripe's API the
application calls through the stripe library (`StripeGateway` with `api_base` pointed at it):
PaymentIntents, refunds (and their failure), transfers and their reversals (Connect), and
what escrow's `StripeReader` asks. `StripeStandIn`
holds the account in memory, idempotent by key like Stripe, and keeps what a Stripe account
keeps: a balance transaction for every movement of the
balance (charges, refunds, disputes, transfers, payouts). It builds the events Stripe would
send about them, in Stripe's shapes (`../shared/stripe/fixtures3.json` is the reference), and
exports the balance transactions as the API lists them, for finance's reconciliation.
Nothing leaves the process.

Stripe's own weather can be set, at construction or at any moment (`Faults`, the account's
`latency_ms`, `fail_rate`, `hang_rate`): every answer comes after `latency_ms` (slept outside
the account's lock, so concurrent requests overlap as at Stripe); a share of PaymentIntent
creations answers as Stripe does in an outage (500 `api_error`, nothing created, so a retry
under the same key creates it), another share does the work and then hangs past the client's
timeout (the intent exists; the answer is lost). Which request fails is drawn from the seed,
the idempotency key and the attempt's number under that key: the same on every run, whatever
the threads' order. Run as `python -m liventix.stripe_standin` it serves on its own, set by
options or `STRIPE_STANDIN_*` environment variables.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Literal
from urllib.parse import parse_qsl, urlsplit

API_VERSION = "2024-06-20"
DISPUTE_FEE = 1_500
"""Stripe's dispute fee, in the currency's minor units."""

StripeObject = dict[str, Any]
Answer = tuple[int, StripeObject]

CANCELABLE = ("requires_payment_method", "requires_confirmation", "requires_action", "processing")
"""The PaymentIntent statuses Stripe lets `POST /v1/payment_intents/{id}/cancel` cancel."""
CANCELLATION_REASONS = ("duplicate", "fraudulent", "requested_by_customer", "abandoned")
HANG_SECONDS = 30.0
"""How long a hanging request hangs: beyond any client's timeout (the gateway's is shorter)."""


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


class StripeRefusal(Exception):
    """A request Stripe refuses: answered 400 (404 for a missing object) with Stripe's error
    object."""

    def __init__(
        self, message: str, *, type: str = "invalid_request_error", code: str, status: int = 400
    ) -> None:
        super().__init__(message)
        self.type = type
        self.code = code
        self.status = status

    def as_json(self) -> StripeObject:
        """Stripe's error object."""
        return {"error": {"type": self.type, "code": self.code, "message": str(self)}}


class IdempotencyError(StripeRefusal):
    """Stripe's `idempotency_error`: a key reused with other parameters."""

    def __init__(self, key: str) -> None:
        super().__init__(
            f"Keys for idempotent requests can only be used with the same parameters ({key})",
            type="idempotency_error",
            code="idempotency_key_in_use",
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
    """requires_payment_method (awaiting the buyer), succeeded or canceled."""
    canceled_at: int | None = None
    cancellation_reason: str | None = None
    declined: bool = False
    """The buyer's last attempt was declined (`last_payment_error`)."""


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
        "reversals": {
            "object": "list",
            "data": [reversal_object(r) for r in transfer.reversals],
            "has_more": False,
            "url": f"/v1/transfers/{transfer.id}/reversals",
        },
        "reversed": transfer.amount_reversed >= transfer.amount,
        "source_transaction": transfer.source_transaction,
        "transfer_group": transfer.transfer_group,
    }


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


class StripeStandIn:
    """The platform's Stripe account, in memory (thread-safe: its HTTP server answers from
    many threads)."""

    def __init__(
        self,
        *,
        latency_ms: float = 0.0,
        fail_rate: float = 0.0,
        hang_rate: float = 0.0,
        hang_seconds: float = HANG_SECONDS,
        seed: int = 0,
    ) -> None:
        self.intents: dict[str, Intent] = {}
        self.refunds: dict[str, Refund] = {}
        self.transfers: dict[str, Transfer] = {}
        self._balance: list[StripeObject] = []
        self._keys: dict[str, tuple[str, object]] = {}
        self._canceled: list[str] = []
        # Re-entrant: a request's whole effect (key, object, balance movement) is one
        # critical section, so a concurrent request with the same key sees all or nothing.
        self._lock = threading.RLock()
        # Stripe's weather: read by the HTTP server on every request, settable at any time.
        self.latency_ms = latency_ms
        """Every answer over HTTP comes this many milliseconds after the request."""
        self.fail_rate = fail_rate
        """The share of PaymentIntent creations answered 500 `api_error`, creating nothing."""
        self.hang_rate = hang_rate
        """The share of PaymentIntent creations that create and then hang `hang_seconds`."""
        self.hang_seconds = hang_seconds
        self.seed = seed
        self._attempts: dict[str, int] = {}
        # What the HTTP server is doing: requests inside it now, and the most at once.
        self._flight = threading.Lock()
        self.in_flight = 0
        self.max_in_flight = 0
        self.requests = 0
        self.injected: dict[str, int] = {"fail": 0, "hang": 0}

    @property
    def succeeded(self) -> set[str]:
        """The ids of the intents paid so far."""
        with self._lock:
            return {i.id for i in self.intents.values() if i.status == "succeeded"}

    def entered(self) -> None:
        """A request came in (counted for `in_flight` and `max_in_flight`)."""
        with self._flight:
            self.requests += 1
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)

    def left(self) -> None:
        """A request was answered (or given up)."""
        with self._flight:
            self.in_flight -= 1

    def fault(self, idempotency_key: str) -> Literal["fail", "hang"] | None:
        """Whether this attempt at creating a PaymentIntent under `idempotency_key` fails,
        hangs, or goes through: drawn from (seed, key, attempt number), so the same run of
        requests meets the same faults whatever the order its threads run in."""
        with self._flight:
            attempt = self._attempts.get(idempotency_key, 0) + 1
            self._attempts[idempotency_key] = attempt
        fail, hang = self.fail_rate, self.hang_rate
        if fail <= 0 and hang <= 0:
            return None
        roll = random.Random(f"{self.seed}:{idempotency_key}:{attempt}").random()
        verdict: Literal["fail", "hang"] | None = (
            "fail" if roll < fail else "hang" if roll < fail + hang else None
        )
        if verdict is not None:
            with self._flight:
                self.injected[verdict] += 1
        return verdict

    def _once(self, key: str, prefix: str, params: object) -> tuple[str, bool]:
        """The object made under `key` (and False), or a new id for one (and True); the same
        key with other parameters is Stripe's idempotency error."""
        with self._lock:
            if key in self._keys:
                made, first = self._keys[key]
                if first != params:
                    raise IdempotencyError(key)
                return made, False
            made = new_id(prefix)
            self._keys[key] = (made, params)
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
        type: str | None = None,
    ) -> None:
        """Record one movement of the balance, as a BalanceTransaction object (its `type`
        is the category unless given: a dispute's is an `adjustment`)."""
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
            "type": type or category,
        }
        with self._lock:
            self._balance.append(txn)

    def balance_transactions(self) -> list[StripeObject]:
        """Every movement of the balance so far, oldest first (as `/v1/balance_transactions`
        lists them, but in chronological order)."""
        with self._lock:
            return [dict(t) for t in self._balance]

    def refunds_since(self, seen: set[str]) -> list[Refund]:
        """The refunds made whose ids are not in `seen`, in the order they were made."""
        with self._lock:
            return [r for r in self.refunds.values() if r.id not in seen]

    def balance(self) -> dict[str, int]:
        """The balance per currency (upper case): the sum of the movements' nets."""
        out: dict[str, int] = {}
        for txn in self.balance_transactions():
            cur = str(txn["currency"]).upper()
            out[cur] = out.get(cur, 0) + int(txn["net"])
        return out

    def balance_transaction(self, txn_id: str) -> StripeObject | None:
        """One balance transaction by id."""
        with self._lock:
            return next((dict(t) for t in self._balance if t["id"] == txn_id), None)

    # -- the API's calls (see StandInServer) --

    def create_payment_intent(
        self, *, amount: int, currency: str, metadata: dict[str, str], idempotency_key: str
    ) -> Intent:
        """A PaymentIntent awaiting payment; the same key returns the same intent."""
        params = (amount, currency.lower(), sorted(metadata.items()))
        with self._lock:
            pi, new = self._once(f"pi:{idempotency_key}", "pi", params)
            if new:
                self.intents[pi] = Intent(
                    pi, amount, currency.lower(), dict(metadata), f"{pi}_secret_{uuid.uuid4().hex}"
                )
            return self.intents[pi]

    def create_refund(
        self,
        *,
        payment_intent_id: str,
        amount: int,
        metadata: dict[str, str],
        idempotency_key: str,
    ) -> Refund:
        """A refund of a paid intent's charge, never beyond what is left of it (it succeeds
        at once and leaves the balance); the same key returns the same refund."""
        params = (payment_intent_id, amount, sorted(metadata.items()))
        with self._lock:
            intent = self.intents.get(payment_intent_id)
            if intent is None:
                raise StripeRefusal(
                    f"No such payment_intent: '{payment_intent_id}'",
                    code="resource_missing",
                    status=404,
                )
            key = f"re:{idempotency_key}"
            if key not in self._keys:
                if intent.status != "succeeded":
                    raise StripeRefusal(
                        f"PaymentIntent {payment_intent_id} has no successful charge to refund",
                        code="charge_not_refundable",
                    )
                refunded = sum(
                    r.amount for r in self.refunds.values() if r.payment_intent_id == intent.id
                )
                if amount <= 0 or amount > intent.amount - refunded:
                    raise StripeRefusal(
                        f"Refund amount ({amount}) is greater than the unrefunded amount on "
                        f"the charge ({intent.amount - refunded})",
                        code="amount_too_large",
                    )
            refund_id, new = self._once(key, "re", params)
            if new:
                self.refunds[refund_id] = Refund(
                    refund_id, payment_intent_id, amount, intent.currency, dict(metadata)
                )
                self._move(
                    source=refund_id,
                    currency=intent.currency,
                    amount=-amount,
                    fee=0,
                    category="refund",
                    description=f"REFUND FOR CHARGE {charge_of(payment_intent_id)}",
                )
            return self.refunds[refund_id]

    def fail_refund(self, refund_id: str) -> list[StripeObject]:
        """The refund fails (the buyer's card is closed, say): its money comes back to the
        balance as a `refund_failure` balance transaction whose source is the refund; Stripe
        sends `refund.failed` and `refund.updated` (status `failed`)."""
        with self._lock:
            refund = self.refunds[refund_id]
            if refund.status != "failed":
                refund.status = "failed"
                self._move(
                    source=refund.id,
                    currency=refund.currency,
                    amount=refund.amount,
                    fee=0,
                    category="refund_failure",
                    type="refund_failure",
                    description=f"REFUND FAILURE FOR CHARGE {charge_of(refund.payment_intent_id)}",
                )
            failed = refund_object(refund, "failed")
        return [event("refund.failed", failed), event("refund.updated", dict(failed))]

    def create_transfer(
        self,
        *,
        amount: int,
        currency: str,
        destination: str,
        metadata: dict[str, str],
        idempotency_key: str,
        source_transaction: str | None = None,
        transfer_group: str | None = None,
    ) -> Transfer:
        """A transfer to a connected account (it leaves the balance). One naming its
        `source_transaction` (a charge of this account) is funded by that charge, so it can
        never be more than the charge's amount."""
        params = (
            amount,
            currency.lower(),
            destination,
            sorted(metadata.items()),
            source_transaction,
            transfer_group,
        )
        with self._lock:
            key = f"tr:{idempotency_key}"
            if key not in self._keys and source_transaction is not None:
                charged = {charge_of(i.id): i for i in self.intents.values()}
                intent = charged.get(source_transaction)
                if intent is None or intent.status != "succeeded":
                    raise StripeRefusal(
                        f"No such charge: '{source_transaction}'",
                        code="resource_missing",
                        status=404,
                    )
                if amount > intent.amount:
                    raise StripeRefusal(
                        f"The transfer amount ({amount}) exceeds the source transaction's "
                        f"amount ({intent.amount})",
                        code="amount_too_large",
                    )
            transfer_id, new = self._once(key, "tr", params)
            if new:
                self.transfers[transfer_id] = Transfer(
                    transfer_id,
                    amount,
                    currency.lower(),
                    destination,
                    dict(metadata),
                    source_transaction,
                    transfer_group,
                )
                self._move(
                    source=transfer_id,
                    currency=currency,
                    amount=-amount,
                    fee=0,
                    category="transfer",
                    description=f"Transfer to {destination}",
                )
            return self.transfers[transfer_id]

    def create_transfer_reversal(
        self, transfer_id: str, *, amount: int, metadata: dict[str, str], idempotency_key: str
    ) -> TransferReversal:
        """Reverse `amount` of a transfer (never more than is left of it): the money comes
        back to the balance (a `transfer_refund` balance transaction, reporting category
        `transfer_reversal`, whose source is the reversal); the same key returns the same
        reversal."""
        params = (transfer_id, amount, sorted(metadata.items()))
        with self._lock:
            transfer = self.transfers.get(transfer_id)
            if transfer is None:
                raise StripeRefusal(
                    f"No such transfer: '{transfer_id}'", code="resource_missing", status=404
                )
            key = f"trr:{idempotency_key}"
            if key not in self._keys:
                left = transfer.amount - transfer.amount_reversed
                if amount <= 0 or amount > left:
                    raise StripeRefusal(
                        f"Reversal amount ({amount}) is greater than the amount left on the "
                        f"transfer ({left})",
                        code="amount_too_large",
                    )
            reversal_id, new = self._once(key, "trr", params)
            if new:
                txn = new_id("txn")
                transfer.reversals.append(
                    TransferReversal(
                        reversal_id, transfer.id, amount, transfer.currency, dict(metadata), txn
                    )
                )
                self._move(
                    txn_id=txn,
                    source=reversal_id,
                    currency=transfer.currency,
                    amount=amount,
                    fee=0,
                    category="transfer_reversal",
                    type="transfer_refund",
                    description=f"Reversal of transfer {transfer.id}",
                )
            return next(
                r for t in self.transfers.values() for r in t.reversals if r.id == reversal_id
            )

    def intent_json(self, payment_intent_id: str, *, expand_charge: bool) -> StripeObject:
        """The PaymentIntent as `GET /v1/payment_intents/{id}` answers it; its charge (and
        the charge's balance transaction) expanded when asked."""
        with self._lock:
            intent = self.intents[payment_intent_id]
            obj = intent_object(intent)
        if intent.status == "succeeded" and expand_charge:
            obj["latest_charge"] = {
                "id": charge_of(intent.id),
                "object": "charge",
                "amount": intent.amount,
                "currency": intent.currency,
                "payment_intent": intent.id,
                "balance_transaction": self.balance_transaction(balance_transaction_of(intent.id)),
            }
        return obj

    def refunds_json(self, charge_id: str) -> StripeObject:
        """The charge's refunds as `GET /v1/refunds?charge=` lists them."""
        with self._lock:
            refunds = [
                r for r in self.refunds.values() if charge_of(r.payment_intent_id) == charge_id
            ]
        return {
            "object": "list",
            "data": [refund_object(r, r.status) for r in refunds],
            "has_more": False,
            "url": "/v1/refunds",
        }

    # -- what happens at Stripe, and the events it sends about it --

    def cancel_payment_intent(
        self, payment_intent_id: str, *, reason: str | None, idempotency_key: str
    ) -> Intent:
        """Cancel an intent awaiting payment (`canceled`, with the reason); the same key
        replays the same answer. An intent paid or canceled already is Stripe's
        `payment_intent_unexpected_state`."""
        if reason is not None and reason not in CANCELLATION_REASONS:
            raise ValueError(
                f"cancellation_reason must be one of {', '.join(CANCELLATION_REASONS)}"
            )
        with self._lock:
            intent = self.intents.get(payment_intent_id)
            if intent is None:
                raise StripeRefusal(
                    f"No such payment_intent: '{payment_intent_id}'",
                    code="resource_missing",
                    status=404,
                )
            key = f"cancel:{idempotency_key}"
            if key in self._keys:
                self._once(key, "cancel", (payment_intent_id, reason))
                return intent
            if intent.status not in CANCELABLE:
                raise StripeRefusal(
                    "You cannot cancel this PaymentIntent because it has a status of "
                    f"{intent.status}. Only a PaymentIntent with one of the following statuses "
                    f"may be canceled: {', '.join(CANCELABLE)}.",
                    code="payment_intent_unexpected_state",
                )
            self._once(key, "cancel", (payment_intent_id, reason))
            intent.status = "canceled"
            intent.canceled_at = int(time.time())
            intent.cancellation_reason = reason
            self._canceled.append(intent.id)
            return intent

    def canceled_events(self, seen: set[str]) -> list[StripeObject]:
        """`payment_intent.canceled` for every intent canceled over the API whose id is not
        in `seen`, in the order they were canceled (Stripe sends them on its own)."""
        with self._lock:
            return [
                event("payment_intent.canceled", intent_object(self.intents[pi]))
                for pi in self._canceled
                if pi not in seen
            ]

    def succeed(self, payment_intent_id: str) -> StripeObject:
        """The buyer pays: the charge lands on the balance, less Stripe's fee. An intent
        canceled or paid already cannot be paid (`payment_intent_unexpected_state`)."""
        with self._lock:
            intent = self.intents[payment_intent_id]
            if intent.status not in CANCELABLE:
                raise StripeRefusal(
                    f"This PaymentIntent's status is {intent.status}: it cannot be paid",
                    code="payment_intent_unexpected_state",
                )
            intent.status = "succeeded"
            intent.declined = False
            self._move(
                txn_id=balance_transaction_of(intent.id),
                source=charge_of(intent.id),
                currency=intent.currency,
                amount=intent.amount,
                fee=stripe_fee(intent.amount),
                category="charge",
                description=f"Payment {intent.id}",
            )
            return event("payment_intent.succeeded", intent_object(intent))

    def fail(self, payment_intent_id: str) -> StripeObject:
        """The card is declined: nothing moves, the intent still awaits a payment method."""
        with self._lock:
            intent = self.intents[payment_intent_id]
            if intent.status not in CANCELABLE:
                raise StripeRefusal(
                    f"This PaymentIntent's status is {intent.status}: it cannot be paid",
                    code="payment_intent_unexpected_state",
                )
            intent.declined = True
            return event("payment_intent.payment_failed", intent_object(intent))

    def dispute(
        self, payment_intent_id: str, outcome: Literal["won", "lost"]
    ) -> list[StripeObject]:
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
            type="adjustment",
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
                type="adjustment",
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
        out.append(event("refund.updated", refund_object(refund, refund.status)))
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
                        "refunds": {"data": [refund_object(r, r.status) for r in siblings]},
                    },
                )
            )
        return out

    def reversal_events(self, seen: set[str]) -> list[StripeObject]:
        """`transfer.reversed` for every transfer with a reversal whose id is not in `seen`
        (the transfer as it is now, its reversals listed), in a stable order."""
        with self._lock:
            transfers = sorted(
                (t for t in self.transfers.values() if any(r.id not in seen for r in t.reversals)),
                key=lambda t: (t.amount, t.destination, t.currency, t.id),
            )
            return [event("transfer.reversed", transfer_object(t)) for t in transfers]

    def transfer_events(self) -> list[StripeObject]:
        """`transfer.created` for every transfer made, in a stable order."""
        with self._lock:
            transfers = sorted(
                self.transfers.values(), key=lambda t: (t.amount, t.destination, t.currency)
            )
        return [event("transfer.created", transfer_object(t)) for t in transfers]


# -- Stripe's API over HTTP, for the stripe library ----------------------------------------


def _form(body: bytes) -> tuple[dict[str, str], dict[str, str]]:
    """Stripe's form encoding: plain fields, and `metadata[key]` ones apart."""
    fields: dict[str, str] = {}
    metadata: dict[str, str] = {}
    for key, value in parse_qsl(body.decode(), keep_blank_values=True):
        if key.startswith("metadata[") and key.endswith("]"):
            metadata[key[len("metadata[") : -1]] = value
        else:
            fields[key] = value
    return fields, metadata


class StandInServer(ThreadingHTTPServer):
    """The stand-in's API on 127.0.0.1, in Stripe's wire format: what `StripeGateway` (the
    stripe library) calls. `POST /v1/payment_intents`, `/v1/payment_intents/{id}/cancel`,
    `/v1/refunds`, `/v1/transfers` (with `source_transaction`),
    `/v1/transfers/{id}/reversals` (idempotent by `Idempotency-Key`),
    `GET /v1/payment_intents/{id}` (with `expand[]=latest_charge.balance_transaction`),
    `GET /v1/refunds?charge=`, `GET /v1/balance_transactions/{id}`. Unknown ids answer 404
    `resource_missing`. Each request's effect is one critical section of the account; the
    account's latency (and a hang) is waited out after it, outside the lock, on the
    request's own thread."""

    daemon_threads = True
    request_queue_size = 1024

    def __init__(self, account: StripeStandIn, port: int = 0) -> None:
        self.account = account
        self._closing = threading.Event()
        super().__init__(("127.0.0.1", port), _StandInHandler)

    @property
    def url(self) -> str:
        """The base URL to give the stripe library as its API base."""
        return f"http://127.0.0.1:{self.server_address[1]}"

    def pause(self, seconds: float) -> None:
        """Wait `seconds` (cut short by `stop_waiting`)."""
        self._closing.wait(seconds)

    def stop_waiting(self) -> None:
        """From now on no answer waits: those waiting out a latency or a hang go now."""
        self._closing.set()

    def server_close(self) -> None:
        """Close the socket; requests still waiting out a latency or a hang end now."""
        self.stop_waiting()
        super().server_close()


class _StandInHandler(BaseHTTPRequestHandler):
    server: StandInServer
    protocol_version = "HTTP/1.1"  # keep-alive, as Stripe's API
    # Headers and body go out in two writes: with Nagle's algorithm the body waits for the
    # client's delayed ACK of the headers (40 ms a request).
    disable_nagle_algorithm = True
    _hang = False

    def _serve(self, route: Callable[[], Answer]) -> None:
        """Answer what `route` decides, after the account's latency (or its hang)."""
        account = self.server.account
        account.entered()
        try:
            self._hang = False
            status, body = route()
            wait = account.hang_seconds if self._hang else account.latency_ms / 1000
            if wait > 0:
                self.server.pause(wait)
            try:
                self._answer(status, body)
            except (BrokenPipeError, ConnectionResetError):
                self.close_connection = True  # the client gave up (after a hang, say)
        finally:
            account.left()

    def _answer(self, status: int, body: StripeObject) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Request-Id", new_id("req"))
        self.end_headers()
        self.wfile.write(data)

    @staticmethod
    def _missing(what: str) -> Answer:
        return 404, {
            "error": {
                "type": "invalid_request_error",
                "code": "resource_missing",
                "message": f"No such {what}",
            }
        }

    def do_GET(self) -> None:
        self._serve(self._get)

    def _get(self) -> Answer:
        parts = urlsplit(self.path)
        query = dict(parse_qsl(parts.query))
        account = self.server.account
        path = parts.path.rstrip("/").split("/")
        if len(path) == 4 and path[2] == "payment_intents":
            if path[3] not in account.intents:
                return self._missing(f"payment_intent: '{path[3]}'")
            expand = any(v.startswith("latest_charge") for k, v in query.items() if "expand" in k)
            return 200, account.intent_json(path[3], expand_charge=expand)
        if len(path) == 4 and path[2] == "balance_transactions":
            txn = account.balance_transaction(path[3])
            return (200, txn) if txn else self._missing(f"balance transaction: {path[3]}")
        if parts.path == "/v1/refunds" and "charge" in query:
            return 200, account.refunds_json(query["charge"])
        return self._missing(f"route: GET {parts.path}")

    def do_POST(self) -> None:
        self._serve(self._post_answer)

    def _post_answer(self) -> Answer:
        try:
            return self._post()
        except StripeRefusal as error:
            return error.status, error.as_json()
        except KeyError as error:
            return 400, StripeRefusal(
                f"Missing required param: {error.args[0]}.", code="parameter_missing"
            ).as_json()
        except ValueError as error:
            return 400, StripeRefusal(f"Invalid param: {error}", code="parameter_invalid").as_json()

    def _post(self) -> Answer:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        fields, metadata = _form(body)
        key = self.headers.get("Idempotency-Key") or new_id("key")
        account = self.server.account
        path = urlsplit(self.path).path.rstrip("/")
        parts = path.split("/")
        if path == "/v1/payment_intents":
            amount, currency = int(fields["amount"]), fields["currency"]
            fault = account.fault(key)
            if fault == "fail":
                # Stripe's outage: nothing is created, nothing is kept under the key.
                return 500, {
                    "error": {
                        "type": "api_error",
                        "message": "An unknown error occurred (the stand-in's injected outage)",
                    }
                }
            self._hang = fault == "hang"
            intent = account.create_payment_intent(
                amount=amount, currency=currency, metadata=metadata, idempotency_key=key
            )
            return 200, account.intent_json(intent.id, expand_charge=False)
        if len(parts) == 5 and parts[2] == "payment_intents" and parts[4] == "cancel":
            intent = account.cancel_payment_intent(
                parts[3], reason=fields.get("cancellation_reason"), idempotency_key=key
            )
            return 200, account.intent_json(intent.id, expand_charge=False)
        if path == "/v1/refunds":
            refund = account.create_refund(
                payment_intent_id=fields["payment_intent"],
                amount=int(fields["amount"]),
                metadata=metadata,
                idempotency_key=key,
            )
            return 200, refund_object(refund, "succeeded")
        if path == "/v1/transfers":
            transfer = account.create_transfer(
                amount=int(fields["amount"]),
                currency=fields["currency"],
                destination=fields["destination"],
                metadata=metadata,
                idempotency_key=key,
                source_transaction=fields.get("source_transaction"),
                transfer_group=fields.get("transfer_group"),
            )
            return 200, transfer_object(transfer)
        if len(parts) == 5 and parts[2] == "transfers" and parts[4] == "reversals":
            reversal = account.create_transfer_reversal(
                parts[3], amount=int(fields["amount"]), metadata=metadata, idempotency_key=key
            )
            return 200, reversal_object(reversal)
        return self._missing(f"route: POST {path}")

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet."""


# -- on its own: python -m liventix.stripe_standin -------------------------------------------


def _env_float(name: str, default: float) -> float:
    raw = os.environ.get(name)
    return float(raw) if raw else default


def main(argv: Sequence[str] | None = None) -> int:
    """Serve the stand-in on 127.0.0.1 until interrupted; print its URL first."""
    parser = argparse.ArgumentParser(
        prog="python -m liventix.stripe_standin",
        description="A Stripe stand-in on 127.0.0.1 (its options default to the "
        "STRIPE_STANDIN_* environment variables).",
    )
    parser.add_argument(
        "--port", type=int, default=int(_env_float("STRIPE_STANDIN_PORT", 0)), help="0: any"
    )
    parser.add_argument(
        "--latency-ms", type=float, default=_env_float("STRIPE_STANDIN_LATENCY_MS", 0.0)
    )
    parser.add_argument(
        "--fail-rate", type=float, default=_env_float("STRIPE_STANDIN_FAIL_RATE", 0.0)
    )
    parser.add_argument(
        "--hang-rate", type=float, default=_env_float("STRIPE_STANDIN_HANG_RATE", 0.0)
    )
    parser.add_argument(
        "--hang-seconds",
        type=float,
        default=_env_float("STRIPE_STANDIN_HANG_SECONDS", HANG_SECONDS),
    )
    parser.add_argument("--seed", type=int, default=int(_env_float("STRIPE_STANDIN_SEED", 0)))
    args = parser.parse_args(argv)
    account = StripeStandIn(
        latency_ms=args.latency_ms,
        fail_rate=args.fail_rate,
        hang_rate=args.hang_rate,
        hang_seconds=args.hang_seconds,
        seed=args.seed,
    )
    server = StandInServer(account, port=args.port)
    print(server.url, flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""The stand-in's payments (`Payments`, the heart of `StripeStandIn`): PaymentIntents from
creation to payment, decline or cancellation, refunds (and their failure), disputes, Connect
(`connect.py`), idempotent by key like Stripe, with a balance transaction for every movement
of the balance, the events Stripe would send, and Stripe's weather (`faults.py`)."""

from __future__ import annotations

import time
import uuid
from typing import Literal

from liventix.testing.stripe import shapes
from liventix.testing.stripe.connect import Connect
from liventix.testing.stripe.faults import HANG_SECONDS, Weather
from liventix.testing.stripe.objects import (
    CANCELABLE,
    CANCELABLE_LISTED,
    CANCELLATION_REASONS,
    DISPUTE_FEE,
    PAYABLE,
    Intent,
    Refund,
    StripeObject,
    StripeRefusal,
    balance_transaction_of,
    charge_of,
    dispute_object,
    intent_object,
    new_id,
    refund_object,
    stripe_fee,
)


class Payments(Connect, Weather):
    """The account's payments: PaymentIntents, refunds and disputes (thread-safe: its HTTP
    server answers from many threads)."""

    def __init__(
        self,
        *,
        latency_ms: float = 0.0,
        fail_rate: float = 0.0,
        hang_rate: float = 0.0,
        hang_seconds: float = HANG_SECONDS,
        seed: int = 0,
    ) -> None:
        Connect.__init__(self)
        Weather.__init__(
            self,
            latency_ms=latency_ms,
            fail_rate=fail_rate,
            hang_rate=hang_rate,
            hang_seconds=hang_seconds,
            seed=seed,
        )

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
                self.refunds[refund_id].balance_transaction = self._move(
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
        return [self._event("refund.failed", failed), self._event("refund.updated", dict(failed))]

    def intent_json(self, payment_intent_id: str, *, expand_charge: bool) -> StripeObject:
        """The PaymentIntent as `GET /v1/payment_intents/{id}` answers it; its charge (and
        the charge's balance transaction) expanded when asked."""
        with self._lock:
            intent = self.intents[payment_intent_id]
            obj = intent_object(intent)
        if intent.status == "succeeded" and expand_charge:
            obj["latest_charge"] = self.charge_json(charge_of(intent.id), expand_txn=True)
        return obj

    def intent_of_charge(self, charge_id: str) -> Intent | None:
        """The paid intent whose charge `charge_id` is, if any."""
        with self._lock:
            intent = self.intents.get(f"pi_{charge_id[3:]}") if charge_id[:3] == "ch_" else None
        return intent if intent is not None and intent.status == "succeeded" else None

    def charge_json(
        self, charge_id: str, *, expand_txn: bool = False, with_refunds: bool = True
    ) -> StripeObject:
        """The Charge of a paid intent (its refunds listed unless `with_refunds` is False, as
        newer API versions send it), its balance transaction expanded when asked."""
        intent = self.intent_of_charge(charge_id)
        if intent is None:
            raise KeyError(charge_id)
        txn_id = balance_transaction_of(intent.id)
        with self._lock:
            refunds = [
                refund_object(r, r.status)
                for r in self.refunds.values()
                if r.payment_intent_id == intent.id
            ]
        return shapes.charge(
            id=charge_id,
            amount=intent.amount,
            currency=intent.currency,
            payment_intent=intent.id,
            balance_transaction=self.balance_transaction(txn_id) if expand_txn else txn_id,
            refunds=refunds,
            include_refunds=with_refunds,
            metadata=intent.metadata,
            created=intent.charged,
        )

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
        replays the same answer, a refusal included (as Stripe does). An intent paid,
        processing or canceled already is Stripe's `payment_intent_unexpected_state`, its
        error object carrying the intent (`error.payment_intent`), as Stripe's does."""
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
                if key in self._refused_cancels:
                    raise _cancel_refusal(*self._refused_cancels[key])
                return intent
            self._once(key, "cancel", (payment_intent_id, reason))
            if intent.status not in CANCELABLE:
                # Saved under the key as Stripe saves its first answer (errors included):
                # a retry under the key hears the same refusal, the intent as it was then.
                refused = (intent.status, intent_object(intent))
                self._refused_cancels[key] = refused
                raise _cancel_refusal(*refused)
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
                self._event("payment_intent.canceled", intent_object(self.intents[pi]))
                for pi in self._canceled
                if pi not in seen
            ]

    def succeed(self, payment_intent_id: str, *, fee: int | None = None) -> StripeObject:
        """The buyer pays: the charge lands on the balance, less Stripe's fee (`fee`, else
        the stand-in's card fee). An intent canceled or paid already cannot be paid
        (`payment_intent_unexpected_state`)."""
        with self._lock:
            intent = self.intents[payment_intent_id]
            if intent.status not in PAYABLE:
                raise StripeRefusal(
                    f"This PaymentIntent's status is {intent.status}: it cannot be paid",
                    code="payment_intent_unexpected_state",
                )
            intent.status = "succeeded"
            intent.declined = False
            if intent.charged is None:  # a card's charge: made now (a debit's, at its start)
                intent.charged = int(time.time())
            self._move(
                txn_id=balance_transaction_of(intent.id),
                source=charge_of(intent.id),
                currency=intent.currency,
                amount=intent.amount,
                fee=stripe_fee(intent.amount) if fee is None else fee,
                category="charge",
                description=f"Payment {intent.id}",
            )
            return self._event("payment_intent.succeeded", intent_object(intent))

    def processing(self, payment_intent_id: str, *, at: int | None = None) -> StripeObject:
        """The buyer pays with an asynchronous method (a bank debit): its charge is made now
        (at `at`, Unix seconds, for a test whose clock moved the order's hold into the past),
        as Stripe makes it when the buyer confirms, and the intent is `processing` until
        `succeed` (the charge's `created` stays its start) or `fail`; Stripe refuses to cancel
        it meanwhile."""
        with self._lock:
            intent = self.intents[payment_intent_id]
            if intent.status not in PAYABLE:
                raise StripeRefusal(
                    f"This PaymentIntent's status is {intent.status}: it cannot be paid",
                    code="payment_intent_unexpected_state",
                )
            intent.status = "processing"
            if intent.charged is None:
                intent.charged = int(time.time()) if at is None else at
            return self._event("payment_intent.processing", intent_object(intent))

    def fail(self, payment_intent_id: str) -> StripeObject:
        """The card is declined: nothing moves, the intent still awaits a payment method."""
        with self._lock:
            intent = self.intents[payment_intent_id]
            if intent.status not in PAYABLE:
                raise StripeRefusal(
                    f"This PaymentIntent's status is {intent.status}: it cannot be paid",
                    code="payment_intent_unexpected_state",
                )
            intent.status = "requires_payment_method"  # from processing too
            intent.declined = True
            intent.charged = None  # that charge failed: the next attempt makes its own
            return self._event("payment_intent.payment_failed", intent_object(intent))

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
            self._event("charge.dispute.created", dispute_object(intent, dp, "needs_response", [])),
            self._event(
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
                self._event(
                    "charge.dispute.funds_reinstated", dispute_object(intent, dp, "won", back)
                )
            )
            events.append(
                self._event("charge.dispute.closed", dispute_object(intent, dp, "won", back))
            )
        else:
            events.append(
                self._event("charge.dispute.closed", dispute_object(intent, dp, "lost", withdrawn))
            )
        return events

    def refund_events(
        self, refund: Refund, *, stale_first: bool, with_charge: bool
    ) -> list[StripeObject]:
        """Stripe's events about a refund: `refund.updated` (after a stale pending snapshot
        when `stale_first`), and `charge.refunded` with the charge's refunds when
        `with_charge`."""
        out = []
        if stale_first:
            out.append(self._event("refund.updated", refund_object(refund, "pending")))
        out.append(self._event("refund.updated", refund_object(refund, refund.status)))
        if with_charge:
            with self._lock:
                siblings = [
                    r
                    for r in self.refunds.values()
                    if r.payment_intent_id == refund.payment_intent_id
                ]
            out.append(
                self._event(
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


def _cancel_refusal(status: str, payment_intent: StripeObject) -> StripeRefusal:
    """Stripe's refusal to cancel an intent in `status` (not cancelable)."""
    return StripeRefusal(
        "You cannot cancel this PaymentIntent because it has a status of "
        f"{status}. Only a PaymentIntent with one of the following statuses "
        f"may be canceled: {', '.join(CANCELABLE_LISTED)}.",
        code="payment_intent_unexpected_state",
        payment_intent=payment_intent,
    )

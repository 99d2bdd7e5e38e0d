"""Objects seeded at the stand-in as Stripe's side of a test's story (a payment made, a
refund, a dispute and its funds, a payout), kept as Stripe's JSON objects (`shapes.py`) in a
store by id, and served with `expand[]` as Stripe serves them. `StripeStandIn` answers from
them what its own model of the account does not know."""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from liventix.testing.stripe import shapes
from liventix.testing.stripe.base import AccountBase
from liventix.testing.stripe.objects import StripeObject, StripeRefusal
from liventix.testing.stripe.wire import missing, required


@dataclass(frozen=True)
class Payment:
    """A succeeded PaymentIntent with its charge and the charge's balance transaction."""

    intent: StripeObject
    charge: StripeObject
    balance_transaction: StripeObject

    @property
    def id(self) -> str:
        """The PaymentIntent's id."""
        return str(self.intent["id"])

    @property
    def charge_id(self) -> str:
        """The charge's id."""
        return str(self.charge["id"])


class Seeded(AccountBase):
    """The store of seeded objects, and the seeding."""

    # -- the store ---------------------------------------------------------------------------

    def add(self, obj: StripeObject) -> StripeObject:
        """Store (or replace) an object under its id; returns a copy."""
        with self._lock:
            self._objects[str(obj["id"])] = copy.deepcopy(obj)
            return copy.deepcopy(obj)

    def _stored_get(self, object_id: str) -> StripeObject:
        """A copy of a stored object (KeyError if unknown)."""
        with self._lock:
            return copy.deepcopy(self._objects[object_id])

    def _stored_objects(self, kind: str) -> list[StripeObject]:
        """Copies of every stored object of a kind (`transfer`, `refund`, ...)."""
        with self._lock:
            return [copy.deepcopy(o) for o in self._objects.values() if o["object"] == kind]

    def _update(self, object_id: str, change: Callable[[StripeObject], None]) -> StripeObject:
        with self._lock:
            obj = self._objects[object_id]
            change(obj)
            return copy.deepcopy(obj)

    # -- seeding, as Stripe's side of the story ----------------------------------------------

    def add_payment(
        self,
        *,
        amount: int,
        fee: int,
        metadata: Mapping[str, str] | None = None,
        currency: str = "usd",
        id: str | None = None,
    ) -> Payment:
        """A succeeded PaymentIntent of `amount`, its charge, and the charge's balance
        transaction with Stripe's processing `fee`."""
        pi_id = id or shapes.new_id("pi")
        charge_id = shapes.new_id("ch")
        txn = shapes.balance_transaction(
            amount=amount, fee=fee, currency=currency, source=charge_id, type="charge"
        )
        charge = shapes.charge(
            id=charge_id,
            amount=amount,
            currency=currency,
            payment_intent=pi_id,
            balance_transaction=txn["id"],
            metadata=metadata,
        )
        intent = shapes.payment_intent(
            id=pi_id, amount=amount, currency=currency, metadata=metadata, latest_charge=charge_id
        )
        return Payment(self.add(intent), self.add(charge), self.add(txn))

    def _seed_refund(self, charge_id: str, amount: int, status: str = "succeeded") -> StripeObject:
        """A refund of the charge (listed on it, counted in `amount_refunded`)."""
        charge = self._stored_get(charge_id)
        txn = self.add(
            shapes.balance_transaction(
                amount=-amount,
                fee=0,
                currency=charge["currency"],
                type="refund",
                reporting_category="refund",
            )
        )
        refund = self.add(
            shapes.refund(
                amount=amount,
                charge=charge_id,
                payment_intent=charge["payment_intent"],
                currency=charge["currency"],
                status=status,
                balance_transaction=txn["id"],
            )
        )
        self._update(txn["id"], lambda t: t.__setitem__("source", refund["id"]))
        self._sync_charge(charge_id)
        return refund

    def _seed_set_refund_status(self, refund_id: str, status: str) -> StripeObject:
        """A refund moved on (pending to succeeded, succeeded to failed, ...)."""
        refund = self._update(refund_id, lambda r: r.__setitem__("status", status))
        self._sync_charge(str(refund["charge"]))
        return self._stored_get(refund_id)

    def _sync_charge(self, charge_id: str) -> None:
        refunds = sorted(
            (r for r in self._stored_objects("refund") if r["charge"] == charge_id),
            key=lambda r: (r["created"], r["id"]),
        )

        def change(charge: StripeObject) -> None:
            rebuilt = shapes.charge(
                id=charge_id,
                amount=charge["amount"],
                currency=charge["currency"],
                payment_intent=charge["payment_intent"],
                balance_transaction=charge["balance_transaction"],
                refunds=refunds,
            )
            for name in ("amount_refunded", "refunded", "refunds"):
                charge[name] = rebuilt[name]

        self._update(charge_id, change)

    def _seed_confirm_payment(self, payment_intent_id: str, fee: int) -> Payment:
        """The buyer paid a PaymentIntent created through the API: it succeeds with a charge
        and the charge's balance transaction carrying Stripe's processing `fee`."""
        intent = self._stored_get(payment_intent_id)
        amount, currency = int(intent["amount"]), str(intent["currency"])
        charge_id = shapes.new_id("ch")
        txn = shapes.balance_transaction(
            amount=amount, fee=fee, currency=currency, source=charge_id, type="charge"
        )
        charge = shapes.charge(
            id=charge_id,
            amount=amount,
            currency=currency,
            payment_intent=payment_intent_id,
            balance_transaction=txn["id"],
            metadata=intent["metadata"],
        )

        def succeed(pi: StripeObject) -> None:
            pi.update(status="succeeded", latest_charge=charge_id, amount_received=amount)

        with self._lock:
            self.add(txn)
            self.add(charge)
            return Payment(
                self._update(payment_intent_id, succeed), self._stored_get(charge_id), txn
            )

    def _seed_charge_without_refunds(self, charge_id: str) -> StripeObject:
        """The charge as newer API versions send it in events: no `refunds` list."""
        charge = self._stored_get(charge_id)
        charge.pop("refunds", None)
        return charge

    def add_dispute(self, charge_id: str, amount: int) -> StripeObject:
        """A dispute opened on the charge (no funds moved yet)."""
        charge = self._stored_get(charge_id)
        self._update(charge_id, lambda c: c.__setitem__("disputed", True))
        return self.add(
            shapes.dispute(
                amount=amount,
                charge=charge_id,
                payment_intent=charge["payment_intent"],
                currency=charge["currency"],
            )
        )

    def withdraw_dispute_funds(self, dispute_id: str, fee: int) -> StripeObject:
        """Stripe took the disputed amount and its dispute fee from the balance."""
        dispute = self._stored_get(dispute_id)
        txn = self.add(
            shapes.dispute_withdrawal(dispute_id, int(dispute["amount"]), fee, dispute["currency"])
        )
        return self._update(dispute_id, lambda d: d["balance_transactions"].append(txn))

    def reinstate_dispute_funds(self, dispute_id: str, fee_returned: int) -> StripeObject:
        """Stripe gave the disputed amount (and, when it does, the fee) back."""
        dispute = self._stored_get(dispute_id)
        txn = self.add(
            shapes.dispute_reinstatement(
                dispute_id, int(dispute["amount"]), fee_returned, dispute["currency"]
            )
        )

        def change(d: StripeObject) -> None:
            d["balance_transactions"].append(txn)
            d["status"] = "under_review"

        return self._update(dispute_id, change)

    def close_dispute(self, dispute_id: str, status: str) -> StripeObject:
        """The dispute's outcome: `won`, `lost` or `warning_closed`."""
        return self._update(dispute_id, lambda d: d.__setitem__("status", status))

    def _seed_reverse_transfer(self, transfer_id: str, amount: int) -> StripeObject:
        """Part (or all) of a transfer taken back from the connected account."""
        reversal = shapes.transfer_reversal(amount=amount, transfer=transfer_id)

        def change(t: StripeObject) -> None:
            t["reversals"]["data"].append(reversal)
            t["amount_reversed"] += amount
            t["reversed"] = t["amount_reversed"] >= t["amount"]

        return self._update(transfer_id, change)

    def add_payout(self, amount: int, status: str = "paid", currency: str = "usd") -> StripeObject:
        """A payout of the platform's balance to its bank."""
        return self.add(shapes.payout(amount=amount, currency=currency, status=status))

    def set_payout_status(self, payout_id: str, status: str) -> StripeObject:
        """A payout moved on (paid, then failed when the bank returned it)."""
        failed = shapes.payout(amount=1, status="failed")

        def change(p: StripeObject) -> None:
            p["status"] = status
            if status == "failed":
                for name in ("failure_balance_transaction", "failure_code", "failure_message"):
                    p[name] = failed[name]

        return self._update(payout_id, change)

    # -- served --

    def _retrieve(self, kind: str, object_id: str, expand: list[str]) -> StripeObject:
        with self._lock:
            obj = self._objects.get(object_id)
            if obj is None or obj["object"] != kind:
                raise missing(kind, object_id)
            found = copy.deepcopy(obj)
            for path in expand:
                self._expand(found, path.split("."))
            return found

    def _expand(self, obj: StripeObject, path: list[str]) -> None:
        name, rest = path[0], path[1:]
        value = obj.get(name)
        if isinstance(value, str):
            target = self._objects.get(value)
            if target is None:
                raise missing(name, value)
            value = copy.deepcopy(target)
            obj[name] = value
        if rest and isinstance(value, dict):
            self._expand(value, rest)

    def _list_refunds(self, params: dict[str, Any]) -> StripeObject:
        charge = params.get("charge")
        intent = params.get("payment_intent")
        limit = int(params.get("limit") or 10)
        with self._lock:
            found = [
                copy.deepcopy(o)
                for o in self._objects.values()
                if o["object"] == "refund"
                and (charge is None or o["charge"] == charge)
                and (intent is None or o["payment_intent"] == intent)
            ]
        found.sort(key=lambda r: (-int(r["created"]), str(r["id"])))
        return {
            "object": "list",
            "data": found[:limit],
            "has_more": len(found) > limit,
            "url": "/v1/refunds",
        }

    def _create_seeded_refund(self, params: dict[str, Any]) -> StripeObject:
        pi_id, charge_id = params.get("payment_intent"), params.get("charge")
        if not pi_id and not charge_id:
            required(params, "payment_intent")
        if pi_id:
            intent = self._objects.get(str(pi_id))
            if intent is None or intent["object"] != "payment_intent":
                raise missing("payment_intent", str(pi_id))
            charge_id = intent.get("latest_charge")
            if not charge_id:
                raise StripeRefusal(
                    f"This PaymentIntent ({pi_id}) does not have a successful charge to refund.",
                    code="charge_not_refundable",
                )
        charge = self._objects.get(str(charge_id))
        if charge is None or charge["object"] != "charge":
            raise missing("charge", str(charge_id))
        left = int(charge["amount"]) - int(charge["amount_refunded"])
        amount = int(params.get("amount") or left)
        if amount <= 0 or amount > left:
            raise StripeRefusal(
                f"Refund amount ({amount}) is greater than unrefunded amount on charge ({left})",
                code="amount_too_large",
            )
        refund = self._seed_refund(str(charge_id), amount)
        metadata = params.get("metadata") or {}
        return self._update(str(refund["id"]), lambda r: r.__setitem__("metadata", metadata))

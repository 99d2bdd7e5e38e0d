"""Stripe Connect at the stand-in: transfers to organizers' connected accounts (funded by a
charge when they name its `source_transaction`), their reversals, payouts to the platform's
bank, and the events Stripe sends about them."""

from __future__ import annotations

import time

from liventix.testing.stripe.base import AccountBase
from liventix.testing.stripe.objects import (
    StripeObject,
    StripeRefusal,
    Transfer,
    TransferReversal,
    charge_of,
    new_id,
    transfer_object,
)


class Connect(AccountBase):
    """The account's Connect side."""

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
                self._check_source(source_transaction, amount)
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

    def _charged(self, charge_id: str) -> int | None:
        """The amount of a succeeded charge of this account (its own or a seeded one)."""
        charged = {charge_of(i.id): i for i in self.intents.values()}
        intent = charged.get(charge_id)
        if intent is not None:
            return intent.amount if intent.status == "succeeded" else None
        seeded = self._objects.get(charge_id)
        if seeded is None or seeded.get("object") != "charge" or seeded["status"] != "succeeded":
            return None
        return int(seeded["amount"])

    def _check_source(self, source_transaction: str, amount: int) -> None:
        """A transfer funded by a charge needs the charge, and no more than its amount."""
        charged = self._charged(source_transaction)
        if charged is None:
            raise StripeRefusal(
                f"No such charge: '{source_transaction}'", code="resource_missing", status=404
            )
        if amount > charged:
            raise StripeRefusal(
                f"The transfer amount ({amount}) exceeds the source transaction's "
                f"amount ({charged})",
                code="amount_too_large",
            )

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
        return self._event(
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

    def reversal_events(self, seen: set[str]) -> list[StripeObject]:
        """`transfer.reversed` for every transfer with a reversal whose id is not in `seen`
        (the transfer as it is now, its reversals listed), in a stable order."""
        with self._lock:
            transfers = sorted(
                (t for t in self.transfers.values() if any(r.id not in seen for r in t.reversals)),
                key=lambda t: (t.amount, t.destination, t.currency, t.id),
            )
            return [self._event("transfer.reversed", transfer_object(t)) for t in transfers]

    def transfer_events(self) -> list[StripeObject]:
        """`transfer.created` for every transfer made, in a stable order."""
        with self._lock:
            transfers = sorted(
                self.transfers.values(), key=lambda t: (t.amount, t.destination, t.currency)
            )
        return [self._event("transfer.created", transfer_object(t)) for t in transfers]

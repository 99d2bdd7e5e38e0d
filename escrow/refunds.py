"""A refund of a card payment: booked once (charged to the escrow while it holds the event's
money, else to the organizer's receivable and asked back from its transfers), and, once it
failed, its money returned where it was taken from. Any arrival order of Stripe's refund
events gives the same ledger. Takes the caller's connection and never commits."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection

import ledger
from escrow import recipes, store
from escrow.decisions import (
    charged_to,
    check_refund,
    failed_refund_returns_to_payable,
    new_refund_move,
)
from escrow.lifecycle import adjust, captured_payment, post, transition
from escrow.models import Escrow
from escrow.settlement import lock_debts, recover, request_transfer


def refund_payment(
    conn: Connection, refund_id: str, payment_id: str, amount: int, *, failed: bool, cause: str
) -> bool:
    """Book a refund (and, once it failed, its reversal); False if nothing was new."""
    payment = captured_payment(conn, payment_id)
    escrow = store.lock_escrow(conn, payment.escrow_id)
    refund = store.get_refund(conn, refund_id)
    if refund is None:
        _book_refund(conn, payment, escrow, refund_id, amount, failed=failed, cause=cause)
        return True
    if failed and not refund.failed:
        _refund_failed(conn, payment_id, escrow, refund_id, refund=refund, cause=cause)
        return True
    return False


def _book_refund(
    conn: Connection,
    payment: store.CardPayment,
    escrow: Escrow,
    refund_id: str,
    amount: int,
    *,
    failed: bool,
    cause: str,
) -> None:
    """Book a refund seen for the first time (already failed: with its return)."""
    check_refund(payment.id, payment.gross, payment.refunded, amount, failed=failed)
    target = charged_to(escrow.state)
    if target == "receivable" or escrow.state == "cancelled":
        lock_debts(conn, escrow.org_id, escrow.currency)
    fee_back = recipes.refund_fee_back(
        amount, payment.gross, payment.platform_fee, payment.refund_platform_fee
    )
    entry = post(
        conn,
        escrow.org_id,
        escrow.currency,
        recipes.refund(escrow.event_id, escrow.currency, amount, fee_back, target),
        key=f"stripe:refund:{refund_id}",
        description=f"Refund {refund_id} of payment {payment.id}",
        external_ref=refund_id,
    )
    move = new_refund_move(escrow.state, target, failed=failed)
    if move == "after_cancel":
        adjust(conn, escrow, "refund_after_cancel", cause, refunded=amount, held=fee_back - amount)
        _settle_cancelled(conn, escrow.id, key=refund_id)
    elif move == "machine":
        transition(
            conn,
            escrow,
            "refund",
            cause=cause,
            entry_id=entry.id,
            changes={
                "refunded": escrow.refunded + amount,
                "held": escrow.held - (amount - fee_back),
            },
        )
    store.record_refund(
        conn,
        {
            "id": refund_id,
            "payment": payment.id,
            "org": escrow.org_id,
            "amount": amount,
            "fee_back": fee_back,
            "target": target,
            "failed": failed,
            "entry": entry.id,
        },
    )
    if failed:
        _reverse_failed_refund(conn, escrow.org_id, refund_id, entry.id)
        return
    store.add_refunded(conn, payment.id, amount)
    if target == "receivable":
        # Refunded after release: the organizer owes it, recovered from its transfers.
        recover(
            conn, escrow.org_id, escrow.currency, key=f"refund:{refund_id}", escrow_id=escrow.id
        )


def _refund_failed(
    conn: Connection,
    payment_id: str,
    escrow: Escrow,
    refund_id: str,
    *,
    refund: store.CardRefund,
    cause: str,
) -> None:
    """A booked refund failed: its money returns where it was taken from (past release, to
    the organizer's payable, and another transfer is asked for it)."""
    to_payable = failed_refund_returns_to_payable(refund.charged_to, escrow.state)
    if to_payable:
        # The escrow was released since: the money is the organizer's again, on the payable.
        post(
            conn,
            escrow.org_id,
            escrow.currency,
            recipes.refund_returned(escrow.currency, refund.amount, refund.fee_back),
            key=f"stripe:refund-failed:{refund_id}",
            description=f"Refund {refund_id} failed after release",
            external_ref=f"{refund_id}:failed",
        )
    else:
        # The refund came back: the money returns where it was taken from.
        _reverse_failed_refund(conn, escrow.org_id, refund_id, refund.entry_id)
    store.mark_refund_failed(conn, refund_id)
    store.add_refunded(conn, payment_id, -refund.amount)
    returned = refund.amount - refund.fee_back
    if to_payable:
        adjust(
            conn,
            escrow,
            "refund_failed_after_release",
            cause,
            refunded=-refund.amount,
            released=returned,
        )
        if returned > 0:
            policy = store.get_policy(conn, escrow.org_id)
            request_transfer(conn, escrow, policy, returned, key=f"refund-failed:{refund_id}")
    elif refund.charged_to == "escrow":
        adjust(conn, escrow, "refund_failed", cause, refunded=-refund.amount, held=returned)


@dataclass(frozen=True)
class _ReferencedReversal(ledger.ReverseEntry):
    """A reversal booked under an external reference: the ledger's door takes one on any
    entry, but `ledger.ReverseEntry` has no field for it yet."""

    external_ref: str | None = None

    def payload(self) -> dict[str, Any]:
        """The reversal's payload with its external reference."""
        payload = super().payload()
        payload["external_ref"] = self.external_ref
        return payload


def _reverse_failed_refund(
    conn: Connection, org_id: uuid.UUID, refund_id: str, entry_id: uuid.UUID
) -> None:
    """Reverse a failed refund's entry under `re_...:failed`, the reference Stripe's
    `refund_failure` balance transaction is matched by (its source is the refund)."""
    ledger.reverse_entry(
        conn,
        org_id,
        _ReferencedReversal(
            idempotency_key=f"stripe:refund-failed:{refund_id}",
            entry_id=entry_id,
            description=f"Refund {refund_id} failed",
            external_ref=f"{refund_id}:failed",
        ),
    )


def _settle_cancelled(conn: Connection, escrow_id: uuid.UUID, *, key: str) -> None:
    """A cancelled escrow keeps no debt of the organizer: a shortfall (a refund past its
    share) moves to the organizer's receivable at once."""
    escrow = store.lock_escrow(conn, escrow_id)
    if escrow.state != "cancelled" or escrow.held >= 0:
        return
    post(
        conn,
        escrow.org_id,
        escrow.currency,
        recipes.release(escrow.event_id, escrow.currency, escrow.held),
        key=f"escrow:settle:{escrow.id}:{key}",
        description=f"Shortfall of cancelled escrow {escrow.id} to the receivable",
    )
    adjust(conn, escrow, "shortfall_to_receivable", key, held=-escrow.held)
    recover(
        conn, escrow.org_id, escrow.currency, key=f"settle:{escrow.id}:{key}", escrow_id=escrow.id
    )

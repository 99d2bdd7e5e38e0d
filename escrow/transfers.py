"""Stripe Connect's money movements as escrow books them: the organizer's transfer made
(the escrow released), a transfer reversed (what the organizer owed, settled), and the
platform's payout to its bank paid or failed. Each is booked once whatever the order of
Stripe's events. Takes the caller's connection and never commits."""

from __future__ import annotations

import uuid

from sqlalchemy import Connection

import ledger
from escrow import recipes, store
from escrow.accounts import platform_org
from escrow.decisions import payout_moves
from escrow.errors import NotYetApplicable, ReversalExceedsTransfer
from escrow.lifecycle import post, transition
from escrow.settlement import lock_debts, recover, settle_transfer


def transfer_created(
    conn: Connection,
    transfer_id: str,
    escrow_id: uuid.UUID,
    amount: int,
    *,
    cause: str,
    request_id: uuid.UUID | None = None,
    source_transaction: str | None = None,
) -> bool:
    """Stripe made the organizer's transfer: the payable is paid from the Stripe balance and
    the escrow is released (once: False when the transfer was booked before). Debts the
    organizer ran up while the transfer was on its way are asked back from it. A ledger
    settlement closes exactly the entries it pays, read from the transfer request it
    answers: `request_id` (the transfer task's message id, the idempotency key Stripe got)
    or `source_transaction` (the charge funding it) name it (`settle_transfer`); a transfer
    booked before its request was known is settled when a later call names it."""
    escrow = store.lock_escrow(conn, escrow_id)
    lock_debts(conn, escrow.org_id, escrow.currency)
    recorded = store.record_transfer(
        conn,
        transfer_id,
        org_id=escrow.org_id,
        escrow_id=escrow.id,
        currency=escrow.currency,
        amount=amount,
    )
    if recorded:
        entry = post(
            conn,
            escrow.org_id,
            escrow.currency,
            recipes.transfer(escrow.currency, amount),
            key=f"stripe:transfer:{transfer_id}",
            description=f"Transfer {transfer_id} to the organizer",
            external_ref=transfer_id,
        )
        if escrow.state == "release_requested":
            transition(conn, escrow, "transfer_paid", cause=cause, entry_id=entry.id)
        recover(conn, escrow.org_id, escrow.currency, key=f"transfer:{transfer_id}")
    settle_transfer(
        conn,
        escrow,
        transfer_id,
        amount,
        request_id=request_id,
        source_transaction=source_transaction,
    )
    return recorded


def transfer_reversed(
    conn: Connection,
    reversal_id: str,
    transfer_id: str,
    amount: int,
    *,
    cause: str,
    request_id: str | None = None,
) -> bool:
    """A transfer (part) came back from the organizer: it settles what the organizer owes.
    `request_id` names the reversal request it answers (escrow's own), which is then done.
    Booked under the organizer's debts lock (then the transfer's row, as `recover` takes
    them), so a reversal task confirming what is still owed sees it or waits for it."""
    known = store.get_transfer(conn, transfer_id)
    if known is None:
        raise NotYetApplicable(reason=f"transfer {transfer_id} is not recorded yet")
    lock_debts(conn, known.org_id, known.currency)
    transfer = store.lock_transfer(conn, transfer_id)
    if transfer is None:
        raise NotYetApplicable(reason=f"transfer {transfer_id} is not recorded yet")
    key = f"stripe:transfer-reversal:{reversal_id}"
    already = ledger.entry_by_key(conn, transfer.org_id, key) is not None
    if not already and transfer.reversed + amount > transfer.amount:
        raise ReversalExceedsTransfer(
            transfer_id=transfer_id,
            amount=transfer.amount,
            reversed=transfer.reversed,
            requested=amount,
        )
    result = post(
        conn,
        transfer.org_id,
        transfer.currency,
        recipes.transfer_reversal(transfer.currency, amount),
        key=key,
        description=f"Transfer {transfer_id} reversed ({reversal_id})",
        external_ref=reversal_id,
    )
    if request_id is not None:
        store.reversal_booked(conn, request_id, reversal_id)
    if result.replayed:
        return False
    store.add_reversed(conn, transfer_id, amount)
    return True


def payout(
    conn: Connection, payout_id: str, currency: str, amount: int, *, paid: bool, cause: str
) -> bool:
    """The platform's payout to its bank was paid (or failed): in any order, a paid payout
    moves the money to the bank and a failed one that was paid brings it back."""
    was_paid, was_failed = store.lock_payout(conn, payout_id, currency, amount)
    moves = payout_moves(was_paid, was_failed, paid=paid)
    if moves is None:
        return False
    platform = platform_org(conn)
    if moves.post_paid:
        post(
            conn,
            platform,
            currency,
            recipes.payout_paid(currency, amount),
            key=f"stripe:payout-paid:{payout_id}",
            description=f"Payout {payout_id} paid",
            external_ref=f"{payout_id}:paid",
            platform=platform,
        )
    if moves.post_failed:
        post(
            conn,
            platform,
            currency,
            recipes.payout_failed(currency, amount),
            key=f"stripe:payout-failed:{payout_id}",
            description=f"Payout {payout_id} failed",
            external_ref=f"{payout_id}:failed",
            platform=platform,
        )
    store.set_payout(conn, payout_id, paid=moves.paid, failed=moves.failed)
    return True

"""A dispute of a card payment: recorded once (it freezes the escrow while the escrow holds
the money), Stripe's moves of its funds booked once each, and its close (a lost one charged
to the escrow or the organizer's receivable; the escrow unfreezes when none is left open).
Any arrival order of Stripe's dispute events gives the same ledger. Takes the caller's
connection and never commits."""

from __future__ import annotations

import uuid

from sqlalchemy import Connection

from escrow import recipes, store
from escrow.decisions import charged_to
from escrow.decisions import dispute_outcome as _outcome
from escrow.lifecycle import adjust, captured_payment, post, transition
from escrow.machine import HOLDING_STATES
from escrow.models import Escrow
from escrow.settlement import lock_debts, recover


def dispute_outcome(conn: Connection, payment_id: str) -> str | None:
    """What the payment's disputes come to, from what escrow recorded (whatever order
    Stripe's events came in): 'lost' if one was lost, else 'open' if one is open, else
    'won' (every one closed in the platform's favour), None if it has none."""
    return _outcome(store.dispute_statuses(conn, payment_id))


def open_dispute(
    conn: Connection, dispute_id: str, payment_id: str, amount: int, *, cause: str
) -> bool:
    """Record a dispute; it freezes the escrow while it still holds the money."""
    payment = captured_payment(conn, payment_id)
    escrow = store.lock_escrow(conn, payment.escrow_id)
    if store.lock_dispute(conn, dispute_id) is not None:
        return False
    store.record_dispute(
        conn, dispute_id, payment_id, org_id=escrow.org_id, escrow_id=escrow.id, amount=amount
    )
    if escrow.state in HOLDING_STATES:
        transition(
            conn,
            escrow,
            "dispute_opened",
            cause=cause,
            changes={"open_disputes": escrow.open_disputes + 1},
        )
    return True


def _dispute_funds(
    conn: Connection,
    dispute_id: str,
    payment_id: str,
    amount: int,
    *,
    moved: store.FundsMove,
    legs: tuple[recipes.Leg, ...],
    cause: str,
) -> bool:
    """Book Stripe's move of a dispute's funds once (withdrawn, or reinstated)."""
    open_dispute(conn, dispute_id, payment_id, amount, cause=cause)
    dispute = store.lock_dispute(conn, dispute_id)
    if dispute is None or dispute.moved(moved):
        return False
    payment = captured_payment(conn, payment_id)
    post(
        conn,
        payment.org_id,
        payment.currency,
        legs,
        key=f"stripe:dispute-{moved}:{dispute_id}",
        description=f"Dispute {dispute_id}: funds {moved}",
        external_ref=f"{dispute_id}:{moved}",
    )
    store.mark_funds_moved(conn, dispute_id, moved)
    return True


def dispute_funds_withdrawn(
    conn: Connection, dispute_id: str, payment_id: str, amount: int, fee: int, *, cause: str
) -> bool:
    """Stripe withdrew the disputed amount and its fee from the platform's balance."""
    payment = captured_payment(conn, payment_id)
    legs = recipes.dispute_withdrawn(payment.currency, amount, fee)
    return _dispute_funds(
        conn, dispute_id, payment_id, amount, moved="withdrawn", legs=legs, cause=cause
    )


def dispute_funds_reinstated(
    conn: Connection,
    dispute_id: str,
    payment_id: str,
    amount: int,
    fee_returned: int,
    *,
    cause: str,
) -> bool:
    """Stripe gave the disputed funds back (the dispute was won)."""
    payment = captured_payment(conn, payment_id)
    legs = recipes.dispute_reinstated(payment.currency, amount, fee_returned)
    return _dispute_funds(
        conn, dispute_id, payment_id, amount, moved="reinstated", legs=legs, cause=cause
    )


def close_dispute(
    conn: Connection, dispute_id: str, payment_id: str, amount: int, won: bool, *, cause: str
) -> bool:
    """Close a dispute: a lost one is charged to the escrow while it holds the event's money,
    otherwise to the organizer's receivable; the escrow unfreezes when none is left open."""
    open_dispute(conn, dispute_id, payment_id, amount, cause=cause)
    dispute = store.lock_dispute(conn, dispute_id)
    if dispute is None or dispute.status != "open":
        return False
    escrow = store.lock_escrow(conn, dispute.escrow_id)
    entry_id = None
    charged = 0
    if not won:
        target = charged_to(escrow.state)
        entry_id = _book_lost(conn, escrow, dispute_id, dispute.amount, target)
        if target == "escrow":
            charged = dispute.amount
    store.close_dispute_row(conn, dispute_id, won=won)
    if escrow.state == "frozen":
        transition(
            conn,
            escrow,
            "dispute_closed",
            cause=cause,
            entry_id=entry_id,
            changes={
                "open_disputes": escrow.open_disputes - 1,
                "held": escrow.held - charged,
                "charged_back": escrow.charged_back + charged,
            },
        )
    elif charged != 0:
        adjust(conn, escrow, "dispute_lost", cause, held=-charged, charged_back=charged)
    return True


def _book_lost(
    conn: Connection, escrow: Escrow, dispute_id: str, amount: int, target: recipes.Target
) -> uuid.UUID:
    """Book a lost dispute, charged to `target`; past release, what the organizer now owes
    is asked back from its transfers. Returns the entry's id."""
    if target == "receivable":
        lock_debts(conn, escrow.org_id, escrow.currency)
    entry = post(
        conn,
        escrow.org_id,
        escrow.currency,
        recipes.dispute_lost(escrow.event_id, escrow.currency, amount, target),
        key=f"stripe:dispute-lost:{dispute_id}",
        description=f"Dispute {dispute_id} lost",
        external_ref=f"{dispute_id}:lost",
    )
    if target == "receivable":
        recover(
            conn, escrow.org_id, escrow.currency, key=f"dispute:{dispute_id}", escrow_id=escrow.id
        )
    return entry.id

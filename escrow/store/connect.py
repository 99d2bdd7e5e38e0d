"""Stripe Connect's side of escrow's store: the organizers' transfers
(`payments.organizer_transfers`), the reversals escrow asks of them
(`payments.transfer_reversal_requests`), the platform's payouts
(`payments.platform_payouts`), and the advisory lock that serialises an organizer's debts."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy import Connection, text

# A transfer is recorded once, for the first organization it was recorded for. Its key is
# (id, org_id), the organization's (docs/scaling.md), and a Stripe id is unique at Stripe,
# but a transfer whose metadata came to name another organization's escrow (a
# transfer.created replayed after its metadata was edited) would otherwise be a second row,
# and every lookup by its id below would find two. The advisory lock on the id makes two
# records of one id wait for each other, so the NOT EXISTS sees the first one's row.
_LOCK_TRANSFER_ID = text(
    "SELECT pg_advisory_xact_lock(hashtextextended('liventix:transfer:' || :id, 0))"
)
_RECORD_TRANSFER = text("""
    INSERT INTO payments.organizer_transfers (id, org_id, escrow_id, currency, amount)
    SELECT :id, :org, :escrow, :currency, :amount
     WHERE NOT EXISTS (SELECT FROM payments.organizer_transfers t WHERE t.id = :id)
    ON CONFLICT (id, org_id) DO NOTHING RETURNING id""")
_LOCK_TRANSFER = text("""
    SELECT org_id, currency, amount, reversed FROM payments.organizer_transfers
     WHERE id = :id FOR UPDATE""")
_GET_TRANSFER = text("""
    SELECT org_id, currency, amount, reversed FROM payments.organizer_transfers
     WHERE id = :id""")
_SET_SETTLEMENT = text("""
    UPDATE payments.organizer_transfers SET settlement_id = :settlement
     WHERE id = :id AND settlement_id IS NULL""")
_TRANSFER_SETTLEMENT = text("SELECT settlement_id FROM payments.organizer_transfers WHERE id = :id")
_ADD_REVERSED = text(
    "UPDATE payments.organizer_transfers SET reversed = reversed + :a WHERE id = :id"
)
# The organizer's transfers with what is left to ask back of each (less the reversals asked
# and not yet booked), the escrow's own first, then the newest; locked.
_TRANSFER_ROOM = text("""
    SELECT t.id, t.amount - t.reversed - coalesce((
               SELECT sum(r.amount) FROM payments.transfer_reversal_requests r
                WHERE r.transfer_id = t.id AND r.reversal_id IS NULL
                  AND r.canceled_at IS NULL), 0) AS room
      FROM payments.organizer_transfers t
     WHERE t.org_id = :org AND t.currency = :currency
     ORDER BY t.escrow_id IS NOT DISTINCT FROM :escrow DESC, t.created_at DESC, t.id
       FOR UPDATE OF t""")

_PENDING_REVERSALS = text("""
    SELECT coalesce(sum(amount), 0) FROM payments.transfer_reversal_requests
     WHERE org_id = :org AND currency = :currency AND reversal_id IS NULL
       AND canceled_at IS NULL AND id IS DISTINCT FROM :except""")
_LOCK_REQUEST = text("""
    SELECT org_id, currency, amount, sent_at IS NOT NULL AS sent,
           reversal_id IS NOT NULL AS booked, canceled_at IS NOT NULL AS canceled
      FROM payments.transfer_reversal_requests WHERE id = :id FOR UPDATE""")
_SEND_REQUEST = text("""
    UPDATE payments.transfer_reversal_requests SET amount = :amount, sent_at = now()
     WHERE id = :id AND sent_at IS NULL AND reversal_id IS NULL AND canceled_at IS NULL""")
_CANCEL_REQUEST = text("""
    UPDATE payments.transfer_reversal_requests SET canceled_at = now()
     WHERE id = :id AND sent_at IS NULL AND reversal_id IS NULL AND canceled_at IS NULL""")
_REQUEST_REVERSAL = text("""
    INSERT INTO payments.transfer_reversal_requests (id, org_id, transfer_id, currency, amount)
    VALUES (:id, :org, :transfer, :currency, :amount)
    ON CONFLICT (id, org_id) DO NOTHING RETURNING id""")
_REVERSAL_BOOKED = text("""
    UPDATE payments.transfer_reversal_requests
       SET reversal_id = :reversal, booked_at = now()
     WHERE id = :id AND reversal_id IS NULL""")

_RECORD_PAYOUT = text("""
    INSERT INTO payments.platform_payouts (id, currency, amount)
    VALUES (:id, :currency, :amount) ON CONFLICT (id) DO NOTHING""")
_LOCK_PAYOUT = text("SELECT paid, failed FROM payments.platform_payouts WHERE id = :id FOR UPDATE")
_SET_PAYOUT = text("UPDATE payments.platform_payouts SET paid = :p, failed = :f WHERE id = :id")

_LOCK_DEBTS = text("SELECT pg_advisory_xact_lock(hashtextextended(:k, 0))")


# -- transfers -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Transfer:
    """An organizer's transfer as recorded: what it carried and what came back of it."""

    org_id: uuid.UUID
    currency: str
    amount: int
    reversed: int


def record_transfer(
    conn: Connection,
    transfer_id: str,
    *,
    org_id: uuid.UUID,
    escrow_id: uuid.UUID | None,
    currency: str,
    amount: int,
) -> bool:
    """Record Stripe's transfer to the organizer; False if it was recorded before (for this
    organization or another: a transfer id is recorded once, so a lookup by it finds one)."""
    conn.execute(_LOCK_TRANSFER_ID, {"id": transfer_id})
    row = conn.execute(
        _RECORD_TRANSFER,
        {
            "id": transfer_id,
            "org": org_id,
            "escrow": escrow_id,
            "currency": currency,
            "amount": amount,
        },
    ).first()
    return row is not None


def lock_transfer(conn: Connection, transfer_id: str) -> Transfer | None:
    """The transfer, locked, or None if it is not recorded (yet)."""
    row = conn.execute(_LOCK_TRANSFER, {"id": transfer_id}).first()
    return None if row is None else Transfer(**row._asdict())


def get_transfer(conn: Connection, transfer_id: str) -> Transfer | None:
    """The transfer as recorded (not locked: its organizer and currency never change), or
    None if it is not recorded (yet)."""
    row = conn.execute(_GET_TRANSFER, {"id": transfer_id}).first()
    return None if row is None else Transfer(**row._asdict())


def set_transfer_settlement(conn: Connection, transfer_id: str, settlement_id: uuid.UUID) -> None:
    """Record the ledger settlement that closed what the transfer paid (once)."""
    conn.execute(_SET_SETTLEMENT, {"settlement": settlement_id, "id": transfer_id})


def transfer_settlement(conn: Connection, transfer_id: str) -> uuid.UUID | None:
    """The ledger settlement of what the transfer paid, if one was recorded."""
    found: uuid.UUID | None = conn.execute(
        _TRANSFER_SETTLEMENT, {"id": transfer_id}
    ).scalar_one_or_none()
    return found


def add_reversed(conn: Connection, transfer_id: str, amount: int) -> None:
    """Add `amount` to what came back of the transfer."""
    conn.execute(_ADD_REVERSED, {"a": amount, "id": transfer_id})


def transfer_room(
    conn: Connection, org_id: uuid.UUID, currency: str, escrow_id: uuid.UUID | None
) -> list[tuple[str, int]]:
    """(transfer id, what is left to ask back) of the organizer's transfers, locked: the
    escrow's own first, then the newest."""
    rows = conn.execute(
        _TRANSFER_ROOM, {"org": org_id, "currency": currency, "escrow": escrow_id}
    ).all()
    return [(r.id, int(r.room)) for r in rows]


# -- reversals asked of transfers ----------------------------------------------------------


def pending_reversals(
    conn: Connection, org_id: uuid.UUID, currency: str, *, except_request: str | None = None
) -> int:
    """The transfer reversals asked of Stripe for the organizer and not yet booked (nor
    canceled), but for `except_request`."""
    pending: int = conn.execute(
        _PENDING_REVERSALS, {"org": org_id, "currency": currency, "except": except_request}
    ).scalar_one()
    return int(pending)


@dataclass(frozen=True)
class ReversalRequest:
    """A reversal escrow asked of a transfer: its amount and how far it went."""

    org_id: uuid.UUID
    currency: str
    amount: int
    sent: bool
    booked: bool
    canceled: bool


def lock_reversal_request(conn: Connection, request_id: str) -> ReversalRequest | None:
    """The reversal request, locked, or None if there is none under this id."""
    row = conn.execute(_LOCK_REQUEST, {"id": request_id}).first()
    return None if row is None else ReversalRequest(**row._asdict())


def reversal_sent(conn: Connection, request_id: str, amount: int) -> None:
    """The request is about to be sent to Stripe for `amount`: from now on it never
    changes."""
    conn.execute(_SEND_REQUEST, {"id": request_id, "amount": amount})


def cancel_reversal(conn: Connection, request_id: str) -> None:
    """The request is dropped before it was sent: nothing is owed any more."""
    conn.execute(_CANCEL_REQUEST, {"id": request_id})


def request_reversal(
    conn: Connection,
    request_id: str,
    *,
    org_id: uuid.UUID,
    transfer_id: str,
    currency: str,
    amount: int,
) -> bool:
    """Record a reversal to ask of a transfer; False if one was asked under this id."""
    made = conn.execute(
        _REQUEST_REVERSAL,
        {
            "id": request_id,
            "org": org_id,
            "transfer": transfer_id,
            "currency": currency,
            "amount": amount,
        },
    ).first()
    return made is not None


def reversal_booked(conn: Connection, request_id: str, reversal_id: str) -> None:
    """The reversal asked under `request_id` was made (Stripe's `reversal_id`)."""
    conn.execute(_REVERSAL_BOOKED, {"reversal": reversal_id, "id": request_id})


# -- the platform's payouts ----------------------------------------------------------------


def lock_payout(conn: Connection, payout_id: str, currency: str, amount: int) -> tuple[bool, bool]:
    """(paid, failed) of the payout, recorded if new, locked."""
    conn.execute(_RECORD_PAYOUT, {"id": payout_id, "currency": currency, "amount": amount})
    row = conn.execute(_LOCK_PAYOUT, {"id": payout_id}).one()
    return bool(row.paid), bool(row.failed)


def set_payout(conn: Connection, payout_id: str, *, paid: bool, failed: bool) -> None:
    """The payout's flags."""
    conn.execute(_SET_PAYOUT, {"p": paid, "f": failed, "id": payout_id})


# -- an organizer's debts ------------------------------------------------------------------


def lock_debts(conn: Connection, org_id: uuid.UUID, currency: str) -> None:
    """Serialise, per organizer and currency, the decisions on what it owes (an advisory
    lock until the transaction ends)."""
    conn.execute(_LOCK_DEBTS, {"k": f"liventix:debts:{org_id}:{currency}"})

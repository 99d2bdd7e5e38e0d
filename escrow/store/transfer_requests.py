"""The transfers escrow asks Stripe for (`payments.transfer_requests`): one row per outbox
task `stripe.transfer.requested`, under the task's message id, saying what the transfer
pays; linked once to the transfer Stripe made for it. What a transfer settles is read from
here."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy import Connection, TextClause, text

_COLUMNS = "id, escrow_id, kind, entry_id, amount, source_transaction, transfer_id"

_RECORD = text("""
    INSERT INTO payments.transfer_requests
           (id, org_id, escrow_id, key, kind, entry_id, currency, amount, source_transaction)
    VALUES (:id, :org, :escrow, :key, :kind, :entry, :currency, :amount, :source)
    ON CONFLICT (escrow_id, key, org_id) DO NOTHING""")
_OF_TRANSFER = text(f"SELECT {_COLUMNS} FROM payments.transfer_requests WHERE transfer_id = :t")
_BY_ID = text(f"""
    SELECT {_COLUMNS} FROM payments.transfer_requests WHERE id = :id AND escrow_id = :escrow""")
_BY_CHARGE = text(f"""
    SELECT {_COLUMNS} FROM payments.transfer_requests
     WHERE source_transaction = :source AND escrow_id = :escrow""")
# The escrow's requests no charge funds and no transfer answers yet (two are enough to know
# it is not one).
_OPEN_UNFUNDED = text(f"""
    SELECT {_COLUMNS} FROM payments.transfer_requests
     WHERE escrow_id = :escrow AND transfer_id IS NULL AND source_transaction IS NULL
     ORDER BY id LIMIT 2""")
_LINK = text("""
    UPDATE payments.transfer_requests SET transfer_id = :t, linked_at = now()
     WHERE id = :id AND transfer_id IS NULL RETURNING id""")


@dataclass(frozen=True)
class TransferRequest:
    """A transfer escrow asked for: what it pays (`kind`: the release, whose entry is
    `entry_id`, pays the escrow account's entries; a capture after the release or a failed
    refund's return pays `entry_id` on the payable) and the transfer that answered it."""

    id: uuid.UUID
    escrow_id: uuid.UUID
    kind: str
    entry_id: uuid.UUID
    amount: int
    source_transaction: str | None
    transfer_id: str | None


def record_transfer_request(
    conn: Connection,
    request_id: uuid.UUID,
    *,
    org_id: uuid.UUID,
    escrow_id: uuid.UUID,
    key: str,
    kind: str,
    entry_id: uuid.UUID,
    currency: str,
    amount: int,
    source_transaction: str | None,
) -> None:
    """Record the transfer asked under (escrow, key) (nothing if it was asked before)."""
    conn.execute(
        _RECORD,
        {
            "id": request_id,
            "org": org_id,
            "escrow": escrow_id,
            "key": key,
            "kind": kind,
            "entry": entry_id,
            "currency": currency,
            "amount": amount,
            "source": source_transaction,
        },
    )


def _one(
    conn: Connection, statement: TextClause, params: dict[str, object]
) -> TransferRequest | None:
    row = conn.execute(statement, params).first()
    return None if row is None else TransferRequest(**row._asdict())


def request_of_transfer(conn: Connection, transfer_id: str) -> TransferRequest | None:
    """The request the transfer was linked to, if any."""
    return _one(conn, _OF_TRANSFER, {"t": transfer_id})


def transfer_request(
    conn: Connection, escrow_id: uuid.UUID, request_id: uuid.UUID
) -> TransferRequest | None:
    """The escrow's request under this id, if any."""
    return _one(conn, _BY_ID, {"id": request_id, "escrow": escrow_id})


def request_funded_by(
    conn: Connection, escrow_id: uuid.UUID, charge_id: str
) -> TransferRequest | None:
    """The escrow's request whose transfer the charge funds (`source_transaction`), if any."""
    return _one(conn, _BY_CHARGE, {"source": charge_id, "escrow": escrow_id})


def open_unfunded_requests(conn: Connection, escrow_id: uuid.UUID) -> list[TransferRequest]:
    """Up to two of the escrow's requests that no charge funds and no transfer answers yet."""
    rows = conn.execute(_OPEN_UNFUNDED, {"escrow": escrow_id}).all()
    return [TransferRequest(**r._asdict()) for r in rows]


def link_transfer_request(conn: Connection, request_id: uuid.UUID, transfer_id: str) -> bool:
    """Link the request to the transfer that answered it; False if it was linked before."""
    return conn.execute(_LINK, {"t": transfer_id, "id": request_id}).first() is not None

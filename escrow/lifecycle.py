"""What every escrow use case shares: opening an escrow, moving it through the machine
(compare-and-set on state and version, an audit row, the `escrow.state_changed` message),
counting past the machine, and posting a recipe to the ledger. Each takes the caller's
connection and never commits."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection

import ledger
import outbox
from escrow import recipes, store
from escrow.accounts import lines
from escrow.decisions import target
from escrow.errors import ConcurrentTransition, NotYetApplicable
from escrow.messages import EscrowStateChanged
from escrow.models import Escrow


def open_escrow(
    conn: Connection, org_id: uuid.UUID, event_id: str, currency: str, event_ends_at: datetime
) -> uuid.UUID:
    """The escrow of this organizer, event and currency, created if it does not exist."""
    if not ledger.is_currency(currency):
        raise ledger.UnknownCurrency(currency=currency)
    return store.open_escrow_row(conn, org_id, event_id, currency, event_ends_at)


def transition(
    conn: Connection,
    escrow: Escrow,
    event: str,
    *,
    cause: str | None,
    entry_id: uuid.UUID | None = None,
    changes: dict[str, Any] | None = None,
) -> Escrow:
    """Run `event` through the machine and persist it as compare-and-set plus an audit row;
    `changes` are the column values the transition sets with it."""
    changes = dict(changes or {})
    to_state = target(escrow, event, changes)
    updated = store.move_escrow(conn, escrow, to_state, changes)
    if updated is None:
        raise ConcurrentTransition(escrow_id=str(escrow.id), expected_state=escrow.state)
    store.audit(conn, escrow, to_state, event, cause=cause, entry_id=entry_id)
    if to_state != escrow.state:
        outbox.publish(
            conn,
            type="escrow.state_changed",
            payload=EscrowStateChanged(
                escrow_id=str(escrow.id),
                event_id=escrow.event_id,
                currency=escrow.currency,
                from_state=escrow.state,
                to_state=to_state,
                event=event,
                held=updated.held,
            ),
            aggregate_type="escrow",
            aggregate_id=str(escrow.id),
            org_id=escrow.org_id,
        )
    return updated


def adjust(conn: Connection, escrow: Escrow, event: str, cause: str, **deltas: int) -> None:
    """Change counters of an escrow past the machine (no machine event; an audit row still)."""
    store.add_to_escrow(conn, escrow.id, deltas)
    store.audit(conn, escrow, escrow.state, event, cause=cause)


def post(
    conn: Connection,
    org_id: uuid.UUID,
    currency: str,
    legs: Sequence[recipes.Leg],
    *,
    key: str,
    description: str,
    external_ref: str | None = None,
    platform: uuid.UUID | None = None,
) -> ledger.WriteResult:
    """Post a recipe's legs as one ledger entry under the idempotency key `key`."""
    return ledger.post_entry(
        conn,
        org_id,
        ledger.PostEntry(
            idempotency_key=key,
            lines=lines(conn, org_id, currency, legs, platform),
            description=description,
            external_ref=external_ref,
        ),
    )


def captured_payment(conn: Connection, payment_id: str) -> store.CardPayment:
    """The captured payment, locked; NotYetApplicable if it is not captured yet."""
    payment = store.lock_payment(conn, payment_id)
    if payment is None:
        raise NotYetApplicable(reason=f"payment {payment_id} is not captured yet")
    return payment

"""Ticketing's records as the use cases see them: an order and a ticket (pure: no I/O)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class Ticket:
    """A ticket as stored."""

    id: uuid.UUID
    order_id: uuid.UUID
    org_id: uuid.UUID
    event_id: uuid.UUID
    ticket_type_id: uuid.UUID
    status: str
    code: str
    holder_email: str
    price: int
    replaces: uuid.UUID | None
    checked_in_at: datetime | None
    checked_in_by: str | None
    version: int


@dataclass(frozen=True)
class Order:
    """An order as stored, with what the ledger says was paid and refunded."""

    id: uuid.UUID
    org_id: uuid.UUID
    event_id: uuid.UUID
    buyer_email: str
    status: str
    currency: str
    amount: int
    payment_intent_id: str | None
    hold_expires_at: datetime
    cancel_reason: str | None
    version: int
    paid: int
    refunded: int


TICKET_FIELDS = (
    "id",
    "order_id",
    "org_id",
    "event_id",
    "ticket_type_id",
    "status",
    "code",
    "holder_email",
    "price",
    "replaces",
    "checked_in_at",
    "checked_in_by",
    "version",
)
# An order's stored fields (without the amounts, which are escrow's facts).
ORDER_FIELDS = (
    "id",
    "org_id",
    "event_id",
    "buyer_email",
    "status",
    "currency",
    "amount",
    "payment_intent_id",
    "hold_expires_at",
    "cancel_reason",
    "version",
)

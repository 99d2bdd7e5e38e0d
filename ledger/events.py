"""The payloads of the events the ledger publishes through the outbox (pure models).

The ledger does not import the outbox: its events are published in SQL, by its triggers and
its sealer, through `messaging.publish` (migrations/sql/payments_monitors.sql,
payments_seals.sql), on the transaction that caused them. These models describe what those
payloads hold; the application registers them as the types' payload models (the webhook
catalog), so organizers code against them.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel


class HoldEvent(BaseModel):
    """Payload of `ledger.hold.created`, `.posted`, `.voided` and `.expired`: a hold and what
    just happened to it (times are UTC ISO 8601)."""

    hold_id: str
    org_id: str
    status: Literal["created", "posted", "voided", "expired"]
    debit_account_id: str
    credit_account_id: str
    amount: int
    currency: str
    expires_at: str | None
    description: str
    metadata: dict[str, object]
    posted_amount: int
    entry_id: str | None
    occurred_at: str


class BalanceMonitorEvent(BaseModel):
    """Payload of `ledger.balance_monitor.triggered` and `.recovered`: the monitor, the
    balance it watches as the posting left it, and the account's version then."""

    monitor_id: str
    org_id: str
    account_id: str
    balance: Literal["posted", "pending", "available"]
    operator: Literal["<", "<=", ">", ">=", "=", "!="]
    value: int
    description: str
    current: int
    account_version: int
    occurred_at: str


class CheckpointSealed(BaseModel):
    """Payload of `ledger.checkpoint.sealed`: a checkpoint of an organization's chain (scope
    `organization`) or of the platform's (`platform`, org_id null), its hash and its
    predecessor's (hex SHA-256), as `ledger.verify` recomputes them."""

    scope: Literal["organization", "platform"]
    org_id: str | None
    seq: int
    hash: str
    previous_hash: str | None
    entry_count: int
    cut_at: str
    sealed_at: str


HOLD_EVENTS = (
    "ledger.hold.created",
    "ledger.hold.posted",
    "ledger.hold.voided",
    "ledger.hold.expired",
)

EVENT_MODELS: dict[str, type[BaseModel]] = {
    **{name: HoldEvent for name in HOLD_EVENTS},
    "ledger.balance_monitor.triggered": BalanceMonitorEvent,
    "ledger.balance_monitor.recovered": BalanceMonitorEvent,
    "ledger.checkpoint.sealed": CheckpointSealed,
}
"""Every event type the ledger publishes, with its payload's model."""

"""Balance monitors (issue 16 item 2): a monitor watches one account's posted, pending or
available balance against a condition (`<`, `<=`, `>`, `>=`, `=`, `!=` an integer); a
posting that makes it true publishes `ledger.balance_monitor.triggered` through the outbox
in the posting's own transaction, and `ledger.balance_monitor.recovered` when it turns false
again. The state is kept per monitor, under the account's row lock, so each change fires
once. The trigger and functions are in migrations/sql/payments_monitors.sql; an account
without monitors pays one index probe per balance change (bench/monitor_cost.py).

High-volume accounts are refused (their balances move at roll-up, not at posting).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, get_args
from uuid import UUID

from sqlalchemy import Connection, text
from sqlalchemy.exc import DBAPIError

from ledger.errors import InvalidRequest, LedgerError
from ledger.models import WriteResult
from ledger.requests import MAX_AMOUNT, canonical_json, fingerprint
from ledger.writes import translated_errors

MonitoredBalance = Literal["posted", "pending", "available"]
Operator = Literal["<", "<=", ">", ">=", "=", "!="]
BALANCES: tuple[str, ...] = get_args(MonitoredBalance)
OPERATORS: tuple[str, ...] = get_args(Operator)


class InvalidMonitor(InvalidRequest):
    """A monitor needs a balance (posted, pending, available), an operator and an integer."""

    code = "invalid_monitor"


class MonitorOnHighVolumeAccount(InvalidRequest):
    """A high-volume account's balance moves at roll-up, not at posting: it takes no monitor."""

    code = "monitor_on_high_volume_account"
    account_id: str


class MonitorNotFound(LedgerError):
    """No such balance monitor (for this organization)."""

    code = "monitor_not_found"
    monitor_id: str


@dataclass(frozen=True)
class CreateMonitor:
    """Watch `account_id`'s `balance` against `operator value`."""

    idempotency_key: str | None
    account_id: UUID
    balance: MonitoredBalance
    operator: Operator
    value: int
    description: str = ""

    def __post_init__(self) -> None:
        if self.balance not in BALANCES:
            raise InvalidMonitor(field="balance", value=self.balance)
        if self.operator not in OPERATORS:
            raise InvalidMonitor(field="operator", value=self.operator)
        if (
            isinstance(self.value, bool)
            or not isinstance(self.value, int)
            or not -MAX_AMOUNT <= self.value <= MAX_AMOUNT
        ):
            raise InvalidMonitor(field="value", value=self.value)
        if len(self.description) > 1000:
            raise InvalidMonitor(field="description", value="longer than 1000 characters")
        if self.idempotency_key is not None and not self.idempotency_key:
            raise InvalidMonitor(field="idempotency_key", value="")

    def payload(self) -> dict[str, Any]:
        """What the database function takes (the key apart from what is fingerprinted)."""
        return {
            "key": self.idempotency_key,
            "account_id": str(self.account_id),
            "balance": self.balance,
            "operator": self.operator,
            "value": self.value,
            "description": self.description,
        }


@dataclass(frozen=True)
class BalanceMonitor:
    """A monitor as stored: its condition, whether it holds now, and whether it was deleted."""

    id: UUID
    org_id: UUID
    account_id: UUID
    balance: MonitoredBalance
    operator: Operator
    value: int
    description: str
    triggered: bool
    created_at: datetime
    deleted_at: datetime | None

    def holds_for(self, balance: int) -> bool:
        """Whether the condition holds for this balance (as the database judges it)."""
        return holds(self.operator, balance, self.value)


def holds(operator: str, balance: int, value: int) -> bool:
    """`balance operator value`, the comparison a monitor makes."""
    comparisons = {
        "<": balance < value,
        "<=": balance <= value,
        ">": balance > value,
        ">=": balance >= value,
        "=": balance == value,
        "!=": balance != value,
    }
    return comparisons[operator]


_OWN_ERRORS: dict[str, type[LedgerError]] = {
    cls.code: cls for cls in (InvalidMonitor, MonitorOnHighVolumeAccount, MonitorNotFound)
}


@contextmanager
def _errors() -> Iterator[None]:
    """This module's refusals by their code; the ledger's others as `translated_errors`."""
    with translated_errors():
        try:
            yield
        except DBAPIError as exc:
            diag = getattr(exc.orig, "diag", None)
            code = diag.message_primary if diag is not None else None
            if (
                diag is not None
                and getattr(exc.orig, "sqlstate", None) == "LX001"
                and code in _OWN_ERRORS
            ):
                details = json.loads(diag.message_detail or "{}")
                details.pop("request", None)
                raise _OWN_ERRORS[code](**details) from exc
            raise


_COLUMNS = (
    "id, org_id, account_id, balance, operator, value, description, triggered, created_at,"
    " deleted_at"
)


def create_monitor(conn: Connection, org_id: UUID, request: CreateMonitor) -> WriteResult:
    """Create a monitor for the organization (idempotent by key: a replay answers the first
    monitor, another request under the key is an `IdempotencyConflict`). A condition already
    true publishes `ledger.balance_monitor.triggered` at once."""
    payload = request.payload()
    payload["hash"] = fingerprint(payload)
    with _errors():
        answer = conn.execute(
            text("SELECT payments.create_balance_monitor(CAST(:org AS uuid), CAST(:p AS jsonb))"),
            {"org": str(org_id), "p": canonical_json(payload)},
        ).scalar_one()
    return WriteResult(id=UUID(answer["id"]), replayed=bool(answer["replayed"]))


def delete_monitor(conn: Connection, org_id: UUID, monitor_id: UUID) -> BalanceMonitor:
    """Stop a monitor (it publishes nothing more); deleting it again answers the same."""
    with _errors():
        conn.execute(
            text("SELECT payments.delete_balance_monitor(CAST(:org AS uuid), CAST(:id AS uuid))"),
            {"org": str(org_id), "id": str(monitor_id)},
        )
    return get_monitor(conn, monitor_id)


def get_monitor(conn: Connection, monitor_id: UUID) -> BalanceMonitor:
    """One monitor this connection may see (row-level security), deleted ones included."""
    row = conn.execute(
        text(f"SELECT {_COLUMNS} FROM payments.balance_monitors WHERE id = :id"),
        {"id": monitor_id},
    ).first()
    if row is None:
        raise MonitorNotFound(monitor_id=str(monitor_id))
    return _monitor(row)


def list_monitors(
    conn: Connection,
    org_id: UUID | None = None,
    *,
    account_id: UUID | None = None,
    starting_after: UUID | None = None,
    limit: int = 100,
) -> tuple[list[BalanceMonitor], bool]:
    """The live monitors this connection may see (of `org_id`, of `account_id`), oldest
    first, after the monitor `starting_after`; and whether more follow."""
    if not 1 <= limit <= 1000:
        raise InvalidRequest("limit is 1 to 1000")
    rows = conn.execute(
        text(f"""
            SELECT {_COLUMNS} FROM payments.balance_monitors m
             WHERE m.deleted_at IS NULL
               AND (CAST(:org AS uuid) IS NULL OR m.org_id = CAST(:org AS uuid))
               AND (CAST(:account AS uuid) IS NULL OR m.account_id = CAST(:account AS uuid))
               AND (CAST(:after AS uuid) IS NULL OR (m.created_at, m.id) > (
                    SELECT a.created_at, a.id FROM payments.balance_monitors a
                     WHERE a.id = CAST(:after AS uuid)))
             ORDER BY m.created_at, m.id
             LIMIT :n
        """),
        {
            "org": None if org_id is None else str(org_id),
            "account": None if account_id is None else str(account_id),
            "after": None if starting_after is None else str(starting_after),
            "n": limit + 1,
        },
    ).all()
    return [_monitor(r) for r in rows[:limit]], len(rows) > limit


def _monitor(row: Any) -> BalanceMonitor:
    return BalanceMonitor(
        id=row.id,
        org_id=row.org_id,
        account_id=row.account_id,
        balance=row.balance,
        operator=row.operator,
        value=int(row.value),
        description=row.description,
        triggered=bool(row.triggered),
        created_at=row.created_at,
        deleted_at=row.deleted_at,
    )

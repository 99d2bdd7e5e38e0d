"""Balance monitors over HTTP (issue 16 item 2): create, list, read and delete the monitors
of the key's organization. A monitor publishes `ledger.balance_monitor.triggered` and
`.recovered` through the outbox, to the organization's webhook endpoints."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal

from fastapi import Query
from pydantic import BaseModel, ConfigDict, Field

import ledger
from liventix.api import problems
from liventix.api.pages import DEFAULT_LIMIT, Limit, ListObject
from liventix.api.problems import ProblemType
from liventix.api.routing import WRITE, authenticated_router
from liventix.api.schemas import RequestModel
from liventix.api.unit_of_work import Uow

router = authenticated_router(["ledger"])

# The monitors' refusals, typed (the domain's problem registry, by class).
problems.DOMAIN_PROBLEMS.update(
    {
        ledger.InvalidMonitor: ProblemType(422, "invalid-monitor", "Invalid balance monitor"),
        ledger.MonitorOnHighVolumeAccount: ProblemType(
            422,
            "monitor-on-high-volume-account",
            "A high-volume account's balance moves at roll-up: it takes no monitor",
        ),
        ledger.MonitorNotFound: ProblemType(
            404, "balance-monitor-not-found", "No such balance monitor"
        ),
    }
)

BIGINT = 2**63 - 1


class CreateMonitorRequest(RequestModel):
    """Watch an account's balance against a condition."""

    account_id: uuid.UUID
    balance: Literal["posted", "pending", "available"] = Field(
        description="Which balance, on the account's normal side (as its balance reads it)"
    )
    operator: Literal["<", "<=", ">", ">=", "=", "!="]
    value: int = Field(ge=-BIGINT, le=BIGINT, description="Minor units of the account's currency")
    description: str = Field(default="", max_length=1000)


class MonitorResponse(BaseModel):
    """A balance monitor: its condition and whether it holds now."""

    model_config = ConfigDict(json_schema_serialization_defaults_required=True)

    object: Literal["balance_monitor"] = "balance_monitor"
    id: uuid.UUID
    org_id: uuid.UUID
    account_id: uuid.UUID
    balance: Literal["posted", "pending", "available"]
    operator: Literal["<", "<=", ">", ">=", "=", "!="]
    value: int
    description: str
    triggered: bool = Field(description="Whether the condition holds as of the last posting")
    created_at: datetime
    deleted_at: datetime | None


class MonitorList(ListObject[MonitorResponse]):
    """A page of live balance monitors, oldest first."""


def _view(m: ledger.BalanceMonitor) -> MonitorResponse:
    return MonitorResponse(
        id=m.id,
        org_id=m.org_id,
        account_id=m.account_id,
        balance=m.balance,
        operator=m.operator,
        value=m.value,
        description=m.description,
        triggered=m.triggered,
        created_at=m.created_at,
        deleted_at=m.deleted_at,
    )


@router.post("/balance-monitors", status_code=201, dependencies=WRITE)
def create_monitor(body: CreateMonitorRequest, uow: Uow) -> MonitorResponse:
    """Create a balance monitor on one of the organization's accounts. A condition already
    true publishes `ledger.balance_monitor.triggered` at once."""
    with uow:
        result = ledger.create_monitor(
            uow.conn,
            uow.acting_org(),
            ledger.CreateMonitor(
                idempotency_key=uow.domain_key(),
                account_id=body.account_id,
                balance=body.balance,
                operator=body.operator,
                value=body.value,
                description=body.description,
            ),
        )
        answer = _view(ledger.get_monitor(uow.conn, result.id))
        return uow.commit(answer, location=f"/v1/balance-monitors/{answer.id}")


@router.get("/balance-monitors")
def list_monitors(
    uow: Uow,
    account_id: Annotated[
        uuid.UUID | None, Query(description="Only the monitors of this account")
    ] = None,
    starting_after: Annotated[
        uuid.UUID | None, Query(description="The id of the last monitor of the previous page")
    ] = None,
    limit: Limit = DEFAULT_LIMIT,
) -> MonitorList:
    """The live balance monitors this key can see, oldest first."""
    with uow:
        found, more = ledger.list_monitors(
            uow.conn,
            uow.org_id,
            account_id=account_id,
            starting_after=starting_after,
            limit=limit,
        )
        return MonitorList(data=[_view(m) for m in found], has_more=more)


@router.get("/balance-monitors/{monitor_id:uuid}")
def get_monitor(monitor_id: uuid.UUID, uow: Uow) -> MonitorResponse:
    """One balance monitor (a deleted one too, with its `deleted_at`)."""
    with uow:
        return _view(ledger.get_monitor(uow.conn, monitor_id))


@router.delete("/balance-monitors/{monitor_id:uuid}", dependencies=WRITE)
def delete_monitor(monitor_id: uuid.UUID, uow: Uow) -> MonitorResponse:
    """Delete a balance monitor: it publishes nothing more."""
    with uow:
        found = ledger.get_monitor(uow.conn, monitor_id)
        deleted = ledger.delete_monitor(uow.conn, found.org_id, monitor_id)
        return uow.commit(_view(deleted))

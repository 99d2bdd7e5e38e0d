"""Settlements over HTTP: settle an account (`POST /v1/settlements`, `?dry_run=true` too),
read one, list them, list the entries one covers; and which tickets a transfer to the
organizer paid for (`GET /v1/transfers/{id}/coverage`: transfer -> settlement -> entries ->
orders and tickets, the read side of `liventix.reports.organizer`).

Writes act for the key's organization and carry the Idempotency-Key into the ledger's own
(prefixed `api:`), as the ledger's other routes do; row-level security shows an organization
only its own settlements and transfers.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any

from fastapi import Path, Query
from pydantic import BaseModel, Field
from starlette.responses import Response

import ledger
from liventix.api import problems
from liventix.api.ledger import schemas as m
from liventix.api.ledger import views
from liventix.api.pages import DEFAULT_LIMIT, Limit, ListObject
from liventix.api.problems import ApiProblem, ProblemType
from liventix.api.routing import authenticated_router
from liventix.api.schemas import Amount, Metadata, RequestModel, Text, Timestamp, amount
from liventix.api.unit_of_work import Uow
from liventix.reports import organizer

router = authenticated_router(["ledger"])

# The settlements' refusals, by the ledger's error classes (lookup follows the class's MRO).
# Registered here with the domain's problems until liventix/api/problems.py lists them.
SETTLEMENT_PROBLEMS: dict[type[Exception], ProblemType] = {
    ledger.SettlementError: ProblemType(409, "settlement-refused", "The settlement was refused"),
    ledger.NothingToSettle: ProblemType(
        409, "nothing-to-settle", "No unsettled entry of the account was recorded by then"
    ),
    ledger.EntryAlreadySettled: ProblemType(
        409, "entry-already-settled", "An entry is already settled on this account"
    ),
    ledger.EntryNotSettleable: ProblemType(
        422, "entry-not-settleable", "The entry has no line on the account by the cut-off"
    ),
    ledger.SettlementNotFound: ProblemType(404, "settlement-not-found", "No such settlement"),
}
for _cls, _kind in SETTLEMENT_PROBLEMS.items():
    problems.DOMAIN_PROBLEMS.setdefault(_cls, _kind)

TRANSFER_NOT_FOUND = ProblemType(404, "transfer-not-found", "No such transfer")


class CreateSettlementRequest(RequestModel):
    """Settle an account: every entry with a line on it recorded by `up_to` (default: now)
    and not settled on it yet, or only `entry_ids` (each must be one of those)."""

    account_id: uuid.UUID
    up_to: Timestamp | None = None
    entry_ids: Annotated[list[uuid.UUID], Field(min_length=1, max_length=10_000)] | None = None
    description: Text = ""
    metadata: Metadata = Field(default_factory=dict)


class SettlementResponse(BaseModel):
    """A settlement: what it covered on its account, and its net there."""

    object: str = "settlement"
    id: uuid.UUID
    org_id: uuid.UUID
    account_id: uuid.UUID
    amount: Amount
    """The covered lines' net on the account's normal side."""
    debits: int
    credits: int
    entry_count: int
    up_to: datetime
    description: str
    metadata: dict[str, Any]
    created_at: datetime


class SettlementList(ListObject[SettlementResponse]):
    """A page of settlements, newest first."""


class SettlementEntries(BaseModel):
    """The ids of the entries a settlement covers, in recording order."""

    settlement_id: uuid.UUID
    entry_ids: list[uuid.UUID]


def _view(s: ledger.Settlement) -> SettlementResponse:
    return SettlementResponse(
        id=s.id,
        org_id=s.org_id,
        account_id=s.account_id,
        amount=amount(s.amount, s.currency),
        debits=s.debits,
        credits=s.credits,
        entry_count=s.entry_count,
        up_to=s.up_to,
        description=s.description,
        metadata=s.metadata,
        created_at=s.created_at,
    )


@router.post(
    "/settlements",
    status_code=201,
    dependencies=views.WRITE_OR_DRY_RUN,
    response_model=SettlementResponse,
    openapi_extra=views.DRY_RUN_PARAMETER,
    responses={200: {"model": m.DryRunResponse, "description": "With `dry_run=true`"}},
)
def create_settlement(body: CreateSettlementRequest, uow: Uow) -> SettlementResponse | Response:
    """Settle an account's entries up to a moment (or the ones named): each entry is settled
    at most once per account."""
    with uow:
        request = ledger.CreateSettlement(
            idempotency_key=views.write_key(uow),
            account_id=body.account_id,
            up_to=body.up_to,
            entry_ids=body.entry_ids,
            description=body.description,
            metadata=body.metadata,
        )

        def write() -> SettlementResponse:
            result = ledger.create_settlement(uow.conn, uow.acting_org(), request)
            return _view(ledger.get_settlement(uow.conn, result.id))

        if views.dry_run_asked(uow):
            return views.dry_run_answer(uow, write, [body.account_id], 201)
        answer = write()
        return uow.commit(answer, location=f"/v1/settlements/{answer.id}")


@router.get("/settlements")
def list_settlements(
    uow: Uow,
    account_id: Annotated[uuid.UUID | None, Query(description="Only this account's")] = None,
    starting_after: Annotated[
        uuid.UUID | None, Query(description="The `id` of the last settlement of the last page")
    ] = None,
    limit: Limit = DEFAULT_LIMIT,
) -> SettlementList:
    """The settlements this key can see, newest first."""
    with uow:
        page = ledger.list_settlements(
            uow.conn, account_id=account_id, starting_after=starting_after, limit=limit
        )
        return SettlementList(data=[_view(s) for s in page.settlements], has_more=page.has_more)


@router.get("/settlements/{settlement_id:uuid}")
def get_settlement(settlement_id: uuid.UUID, uow: Uow) -> SettlementResponse:
    """One settlement."""
    with uow:
        return _view(ledger.get_settlement(uow.conn, settlement_id))


@router.get("/settlements/{settlement_id:uuid}/entries")
def settlement_entries(settlement_id: uuid.UUID, uow: Uow) -> SettlementEntries:
    """The entries a settlement covers (read each with `GET /v1/entries/{id}`)."""
    with uow:
        found = ledger.settlement_entries(uow.conn, settlement_id)
        return SettlementEntries(settlement_id=settlement_id, entry_ids=found)


@router.get("/transfers/{transfer_id}/coverage")
def transfer_coverage(
    transfer_id: Annotated[str, Path(min_length=1, max_length=255, pattern=r"^[A-Za-z0-9_.:-]+$")],
    uow: Uow,
) -> organizer.TransferCoverage:
    """Which tickets a transfer to the organizer paid for: its settlement's entries, each
    with the payment or refund that booked it, the order and its tickets."""
    with uow:
        try:
            return organizer.transfer_coverage(uow.conn, transfer_id)
        except organizer.TransferNotFound as exc:
            raise ApiProblem(TRANSFER_NOT_FOUND, str(exc), transfer_id=transfer_id) from exc

"""Tamper evidence over HTTP (issue 16 item 1): the checkpoints of the key's organization's
chain (the platform's chain for the platform's key), and a verification of everything
sealed for it (the whole ledger for the platform's key)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal

from fastapi import Query
from pydantic import BaseModel, ConfigDict, Field

import ledger
from liventix.api.pages import DEFAULT_LIMIT, Limit, ListObject
from liventix.api.routing import authenticated_router
from liventix.api.unit_of_work import Uow

router = authenticated_router(["ledger"], writes=False)


class CheckpointResponse(BaseModel):
    """A checkpoint: the entries sealed in one run, hash-chained to the previous one."""

    model_config = ConfigDict(json_schema_serialization_defaults_required=True)

    object: Literal["checkpoint"] = "checkpoint"
    scope: Literal["organization", "platform"]
    org_id: uuid.UUID | None
    seq: int
    hash: str = Field(description="Hex SHA-256 (docs/ledger-integrity.md gives its input)")
    previous_hash: str | None
    entry_count: int
    cut_at: datetime = Field(description="Entries recorded before it are sealed by now")
    sealed_at: datetime


class CheckpointList(ListObject[CheckpointResponse]):
    """A page of checkpoints, by sequence."""


class MismatchResponse(BaseModel):
    """One thing that no longer matches what was sealed."""

    kind: str
    entry_id: uuid.UUID | None
    line_id: int | None
    org_id: uuid.UUID | None
    seq: int | None
    description: str


class VerificationResponse(BaseModel):
    """Every sealed entry and checkpoint recomputed: clean, or what no longer matches."""

    model_config = ConfigDict(json_schema_serialization_defaults_required=True)

    object: Literal["verification"] = "verification"
    org_id: uuid.UUID | None
    clean: bool
    entries: int
    lines: int
    checkpoints: int
    last_seq: int | None
    mismatches: list[MismatchResponse]


@router.get("/ledger/checkpoints")
def list_checkpoints(
    uow: Uow,
    starting_after: Annotated[
        int | None, Query(ge=0, description="The seq of the last checkpoint of the previous page")
    ] = None,
    limit: Limit = DEFAULT_LIMIT,
) -> CheckpointList:
    """The checkpoints of the organization's chain (the platform's chain for the platform's
    key), oldest first."""
    with uow:
        found, more = ledger.list_checkpoints(
            uow.conn, uow.org_id, starting_after=starting_after, limit=limit
        )
        return CheckpointList(
            data=[
                CheckpointResponse(
                    scope="platform" if c.org_id is None else "organization",
                    org_id=c.org_id,
                    seq=c.seq,
                    hash=c.hash,
                    previous_hash=c.previous_hash,
                    entry_count=c.entry_count,
                    cut_at=c.cut_at,
                    sealed_at=c.sealed_at,
                )
                for c in found
            ],
            has_more=more,
        )


@router.get("/ledger/verification")
def verify(
    uow: Uow,
    limit: Annotated[int, Query(ge=1, le=1000, description="At most this many mismatches")] = 100,
) -> VerificationResponse:
    """Recompute every entry sealed for the organization (the whole ledger for the
    platform's key) and its chain; list what no longer matches, earliest first."""
    with uow:
        found = ledger.verify(uow.conn, uow.org_id, limit=limit)
        return VerificationResponse(
            org_id=found.org_id,
            clean=found.clean,
            entries=found.entries,
            lines=found.lines,
            checkpoints=found.checkpoints,
            last_seq=found.last_seq,
            mismatches=[
                MismatchResponse(
                    kind=m.kind,
                    entry_id=m.entry_id,
                    line_id=m.line_id,
                    org_id=m.org_id,
                    seq=m.seq,
                    description=m.describe(),
                )
                for m in found.mismatches
            ],
        )

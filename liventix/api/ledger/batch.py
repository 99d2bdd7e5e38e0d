"""`POST /v1/entries/batch`: many entries in one request, each standing alone unless linked
(TigerBeetle's create_transfers), one result per entry.

An entry's own key is the request's Idempotency-Key and its position (`<key>#<index>`), so a
retry of the batch replays it whole (the API stores the answer under the key, as for every
POST) and, in the ledger, each posted entry replays rather than posting twice. A refused entry
is answered with the problem its single-entry route (`POST /v1/entries`) would give: the same
`type`, `status` and extension members.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field

import ledger
from liventix.api import problems
from liventix.api.ledger import schemas as m
from liventix.api.schemas import RequestModel

MAX_BATCH = 1000
"""Entries per batch request."""


class BatchEntryRequest(m.PostEntryRequest):
    """An entry of a batch; `linked` ties it to the next entry (the last may not be linked)."""

    linked: bool = False


class EntryBatchRequest(RequestModel):
    """Entries to post, each on its own unless linked."""

    entries: Annotated[list[BatchEntryRequest], Field(min_length=1, max_length=MAX_BATCH)]


class BatchItemResponse(BaseModel):
    """What became of one entry of the batch."""

    index: int
    status: Literal["posted", "replayed", "refused"]
    entry_id: uuid.UUID | None = None
    problem: dict[str, Any] | None = None
    """The problem document its single-entry route would answer (refused entries only)."""


class EntryBatchResponse(BaseModel):
    """One result per entry, in request order."""

    results: list[BatchItemResponse]


def item_key(batch_key: str, index: int) -> str:
    """The ledger's idempotency key of the batch's entry at `index`."""
    return f"{batch_key}#{index}"


def to_requests(body: EntryBatchRequest, batch_key: str) -> list[ledger.PostEntry]:
    """The ledger's requests for the batch's entries (validated by the ledger, one by one)."""
    return [entry.to_ledger(item_key(batch_key, i)) for i, entry in enumerate(body.entries)]


def item_response(result: ledger.BatchResult) -> BatchItemResponse:
    """The answer for one entry: its id, or its problem."""
    if result.error is None:
        return BatchItemResponse(index=result.index, status=result.status, entry_id=result.id)
    error = result.error
    kind = problems.problem_type_of(error) or problems.INTERNAL
    body = problems.problem_body(kind, str(error), None, dict(error.details))
    return BatchItemResponse(index=result.index, status="refused", problem=body)

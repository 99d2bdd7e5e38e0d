"""Batches of entries with TigerBeetle's `create_transfers` semantics (`post_batch`): each
entry stands alone unless linked to the next, and gets its own result.

`post_entries` (the batch that is one chain, all or nothing) is here too. A batch of standard
entries without conditions first tries the fast door,
`payments.post_batch_fast`: typed arrays, a few set-based statements for the whole batch,
taken only when every entry posts and no key was seen before. Anything else (a replay, a
conflict, a refusal, a high-volume account near its limits, reversals, conditions) goes through
`payments.post_batch(jsonb)`, which judges each chain on its own. Both store the same
fingerprint under each key as a single posting does, so a request replays the same whichever
door first took it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from uuid import UUID

from sqlalchemy import Connection

from ledger.errors import InvalidRequest, LedgerError, LinkedEntryFailed, error_from_code
from ledger.models import BatchResult, WriteResult
from ledger.requests import PostEntry, ReverseEntry, canonical_json, fingerprint
from ledger.writes import _array, _driver_row, _one_row, _write, translated_errors

_BATCH = "SELECT payments.post_batch(%s::jsonb)"
# The arrays go in psycopg's binary format (%b): its text format quotes every element (a
# pattern search per string), which cost more client CPU than the rest of building a batch.
# The lines' arrays (validated UUIDs, sides, integers, ISO 4217 codes: nothing to quote) go
# as text array literals built here, as a single posting's do (ledger.writes._array).
_FAST = (
    "SELECT payments.post_batch_fast(%s::uuid, %b::text[], %b::text[], %b::text[],"
    " %b::text[]::jsonb[], %b::text[]::timestamptz[], %b::text[], %s::int[],"
    " %s::uuid[], %s::text[], %s::bigint[], %s::text[])"
)


def post_entries(
    conn: Connection, org_id: UUID, requests: Sequence[PostEntry | ReverseEntry]
) -> list[WriteResult]:
    """Post many entries atomically, in order: all are posted or none is."""
    if requests and all(isinstance(r, PostEntry) and not r.conditions for r in requests):
        payloads = []
        for request in requests:
            payload = request.payload()
            payload["hash"] = fingerprint(payload)
            payloads.append(payload)
        ids = _fast(conn, org_id, payloads)
        if ids is not None:
            return [WriteResult(id=entry, replayed=False) for entry in ids]
    # Anything unusual (a replay, a refusal, a reversal, a condition) the long way, which
    # judges it as before: the fast door wrote nothing.
    return _write(conn, org_id, list(requests), record_failure=False)


def post_batch(
    conn: Connection,
    org_id: UUID,
    requests: Sequence[PostEntry | ReverseEntry],
    *,
    links: Sequence[bool] | None = None,
) -> list[BatchResult]:
    """Post many entries in one call, each standing alone unless linked; one result each.

    TigerBeetle's `create_transfers`: `links[i]` true links request i to request i + 1, and a
    chain of linked requests is posted together or not at all (the last request may not be
    linked). A request is posted, replayed (its key was seen with the same request), or
    refused with its typed error without failing the others; the other requests of a refused
    chain are refused with `LinkedEntryFailed` naming it. An independent request's recorded
    refusal is remembered under its key, as `post_entry`'s. `post_entries` is the batch that
    is one chain.
    """
    chains = _chains(len(requests), links)
    results: dict[int, BatchResult] = {}
    payloads: dict[int, dict[str, Any]] = {}
    keys: set[str] = set()
    refs: set[str] = set()
    for chain in chains:
        refused: dict[int, LedgerError] = {}
        for index in chain:
            try:
                payloads[index] = _batch_payload(requests[index], keys, refs)
            except LedgerError as exc:
                refused[index] = exc
        if refused:
            first = min(refused)
            for index in chain:
                payloads.pop(index, None)
                error = refused.get(index) or LinkedEntryFailed(index=first)
                results[index] = BatchResult(index=index, error=error)
    sent = sorted(payloads)
    if sent:
        sent_chains = [c for c in chains if c[0] in payloads]
        results.update(_send(conn, org_id, sent, [payloads[i] for i in sent], sent_chains))
    return [results[index] for index in range(len(requests))]


def _chains(count: int, links: Sequence[bool] | None) -> list[list[int]]:
    """The requests' indexes grouped in linked chains (a chain of one: independent)."""
    if count == 0:
        raise InvalidRequest("nothing to write")
    flags = [False] * count if links is None else [bool(x) for x in links]
    if len(flags) != count:
        raise InvalidRequest("links has one flag per request")
    if flags[-1]:
        raise InvalidRequest("the last request of a batch cannot be linked to a next one")
    chains: list[list[int]] = []
    current: list[int] = []
    for index, linked in enumerate(flags):
        current.append(index)
        if not linked:
            chains.append(current)
            current = []
    return chains


def _send(
    conn: Connection,
    org_id: UUID,
    sent: list[int],
    payloads: list[dict[str, Any]],
    chains: list[list[int]],
) -> dict[int, BatchResult]:
    """Results of the valid requests (`sent`, request indexes; `payloads` in that order):
    the fast door's when it takes the batch, else the long door's."""
    ids = _fast(conn, org_id, payloads)
    if ids is not None:
        return {index: BatchResult(index, entry) for index, entry in zip(sent, ids, strict=True)}
    position = {index: n for n, index in enumerate(sent)}
    body = {
        "org_id": str(org_id),
        "requests": payloads,
        "chains": [[position[i] for i in c] for c in chains],
    }
    with translated_errors():
        row = _one_row(conn, _BATCH, (canonical_json(body),))
    results = {}
    for index, item in zip(sent, row[0]["results"], strict=True):
        if item["status"] == "failed":
            details = dict(item["details"] or {})
            if item["code"] == LinkedEntryFailed.code:
                details["index"] = sent[int(details["index"])]
            error = error_from_code(item["code"], details)
            results[index] = BatchResult(index, replayed=item["replayed"], error=error)
        else:
            results[index] = BatchResult(index, UUID(item["id"]), replayed=item["replayed"])
    return results


def _fast(conn: Connection, org_id: UUID, payloads: list[dict[str, Any]]) -> list[UUID] | None:
    """The new entries' ids if the fast door posted every request, else None (nothing
    written): only standard entries without conditions are offered to it."""
    if any(p.get("kind") != "standard" or p.get("conditions") for p in payloads):
        return None
    entry_of: list[int] = []
    lines: list[dict[str, Any]] = []
    for number, payload in enumerate(payloads, start=1):
        entry_of.extend([number] * len(payload["lines"]))
        lines.extend(payload["lines"])
    params = (
        str(org_id),
        [p["key"] for p in payloads],
        [p["hash"] for p in payloads],
        [p["description"] for p in payloads],
        [canonical_json(p["metadata"]) if p["metadata"] else None for p in payloads],
        [p["effective_at"] for p in payloads],
        [p["external_ref"] for p in payloads],
        _array(entry_of),
        _array([line["account_id"] for line in lines]),
        _array([line["side"] for line in lines]),
        _array([line["amount"] for line in lines]),
        _array([line["currency"] for line in lines]),
    )
    with translated_errors():
        (ids,) = _driver_row(conn, _FAST, params)
    return None if ids is None else [UUID(str(i)) for i in ids]


def _batch_payload(
    request: PostEntry | ReverseEntry, keys: set[str], refs: set[str]
) -> dict[str, Any]:
    """A batch request's validated payload with its fingerprint; keys and external
    references must be unique within the batch."""
    if not isinstance(request, PostEntry | ReverseEntry):
        raise InvalidRequest("a batch holds entries and reversals only")
    payload = request.payload()
    payload["hash"] = fingerprint(payload)
    if payload["key"] in keys:
        raise InvalidRequest("each request of a batch needs its own idempotency key")
    ref = payload.get("external_ref")
    if ref and ref in refs:
        raise InvalidRequest("each entry of a batch needs its own external reference")
    keys.add(payload["key"])
    if ref:
        refs.add(ref)
    return payload

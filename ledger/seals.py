"""Tamper evidence (issue 16 item 1): content hashes of entries, sealed into hash-chained
checkpoints, and their verification.

The posting path pays nothing. `seal` (the worker's periodic step, `liventix ledger seal`)
hashes every entry recorded since its last run (the entry and its lines, in line order) and
seals them into one checkpoint per organization that has new entries and one for the
platform over those, each chained to the previous checkpoint of its chain and published
through the outbox (`ledger.checkpoint.sealed`) in the sealer's transaction, so a party
outside the database holds it. One sealer runs at a time (a transaction-level advisory lock
postings never take; another sealer answers `busy` at once, nothing waits).

Which entries a run takes is decided without a lock and without a queue: the run's cut is
the start of the oldest transaction then open in the database (read before its snapshot);
every entry recorded before the cut was committed (or rolled back) by then, and the next run
starts at this cut, so an entry committed later, even with an earlier id or time, goes into
the next checkpoint. The sealer needs READ COMMITTED and the right to see every session
(a superuser, or `GRANT pg_read_all_stats TO <owner>`).

`verify` recomputes every entry's hash from its rows now, every chain, and compares the
checkpoints with what was published; it names what no longer matches, earliest first.
The canonical forms are in migrations/sql/payments_seals.sql and docs/ledger-integrity.md.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from sqlalchemy import Connection, text

from ledger.errors import InvalidRequest
from ledger.writes import translated_errors


@dataclass(frozen=True)
class Checkpoint:
    """A checkpoint of an organization's chain (org_id) or of the platform's (None)."""

    org_id: UUID | None
    seq: int
    hash: str
    previous_hash: str | None
    entry_count: int
    cut_at: datetime
    sealed_at: datetime
    platform_seq: int


@dataclass(frozen=True)
class SealResult:
    """What one sealer run did: nothing when another sealer was running (`busy`)."""

    busy: bool
    sealed: int
    platform_seq: int | None
    checkpoints: tuple[dict[str, Any], ...]


@dataclass(frozen=True)
class Mismatch:
    """One thing that no longer matches what was sealed.

    kind: entry_missing, entry_changed (its own fields), line_changed, line_missing,
    line_added, seal_changed (the stored hashes disagree with each other), entry_not_sealed
    (recorded before the last cut yet in no checkpoint), line_without_entry,
    checkpoint_missing, checkpoint_unlinked, checkpoint_changed,
    checkpoint_differs_from_published."""

    kind: str
    entry_id: UUID | None
    line_id: int | None
    org_id: UUID | None
    seq: int | None
    detail: str | None

    def describe(self) -> str:
        """One line naming it: the entry, line or checkpoint."""
        if self.kind.startswith("checkpoint"):
            chain = "the platform's chain" if self.org_id is None else f"org {self.org_id}"
            return f"{self.kind}: checkpoint {self.seq} of {chain}"
        where = f"entry {self.entry_id}"
        if self.line_id is not None:
            where += f", line {self.line_id}"
        return f"{self.kind}: {where}" + (f" ({self.detail})" if self.detail else "")


@dataclass(frozen=True)
class Verification:
    """The result of `verify`: clean, or the mismatches found (earliest first, at most the
    limit asked), with how much was checked."""

    org_id: UUID | None
    entries: int
    lines: int
    checkpoints: int
    last_seq: int | None
    mismatches: tuple[Mismatch, ...]

    @property
    def clean(self) -> bool:
        """Whether everything sealed still matches."""
        return not self.mismatches

    @property
    def first(self) -> Mismatch | None:
        """The earliest mismatch, if any."""
        return self.mismatches[0] if self.mismatches else None


def seal(
    conn: Connection, *, limit: int | None = None, min_interval: timedelta | None = None
) -> SealResult:
    """Seal the entries recorded since the last run (at most about `limit`, whole
    timestamps at a time) on the caller's transaction, which must be READ COMMITTED; with
    `min_interval`, nothing within that time of the last checkpoint. The platform's (or the
    owner's) only."""
    if limit is not None and limit < 1:
        raise InvalidRequest("limit is at least 1")
    with translated_errors():
        answer = conn.execute(
            text("SELECT payments.seal(:limit, :every)"), {"limit": limit, "every": min_interval}
        ).scalar_one()
    return SealResult(
        busy=bool(answer["busy"]),
        sealed=int(answer["sealed"]),
        platform_seq=answer.get("platform_seq"),
        checkpoints=tuple(answer["checkpoints"]),
    )


def verify(conn: Connection, org_id: UUID | None = None, *, limit: int = 100) -> Verification:
    """Recompute every sealed entry of `org_id` (None: the whole ledger, the platform's
    chain included; the platform's or the owner's only) and its chain; answer what no
    longer matches, earliest first."""
    if not 1 <= limit <= 10_000:
        raise InvalidRequest("limit is 1 to 10000")
    org = None if org_id is None else str(org_id)
    with translated_errors():
        rows = conn.execute(
            text(
                "SELECT kind, entry_id, line_id, org_id, seq, detail"
                " FROM payments.verify_seals(CAST(:org AS uuid), :limit) ORDER BY ord"
            ),
            {"org": org, "limit": limit},
        ).all()
        counts = conn.execute(
            text("SELECT * FROM payments.seal_counts(CAST(:org AS uuid))"), {"org": org}
        ).one()
    return Verification(
        org_id=org_id,
        entries=int(counts.entries),
        lines=int(counts.lines),
        checkpoints=int(counts.checkpoints),
        last_seq=None if counts.last_seq is None else int(counts.last_seq),
        mismatches=tuple(
            Mismatch(
                kind=r.kind,
                entry_id=r.entry_id,
                line_id=None if r.line_id is None else int(r.line_id),
                org_id=r.org_id,
                seq=None if r.seq is None else int(r.seq),
                detail=r.detail,
            )
            for r in rows
        ),
    )


def list_checkpoints(
    conn: Connection,
    org_id: UUID | None,
    *,
    starting_after: int | None = None,
    limit: int = 100,
) -> tuple[list[Checkpoint], bool]:
    """The checkpoints of `org_id`'s chain (None: the platform's), by sequence, after
    `starting_after`; and whether more follow. Row-level security applies."""
    if not 1 <= limit <= 1000:
        raise InvalidRequest("limit is 1 to 1000")
    rows = conn.execute(
        text("""
            SELECT org_id, seq, encode(hash, 'hex') AS hash,
                   encode(previous_hash, 'hex') AS previous_hash, entry_count, cut_at,
                   sealed_at, platform_seq
              FROM payments.checkpoints
             WHERE org_id IS NOT DISTINCT FROM CAST(:org AS uuid) AND seq > :after
             ORDER BY seq LIMIT :n
        """),
        {
            "org": None if org_id is None else str(org_id),
            "after": starting_after or 0,
            "n": limit + 1,
        },
    ).all()
    found = [
        Checkpoint(
            org_id=r.org_id,
            seq=int(r.seq),
            hash=r.hash,
            previous_hash=r.previous_hash,
            entry_count=int(r.entry_count),
            cut_at=r.cut_at,
            sealed_at=r.sealed_at,
            platform_seq=int(r.platform_seq),
        )
        for r in rows[:limit]
    ]
    return found, len(rows) > limit

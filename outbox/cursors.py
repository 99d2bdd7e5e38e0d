"""The inbox's cursors (`messaging.inbox_cursors`): how far the inbox has read a source's own
list of its events (Stripe's `GET /v1/events`), for events whose delivery never came.

A source's list is read newest first, page by page, from a start in the source's clock (its
events' `created`, Unix seconds). Each page is stored in the inbox with the cursor moved in
the same transaction (`walk_cursor`), so a read that fails half-way resumes where it got
(`InboxCursor.walk`); a read that reached its start finishes (`finish_cursor`): every event
created before the newest it saw is in the inbox (`caught_up_to`), but for those the list
shows late, which the next read takes again with an overlap. `claim_cursor` begins a read at
most once per interval, whichever worker asks (an operator's read: at once); each page stored
renews it (a read under way keeps the workers off; a dead reader's is taken over an interval
later). One read at a time moves a cursor: a claim hands it to one read (its `lease`, the
claim's `read_at`), and a read that was taken over (by an operator's read beside it, or by a
worker that found it silent an interval) moves it no more (`walk_cursor` and `finish_cursor`
answer None): two reads' pages never mix in one walk. The owner's table (the worker runs as
the owner); every function runs on the caller's transaction.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Connection, Row, text

_ENSURE = text("""
    INSERT INTO messaging.inbox_cursors (source) VALUES (:source)
    ON CONFLICT (source) DO NOTHING
""")

# A read begins if none began within :every (a worker's interval; zero: at once). The row's
# lock orders two workers: the second re-reads read_at after the first committed, and passes.
# read_at is the read's lease: strictly later than the one before (so no two reads share one)
# and by the clock, not the transaction's start (a claim that waited on the row's lock sees the
# read it waited for as begun before it, never after).
_CLAIM = text("""
    UPDATE messaging.inbox_cursors
       SET read_at = greatest(clock_timestamp(), read_at + interval '1 microsecond')
     WHERE source = :source AND read_at <= clock_timestamp() - CAST(:every AS interval)
    RETURNING source, caught_up_to, walk_from, walk_below, walk_top, read_at
""")

# Each page stored renews read_at, if the read still holds the cursor: a read under way is
# one begun just now, so no worker begins one beside it; a reader that died stops renewing,
# and an interval later another worker goes on from where it got. The walk is this read's
# alone (its top includes the walk it resumed): never merged with another read's.
_WALK = text("""
    UPDATE messaging.inbox_cursors
       SET read_at = greatest(clock_timestamp(), read_at + interval '1 microsecond'),
           walk_from = :start,
           walk_below = :below,
           walk_top = :top
     WHERE source = :source AND read_at = :lease
    RETURNING source, caught_up_to, walk_from, walk_below, walk_top, read_at
""")

# A finished read moves caught_up_to only if it started at or before it (a read from a later
# start, an operator's --since, leaves the gap before it unread); never backwards. Only the
# read holding the cursor finishes it.
_FINISH = text("""
    UPDATE messaging.inbox_cursors
       SET caught_up_to = CASE
               WHEN CAST(:top AS bigint) IS NULL THEN caught_up_to
               WHEN caught_up_to IS NULL OR :start <= caught_up_to
               THEN greatest(caught_up_to, :top)
               ELSE caught_up_to END,
           walk_from = NULL, walk_below = NULL, walk_top = NULL
     WHERE source = :source AND read_at = :lease
    RETURNING source, caught_up_to, walk_from, walk_below, walk_top, read_at
""")


@dataclass(frozen=True)
class Walk:
    """A read that has not reached its start: it began at `start`, has stored every event
    down to `below` (the oldest `created` stored so far), the newest being `top`."""

    start: int
    below: int
    top: int


@dataclass(frozen=True)
class InboxCursor:
    """How far the inbox has read a source's own list of events."""

    source: str
    caught_up_to: int | None
    """Every event created before it is in the inbox (None: no read has finished yet)."""
    walk: Walk | None
    """The unfinished read to go on with, if any."""
    lease: datetime
    """The read holding the cursor (its claim's or last page's `read_at`): pass it back to
    `walk_cursor` and `finish_cursor`."""


def _cursor(
    row: Row[tuple[str, int | None, int | None, int | None, int | None, datetime]],
) -> InboxCursor:
    walk = (
        None
        if row.walk_from is None or row.walk_below is None or row.walk_top is None
        else Walk(int(row.walk_from), int(row.walk_below), int(row.walk_top))
    )
    caught = None if row.caught_up_to is None else int(row.caught_up_to)
    return InboxCursor(str(row.source), caught, walk, row.read_at)


def claim_cursor(conn: Connection, source: str, every: timedelta) -> InboxCursor | None:
    """Begin a read of `source`'s list if none began within `every` (zero: at once); the
    cursor to read from, else None. Commit before calling the source."""
    conn.execute(_ENSURE, {"source": source})
    row = conn.execute(_CLAIM, {"source": source, "every": every}).first()
    return None if row is None else _cursor(row)


def walk_cursor(
    conn: Connection, source: str, *, lease: datetime, start: int, below: int, top: int
) -> InboxCursor | None:
    """Note a page stored by an unfinished read from `start` holding the cursor (`lease`):
    every event down to `below` stored, `top` the read's newest (the walk it resumed
    included). The cursor as it now stands (its new lease), or None: another read took the
    cursor over, nothing noted."""
    row = conn.execute(
        _WALK, {"source": source, "lease": lease, "start": start, "below": below, "top": top}
    ).first()
    return None if row is None else _cursor(row)


def finish_cursor(
    conn: Connection, source: str, *, lease: datetime, start: int, top: int | None
) -> InboxCursor | None:
    """Note a read from `start` holding the cursor (`lease`) that reached it, `top` the newest
    event it stored (None: none, or a read that must not move the cursor). The cursor as it
    now stands, or None: another read took the cursor over, nothing noted."""
    row = conn.execute(
        _FINISH, {"source": source, "lease": lease, "start": start, "top": top}
    ).first()
    return None if row is None else _cursor(row)

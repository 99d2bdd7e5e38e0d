"""The inbox's cursors (`messaging.inbox_cursors`): how far the inbox has read a source's own
list of its events (Stripe's `GET /v1/events`), for events whose delivery never came.

A source's list is read newest first, page by page, from a start in the source's clock (its
events' `created`, Unix seconds). Each page is stored in the inbox with the cursor moved in
the same transaction (`walk_cursor`), so a read that fails half-way resumes where it got
(`InboxCursor.walk`); a read that reached its start finishes (`finish_cursor`): every event
created before the newest it saw is in the inbox (`caught_up_to`), but for those the list
shows late, which the next read takes again with an overlap. `claim_cursor` begins a read at
most once per interval, whichever worker asks; each page stored renews it (a read under way
keeps the others off; a dead reader's is taken over an interval later). The owner's table
(the worker runs as the owner); every function runs on the caller's transaction.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import Connection, Row, text

_ENSURE = text("""
    INSERT INTO messaging.inbox_cursors (source) VALUES (:source)
    ON CONFLICT (source) DO NOTHING
""")

# A read begins if none began within :every (a worker's interval; zero: at once). The row's
# lock orders two workers: the second re-reads read_at after the first committed, and passes.
_CLAIM = text("""
    UPDATE messaging.inbox_cursors SET read_at = now()
     WHERE source = :source AND read_at <= now() - CAST(:every AS interval)
    RETURNING source, caught_up_to, walk_from, walk_below, walk_top
""")

# Each page stored renews read_at: a read under way is one begun just now, so no other
# worker begins one beside it; a reader that died stops renewing, and an interval later
# another worker goes on from where it got.
_WALK = text("""
    UPDATE messaging.inbox_cursors
       SET read_at = now(),
           walk_from = :start,
           walk_below = :below,
           walk_top = CASE WHEN walk_from IS NOT DISTINCT FROM :start
                           THEN greatest(walk_top, :top) ELSE :top END
     WHERE source = :source
""")

# A finished read moves caught_up_to only if it started at or before it (a read from a later
# start, an operator's --since, leaves the gap before it unread); never backwards.
_FINISH = text("""
    UPDATE messaging.inbox_cursors
       SET caught_up_to = CASE
               WHEN CAST(:top AS bigint) IS NULL THEN caught_up_to
               WHEN caught_up_to IS NULL OR :start <= caught_up_to
               THEN greatest(caught_up_to, :top)
               ELSE caught_up_to END,
           walk_from = NULL, walk_below = NULL, walk_top = NULL
     WHERE source = :source
    RETURNING caught_up_to
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


def _cursor(row: Row[tuple[str, int | None, int | None, int | None, int | None]]) -> InboxCursor:
    walk = (
        None
        if row.walk_from is None or row.walk_below is None or row.walk_top is None
        else Walk(int(row.walk_from), int(row.walk_below), int(row.walk_top))
    )
    caught = None if row.caught_up_to is None else int(row.caught_up_to)
    return InboxCursor(str(row.source), caught, walk)


def claim_cursor(conn: Connection, source: str, every: timedelta) -> InboxCursor | None:
    """Begin a read of `source`'s list if none began within `every` (zero: at once); the
    cursor to read from, else None. Commit before calling the source."""
    conn.execute(_ENSURE, {"source": source})
    row = conn.execute(_CLAIM, {"source": source, "every": every}).first()
    return None if row is None else _cursor(row)


def walk_cursor(conn: Connection, source: str, *, start: int, below: int, top: int) -> None:
    """Note a page stored by an unfinished read from `start`: every event down to `below`
    stored, the page's newest `top` (the read's newest kept)."""
    conn.execute(_WALK, {"source": source, "start": start, "below": below, "top": top})


def finish_cursor(conn: Connection, source: str, *, start: int, top: int | None) -> int | None:
    """Note a read from `start` that reached it, `top` the newest event it stored (None:
    none); returns `caught_up_to` as it now stands."""
    row = conn.execute(_FINISH, {"source": source, "start": start, "top": top}).first()
    return None if row is None or row.caught_up_to is None else int(row.caught_up_to)

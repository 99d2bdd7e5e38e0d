"""The backlog: how much waits in the outbox (deliveries pending or being delivered, by
channel) and in the inbox (events not handled yet, by source), and the age of the oldest.

Counts only, through `messaging.backlog()`, which runs with its owner's rights: the
application's roles may not read the inbox, yet the metrics and the demo's waits need to know
how much is left.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Connection, text

_BACKLOG = text("SELECT queue, channel, pending, oldest_age_s FROM messaging.backlog()")


@dataclass(frozen=True)
class Backlog:
    """What waits in one queue (`outbox` or `inbox`) on one channel (or inbox source)."""

    queue: str
    channel: str
    pending: int
    oldest_age_s: float


def backlog(conn: Connection) -> list[Backlog]:
    """What waits, per queue and channel; a queue with nothing waiting has no row."""
    return [
        Backlog(r.queue, r.channel, int(r.pending), float(r.oldest_age_s))
        for r in conn.execute(_BACKLOG)
    ]


def waiting(conn: Connection) -> int:
    """How many deliveries and inbox events are still to be done, all queues together."""
    return sum(b.pending for b in backlog(conn))

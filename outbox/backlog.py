"""The backlog: how much waits in the outbox (deliveries pending or being delivered, by
channel) and in the inbox (events not handled yet, by source), and the age of the oldest;
inbox events put off by a transient database failure counted apart (`deferred`), with the
age of the oldest of them.

Counts only, through `messaging.backlog()`, which runs with its owner's rights: the
application's roles may not read the inbox, yet the metrics and the demo's waits need to know
how much is left.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Connection, text

_BACKLOG = text(
    "SELECT queue, channel, pending, oldest_age_s, deferred, deferred_oldest_age_s"
    " FROM messaging.backlog()"
)


@dataclass(frozen=True)
class Backlog:
    """What waits in one queue (`outbox` or `inbox`) on one channel (or inbox source)."""

    queue: str
    channel: str
    pending: int
    """Deliveries pending or being delivered; inbox events never tried or tried and failed
    (not the deferred), the backlog proper."""
    oldest_age_s: float
    """The age of the oldest of `pending` (0 when none)."""
    deferred: int = 0
    """Inbox events put off by a transient database failure only (a deadlock, a
    serialization failure, a lock not available: attempts 0, deferrals > 0), due again
    within seconds, as the outbox health report counts them; 0 for the outbox."""
    deferred_oldest_age_s: float = 0.0
    """The age of the oldest of `deferred` (0 when none): an event deferred again and again
    is not in `oldest_age_s`, and shows here."""


def backlog(conn: Connection) -> list[Backlog]:
    """What waits, per queue and channel; a queue with nothing waiting has no row."""
    return [
        Backlog(
            r.queue,
            r.channel,
            int(r.pending),
            float(r.oldest_age_s),
            int(r.deferred),
            float(r.deferred_oldest_age_s),
        )
        for r in conn.execute(_BACKLOG)
    ]


def waiting(conn: Connection) -> int:
    """How many deliveries and inbox events are still to be done, all queues together (the
    deferred included)."""
    return sum(b.pending + b.deferred for b in backlog(conn))

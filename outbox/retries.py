"""When to try a failed delivery or inbox event again (pure): the schedule, jitter and
Retry-After (`RetryPolicy`: the worker's, `WorkerSettings.retry`, for webhooks, e-mails and
inbox events; a task may register its own with `register_task(..., retry=)`, used for its
deliveries, looked up by the message's type when one fails); and which failures are
transient (`transient_sqlstate`): a deadlock, a serialization failure or a lock not
available is the server answering that this try lost a race, nothing wrong with the work, so
it is tried again soon without counting as an attempt toward the dead letter (within a
bound: `RetryPolicy.deferral`); which say an outside service is busy (`TransientFailure`,
tested for with `transient`: Stripe's 429), so an inbox event is deferred a few seconds,
jittered, at least its Retry-After, not counted either (`RetryPolicy.busy_deferral`: past its
schedule a minute at a time, for a day from the event's receipt); and which are permanent
(`PermanentFailure`, tested for with `permanent`):
no retry can mend them, so an inbox event, or a task's delivery, ends dead at once."""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from email.utils import parsedate_to_datetime

# deadlock_detected, serialization_failure, lock_not_available: a try that lost a race (or
# waited its lock_timeout) is run again in a transaction of its own, not counted as an attempt.
TRANSIENT_SQLSTATES = frozenset({"40P01", "40001", "55P03"})

# Waits after the 1st, 2nd, ... transient failure of one event; past the last, a transient
# failure counts as an attempt again (so the bound: about 4 minutes of deferrals).
DEFAULT_DEFERRALS: tuple[float, ...] = (0.2, 0.5, 1, 2, 5, 10, 30, 60, 60, 60)

# Waits after the 1st, 2nd, ... deferral of one event for a busy service (`TransientFailure`:
# Stripe's 429): seconds, growing, so a burst that met a rate limit comes back spread out
# (jittered by half either way) rather than all at once. Past the last, the last again (a
# minute), never counted, for as long as the event is younger than `RetryPolicy.busy_for`
# (a day): a rate limit ends, and a paid buyer's event counted onto the webhooks' schedule
# would wait 5 min, 30 min, ... behind it (session 39, Review3's M1). Only an event busy for
# longer is counted, so a service that never stops answering 429 still ends it dead.
DEFAULT_BUSY_DEFERRALS: tuple[float, ...] = (1, 2, 4, 8, 15, 30, 60, 60, 60, 60)
BUSY_JITTER = 0.5

# Svix's schedule: after the first failure wait 5 s, then 5 min, 30 min, 2 h, 5 h, 10 h, 10 h.
DEFAULT_SCHEDULE: tuple[float, ...] = (5, 300, 1800, 7200, 18000, 36000, 36000)


@dataclass(frozen=True)
class RetryPolicy:
    """A schedule of waits (seconds) between attempts, with +/- jitter as a fraction."""

    schedule: Sequence[float] = DEFAULT_SCHEDULE
    jitter: float = 0.2
    max_retry_after: float = 86_400
    deferrals: Sequence[float] = DEFAULT_DEFERRALS
    """Waits (seconds, jittered) after each transient failure that is not counted."""
    busy_deferrals: Sequence[float] = DEFAULT_BUSY_DEFERRALS
    """Waits (seconds, jittered by `BUSY_JITTER`) after each deferral for a busy service
    (`TransientFailure`), not counted; past the last, the last again while the event is
    younger than `busy_for`."""
    busy_for: float = 86_400
    """Seconds since an event was received during which a busy service defers it uncounted;
    after, its busy failures count as attempts (the schedule's waits)."""

    @property
    def max_attempts(self) -> int:
        """The first attempt plus one per scheduled wait."""
        return len(self.schedule) + 1

    def longest(self) -> float:
        """Seconds from the first attempt to the last at the jitter's longest waits (no
        Retry-After): how long a delivery may be retried before it is dead."""
        return sum(float(w) for w in self.schedule) * (1 + self.jitter)

    def delay(
        self, attempts: int, retry_after: float | None = None, rng: random.Random | None = None
    ) -> float | None:
        """Seconds to wait after `attempts` failed attempts; None when the delivery is dead."""
        if attempts >= self.max_attempts:
            return None
        base = float(self.schedule[attempts - 1])
        r = rng or random
        wait = base * (1 + r.uniform(-self.jitter, self.jitter))
        if retry_after is not None:
            wait = max(wait, min(retry_after, self.max_retry_after))
        return wait

    def deferral(self, deferrals: int, rng: random.Random | None = None) -> float | None:
        """Seconds to wait after the `deferrals`-th transient failure (1-based), not counted
        as an attempt; None past the bound (count it as a failed attempt)."""
        if deferrals < 1 or deferrals > len(self.deferrals):
            return None
        r = rng or random
        return float(self.deferrals[deferrals - 1]) * (1 + r.uniform(-self.jitter, self.jitter))

    def busy_deferral(
        self, deferrals: int, retry_after: float | None = None, rng: random.Random | None = None
    ) -> float | None:
        """Seconds to wait after the `deferrals`-th deferral (1-based) for a busy service,
        not counted as an attempt: the busy schedule's wait (past its last, the last again),
        jittered by half either way (a burst's events come back spread out), at least
        `retry_after` (bounded by `max_retry_after`); None when there is no busy schedule."""
        if deferrals < 1 or not self.busy_deferrals:
            return None
        r = rng or random
        wait = float(self.busy_deferrals[min(deferrals, len(self.busy_deferrals)) - 1]) * (
            1 + r.uniform(-BUSY_JITTER, BUSY_JITTER)
        )
        if retry_after is not None:
            wait = max(wait, min(retry_after, self.max_retry_after))
        return wait


def transient_sqlstate(exc: BaseException) -> str | None:
    """The SQLSTATE of a transient failure (`TRANSIENT_SQLSTATES`) that `exc` is or was
    raised from (its `__cause__`, however deep: a handler may translate the driver's error
    with `raise ... from`), else None. Not an error raised while handling one (its
    `__context__` only): that is another failure."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        for candidate in (current, getattr(current, "orig", None)):
            code = getattr(candidate, "sqlstate", None)
            if isinstance(code, str) and code in TRANSIENT_SQLSTATES:
                return code
        current = current.__cause__
    return None


class TransientFailure:
    """An outside service saying it is busy, try again soon (a mixin for a package's own
    error, as `PermanentFailure` is for "never": the gateway's for Stripe's 429). An inbox
    event whose handler raises one, or raises from one, is deferred (`RetryPolicy.
    busy_deferral`), not counted as an attempt (for `RetryPolicy.busy_for`). `retry_after`
    (seconds), when the service said when, is the least wait. Test for it with `transient(exc)`."""

    retry_after: float | None = None


def transient(exc: BaseException) -> TransientFailure | None:
    """The `TransientFailure` `exc` is, or was raised from (its `__cause__`, however deep),
    else None."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if isinstance(current, TransientFailure):
            return current
        seen.add(id(current))
        current = current.__cause__
    return None


class PermanentFailure:
    """A failure no retry can mend (a mixin for a package's own error): an inbox event whose
    handler (its look, prepare or handle) raises one, or raises from one, ends dead at once,
    its error recorded, without going through the schedule; so does a task's delivery whose
    task raises one (`outbox.senders.run_task`). Not an exception of its own: an
    error mixes it in beside its package's base (so it is never an API error by itself).
    Being no exception class, it cannot be caught (`except PermanentFailure` raises
    TypeError when an error reaches it): test for it with `permanent(exc)`, on outbox's face,
    which also sees one an error was raised from."""


def permanent(exc: BaseException) -> bool:
    """Whether `exc` is, or was raised from (its `__cause__`, however deep), a
    `PermanentFailure`."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if isinstance(current, PermanentFailure):
            return True
        seen.add(id(current))
        current = current.__cause__
    return False


def parse_retry_after(value: str | None, now_epoch: float) -> float | None:
    """Seconds from a Retry-After header (delta-seconds or an HTTP date), or None."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - now_epoch)

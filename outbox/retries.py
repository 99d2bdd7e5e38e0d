"""When to try a failed delivery again (pure): the schedule, jitter and Retry-After."""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from email.utils import parsedate_to_datetime

# Svix's schedule: after the first failure wait 5 s, then 5 min, 30 min, 2 h, 5 h, 10 h, 10 h.
DEFAULT_SCHEDULE: tuple[float, ...] = (5, 300, 1800, 7200, 18000, 36000, 36000)


@dataclass(frozen=True)
class RetryPolicy:
    """A schedule of waits (seconds) between attempts, with +/- jitter as a fraction."""

    schedule: Sequence[float] = DEFAULT_SCHEDULE
    jitter: float = 0.2
    max_retry_after: float = 86_400

    @property
    def max_attempts(self) -> int:
        """The first attempt plus one per scheduled wait."""
        return len(self.schedule) + 1

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

"""Stripe's weather, for fault injection: a latency on every answer, a share of
PaymentIntent creations that fail as in an outage (500 `api_error`, nothing created) and a
share that do the work and then hang past the client's timeout (the answer is lost), and
answers lost on the way back (`lose_next_response`), and lists (`GET /v1/events`) that fail
or hang from a given page on (`fail_list`), and Stripe's rate limit (`rate_limit`: a number
of calls, or a share of them, answered 429 as Stripe does, nothing done). Which request
fails is drawn from the seed, the idempotency key and the attempt's number under that key:
the same on every run, whatever the threads' order. Settable at construction or at any moment."""

from __future__ import annotations

import random
import threading
from typing import Literal

RATE_LIMIT_MESSAGE = (
    "Too many requests hit the API too quickly. We recommend an exponential backoff of your "
    "requests."
)
"""Stripe's message for a 429 `rate_limit` (its error object's type: invalid_request_error)."""

LOCK_TIMEOUT_MESSAGE = (
    "This object cannot be accessed right now because another API request or Stripe process "
    "is currently accessing it. If you see this error intermittently, retry the request."
)
"""Stripe's message for a 429 `lock_timeout` (an object another request holds)."""

HANG_SECONDS = 30.0
"""How long a hanging request hangs: beyond any client's timeout (the gateway's is shorter)."""


class Weather:
    """The faults of a stand-in account, and what its HTTP server is doing (requests in
    flight, the most at once)."""

    def __init__(
        self,
        *,
        latency_ms: float = 0.0,
        fail_rate: float = 0.0,
        hang_rate: float = 0.0,
        hang_seconds: float = HANG_SECONDS,
        seed: int = 0,
    ) -> None:
        self.latency_ms = latency_ms
        """Every answer over HTTP comes this many milliseconds after the request."""
        self.fail_rate = fail_rate
        """The share of PaymentIntent creations answered 500 `api_error`, creating nothing."""
        self.hang_rate = hang_rate
        """The share of PaymentIntent creations that create and then hang `hang_seconds`."""
        self.hang_seconds = hang_seconds
        self.seed = seed
        self._attempts: dict[str, int] = {}
        self._lose: set[str] = set()
        # What the HTTP server is doing: requests inside it now, and the most at once.
        self._flight = threading.Lock()
        self.in_flight = 0
        self.max_in_flight = 0
        self.request_count = 0
        self.injected: dict[str, int] = {"fail": 0, "hang": 0}
        # Per listed path: [answers still to go through, failures left, hang instead].
        self._list_faults: dict[str, list[int]] = {}
        # Stripe's rate limit (`rate_limit`): calls still to refuse, the share refused after
        # them, the code, Stripe-Should-Retry and Retry-After to answer, the paths it covers.
        self._limit_times = 0
        self._limit_share = 0.0
        self._limit_code = "rate_limit"
        self._limit_should_retry: bool | None = None
        self._limit_retry_after: int | None = None
        self._limit_prefix = "/v1/"
        self._limit_calls = 0
        self.limited: list[tuple[str, str]] = []
        """Each call refused 429 (method, path), in order."""

    def entered(self) -> None:
        """A request came in (counted for `in_flight` and `max_in_flight`)."""
        with self._flight:
            self.request_count += 1
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)

    def left(self) -> None:
        """A request was answered (or given up)."""
        with self._flight:
            self.in_flight -= 1

    def lose_next_response(self, path: str) -> None:
        """The next POST to `path` takes effect, then the connection drops unanswered."""
        with self._flight:
            self._lose.add(path)

    def loses(self, path: str) -> bool:
        """Whether this POST's answer is lost (once per `lose_next_response`)."""
        with self._flight:
            if path in self._lose:
                self._lose.discard(path)
                return True
            return False

    def fail_list(self, path: str, *, after: int = 0, times: int = 1, hang: bool = False) -> None:
        """The next GETs of a list (`path`: `/v1/events`), once `after` more have been
        answered, fail `times` times: 500 `api_error` as in an outage, or (`hang`) hang
        `hang_seconds` before answering, past the client's timeout."""
        with self._flight:
            self._list_faults[path] = [after, times, int(hang)]

    def list_fault(self, path: str) -> Literal["fail", "hang"] | None:
        """Whether this GET of the list at `path` fails, hangs, or goes through
        (`fail_list`)."""
        with self._flight:
            planned = self._list_faults.get(path)
            if planned is None:
                return None
            if planned[0] > 0:
                planned[0] -= 1
                return None
            planned[1] -= 1
            if planned[1] <= 0:
                del self._list_faults[path]
            verdict: Literal["fail", "hang"] = "hang" if planned[2] else "fail"
            self.injected[verdict] += 1
            return verdict

    def rate_limit(
        self,
        *,
        times: int = 0,
        share: float = 0.0,
        code: Literal["rate_limit", "lock_timeout"] = "rate_limit",
        should_retry: bool | None = None,
        retry_after: int | None = None,
        prefix: str = "/v1/",
    ) -> None:
        """Answer calls whose path starts with `prefix` 429 as Stripe does when the account
        is over its rate limit (`rate_limit`) or an object is held by another request
        (`lock_timeout`), doing nothing: the next `times` calls, then a `share` of them
        (drawn from the seed and the call's number among those covered: the same run of
        calls meets the same refusals). `should_retry` sends `Stripe-Should-Retry` (true:
        the library retries by itself), `retry_after` a `Retry-After` (Stripe sends none:
        for the client's handling of one). `rate_limit()` with no argument lifts it."""
        with self._flight:
            self._limit_times = times
            self._limit_share = share
            self._limit_code = code
            self._limit_should_retry = should_retry
            self._limit_retry_after = retry_after
            self._limit_prefix = prefix
            self._limit_calls = 0

    def rate_limited(self, method: str, path: str) -> tuple[str, str, dict[str, str]] | None:
        """Whether this call is refused 429 (`rate_limit`): its code, message and the extra
        headers to answer with; None when it goes through."""
        with self._flight:
            if not path.startswith(self._limit_prefix):
                return None
            if self._limit_times <= 0 and self._limit_share <= 0:
                return None
            self._limit_calls += 1
            if self._limit_times > 0:
                self._limit_times -= 1
            else:
                roll = random.Random(f"{self.seed}:429:{self._limit_calls}").random()
                if roll >= self._limit_share:
                    return None
            self.limited.append((method, path))
            self.injected["rate_limit"] = self.injected.get("rate_limit", 0) + 1
            headers: dict[str, str] = {}
            if self._limit_should_retry is not None:
                headers["Stripe-Should-Retry"] = "true" if self._limit_should_retry else "false"
            if self._limit_retry_after is not None:
                headers["Retry-After"] = str(self._limit_retry_after)
            code = self._limit_code
        message = RATE_LIMIT_MESSAGE if code == "rate_limit" else LOCK_TIMEOUT_MESSAGE
        return code, message, headers

    def fault(self, idempotency_key: str) -> Literal["fail", "hang"] | None:
        """Whether this attempt at creating a PaymentIntent under `idempotency_key` fails,
        hangs, or goes through: drawn from (seed, key, attempt number), so the same run of
        requests meets the same faults whatever the order its threads run in."""
        with self._flight:
            attempt = self._attempts.get(idempotency_key, 0) + 1
            self._attempts[idempotency_key] = attempt
        fail, hang = self.fail_rate, self.hang_rate
        if fail <= 0 and hang <= 0:
            return None
        roll = random.Random(f"{self.seed}:{idempotency_key}:{attempt}").random()
        verdict: Literal["fail", "hang"] | None = (
            "fail" if roll < fail else "hang" if roll < fail + hang else None
        )
        if verdict is not None:
            with self._flight:
                self.injected[verdict] += 1
        return verdict

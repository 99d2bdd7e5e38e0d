"""Stripe's weather, for fault injection: a latency on every answer, a share of
PaymentIntent creations that fail as in an outage (500 `api_error`, nothing created) and a
share that do the work and then hang past the client's timeout (the answer is lost), and
answers lost on the way back (`lose_next_response`), and lists (`GET /v1/events`) that fail
or hang from a given page on (`fail_list`). Which request fails is drawn from the
seed, the idempotency key and the attempt's number under that key: the same on every run,
whatever the threads' order. Settable at construction or at any moment."""

from __future__ import annotations

import random
import threading
from typing import Literal

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

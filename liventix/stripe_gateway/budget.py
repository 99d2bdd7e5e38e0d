"""Stripe's rate limit from our side: this process's budget of calls a second (`Budget`, a
token bucket every call to Stripe takes a token from before it is sent, its library retries
included) and the typed "Stripe is busy" failure (`StripeBusy`): Stripe's 429 (`rate_limit`,
and `lock_timeout`), or a call that would wait too long for a token.

Stripe limits an account to ~100 calls a second in live mode and 25 in test mode (some
endpoints lower). A 429 is not retried by the library (unless Stripe says
`Stripe-Should-Retry: true`); `StripeBusy` mixes in `outbox.TransientFailure`, so the inbox
defers such an event seconds, not counting an attempt, and still is a `stripe.RateLimitError`
(the API's 503 with Retry-After, every `except stripe.StripeError`). The budget keeps a worker
from causing the 429s in the first place: a waiting call holds no transaction (the gateway
is called with none open), only its thread."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import stripe

import outbox

# Stripe's documented defaults (calls a second per account), and this process's share of
# them when LIVENTIX_STRIPE_MAX_RPS is not set: the usual deployment is three processes (two
# workers and the API), so 30 each keeps it at 90 of live mode's 100, and 8 each at 24 of test
# mode's 25. A stand-in of our own (an api_base set) has no budget unless one is asked for.
LIVE_MAX_RPS = 30.0
TEST_MAX_RPS = 8.0


def default_max_rps(api_key: str, api_base: str | None) -> float:
    """The budget (calls a second; 0: none) for a process with this key and API base when
    none is configured: none for a stand-in, live or test mode's share for Stripe's."""
    if api_base is not None:
        return 0.0
    return TEST_MAX_RPS if "_test_" in api_key else LIVE_MAX_RPS


class StripeBusy(stripe.RateLimitError, outbox.TransientFailure):
    """Stripe is busy: it answered 429 (`rate_limit`, `lock_timeout`), or this process's
    budget would have kept the call waiting too long. Try again soon (`retry_after`
    seconds at least, when known): no attempt is counted for it by the inbox."""

    def __init__(
        self,
        message: str,
        *,
        retry_after: float | None = None,
        cause: stripe.RateLimitError | None = None,
        code: str = "rate_limit",
    ) -> None:
        if cause is None:
            super().__init__(message, http_status=429, code=code)
        else:
            super().__init__(
                message,
                cause.http_body,
                cause.http_status,
                cause.json_body,
                dict(cause.headers or {}),
                code,
            )
            self.error = cause.error
        self.retry_after = retry_after

    @classmethod
    def of(cls, error: stripe.RateLimitError) -> StripeBusy:
        """Stripe's 429 as the gateway raises it (with its Retry-After, if Stripe sent one)."""
        headers: Any = error.headers or {}
        raw = next((v for k, v in headers.items() if k.lower() == "retry-after"), None)
        retry_after = outbox.parse_retry_after(raw, time.time()) if raw else None
        # The library builds a 429's error without its code: it is in Stripe's error object.
        body: Any = error.json_body if isinstance(error.json_body, dict) else {}
        said = body.get("error") if isinstance(body.get("error"), dict) else {}
        code = str(error.code or said.get("code") or "rate_limit")
        return cls(
            f"Stripe is busy ({code}): {error.user_message or error}",
            retry_after=retry_after,
            cause=error,
            code=code,
        )


class Budget:
    """A token bucket: `rate` calls a second, up to `burst` at once after a quiet spell.
    `take()` returns once a token is this caller's (sleeping its turn, holding no lock), or
    raises `StripeBusy` when its turn is more than `max_wait` seconds away (the token given
    back). The clock and the sleep are injectable (tests count tokens, never time)."""

    def __init__(
        self,
        rate: float,
        *,
        burst: float | None = None,
        max_wait: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if rate <= 0:
            raise ValueError("a budget's rate is a positive number of calls a second")
        self.rate = rate
        # A tenth of a second's calls at once: over any window of w seconds, at most
        # rate * w + burst calls are sent.
        self.burst = burst if burst is not None else max(1.0, rate / 10)
        self.max_wait = max_wait
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._tokens = self.burst
        self._at = clock()
        self.granted = 0
        """Tokens handed out (calls let through), for tests and metrics."""
        self.waited = 0
        """Of them, those that had to wait their turn."""
        self.refused = 0
        """Calls refused with `StripeBusy` (their turn too far away)."""

    def take(self) -> None:
        """Wait for a token (see the class)."""
        with self._lock:
            now = self._clock()
            self._tokens = min(self.burst, self._tokens + (now - self._at) * self.rate)
            self._at = now
            wait = (1 - self._tokens) / self.rate if self._tokens < 1 else 0.0
            if wait > self.max_wait:
                self.refused += 1
                raise StripeBusy(
                    f"this process's Stripe budget ({self.rate:g} calls/s) is spent for the "
                    f"next {wait:.1f} s",
                    retry_after=wait,
                )
            # The token is this caller's now: later callers queue behind it.
            self._tokens -= 1
            self.granted += 1
            if wait > 0:
                self.waited += 1
        if wait > 0:
            self._sleep(wait)

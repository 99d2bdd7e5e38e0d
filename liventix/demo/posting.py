"""Stripe's events as Stripe sends them: signed with the stripe library and posted over HTTP
to the API's `POST /v1/stripe/webhook`, some twice, shuffled, several at a time, retried when
not acknowledged."""

from __future__ import annotations

import json
import random
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import stripe

from liventix.demo.errors import WebhookRefused
from liventix.demo.processes import WEBHOOK_SECRET
from liventix.demo.progress import Progress
from liventix.testing.stripe import StripeObject

WEBHOOK_ATTEMPTS = 6


class EventPoster:
    """Posts Stripe's events to the API at `api_url`; counts what it posted."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.http = httpx.Client(timeout=30.0, limits=httpx.Limits(max_connections=32))
        self.pool = ThreadPoolExecutor(16, thread_name_prefix="stripe")
        self.api_url = ""
        self.posted = 0
        self.duplicates = 0
        self.retries = 0

    def close(self) -> None:
        """Stop the threads and close the connections."""
        self.pool.shutdown(cancel_futures=True)
        self.http.close()

    def send(
        self,
        events: list[StripeObject],
        *,
        duplicates: float = 0.05,
        bar: Progress | None = None,
    ) -> None:
        """Post the events, shuffled, some twice, each signed as Stripe signs it."""
        batch = list(events)
        batch += [e for e in events if self.rng.random() < duplicates]
        self.rng.shuffle(batch)
        # Posted 16 at a time, as Stripe's deliveries overlap: the arrival order is not the
        # order above either.
        for duplicate, retries in self.pool.map(self._post, batch):
            self.posted += 1
            self.duplicates += duplicate
            self.retries += retries
            if bar is not None:
                bar.advance()

    def _post(self, event: StripeObject) -> tuple[bool, int]:
        """POST one event as Stripe does, retrying (with a short backoff, where Stripe waits
        hours) what was not acknowledged: a transport error, 429 or 5xx. Returns whether the
        API said it had the event already, and how many retries it took."""
        body = json.dumps(event)
        for attempt in range(WEBHOOK_ATTEMPTS):
            if attempt:
                time.sleep(0.05 * 2**attempt)
            header = stripe.WebhookSignature.generate_signature_header(
                body, WEBHOOK_SECRET, int(time.time())
            )
            try:
                response = self.http.post(
                    f"{self.api_url}/v1/stripe/webhook",
                    content=body.encode(),
                    headers={"Stripe-Signature": header, "Content-Type": "application/json"},
                )
            except httpx.TransportError:
                continue
            if response.status_code == 429 or response.status_code >= 500:
                continue
            if response.status_code != 200:
                raise WebhookRefused(event["id"], response.status_code, response.text)
            # After a retry the API may well have the event from the lost attempt: that is
            # not one of Stripe's duplicates.
            return bool(response.json().get("duplicate")) and not attempt, attempt
        raise WebhookRefused(event["id"], None, f"no answer after {WEBHOOK_ATTEMPTS} attempts")

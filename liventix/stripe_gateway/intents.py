"""The checkout's hot call, `POST /v1/payment_intents`, and the payment handler's read of a
PaymentIntent with its charge, sent directly on the pooled client (`DirectIntents`); the
library's client takes every other answer."""

from __future__ import annotations

import functools
import json
import re
from typing import Any
from urllib.parse import quote, quote_plus

import stripe

import ticketing_fsm
from liventix.stripe_gateway.pool import PooledHTTPClient, StripeSettings

_UNQUOTED = re.compile(r"[A-Za-z0-9_.~-]*\Z")


def _quoted(value: str) -> str:
    """`value` as urlencode writes it (most are ids that need no quoting)."""
    return value if _UNQUOTED.match(value) else quote_plus(value)


@functools.lru_cache(maxsize=256)
def _meta_key(name: str) -> str:
    return quote_plus(f"metadata[{name}]")


class DirectIntents:
    """`POST /v1/payment_intents` straight on the pooled client, as the stripe library sends
    it (the same headers, form encoding, API version, idempotency key and timeout), without
    the library's per-call work (options, headers and telemetry rebuilt on every call,
    logging, objects): about half of its client CPU. A 2xx answer is read here; any other
    answer is turned into the library's typed error by the library's own reading of it
    (`_interpret_response`), without sending the call again (a failed creation reaches
    Stripe once; the buyer's retry under the same key is the retry). A connection lost
    before any answer (not a timeout) goes back to the library (`None`), which sends the
    call again under the same key with its retries."""

    def __init__(
        self, http: PooledHTTPClient, settings: StripeSettings, client: stripe.StripeClient
    ) -> None:
        self.http = http
        self.url = (
            f"{(settings.api_base or stripe.DEFAULT_API_BASE).rstrip('/')}/v1/payment_intents"
        )
        headers = self.library_headers(client)
        self.headers = {k: v for k, v in headers.items() if k != "Idempotency-Key"}
        self.get_headers = self.library_headers(client, "get")
        self.requestor: Any = client._requestor  # reads an error answer as the library does

    @staticmethod
    def library_headers(client: stripe.StripeClient, method: str = "post") -> dict[str, str]:
        """The headers the library sends on a POST (or a GET) of this client (its user
        agents with their telemetry, key, API version, a POST's content type), built once by
        the library."""
        requestor: Any = client._requestor
        options: Any = requestor._options.to_dict()
        if method == "post":
            options = {**options, "idempotency_key": "once"}
        return dict(requestor.request_headers(method, "V1", options))

    def with_charge(self, payment_intent_id: str) -> dict[str, Any] | None:
        """`GET /v1/payment_intents/<id>` with its latest charge and that charge's balance
        transaction expanded, as the library sends it, read as plain JSON: the payment
        handler reads three fields of it, where the library's call built a StripeObject for
        every object and list of the answer and logged two lines at INFO (together most of
        the worker's CPU for the call). None: ask the library (any answer but a 2xx, Stripe's
        errors included, and a connection lost before any answer: the library sends the
        read again, with its retries, and raises its typed error); a timeout raises the
        library's `APIConnectionError`."""
        url = (
            f"{self.url}/{quote(payment_intent_id, safe='')}"
            "?expand%5B0%5D=latest_charge.balance_transaction"
        )
        try:
            body, status, headers = self.http.request("get", url, self.get_headers)
        except stripe.APIConnectionError as error:
            if isinstance(error.__cause__, TimeoutError):
                raise  # waited the bound already: the event is tried again
            return None
        if status == 429 and headers.get("stripe-should-retry") != "true":
            # Stripe is busy: raise the library's RateLimitError now (the gateway's
            # StripeBusy) rather than have the library ask again at once into the same limit.
            self.requestor._interpret_response(
                body.decode("utf-8", "replace"), status, dict(headers), "V1"
            )
        if not 200 <= status < 300:
            return None
        data = json.loads(body)
        return data if isinstance(data, dict) else None

    def create(
        self, amount: int, currency: str, metadata: dict[str, str], idempotency_key: str
    ) -> ticketing_fsm.CreatedIntent | None:
        """The PaymentIntent Stripe created (or had created under the key); None: ask the
        library. A timeout raises the library's `APIConnectionError`."""
        form = "&".join(
            [
                f"amount={amount}",
                f"currency={_quoted(currency.lower())}",
                *(f"{_meta_key(k)}={_quoted(v)}" for k, v in metadata.items()),
                "automatic_payment_methods%5Benabled%5D=true",
            ]
        )
        headers = {**self.headers, "Idempotency-Key": idempotency_key}
        try:
            body, status = self.http.post(self.url, headers, form.encode())
        except stripe.APIConnectionError as error:
            if isinstance(error.__cause__, TimeoutError):
                raise  # waited the bound already: the buyer retries under the same key
            return None
        if not 200 <= status < 300:
            # Raises the typed error the library raises for this answer (CardError,
            # APIError, IdempotencyError ...), with its status and Stripe's error object.
            self.requestor._interpret_response(body.decode("utf-8", "replace"), status, {}, "V1")
            return None  # not reached: a non-2xx answer always raises there
        data = json.loads(body)
        return ticketing_fsm.CreatedIntent(
            payment_intent_id=str(data["id"]), client_secret=str(data["client_secret"])
        )

"""The Stripe gateway: the one place that calls Stripe's API, with the stripe library.

It answers escrow's `StripeReader` (a PaymentIntent's charge and fee, a charge's refunds)
and makes the organizer's transfers. `api_base` lets tests and the demo point it at a
Stripe-compatible server on 127.0.0.1.
"""

from __future__ import annotations

import http.client
import io
import json
import platform
import select
import socket
import ssl
import textwrap
import threading
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, NoReturn, cast
from urllib.parse import urlencode, urlsplit

import stripe

import escrow
import ticketing_fsm


@dataclass(frozen=True)
class StripeSettings:
    """How to reach Stripe."""

    api_key: str = "sk_test_liventix"
    api_base: str | None = None
    max_network_retries: int = 1
    timeout_s: float = 5.0
    """Bound on each call (connect and read): a buyer is told 503 rather than kept waiting."""


class PooledHTTPClient(stripe.HTTPClient):
    """The stripe library's HTTP client on keep-alive connections (the standard library's
    `http.client`), kept in one pool shared by every thread.

    The library's default (requests) builds a session per thread and, on every call, reads
    the environment's proxy settings and merges session settings; urllib3, tried next, still
    cost about a fifth of a checkout's CPU in the API for a call to a server on 127.0.0.1.
    The library's behaviour is kept: certificates verified against its bundle, the same
    timeout on connect and on each read, no redirects (http.client follows none), and
    timeouts and connection failures raised as `APIConnectionError` the library may retry
    (with the call's idempotency key). A kept connection the server has closed meanwhile
    is noticed before it is used again, and a new one opened."""

    name = "http.client"

    def __init__(self, timeout_s: float, *, max_connections: int = 64) -> None:
        super().__init__(verify_ssl_certs=True)
        self.timeout_s = timeout_s
        self.max_connections = max_connections
        self._idle: dict[tuple[str, str, int], list[http.client.HTTPConnection]] = {}
        self._lock = threading.Lock()
        self._tls = ssl.create_default_context(cafile=stripe.ca_bundle_path)

    def request(
        self,
        method: str,
        url: str,
        headers: Mapping[str, str] | None,
        post_data: Any = None,
        *,
        _usage: list[str] | None = None,
    ) -> tuple[Any, int, Mapping[str, str]]:
        """One call: the body, the status and the headers of the answer."""
        return self._send(method, url, headers, post_data)

    def request_stream(
        self,
        method: str,
        url: str,
        headers: Mapping[str, str] | None,
        post_data: Any = None,
        *,
        _usage: list[str] | None = None,
    ) -> tuple[Any, int, Mapping[str, str]]:
        """One call whose body the caller reads (file downloads): read whole here."""
        body, status, answer_headers = self._send(method, url, headers, post_data)
        return io.BytesIO(body), status, answer_headers

    def _send(
        self, method: str, url: str, headers: Mapping[str, str] | None, post_data: Any
    ) -> tuple[bytes, int, Mapping[str, str]]:
        parts = urlsplit(url)
        scheme = parts.scheme.lower()
        host = parts.hostname or ""
        port = parts.port or (443 if scheme == "https" else 80)
        target = parts.path or "/"
        if parts.query:
            target = f"{target}?{parts.query}"
        key = (scheme, host, port)
        if isinstance(post_data, str):
            # As bytes, http.client sends the body in the headers' segment: as text, in a
            # second one, which Nagle's algorithm holds until the first is acknowledged.
            post_data = post_data.encode()
        conn = self._take(key)
        try:
            conn.request(method.upper(), target, body=post_data, headers=dict(headers or {}))
            answer = conn.getresponse()
            body = answer.read()
        except ssl.SSLCertVerificationError as error:
            conn.close()
            self._raise(error, retry=False, why="could not verify Stripe's SSL certificate")
        except (OSError, http.client.HTTPException) as error:
            # Timeouts, refused, reset or closed connections, a malformed answer.
            conn.close()
            self._raise(error, retry=True, why="unexpected error communicating with Stripe")
        if answer.will_close:
            conn.close()
        else:
            self._give(key, conn)
        # HTTPMessage: a case-insensitive mapping of the headers, as the library reads them.
        return body, answer.status, cast(Mapping[str, str], answer.headers)

    def _take(self, key: tuple[str, str, int]) -> http.client.HTTPConnection:
        """A kept connection to `key` still open, else a new one (not yet connected)."""
        with self._lock:
            idle = self._idle.get(key)
            while idle:
                conn = idle.pop()
                if conn.sock is not None and not _dropped(conn.sock):
                    return conn
                conn.close()
        scheme, host, port = key
        if scheme == "https":
            return http.client.HTTPSConnection(
                host, port, timeout=self.timeout_s, context=self._tls
            )
        return http.client.HTTPConnection(host, port, timeout=self.timeout_s)

    def _give(self, key: tuple[str, str, int], conn: http.client.HTTPConnection) -> None:
        with self._lock:
            idle = self._idle.setdefault(key, [])
            if len(idle) < self.max_connections:
                idle.append(conn)
                return
        conn.close()

    @staticmethod
    def _raise(error: Exception, *, retry: bool, why: str) -> NoReturn:
        message = textwrap.fill(f"{why[0].upper()}{why[1:]}.")
        raise stripe.APIConnectionError(  # type: ignore[no-untyped-call]
            f"{message}\n\n(Network error: {type(error).__name__}: {error})",
            should_retry=retry,
        ) from error

    def close(self) -> None:
        """Close the kept connections."""
        with self._lock:
            kept = [c for idle in self._idle.values() for c in idle]
            self._idle.clear()
        for conn in kept:
            conn.close()


def _dropped(sock: socket.socket) -> bool:
    """Whether a kept connection was closed by the server (or has stray bytes): readable
    while idle."""
    try:
        readable, _, _ = select.select([sock], [], [], 0)
    except (OSError, ValueError):
        return True
    return bool(readable)


def _behind_proxy(api_base: str | None) -> bool:
    """Whether the environment sends calls to `api_base` (Stripe's, by default) through a
    proxy: then the library's own client, which reads the proxy settings, is used."""
    host = urlsplit(api_base or stripe.DEFAULT_API_BASE).hostname or ""
    proxies = urllib.request.getproxies()
    return bool(proxies.get("https") or proxies.get("http")) and not (
        urllib.request.proxy_bypass(host)
    )


def http_client(settings: StripeSettings) -> stripe.HTTPClient:
    """The HTTP client the gateway's calls go through (see `PooledHTTPClient`)."""
    if _behind_proxy(settings.api_base):
        return stripe.new_default_http_client(timeout=settings.timeout_s)
    return PooledHTTPClient(settings.timeout_s)


class DirectIntents:
    """`POST /v1/payment_intents` straight on the pooled client, as the stripe library sends
    it (the same headers, form encoding, API version, idempotency key and timeout), without
    the library's per-call work (options, headers and telemetry rebuilt on every call,
    logging, objects): about half of its client CPU. Only a 2xx answer is read here; any
    other answer, and a connection lost before one (not a timeout), go back to the library
    (`None`), which sends the call again under the same key with its retries and turns
    Stripe's answer into its typed errors."""

    def __init__(self, http: PooledHTTPClient, settings: StripeSettings) -> None:
        self.http = http
        self.url = (
            f"{(settings.api_base or stripe.DEFAULT_API_BASE).rstrip('/')}/v1/payment_intents"
        )
        agent = {
            "bindings_version": stripe.VERSION,
            "lang": "python",
            "httplib": http.name,
            "lang_version": platform.python_version(),
        }
        self.headers = {
            "X-Stripe-Client-User-Agent": json.dumps(agent),
            "User-Agent": f"Stripe/v1 PythonBindings/{stripe.VERSION}",
            "Authorization": f"Bearer {settings.api_key}",
            "Content-Type": "application/x-www-form-urlencoded",
            "Stripe-Version": stripe.api_version,
        }

    def create(
        self, amount: int, currency: str, metadata: dict[str, str], idempotency_key: str
    ) -> ticketing_fsm.CreatedIntent | None:
        """The PaymentIntent Stripe created (or had created under the key); None: ask the
        library. A timeout raises the library's `APIConnectionError`."""
        form = [
            ("amount", str(amount)),
            ("currency", currency.lower()),
            *((f"metadata[{k}]", v) for k, v in metadata.items()),
            ("automatic_payment_methods[enabled]", "true"),
        ]
        headers = {**self.headers, "Idempotency-Key": idempotency_key}
        try:
            body, status, _ = self.http.request("post", self.url, headers, urlencode(form))
        except stripe.APIConnectionError as error:
            if isinstance(error.__cause__, TimeoutError):
                raise  # waited the bound already: the buyer retries under the same key
            return None
        if not 200 <= status < 300:
            return None
        data = json.loads(body)
        return ticketing_fsm.CreatedIntent(
            payment_intent_id=str(data["id"]), client_secret=str(data["client_secret"])
        )


class StripeGateway:
    """Stripe's API as the payments core needs it."""

    def __init__(self, settings: StripeSettings) -> None:
        self.settings = settings
        bases: Any = {"api": settings.api_base} if settings.api_base else None
        http = http_client(settings)
        self.client = stripe.StripeClient(
            settings.api_key,
            base_addresses=bases,
            max_network_retries=settings.max_network_retries,
            http_client=http,
        )
        self.intents = DirectIntents(http, settings) if isinstance(http, PooledHTTPClient) else None

    def charge_facts(self, payment_intent_id: str) -> escrow.ChargeFacts:
        """The PaymentIntent's latest charge and its balance transaction's fee."""
        intent = self.client.v1.payment_intents.retrieve(
            payment_intent_id, params={"expand": ["latest_charge.balance_transaction"]}
        )
        charge: Any = intent.latest_charge
        if charge is None:
            raise escrow.NotYetApplicable(reason=f"{payment_intent_id} has no charge yet")
        if isinstance(charge, str):
            charge = self.client.v1.charges.retrieve(
                charge, params={"expand": ["balance_transaction"]}
            )
        txn: Any = charge.balance_transaction
        if isinstance(txn, str):
            txn = self.client.v1.balance_transactions.retrieve(txn)
        return escrow.ChargeFacts(
            charge_id=charge.id,
            balance_transaction_id=None if txn is None else txn.id,
            stripe_fee=0 if txn is None else int(txn.fee),
        )

    def refunds_of_charge(self, charge_id: str) -> list[escrow.RefundFacts]:
        """Every refund of the charge."""
        listed = self.client.v1.refunds.list(params={"charge": charge_id, "limit": 100})
        return [
            escrow.RefundFacts(
                refund_id=r.id,
                payment_intent_id=str(
                    r.payment_intent if isinstance(r.payment_intent, str) else r.payment_intent.id
                )
                if r.payment_intent
                else "",
                amount=int(r.amount),
                status=str(r.status),
            )
            for r in listed.auto_paging_iter()
        ]

    def create_transfer(
        self, request: escrow.TransferRequested, idempotency_key: str
    ) -> tuple[str, int]:
        """Transfer the released amount to the organizer's connected account; returns the
        transfer's id and amount. A transfer one charge funds names it (`source_transaction`:
        Stripe makes it once that charge's funds are available). The idempotency key (the
        outbox message id) makes retries safe."""
        if not request.destination:
            raise ValueError(f"organizer {request.org_id} has no connected account")
        params: Any = {
            "amount": request.amount,
            "currency": request.currency.lower(),
            "destination": request.destination,
            "transfer_group": f"escrow_{request.escrow_id}",
            "metadata": {
                escrow.META_ESCROW: request.escrow_id,
                "liventix_event_id": request.event_id,
            },
        }
        if request.source_transaction:
            params["source_transaction"] = request.source_transaction
        transfer = self.client.v1.transfers.create(
            params=params, options={"idempotency_key": idempotency_key}
        )
        return transfer.id, int(transfer.amount)

    def create_transfer_reversal(
        self, request: escrow.TransferReversalRequested, idempotency_key: str
    ) -> tuple[str, int]:
        """Reverse part of a transfer (what the organizer owes after release); returns the
        reversal's id and amount. The same key returns the same reversal."""
        reversal = self.client.v1.transfers.reversals.create(
            request.transfer_id,
            params={
                "amount": request.amount,
                "metadata": {escrow.META_REVERSAL_REQUEST: request.request_id},
            },
            options={"idempotency_key": idempotency_key},
        )
        return reversal.id, int(reversal.amount)

    def create_payment_intent(
        self, amount: int, currency: str, metadata: dict[str, str], idempotency_key: str
    ) -> ticketing_fsm.CreatedIntent:
        """A PaymentIntent for a checkout; the same key returns the same intent.

        The checkout's hot call: sent directly (`DirectIntents`); what that does not take
        (an error, a lost connection) is sent again with the library's `raw_request` (its
        retries, errors and timeout as for any call). Only the two fields the checkout needs
        are read from the answer, without building the library's objects from it."""
        if self.intents is not None:
            created = self.intents.create(amount, currency, metadata, idempotency_key)
            if created is not None:
                return created
        answer = self.client.raw_request(
            "post",
            "/v1/payment_intents",
            amount=amount,
            currency=currency.lower(),
            metadata=metadata,
            automatic_payment_methods={"enabled": True},
            idempotency_key=idempotency_key,
        )
        data: Any = answer.data
        return ticketing_fsm.CreatedIntent(
            payment_intent_id=str(data["id"]), client_secret=str(data["client_secret"])
        )

    def cancel_payment_intent(self, payment_intent_id: str, idempotency_key: str) -> str:
        """Cancel an unpaid PaymentIntent; returns the status it ends in (`canceled`, or
        `succeeded` when the buyer paid first: that payment is refunded as a late one)."""
        try:
            intent = self.client.v1.payment_intents.cancel(
                payment_intent_id,
                params={"cancellation_reason": "abandoned"},
                options={"idempotency_key": idempotency_key},
            )
        except stripe.InvalidRequestError as exc:
            if exc.code != "payment_intent_unexpected_state":
                raise
            # Already canceled, or paid: look at what it is.
            return str(self.client.v1.payment_intents.retrieve(payment_intent_id).status)
        return str(intent.status)

    def create_refund(
        self, payment_intent_id: str, amount: int, metadata: dict[str, str], idempotency_key: str
    ) -> str:
        """Refund part of a payment; the same key returns the same refund."""
        refund = self.client.v1.refunds.create(
            params={"payment_intent": payment_intent_id, "amount": amount, "metadata": metadata},
            options={"idempotency_key": idempotency_key},
        )
        return refund.id

"""Stripe's API over HTTP on 127.0.0.1, for the stripe library: `StandInServer` answers what
`liventix.stripe_gateway.StripeGateway` (with `api_base` pointed at it) calls, from a
`StripeStandIn` account, in Stripe's wire format. `python -m liventix.testing.stripe`
serves one on its own (`cli.py`)."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from liventix.testing.stripe.objects import StripeObject, StripeRefusal, new_id
from liventix.testing.stripe.routes import HANG, Routes
from liventix.testing.stripe.wire import Answer, Recorded


def latency_left(latency_ms: float, arrived: float, now: float) -> float:
    """Seconds an answer due `latency_ms` after its request `arrived` still waits at `now`
    (monotonic seconds; zero or less: none)."""
    return latency_ms / 1000 - (now - arrived)


class StandInServer(ThreadingHTTPServer):
    """The stand-in's API on 127.0.0.1, in Stripe's wire format: what `StripeGateway` (the
    stripe library) calls. `POST /v1/payment_intents`, `/v1/payment_intents/{id}/cancel`,
    `/v1/refunds`, `/v1/transfers` (with `source_transaction`),
    `/v1/transfers/{id}/reversals` (idempotent by `Idempotency-Key`),
    `GET /v1/{payment_intents,charges,refunds,transfers,disputes,payouts,
    balance_transactions}/{id}` (with `expand[]`), `GET /v1/refunds?charge=` (or
    `payment_intent=`), `GET /v1/events` (the account's event log, as Stripe lists it). A
    request without a secret key answers 401; unknown ids 404
    `resource_missing` (the routes: `routes.py`). Each request's effect is one critical
    section of the account; the account's latency (and a hang) is waited out after it,
    outside the lock, on the request's own thread. The latency is counted from the
    request's arrival (its request line read), as a remote Stripe's would be: the
    stand-in's own work is part of it, not added to it (it added 1-5 ms to every answer
    at 200 checkouts/s, its threads waiting for the GIL)."""

    daemon_threads = True
    request_queue_size = 1024

    def __init__(self, account: Routes, port: int = 0) -> None:
        self.account = account
        self._closing = threading.Event()
        super().__init__(("127.0.0.1", port), _StandInHandler)

    @property
    def url(self) -> str:
        """The base URL to give the stripe library as its API base."""
        return f"http://127.0.0.1:{self.server_address[1]}"

    def pause(self, seconds: float) -> None:
        """Wait `seconds` (cut short by `stop_waiting`)."""
        self._closing.wait(seconds)

    def stop_waiting(self) -> None:
        """From now on no answer waits: those waiting out a latency or a hang go now."""
        self._closing.set()

    def server_close(self) -> None:
        """Close the socket; requests still waiting out a latency or a hang end now."""
        self.stop_waiting()
        super().server_close()


class _StandInHandler(BaseHTTPRequestHandler):
    server: StandInServer
    protocol_version = "HTTP/1.1"  # keep-alive, as Stripe's API
    # With Nagle's algorithm a second write waits for the client's delayed ACK of the first
    # (40 ms a request).
    disable_nagle_algorithm = True
    # The answer is buffered and sent in one write (one send, and one segment for the client
    # to wake up for, not the headers' and the body's).
    wbufsize = 1 << 16
    _arrived = 0.0
    """When the request's line was read (`time.monotonic()`): its latency counts from here."""

    def parse_request(self) -> bool:
        """The request line and headers, read just now: the request has arrived."""
        self._arrived = time.monotonic()
        return super().parse_request()

    def do_GET(self) -> None:
        self._serve("GET")

    def do_POST(self) -> None:
        self._serve("POST")

    def do_DELETE(self) -> None:
        self._serve("DELETE")

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the recorded requests are the log."""

    def _serve(self, method: str) -> None:
        """Record the request, answer what the account decides after its latency (or its
        hang), or drop the connection when the answer is to be lost."""
        account = self.server.account
        account.entered()
        try:
            request, query, form = self._read(method)
            account.record(request)
            status, body, extra = self._route(request, query, form)
            if method == "POST" and status == 200 and account.loses(request.path):
                self.close_connection = True  # done, and the answer lost on the way back
                return
            hang = extra.pop(HANG, None) is not None
            if hang:
                wait = account.hang_seconds
            else:
                wait = latency_left(account.latency_ms, self._arrived, time.monotonic())
            if wait > 0:
                self.server.pause(wait)
            try:
                self._answer(status, body, extra)
            except (BrokenPipeError, ConnectionResetError):
                self.close_connection = True  # the client gave up (after a hang, say)
        finally:
            account.left()

    def _read(self, method: str) -> tuple[Recorded, list[tuple[str, str]], list[tuple[str, str]]]:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        parts = urlsplit(self.path)
        form = parse_qsl(body.decode(), keep_blank_values=True) if method == "POST" else []
        query = parse_qsl(parts.query, keep_blank_values=True)
        request = Recorded(
            method=method,
            path=parts.path,
            query=dict(query),
            headers={k.lower(): v for k, v in self.headers.items()},
            form=dict(form),
            body=body,
        )
        return request, query, form

    def _route(
        self, request: Recorded, query: list[tuple[str, str]], form: list[tuple[str, str]]
    ) -> Answer:
        try:
            return self.server.account._dispatch(request, query, form)
        except StripeRefusal as error:
            return error.status, error.as_json(), {}
        except KeyError as error:
            missing = StripeRefusal(
                f"Missing required param: {error.args[0]}.", code="parameter_missing"
            )
            return 400, missing.as_json(), {}
        except ValueError as error:
            invalid = StripeRefusal(f"Invalid param: {error}", code="parameter_invalid")
            return 400, invalid.as_json(), {}

    def _answer(self, status: int, body: StripeObject, extra: dict[str, str]) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Request-Id", new_id("req"))
        for name, value in extra.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)
        self.wfile.flush()  # the headers and the body, buffered, leave in one write here

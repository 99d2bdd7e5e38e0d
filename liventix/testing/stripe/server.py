"""Stripe's API over HTTP on 127.0.0.1, for the stripe library: `StandInServer` answers what
`liventix.stripe_gateway.StripeGateway` (with `api_base` pointed at it) calls, from a
`StripeStandIn` account, in Stripe's wire format. Run as `python -m liventix.testing.stripe`
it serves on its own, set by options or `STRIPE_STANDIN_*` environment variables."""

from __future__ import annotations

import argparse
import json
import os
import threading
from collections.abc import Callable, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from liventix.testing.stripe.account import StripeStandIn
from liventix.testing.stripe.faults import HANG_SECONDS
from liventix.testing.stripe.objects import (
    StripeObject,
    StripeRefusal,
    new_id,
    refund_object,
    reversal_object,
    transfer_object,
)

Answer = tuple[int, StripeObject]


def _form(body: bytes) -> tuple[dict[str, str], dict[str, str]]:
    """Stripe's form encoding: plain fields, and `metadata[key]` ones apart."""
    fields: dict[str, str] = {}
    metadata: dict[str, str] = {}
    for key, value in parse_qsl(body.decode(), keep_blank_values=True):
        if key.startswith("metadata[") and key.endswith("]"):
            metadata[key[len("metadata[") : -1]] = value
        else:
            fields[key] = value
    return fields, metadata


class StandInServer(ThreadingHTTPServer):
    """The stand-in's API on 127.0.0.1, in Stripe's wire format: what `StripeGateway` (the
    stripe library) calls. `POST /v1/payment_intents`, `/v1/payment_intents/{id}/cancel`,
    `/v1/refunds`, `/v1/transfers` (with `source_transaction`),
    `/v1/transfers/{id}/reversals` (idempotent by `Idempotency-Key`),
    `GET /v1/payment_intents/{id}` (with `expand[]=latest_charge.balance_transaction`),
    `GET /v1/refunds?charge=`, `GET /v1/balance_transactions/{id}`. Unknown ids answer 404
    `resource_missing`. Each request's effect is one critical section of the account; the
    account's latency (and a hang) is waited out after it, outside the lock, on the
    request's own thread."""

    daemon_threads = True
    request_queue_size = 1024

    def __init__(self, account: StripeStandIn, port: int = 0) -> None:
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
    # Headers and body go out in two writes: with Nagle's algorithm the body waits for the
    # client's delayed ACK of the headers (40 ms a request).
    disable_nagle_algorithm = True
    _hang = False

    def _serve(self, route: Callable[[], Answer]) -> None:
        """Answer what `route` decides, after the account's latency (or its hang)."""
        account = self.server.account
        account.entered()
        try:
            self._hang = False
            status, body = route()
            wait = account.hang_seconds if self._hang else account.latency_ms / 1000
            if wait > 0:
                self.server.pause(wait)
            try:
                self._answer(status, body)
            except (BrokenPipeError, ConnectionResetError):
                self.close_connection = True  # the client gave up (after a hang, say)
        finally:
            account.left()

    def _answer(self, status: int, body: StripeObject) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Request-Id", new_id("req"))
        self.end_headers()
        self.wfile.write(data)

    @staticmethod
    def _missing(what: str) -> Answer:
        return 404, {
            "error": {
                "type": "invalid_request_error",
                "code": "resource_missing",
                "message": f"No such {what}",
            }
        }

    def do_GET(self) -> None:
        self._serve(self._get)

    def _get(self) -> Answer:
        parts = urlsplit(self.path)
        query = dict(parse_qsl(parts.query))
        account = self.server.account
        path = parts.path.rstrip("/").split("/")
        if len(path) == 4 and path[2] == "payment_intents":
            if path[3] not in account.intents:
                return self._missing(f"payment_intent: '{path[3]}'")
            expand = any(v.startswith("latest_charge") for k, v in query.items() if "expand" in k)
            return 200, account.intent_json(path[3], expand_charge=expand)
        if len(path) == 4 and path[2] == "balance_transactions":
            txn = account.balance_transaction(path[3])
            return (200, txn) if txn else self._missing(f"balance transaction: {path[3]}")
        if parts.path == "/v1/refunds" and "charge" in query:
            return 200, account.refunds_json(query["charge"])
        return self._missing(f"route: GET {parts.path}")

    def do_POST(self) -> None:
        self._serve(self._post_answer)

    def _post_answer(self) -> Answer:
        try:
            return self._post()
        except StripeRefusal as error:
            return error.status, error.as_json()
        except KeyError as error:
            return 400, StripeRefusal(
                f"Missing required param: {error.args[0]}.", code="parameter_missing"
            ).as_json()
        except ValueError as error:
            return 400, StripeRefusal(f"Invalid param: {error}", code="parameter_invalid").as_json()

    def _post(self) -> Answer:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        fields, metadata = _form(body)
        key = self.headers.get("Idempotency-Key") or new_id("key")
        account = self.server.account
        path = urlsplit(self.path).path.rstrip("/")
        parts = path.split("/")
        if path == "/v1/payment_intents":
            amount, currency = int(fields["amount"]), fields["currency"]
            fault = account.fault(key)
            if fault == "fail":
                # Stripe's outage: nothing is created, nothing is kept under the key.
                return 500, {
                    "error": {
                        "type": "api_error",
                        "message": "An unknown error occurred (the stand-in's injected outage)",
                    }
                }
            self._hang = fault == "hang"
            intent = account.create_payment_intent(
                amount=amount, currency=currency, metadata=metadata, idempotency_key=key
            )
            return 200, account.intent_json(intent.id, expand_charge=False)
        if len(parts) == 5 and parts[2] == "payment_intents" and parts[4] == "cancel":
            intent = account.cancel_payment_intent(
                parts[3], reason=fields.get("cancellation_reason"), idempotency_key=key
            )
            return 200, account.intent_json(intent.id, expand_charge=False)
        if path == "/v1/refunds":
            refund = account.create_refund(
                payment_intent_id=fields["payment_intent"],
                amount=int(fields["amount"]),
                metadata=metadata,
                idempotency_key=key,
            )
            return 200, refund_object(refund, "succeeded")
        if path == "/v1/transfers":
            transfer = account.create_transfer(
                amount=int(fields["amount"]),
                currency=fields["currency"],
                destination=fields["destination"],
                metadata=metadata,
                idempotency_key=key,
                source_transaction=fields.get("source_transaction"),
                transfer_group=fields.get("transfer_group"),
            )
            return 200, transfer_object(transfer)
        if len(parts) == 5 and parts[2] == "transfers" and parts[4] == "reversals":
            reversal = account.create_transfer_reversal(
                parts[3], amount=int(fields["amount"]), metadata=metadata, idempotency_key=key
            )
            return 200, reversal_object(reversal)
        return self._missing(f"route: POST {path}")

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet."""


# -- on its own: python -m liventix.testing.stripe -------------------------------------------


def _env_float(name: str, default: float) -> float:
    raw = os.environ.get(name)
    return float(raw) if raw else default


def main(argv: Sequence[str] | None = None) -> int:
    """Serve the stand-in on 127.0.0.1 until interrupted; print its URL first."""
    parser = argparse.ArgumentParser(
        prog="python -m liventix.testing.stripe",
        description="A Stripe stand-in on 127.0.0.1 (its options default to the "
        "STRIPE_STANDIN_* environment variables).",
    )
    parser.add_argument(
        "--port", type=int, default=int(_env_float("STRIPE_STANDIN_PORT", 0)), help="0: any"
    )
    parser.add_argument(
        "--latency-ms", type=float, default=_env_float("STRIPE_STANDIN_LATENCY_MS", 0.0)
    )
    parser.add_argument(
        "--fail-rate", type=float, default=_env_float("STRIPE_STANDIN_FAIL_RATE", 0.0)
    )
    parser.add_argument(
        "--hang-rate", type=float, default=_env_float("STRIPE_STANDIN_HANG_RATE", 0.0)
    )
    parser.add_argument(
        "--hang-seconds",
        type=float,
        default=_env_float("STRIPE_STANDIN_HANG_SECONDS", HANG_SECONDS),
    )
    parser.add_argument("--seed", type=int, default=int(_env_float("STRIPE_STANDIN_SEED", 0)))
    args = parser.parse_args(argv)
    account = StripeStandIn(
        latency_ms=args.latency_ms,
        fail_rate=args.fail_rate,
        hang_rate=args.hang_rate,
        hang_seconds=args.hang_seconds,
        seed=args.seed,
    )
    server = StandInServer(account, port=args.port)
    print(server.url, flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0

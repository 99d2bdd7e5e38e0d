"""The checkout's PaymentIntent call sent directly on the pooled connections
(`liventix.stripe_gateway.DirectIntents`): on the wire it is the stripe library's call (the
same form, headers, API version and idempotency key), one key gives one intent, and what the
lean reader does not take goes back to the library: a chunked answer, Stripe's error (its
typed exception), a connection dropped; a timeout raises at once within the bound."""

from __future__ import annotations

import socket
import threading
import time
import uuid
from collections.abc import Iterator
from urllib.parse import parse_qsl

import pytest
import stripe

from liventix.stripe_gateway import StripeGateway, StripeSettings
from liventix.testing.stripe import StripeStandIn

META = {
    "liventix_order_id": str(uuid.uuid4()),
    "liventix_event_ends_at": "2027-01-31T20:00:00+01:00",
    "note": "a b&c=d[e]",
}


@pytest.fixture
def standin() -> Iterator[StripeStandIn]:
    """A Stripe stand-in of the test's own."""
    server = StripeStandIn().start()
    try:
        yield server
    finally:
        server.close()


def _gateway(url: str, **settings: float) -> StripeGateway:
    return StripeGateway(StripeSettings(api_base=url, **settings))  # type: ignore[arg-type]


def test_the_direct_call_is_the_librarys_call(standin: StripeStandIn) -> None:
    gateway = _gateway(standin.url)
    assert gateway.intents is not None
    key = f"checkout-{uuid.uuid4()}"
    first = gateway.create_payment_intent(2_500, "EUR", META, key)
    again = gateway.create_payment_intent(2_500, "EUR", META, key)
    assert again == first  # one key, one intent
    direct = standin.requests("POST", "/v1/payment_intents")[-1]
    # The library's own request for the same call, for comparison.
    gateway.client.raw_request(
        "post",
        "/v1/payment_intents",
        amount=2_500,
        currency="eur",
        metadata=META,
        automatic_payment_methods={"enabled": True},
        idempotency_key=f"library-{uuid.uuid4()}",
    )
    library = standin.requests("POST", "/v1/payment_intents")[-1]
    assert parse_qsl(direct.body.decode()) == parse_qsl(library.body.decode())
    for name in (
        "Authorization",
        "Stripe-Version",
        "Content-Type",
        "User-Agent",
        "X-Stripe-Client-User-Agent",
    ):
        assert direct.header(name) == library.header(name), name
    assert direct.header("Idempotency-Key") == key


def test_stripes_refusal_comes_back_as_the_librarys_error(standin: StripeStandIn) -> None:
    gateway = _gateway(standin.url, max_network_retries=0)
    key = f"reused-{uuid.uuid4()}"
    gateway.create_payment_intent(2_500, "EUR", META, key)
    with pytest.raises(stripe.IdempotencyError):  # the same key, another amount
        gateway.create_payment_intent(2_600, "EUR", META, key)


class _Odd:
    """An HTTP server on 127.0.0.1 answering every request the same odd way: `chunked` (a
    valid intent, chunked), `drop` (closes without an answer) or `hang` (never answers)."""

    def __init__(self, how: str) -> None:
        self.how = how
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self.served = 0
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._answer, args=(conn,), daemon=True).start()

    def _answer(self, conn: socket.socket) -> None:
        with conn:
            while True:
                got = b""
                while b"\r\n\r\n" not in got:
                    chunk = conn.recv(65536)
                    if not chunk:
                        return
                    got += chunk
                head, _, rest = got.partition(b"\r\n\r\n")
                length = next(
                    int(line.split(b":")[1])
                    for line in head.split(b"\r\n")
                    if line.lower().startswith(b"content-length:")
                )
                while len(rest) < length:
                    rest += conn.recv(65536)
                self.served += 1
                if self.how == "drop":
                    return
                if self.how == "hang":
                    time.sleep(5)
                    return
                body = b'{"id": "pi_chunked", "client_secret": "pi_chunked_secret_x"}'
                conn.sendall(
                    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                    b"Transfer-Encoding: chunked\r\n\r\n"
                    + f"{len(body):x}\r\n".encode()
                    + body
                    + b"\r\n0\r\n\r\n"
                )

    def close(self) -> None:
        self.sock.close()


def test_a_chunked_answer_goes_back_to_the_library() -> None:
    odd = _Odd("chunked")
    try:
        created = _gateway(odd.url).create_payment_intent(100, "EUR", META, "k-chunked")
    finally:
        odd.close()
    assert created.payment_intent_id == "pi_chunked"
    assert odd.served == 2  # the direct call, then the library's under the same key


def test_a_dropped_connection_goes_back_to_the_library() -> None:
    odd = _Odd("drop")
    try:
        with pytest.raises(stripe.APIConnectionError):
            _gateway(odd.url, max_network_retries=1).create_payment_intent(
                100, "EUR", META, "k-drop"
            )
    finally:
        odd.close()
    assert odd.served == 3  # the direct call, the library's and its one retry


def test_a_timeout_raises_at_once() -> None:
    odd = _Odd("hang")
    try:
        with pytest.raises(stripe.APIConnectionError):
            _gateway(odd.url, timeout_s=0.3).create_payment_intent(100, "EUR", META, "k-hang")
    finally:
        odd.close()
    assert odd.served == 1  # not sent again: the buyer retries under the same key

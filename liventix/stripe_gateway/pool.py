"""The stripe library's HTTP client on a pool of keep-alive connections (`PooledHTTPClient`),
with a lean POST for the checkout's hot call, and how to reach Stripe (`StripeSettings`)."""

from __future__ import annotations

import functools
import http.client
import io
import select
import socket
import ssl
import textwrap
import threading
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, NoReturn, cast
from urllib.parse import urlsplit

import stripe

from liventix.stripe_gateway.budget import Budget, default_max_rps


@dataclass(frozen=True)
class StripeSettings:
    """How to reach Stripe."""

    api_key: str = "sk_test_liventix"
    api_base: str | None = None
    max_network_retries: int = 1
    timeout_s: float = 5.0
    """Bound on each call (connect and read): a buyer is told 503 rather than kept waiting."""
    max_rps: float | None = None
    """This process's budget of calls to Stripe a second (`Budget`; 0: none; None: the
    default for where it calls, `budget.default_max_rps`: LIVENTIX_STRIPE_MAX_RPS)."""

    def budget(self) -> Budget | None:
        """The budget this process's calls take their tokens from, None for none. A call
        waits its turn up to `timeout_s`, then is refused (`StripeBusy`) unsent."""
        rate = self.max_rps
        if rate is None:
            rate = default_max_rps(self.api_key, self.api_base)
        return Budget(rate, max_wait=self.timeout_s) if rate > 0 else None


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

    def __init__(
        self, timeout_s: float, *, max_connections: int = 64, budget: Budget | None = None
    ) -> None:
        super().__init__(verify_ssl_certs=True)
        self.timeout_s = timeout_s
        self.budget = budget
        """Every call sent (the library's retries each one) takes a token from it first."""
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
        if self.budget is not None:
            self.budget.take()
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

    def post(self, url: str, headers: Mapping[str, str], body: bytes) -> tuple[bytes, int]:
        """A POST on a kept connection, its answer read by `_read_answer` (not http.client's
        parser): the body and the status. Failures raise as `request`'s do; an answer that
        reader does not take (chunked, no length) is a connection failure, retried by the
        library's client under the call's idempotency key."""
        if self.budget is not None:
            self.budget.take()
        scheme, host, port, target = _parts(url)
        key = (scheme, host, port)
        conn = self._take(key)
        try:
            if conn.sock is None:
                conn.connect()
            authority = host if port in (80, 443) else f"{host}:{port}"
            head = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
            conn.sock.sendall(
                f"POST {target} HTTP/1.1\r\nHost: {authority}\r\n"
                f"Content-Length: {len(body)}\r\n{head}\r\n".encode("latin-1")
                + body
            )
            status, close, answer = _read_answer(conn.sock)
        except ssl.SSLCertVerificationError as error:
            conn.close()
            self._raise(error, retry=False, why="could not verify Stripe's SSL certificate")
        except (OSError, ValueError) as error:
            conn.close()
            self._raise(error, retry=True, why="unexpected error communicating with Stripe")
        if close:
            conn.close()
        else:
            self._give(key, conn)
        return answer, status

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


@functools.lru_cache(maxsize=64)
def _parts(url: str) -> tuple[str, str, int, str]:
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return scheme, parts.hostname or "", parts.port or (443 if scheme == "https" else 80), target


_MAX_HEAD = 64 * 1024


def _read_answer(sock: socket.socket) -> tuple[int, bool, bytes]:
    """(status, whether the server closes, body) of an HTTP/1.1 answer with a
    Content-Length; ValueError for anything else (chunked, no length, too long a head)."""
    got = bytearray()
    while (end := got.find(b"\r\n\r\n")) < 0:
        if len(got) > _MAX_HEAD:
            raise ValueError("the answer's head is too long")
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("closed before the answer")
        got += chunk
    lines = bytes(got[:end]).decode("latin-1").split("\r\n")
    version, status, _ = lines[0].split(" ", 2)
    fields = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        fields[name.strip().lower()] = value.strip()
    length = int(fields.get("content-length", "-1"))  # ValueError when it is no number
    if length < 0 or "transfer-encoding" in fields:
        raise ValueError("an answer without a Content-Length")
    body = got[end + 4 :]
    while len(body) < length:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("closed within the answer")
        body += chunk
    if len(body) != length:
        raise ValueError("more bytes than the answer's length")
    close = version != "HTTP/1.1" or fields.get("connection", "").lower() == "close"
    return int(status), close, bytes(body)


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
    """The HTTP client the gateway's calls go through (see `PooledHTTPClient`), with the
    settings' budget (`StripeSettings.budget`; not behind a proxy, where the library's own
    client is used: that process has no budget)."""
    if _behind_proxy(settings.api_base):
        return stripe.new_default_http_client(timeout=settings.timeout_s)
    return PooledHTTPClient(settings.timeout_s, budget=settings.budget())

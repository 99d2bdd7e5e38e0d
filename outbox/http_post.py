"""A small HTTP/1.1 client for webhook POSTs: one keep-alive connection per thread and
origin, on the standard library's `http.client`.

Measured in bench/outbox.py, httpx cost about 3x the CPU per request of this (its cost was
what limited deliveries per second on 2 cores). It follows no redirects, sends through no
proxy, and verifies TLS with the system's default context. A request on a reused connection
that the server had closed is sent again once on a fresh one: a webhook may then arrive
twice, which at-least-once delivery (same `webhook-id`) already allows.

Every new connection goes through the SSRF guard (`outbox.addresses`): the host is resolved,
every address it resolves to is checked against the allow-list, and the socket is opened to a
checked address, while the Host header and TLS (SNI and the certificate's name) keep the
URL's host. A refused host raises `TargetRefused` before any byte is sent.
"""

from __future__ import annotations

import http.client
import socket
import ssl
import threading
from dataclasses import dataclass

from outbox.addresses import (
    NO_ALLOW,
    AllowList,
    Resolver,
    parse_target,
    resolve_checked,
    system_resolver,
)

_STALE = (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError)
_READ_LIMIT = 1 << 16


@dataclass(frozen=True)
class Response:
    """What came back: status, headers (lower-case names), and the start of the body."""

    status: int
    headers: dict[str, str]
    body: bytes


class PostClient:
    """POSTs over per-thread keep-alive connections."""

    def __init__(
        self, timeout: float, allow: AllowList = NO_ALLOW, resolver: Resolver = system_resolver
    ) -> None:
        self.timeout = timeout
        self.allow = allow
        self.resolver = resolver
        self._local = threading.local()
        self._tls = ssl.create_default_context()

    def _connections(self) -> dict[tuple[str, str, int], http.client.HTTPConnection]:
        found: dict[tuple[str, str, int], http.client.HTTPConnection] | None = getattr(
            self._local, "connections", None
        )
        if found is None:
            found = {}
            self._local.connections = found
        return found

    def _connect(self, scheme: str, host: str, port: int) -> http.client.HTTPConnection:
        conn: http.client.HTTPConnection
        if scheme == "https":
            conn = http.client.HTTPSConnection(host, port, timeout=self.timeout, context=self._tls)
        else:
            conn = http.client.HTTPConnection(host, port, timeout=self.timeout)
        # http.client opens its socket through this hook (HTTPS wraps it afterwards, with
        # server_hostname=host): the guard decides where it goes, the URL's host stays in
        # the Host header and the TLS handshake.
        conn._create_connection = self._open_checked  # type: ignore[attr-defined]
        return conn

    def _open_checked(
        self,
        address: tuple[str, int],
        timeout: float | None = None,
        source_address: tuple[str, int] | None = None,
    ) -> socket.socket:
        host, port = address
        error: OSError | None = None
        for checked in resolve_checked(host, port, self.allow, self.resolver):
            try:
                return socket.create_connection((str(checked), port), timeout, source_address)
            except OSError as exc:
                error = exc
        assert error is not None  # resolve_checked returns at least one address
        raise error

    def post(self, url: str, body: bytes, headers: dict[str, str]) -> Response:
        """POST `body` to `url`; raises OSError or http.client.HTTPException on failure,
        InvalidEndpoint for a URL it cannot use, TargetRefused for a host the guard
        refuses. Redirects are answers like any other: never followed."""
        where = parse_target(url)
        key = (where.scheme, where.host, where.port)
        target = where.path
        pool = self._connections()
        for attempt in (1, 2):
            conn = pool.get(key)
            reused = conn is not None
            if conn is None:
                conn = pool[key] = self._connect(*key)
            try:
                conn.request("POST", target, body=body, headers=headers)
                response = conn.getresponse()
                data = response.read(_READ_LIMIT)
                if not response.isclosed():
                    # More than we keep: drop the connection rather than read it all.
                    conn.close()
                    pool.pop(key, None)
                elif response.will_close:
                    pool.pop(key, None)
                return Response(
                    status=response.status,
                    headers={k.lower(): v for k, v in response.getheaders()},
                    body=data,
                )
            except _STALE:
                conn.close()
                pool.pop(key, None)
                if not reused or attempt == 2:
                    raise
            except BaseException:
                conn.close()
                pool.pop(key, None)
                raise
        raise AssertionError("unreachable")

    def close(self) -> None:
        """Close this thread's connections (others close with their threads)."""
        for conn in self._connections().values():
            conn.close()
        self._connections().clear()

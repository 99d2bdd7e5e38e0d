"""A small HTTP/1.1 client for webhook POSTs: one keep-alive connection per thread and
origin, on the standard library's `http.client`.

Measured in bench/outbox.py, httpx cost about 3x the CPU per request of this (its cost was
what limited deliveries per second on 2 cores). It follows no redirects, sends through no
proxy, and verifies TLS with the system's default context. A request on a reused connection
that the server had closed is sent again once on a fresh one: a webhook may then arrive
twice, which at-least-once delivery (same `webhook-id`) already allows.
"""

from __future__ import annotations

import http.client
import ssl
import threading
from dataclasses import dataclass
from urllib.parse import urlsplit

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

    def __init__(self, timeout: float) -> None:
        self.timeout = timeout
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
        if scheme == "https":
            return http.client.HTTPSConnection(host, port, timeout=self.timeout, context=self._tls)
        return http.client.HTTPConnection(host, port, timeout=self.timeout)

    def post(self, url: str, body: bytes, headers: dict[str, str]) -> Response:
        """POST `body` to `url`; raises OSError or http.client.HTTPException on failure."""
        parts = urlsplit(url)
        scheme = parts.scheme
        if scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"not an http(s) URL: {url!r}")
        port = parts.port or (443 if scheme == "https" else 80)
        key = (scheme, parts.hostname, port)
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
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

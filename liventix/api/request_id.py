"""The request id: every API request carries one, as the `Request-Id` header.

A pure ASGI middleware, installed outermost: it takes the request's `Request-Id` when it is a
sane token (1 to 64 letters, digits, `-`, `_`, `.`, `:`), else makes one (32 hex digits);
sets it for the request's context (`liventix.logs.REQUEST_ID`: every record logged while the
request is served carries it, in the handler's worker thread too, since anyio copies the
context there); answers it in the response's `Request-Id` header; adds it as the
`request_id` member of a problem (`application/problem+json`: only those bodies are read,
the rest streams through untouched); and logs one line per request (`liventix.api.access`:
method, path, status, duration; off with `LIVENTIX_ACCESS_LOG=false`). With OpenTelemetry's
SDK installed and configured (e.g. by `opentelemetry-instrument`), each request is a span.
"""

from __future__ import annotations

import json
import logging
import os
import re
import sys
import time
from collections.abc import Awaitable, Callable, MutableMapping
from contextlib import AbstractContextManager, nullcontext
from typing import Any

from liventix.logs import ACCESS_LOGGER, REQUEST_ID

HEADER = "Request-Id"
_HEADER_KEY = b"request-id"
_VALID = re.compile(rb"^[A-Za-z0-9._:-]{1,64}$")
_PROBLEM = b"application/problem+json"

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
App = Callable[[Scope, Receive, Send], Awaitable[None]]

access = logging.getLogger(ACCESS_LOGGER)


def request_id_of(headers: list[tuple[bytes, bytes]]) -> str:
    """The request's own id when it is a sane token, else a new one."""
    for name, value in headers:
        if name == _HEADER_KEY and _VALID.match(value):
            return value.decode("ascii")
    return os.urandom(16).hex()


def tracer() -> Any:
    """An OpenTelemetry tracer when the package is installed and a tracer provider is
    configured (e.g. by `opentelemetry-instrument`), else None. FastAPI brings the API
    alone, whose default provider records nothing: asked per request, it would cost tens of
    microseconds for nothing, so the middleware asks once, when it is built."""
    trace = sys.modules.get("opentelemetry.trace")
    if trace is None:
        return None
    provider = trace.get_tracer_provider()
    if isinstance(provider, trace.ProxyTracerProvider | trace.NoOpTracerProvider):
        return None
    return provider.get_tracer("liventix.api")


def _span(tracer: Any, scope: Scope) -> AbstractContextManager[Any]:
    """The request's server span (none without a tracer)."""
    if tracer is None:
        return nullcontext()
    trace = sys.modules["opentelemetry.trace"]
    name = f"{scope.get('method', 'HTTP')} {scope.get('path', '')}"
    span: AbstractContextManager[Any] = tracer.start_as_current_span(
        name, kind=trace.SpanKind.SERVER
    )
    return span


class RequestIdMiddleware:
    """Gives every HTTP request an id: in its context, its logs, its answer (see module)."""

    def __init__(self, app: App) -> None:
        self.app = app
        self.tracer = tracer()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve the request under its id."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = request_id_of(scope.get("headers") or [])
        scope.setdefault("state", {})["request_id"] = request_id
        token = REQUEST_ID.set(request_id)
        started = time.perf_counter()
        answer = _Answer(send, request_id)
        try:
            with _span(self.tracer, scope):
                await self.app(scope, receive, answer.send)
        finally:
            if access.isEnabledFor(logging.INFO):
                _access_line(scope, answer.status, time.perf_counter() - started)
            REQUEST_ID.reset(token)


def _access_line(scope: Scope, status: int | None, seconds: float) -> None:
    """The request's access line, handed to the handlers as `access.info` would, without
    the search for the caller's source line that `info` makes for every record (a third of
    the line's cost; this line's source is always here)."""
    method, path = scope.get("method"), scope.get("path")
    record = access.makeRecord(
        access.name,
        logging.INFO,
        __file__,
        0,
        "%s %s %s",
        (method, path, status),
        None,
        extra={
            "method": method,
            "path": path,
            "status": status,
            "duration_ms": round(seconds * 1000, 3),
        },
    )
    access.handle(record)


class _Answer:
    """The response on its way out: the header added, a problem's body given the id."""

    def __init__(self, send: Send, request_id: str) -> None:
        self._send = send
        self.request_id = request_id
        self.status: int | None = None
        self._start: Message | None = None
        self._body: list[bytes] = []

    async def send(self, message: Message) -> None:
        """Pass the message on, holding a problem's start and body until it is whole."""
        if message["type"] == "http.response.start":
            self.status = int(message["status"])
            headers = [*message.get("headers", []), (_HEADER_KEY, self.request_id.encode())]
            message = {**message, "headers": headers}
            if any(n.lower() == b"content-type" and v.startswith(_PROBLEM) for n, v in headers):
                self._start = message
                return
        elif message["type"] == "http.response.body" and self._start is not None:
            self._body.append(message.get("body", b""))
            if message.get("more_body", False):
                return
            await self._send_problem()
            return
        await self._send(message)

    async def _send_problem(self) -> None:
        assert self._start is not None
        body = b"".join(self._body)
        try:
            problem = json.loads(body)
        except ValueError:
            problem = None
        if isinstance(problem, dict):
            problem["request_id"] = self.request_id
            body = json.dumps(problem, separators=(",", ":")).encode()
        headers = [
            (n, str(len(body)).encode() if n.lower() == b"content-length" else v)
            for n, v in self._start["headers"]
        ]
        await self._send({**self._start, "headers": headers})
        await self._send({"type": "http.response.body", "body": body, "more_body": False})

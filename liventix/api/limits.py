"""Limits on what a request may send, applied before anything reads, authenticates or parses
it: a pure ASGI middleware in front of the routes.

- **Body size**, per route (`body_limit`): a `Content-Length` above the limit is answered 413
  at once, without reading a byte of the body; a body without a length (chunked) is read up
  to the limit and cut off with 413 as soon as it passes it. A body within the limit is
  handed on whole, so nothing downstream reads more than the limit.
- **JSON nesting depth** (`MAX_JSON_DEPTH`): a body nested deeper is refused (422
  `json-too-deep`) before any parser sees it, by a scan of its brackets outside strings
  that recurses into nothing (`liventix.json_limits.json_depth`). Without it, JSON nested
  100,000 deep makes `json.loads` raise RecursionError, and any recursive walk of a parsed
  body can.

The Stripe webhook has its own size limit and checks depth itself once the signature
verified (its refusals are 400, as Stripe expects of a webhook: `liventix.stripe_events`).

Each limit is written in the OpenAPI document on the operations that take a body
(`x-max-body-bytes`, `x-max-json-depth`, and the 413 response): see `document_limits`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import anyio
import anyio.to_thread
from starlette.datastructures import Headers
from starlette.routing import compile_path
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from liventix.api import problems
from liventix.json_limits import MAX_JSON_DEPTH, too_deep
from liventix.stripe_events import MAX_EVENT_BYTES

KIB = 1024
MIB = 1024 * KIB

__all__ = [
    "BODY_LIMIT_EXTENSION",
    "DEFAULT_MAX_BODY_BYTES",
    "DEPTH_LIMIT_EXTENSION",
    "JSON_TOO_DEEP",
    "LIMIT_PROBLEMS",
    "MAX_JSON_DEPTH",
    "ROUTE_BODY_LIMITS",
    "BodyLimit",
    "RequestLimits",
    "body_limit",
    "request_limit",
]

DEFAULT_MAX_BODY_BYTES = 64 * KIB
"""Every request body, unless its route says otherwise."""
STRIPE_WEBHOOK_MAX_BYTES = MAX_EVENT_BYTES
"""Stripe's events are a few KB; 256 KB is generous."""

ROUTE_BODY_LIMITS: dict[tuple[str, str], int] = {
    # 500 lines and 500 conditions (about 120 bytes each), 50 metadata pairs, a description.
    ("POST", "/v1/entries"): 1 * MIB,
    # Up to 100,000 balance transactions of Stripe's list API (a few hundred bytes each).
    ("POST", "/v1/reports/stripe-reconciliation"): 32 * MIB,
    ("POST", "/v1/stripe/webhook"): STRIPE_WEBHOOK_MAX_BYTES,
}
"""Routes whose bodies may be larger (or must be smaller) than the default."""

OWN_DEPTH_CHECK: frozenset[tuple[str, str]] = frozenset({("POST", "/v1/stripe/webhook")})
"""Routes that check the depth themselves (after authenticating the body)."""

_SCAN_IN_LOOP = 256 * KIB

BODY_LIMIT_EXTENSION = "x-max-body-bytes"
DEPTH_LIMIT_EXTENSION = "x-max-json-depth"

JSON_TOO_DEEP = problems.ProblemType(
    422, "json-too-deep", "The JSON body is nested deeper than the API takes"
)
LIMIT_PROBLEMS = (problems.PAYLOAD_TOO_LARGE, JSON_TOO_DEEP)
"""The problems this module answers (PAYLOAD_TOO_LARGE is the API's own)."""


@dataclass(frozen=True)
class BodyLimit:
    """What one route's request body may be."""

    max_bytes: int
    max_depth: int | None  # None: the route checks the depth itself


def body_limit(method: str, path: str) -> BodyLimit:
    """The limit of a route, by its method and path template (`/v1/entries/{entry_id}`)."""
    key = (method.upper(), path)
    max_bytes = ROUTE_BODY_LIMITS.get(key, DEFAULT_MAX_BODY_BYTES)
    return BodyLimit(max_bytes, None if key in OWN_DEPTH_CHECK else MAX_JSON_DEPTH)


_TEMPLATES = [
    (method, re.compile(compile_path(template)[0].pattern), template)
    for method, template in sorted({*ROUTE_BODY_LIMITS, *OWN_DEPTH_CHECK})
]


def request_limit(method: str, path: str) -> BodyLimit:
    """The limit of a request, by its method and path (matched to the templates above; any
    other request has the default)."""
    for template_method, pattern, template in _TEMPLATES:
        if template_method == method.upper() and pattern.match(path):
            return body_limit(method, template)
    return body_limit(method, "")


class RequestLimits:
    """The ASGI middleware enforcing the body size and depth limits of each route (see the
    module)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Refuse an oversized or too deeply nested body; hand on the others whole."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        length = headers.get("content-length")
        chunked = "chunked" in headers.get("transfer-encoding", "").lower()
        if length is None and not chunked:
            await self.app(scope, receive, send)  # no body
            return
        limit = request_limit(str(scope.get("method", "")), str(scope.get("path", "")))
        if length is not None and length.strip().isdigit() and int(length) > limit.max_bytes:
            await self._refuse(
                scope,
                receive,
                send,
                problems.PAYLOAD_TOO_LARGE,
                f"the body is {int(length)} bytes; this operation takes at most {limit.max_bytes}",
                max_bytes=limit.max_bytes,
            )
            return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return  # the client left: nobody to answer
            chunk = bytes(message.get("body", b""))
            size += len(chunk)
            if size > limit.max_bytes:
                await self._refuse(
                    scope,
                    receive,
                    send,
                    problems.PAYLOAD_TOO_LARGE,
                    f"the body passed {limit.max_bytes} bytes, the most this operation takes",
                    max_bytes=limit.max_bytes,
                )
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        if limit.max_depth is not None and await _too_deep(body, limit.max_depth):
            await self._refuse(
                scope,
                receive,
                send,
                JSON_TOO_DEEP,
                f"the body nests arrays and objects deeper than {limit.max_depth}",
                max_depth=limit.max_depth,
            )
            return
        await self.app(scope, _replay(body, receive), send)

    async def _refuse(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        kind: problems.ProblemType,
        detail: str,
        **extensions: Any,
    ) -> None:
        # The rest of the body is never read: the server closes the connection after this.
        response = problems.problem_response(
            kind,
            detail,
            instance=str(scope.get("path", "")),
            headers={"Connection": "close"},
            **extensions,
        )
        await response(scope, receive, send)


async def _too_deep(body: bytes, limit: int) -> bool:
    if len(body) <= _SCAN_IN_LOOP:
        return too_deep(body, limit)
    # Tens of milliseconds per MB: a large body is scanned off the event loop.
    return await anyio.to_thread.run_sync(too_deep, body, limit)


def _replay(body: bytes, receive: Receive) -> Receive:
    """A `receive` that gives the body read ahead in one message, then waits on the
    client's (for its disconnect)."""
    sent = False

    async def replayed() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replayed

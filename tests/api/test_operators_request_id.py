"""Request ids and structured logs: every API request carries a `Request-Id` (its own when
sane, else a new one), echoed in the response, in problems (`request_id`) and in every log
record of the request, the handler's worker thread included; logs are one JSON object per
line (a console line on a terminal). Served by uvicorn on 127.0.0.1 as `create_app` builds the
API (the middleware, `liventix.api.request_id`, outermost)."""

from __future__ import annotations

import contextlib
import io
import json
import logging
import re
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from liventix import logs
from liventix.api import create_app
from liventix.api.request_id import RequestIdMiddleware
from tests.api.support import Served, idem, uvicorn_thread

HEX32 = re.compile(r"^[0-9a-f]{32}$")


@pytest.fixture
def captured() -> Iterator[io.StringIO]:
    """The process's logs as JSON lines in a buffer, the logging set-up restored after."""
    root = logging.getLogger()
    saved = (list(root.handlers), root.level)
    stream = io.StringIO()
    logs.configure("json", "INFO", stream=stream)
    try:
        yield stream
    finally:
        root.handlers[:] = saved[0]
        root.setLevel(saved[1])


def _records(stream: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stream.getvalue().splitlines() if line]


@pytest.fixture
def url(served: Served) -> Iterator[str]:
    """The API (on the session's database), with one more route that logs from its worker
    thread."""
    app = create_app(served.engine, gateway=None, stripe_webhook_secret=None, max_in_flight=4)

    def logs_in_a_thread() -> dict[str, str]:
        logging.getLogger("tests.handler").warning("inside the handler", extra={"step": 1})
        return {"ok": "yes"}

    extra = FastAPI()
    extra.add_api_route("/logs-in-a-thread", logs_in_a_thread)
    app.mount("/test", extra)
    assert any(getattr(m, "cls", None) is RequestIdMiddleware for m in app.user_middleware)
    with uvicorn_thread(app) as served_url:
        yield served_url


def test_a_request_gets_an_id_or_keeps_its_own(served: Served, url: str) -> None:
    with served.client(served.platform_key) as client:
        client.base_url = url
        made = client.get("/v1/accounts")
        kept = client.get("/v1/accounts", headers={"Request-Id": "ops-4711.retry:2"})
        for bad in (b"x" * 65, b"two words", "é".encode(), b""):
            replaced = client.get("/health", headers=[(b"Request-Id", bad)])
            assert HEX32.match(replaced.headers["request-id"])
    assert made.status_code == 200 and HEX32.match(made.headers["request-id"])
    assert kept.headers["request-id"] == "ops-4711.retry:2"


def test_a_problem_carries_the_request_id(served: Served, url: str) -> None:
    with served.client(None) as anonymous:
        anonymous.base_url = url
        refused = anonymous.get("/v1/accounts", headers={"Request-Id": "req-401"})
    assert refused.status_code == 401
    assert refused.headers["content-type"] == "application/problem+json"
    assert refused.headers["request-id"] == "req-401"
    assert refused.json()["request_id"] == "req-401"
    assert refused.json()["type"].endswith("/unauthenticated")
    assert int(refused.headers["content-length"]) == len(refused.content)
    with served.client(served.platform_key) as client:
        client.base_url = url
        invalid = client.post("/v1/accounts", json={"code": ""}, headers=idem())
    assert invalid.status_code == 422
    assert invalid.json()["request_id"] == invalid.headers["request-id"]


def test_the_logs_of_a_request_carry_its_id_in_json(
    served: Served, url: str, captured: io.StringIO
) -> None:
    with served.client(served.platform_key) as client:
        client.base_url = url
        answered = client.get("/test/logs-in-a-thread", headers={"Request-Id": "req-logs"})
        client.get("/v1/accounts", headers={"Request-Id": "req-access"})
    assert answered.status_code == 200
    records = _records(captured)
    [inside] = [r for r in records if r["logger"] == "tests.handler"]
    assert inside["request_id"] == "req-logs"
    assert (inside["level"], inside["message"], inside["step"]) == (
        "warning",
        "inside the handler",
        1,
    )
    access = {r["request_id"]: r for r in records if r["logger"] == "liventix.api.access"}
    assert access["req-access"]["status"] == 200
    assert access["req-access"]["path"] == "/v1/accounts"
    assert access["req-access"]["method"] == "GET"
    assert access["req-access"]["duration_ms"] >= 0
    # Outside a request, no request id.
    logging.getLogger("tests.outside").error("no request here")
    [outside] = [r for r in _records(captured) if r["logger"] == "tests.outside"]
    assert "request_id" not in outside


def test_json_and_console_formats(captured: io.StringIO) -> None:
    log = logging.getLogger("tests.formats")
    try:
        raise ValueError("broken")
    except ValueError:
        log.exception("failed", extra={"delivery_id": 7, "channel": "email"})
    [record] = [r for r in _records(captured) if r["logger"] == "tests.formats"]
    assert (record["level"], record["delivery_id"], record["channel"]) == ("error", 7, "email")
    assert "ValueError: broken" in record["exception"]
    assert record["time"].endswith("+00:00")

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    terminal = Terminal()
    logs.configure("auto", "INFO", stream=terminal)
    token = logs.REQUEST_ID.set("req-tty")
    try:
        log.warning("on a terminal")
    finally:
        logs.REQUEST_ID.reset(token)
    line = terminal.getvalue().strip()
    assert line.endswith("WARNING tests.formats: on a terminal [req-tty]"), line
    assert not line.startswith("{")
    assert captured.getvalue().count("on a terminal") == 0  # configured again: replaced


def test_with_an_opentelemetry_provider_each_request_is_a_span(
    monkeypatch: pytest.MonkeyPatch, captured: io.StringIO
) -> None:
    """FastAPI brings OpenTelemetry's API; a provider configured (as the SDK or
    `opentelemetry-instrument` would) makes each request a server span, whose ids the
    request's log records carry. Without one, no tracer is asked for (its cost is nil)."""
    from opentelemetry import trace  # noqa: PLC0415

    from liventix.api import request_id  # noqa: PLC0415

    assert request_id.tracer() is None  # the API's default provider records nothing
    spans: list[tuple[str, object]] = []
    context = trace.SpanContext(
        trace_id=0x0AF7651916CD43DD8448EB211C80319C,
        span_id=0x00F067AA0BA902B7,
        is_remote=False,
        trace_flags=trace.TraceFlags(trace.TraceFlags.SAMPLED),
    )

    class Tracer(trace.NoOpTracer):
        @contextlib.contextmanager
        def start_as_current_span(  # type: ignore[override]
            self, name: str, kind: object = None, **kwargs: object
        ) -> Iterator[trace.Span]:
            spans.append((name, kind))
            with trace.use_span(trace.NonRecordingSpan(context)) as span:
                yield span

    class Provider(trace.TracerProvider):
        def get_tracer(self, *args: object, **kwargs: object) -> trace.Tracer:
            return Tracer()

    monkeypatch.setattr(trace, "get_tracer_provider", Provider)

    def traced() -> dict[str, str]:
        logging.getLogger("tests.traced").warning("inside a span")
        return {}

    app = FastAPI()
    app.add_api_route("/traced", traced)
    with uvicorn_thread(RequestIdMiddleware(app)) as url:  # type: ignore[arg-type]
        assert httpx.get(f"{url}/traced", headers={"Request-Id": "req-span"}).status_code == 200
    # FastAPI makes spans of its own inside (dependencies, the route): ours is the server's.
    servers = [s for s in spans if s[1] == trace.SpanKind.SERVER]
    assert servers == [("GET /traced", trace.SpanKind.SERVER)]
    assert spans[0] == servers[0]  # the outermost
    [inside] = [r for r in _records(captured) if r["logger"] == "tests.traced"]
    assert inside["trace_id"] == "0af7651916cd43dd8448eb211c80319c"
    assert inside["span_id"] == "00f067aa0ba902b7"
    assert inside["request_id"] == "req-span"

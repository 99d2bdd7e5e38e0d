"""Structured logs for the API and the workers: stdlib logging, one JSON object per line (or
a console line on a terminal), each record carrying the request id of the API request it was
logged in (`REQUEST_ID`, set by `liventix.api.request_id`) and, when OpenTelemetry is
installed and a span is recording, its trace and span ids.

`configure(format, level)` installs one handler on the root logger, once per process: the
API's server processes and the workers call it at start (`LIVENTIX_LOG_FORMAT`,
`LIVENTIX_LOG_LEVEL`); uvicorn's own loggers propagate to it.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from contextvars import ContextVar
from typing import Any, TextIO

REQUEST_ID: ContextVar[str | None] = ContextVar("liventix_request_id", default=None)
"""The id of the API request being served in this context (None outside a request)."""

# What every LogRecord has: the rest of a record's attributes are the `extra` given to it.
_STANDARD = set(logging.makeLogRecord({}).__dict__) | {"message", "asctime", "taskName"}


def _trace_ids() -> dict[str, str]:
    """The current OpenTelemetry span's ids, when the package is there and a span records."""
    trace = sys.modules.get("opentelemetry.trace")
    if trace is None:
        return {}
    context = trace.get_current_span().get_span_context()
    if not context.is_valid:
        return {}
    return {"trace_id": f"{context.trace_id:032x}", "span_id": f"{context.span_id:016x}"}


class ContextFilter(logging.Filter):
    """Gives every record the request id (and trace ids) of the context it is logged in."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Annotate the record; never drops one."""
        if not hasattr(record, "request_id"):
            record.request_id = REQUEST_ID.get()
        for key, value in _trace_ids().items():
            setattr(record, key, value)
        return True


# One encoder for every record: json.dumps with arguments builds a new one per call.
_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))


_SECOND: list[tuple[int, str]] = [(-1, "")]
"""The last second formatted (`_utc_time`) with its text, as one tuple (read and replaced
whole: safe across threads): records come many a second."""


def _utc_time(created: float) -> str:
    """`created` as ISO 8601 in UTC to the millisecond (datetime's way costs several times more;
    the second's text is formatted once a second, not once a record)."""
    seconds = int(created)
    millis = int((created - seconds) * 1000)
    last, text = _SECOND[0]
    if last != seconds:
        text = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds))
        _SECOND[0] = (seconds, text)
    return f"{text}.{millis:03d}+00:00"


class JsonFormatter(logging.Formatter):
    """One JSON object per record: time, level, logger, message, request id, the extras."""

    def format(self, record: logging.LogRecord) -> str:
        """The record as one line of JSON."""
        body: dict[str, Any] = {
            "time": _utc_time(record.created),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in record.__dict__.items():
            if key not in _STANDARD and value is not None:
                body[key] = value if isinstance(value, str | int | float | bool) else str(value)
        if record.exc_info:
            body["exception"] = self.formatException(record.exc_info)
        return _ENCODER.encode(body)


class ConsoleFormatter(logging.Formatter):
    """A line for a person at a terminal, the request id in brackets when there is one."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)-7s %(name)s: %(message)s", "%H:%M:%S")

    def format(self, record: logging.LogRecord) -> str:
        """The record as one line (and its traceback)."""
        line = super().format(record)
        request_id = getattr(record, "request_id", None)
        return f"{line} [{request_id}]" if request_id else line


def _formatter(fmt: str, stream: TextIO) -> logging.Formatter:
    if fmt == "console" or (fmt == "auto" and stream.isatty()):
        return ConsoleFormatter()
    return JsonFormatter()


_HANDLER_NAME = "liventix"


ACCESS_LOGGER = "liventix.api.access"


def configure(
    fmt: str = "auto",
    level: str = "INFO",
    stream: TextIO | None = None,
    *,
    access_log: bool = True,
) -> None:
    """Log to `stream` (stderr) in `fmt` (json, console, or auto: console on a terminal)
    from `level` up, the API's access lines unless `access_log` is false; uvicorn's loggers
    go the same way. Configuring again replaces it."""
    stream = stream if stream is not None else sys.stderr
    root = logging.getLogger()
    for handler in list(root.handlers):
        if handler.get_name() == _HANDLER_NAME:
            root.removeHandler(handler)
    handler = logging.StreamHandler(stream)
    handler.set_name(_HANDLER_NAME)
    handler.setFormatter(_formatter(fmt, stream))
    handler.addFilter(ContextFilter())
    root.addHandler(handler)
    root.setLevel(level)
    # Neither formatter shows the thread, the process or its name: not looked up per record.
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False
    # Off, the access logger is not even asked to build a record (a request's cheapest way).
    logging.getLogger(ACCESS_LOGGER).setLevel(logging.NOTSET if access_log else logging.WARNING)
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        uvicorn_logger = logging.getLogger(name)
        uvicorn_logger.handlers.clear()
        uvicorn_logger.propagate = True

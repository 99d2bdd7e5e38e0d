"""What the outbox's tests share: the payload models they publish, a recording HTTP receiver
on 127.0.0.1, an SMTP mailbox, worker processes started through the CLI, and waiting helpers
that are always bounded in time.
"""

from __future__ import annotations

import email
import json
import os
import queue
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import sqlalchemy as sa
from aiosmtpd.smtp import SMTP, Envelope, Session
from pydantic import BaseModel

import outbox

ORG = uuid.UUID("00000000-0000-0000-0000-0000000000aa")
OTHER_ORG = uuid.UUID("00000000-0000-0000-0000-0000000000bb")


class TicketIssued(BaseModel):
    """Payload of `test.ticket_issued`."""

    ticket_id: str
    amount: int


class Step(BaseModel):
    """Payload of `test.step`: the `seq`-th message about aggregate `aggregate`."""

    aggregate: str
    seq: int


outbox.register_message_type("test.ticket_issued", TicketIssued)
outbox.register_message_type("test.step", Step)

# The tests' receivers listen on 127.0.0.1, which webhooks may reach only when allowed.
LOOPBACK = outbox.parse_allow("127.0.0.1/32")
LOOPBACK_ENV = "127.0.0.1/32"

# Fast retries so a test sees a whole schedule in well under a second.
FAST = outbox.WorkerSettings(
    webhook_allow=LOOPBACK,
    poll_interval=0.05,
    retry=outbox.RetryPolicy(schedule=(0.05, 0.05, 0.05)),
    request_timeout=5.0,
    prune_every=3600.0,
)


def fast_retry(*waits: float) -> outbox.RetryPolicy:
    """A retry policy with the given waits and no jitter."""
    return outbox.RetryPolicy(schedule=tuple(waits), jitter=0.0)


def publish_step(
    conn: sa.Connection,
    aggregate: str,
    seq: int,
    *,
    org_id: uuid.UUID | None = ORG,
    dedup_key: str | None = None,
    emails: Sequence[outbox.Email] = (),
) -> uuid.UUID:
    """Publish `test.step` number `seq` of `aggregate` on the caller's transaction."""
    return outbox.publish(
        conn,
        type="test.step",
        payload=Step(aggregate=aggregate, seq=seq),
        aggregate_type="step",
        aggregate_id=aggregate,
        org_id=org_id,
        dedup_key=dedup_key,
        emails=emails,
    )


# --- waiting -------------------------------------------------------------------------------


def wait_until(
    condition: Callable[[], bool], timeout: float, what: str, interval: float = 0.02
) -> None:
    """Return once `condition()` holds; fail the test after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(interval)


def drain(worker: outbox.Worker, condition: Callable[[], bool], timeout: float, what: str) -> None:
    """Run `worker` round after round until `condition()` holds, at most `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        worker.run_once()
        if condition():
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.01)


# --- the database --------------------------------------------------------------------------


def rows(engine: sa.Engine, sql: str, **params: Any) -> list[sa.Row[Any]]:
    """Every row of a query, in its own transaction."""
    with engine.begin() as conn:
        return list(conn.execute(sa.text(sql), params).all())


def scalar(engine: sa.Engine, sql: str, **params: Any) -> Any:
    """The single value of a query, in its own transaction."""
    with engine.begin() as conn:
        return conn.execute(sa.text(sql), params).scalar_one()


def statuses(engine: sa.Engine) -> Counter[str]:
    """How many deliveries are in each status."""
    return Counter(
        {
            r.status: r.n
            for r in rows(
                engine, "SELECT status, count(*) AS n FROM messaging.deliveries GROUP BY status"
            )
        }
    )


def all_succeeded(engine: sa.Engine, expected: int) -> Callable[[], bool]:
    """A condition: exactly `expected` deliveries exist and every one succeeded."""

    def check() -> bool:
        return statuses(engine) == Counter({"succeeded": expected})

    return check


# --- the HTTP receiver ---------------------------------------------------------------------


@dataclass(frozen=True)
class Reply:
    """How the receiver answers one request."""

    status: int = 200
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes = b"ok"
    delay: float = 0.0


@dataclass(frozen=True)
class Request:
    """One request as the receiver saw it. `seq` is its arrival tick on the receiver's clock
    (arrivals and completions share one counter); `try_no` counts requests with the same
    path and webhook-id, this one included."""

    seq: int
    path: str
    headers: dict[str, str]
    body: bytes
    status: int
    try_no: int

    @property
    def webhook_id(self) -> str:
        """The `webhook-id` header."""
        return self.headers["webhook-id"]

    def envelope(self) -> dict[str, Any]:
        """The JSON body."""
        data: dict[str, Any] = json.loads(self.body)
        return data


Policy = Callable[[str, str, int], Reply]
"""Chooses the reply from (path, webhook-id, try number). It runs under the receiver's lock:
it must not call the receiver."""


def always(status: int = 200, **kwargs: Any) -> Policy:
    """A policy answering every request the same way."""
    reply = Reply(status=status, **kwargs)
    return lambda path, webhook_id, try_no: reply


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    # Workers open many connections at once; the default backlog of 5 drops SYNs.
    request_queue_size = 256
    receiver: Receiver

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A killed worker leaves half-finished connections behind: not the test's failure.
        pass


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def do_POST(self) -> None:
        receiver = self.server.receiver
        body = self.rfile.read(int(self.headers.get("content-length") or 0))
        headers = {k.lower(): v for k, v in self.headers.items()}
        request, reply = receiver._arrive(self.path, headers, body)
        try:
            if reply.delay:
                time.sleep(reply.delay)
            # Noted before the reply is written, so strictly before the worker can read it.
            receiver._replying(request)
            self.send_response(reply.status)
            for name, value in reply.headers.items():
                self.send_header(name, value)
            self.send_header("content-length", str(len(reply.body)))
            self.end_headers()
            self.wfile.write(reply.body)
            self.wfile.flush()
        finally:
            receiver._leave(request)

    def log_message(self, format: str, *args: object) -> None:
        pass


class Receiver:
    """A threaded HTTP server on 127.0.0.1 that records every request and answers as its
    `policy` says. It also notes any moment when two requests with the same path and
    webhook-id were in flight at once (`overlaps`)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._tick = 0
        self._requests: list[Request] = []
        self._tries: Counter[tuple[str, str]] = Counter()
        self._in_flight: Counter[tuple[str, str]] = Counter()
        self._finished: dict[int, int] = {}
        self.overlaps: list[tuple[str, str]] = []
        self.policy: Policy = always(200)
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.receiver = self
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def port(self) -> int:
        """The port it listens on."""
        return int(self._server.server_address[1])

    def url(self, path: str = "/hook") -> str:
        """An endpoint URL on this receiver."""
        return f"http://127.0.0.1:{self.port}{path}"

    def start(self) -> None:
        """Serve in a background thread."""
        self._thread.start()

    def close(self) -> None:
        """Stop serving and release the port."""
        self._server.shutdown()
        self._server.server_close()

    @property
    def requests(self) -> list[Request]:
        """Every request so far, in arrival order."""
        with self._lock:
            return list(self._requests)

    def count(self) -> int:
        """How many requests arrived so far."""
        with self._lock:
            return len(self._requests)

    def finished_at(self, request: Request) -> int | None:
        """The tick just before the reply to `request` was written, if it was."""
        with self._lock:
            return self._finished.get(request.seq)

    def _arrive(self, path: str, headers: dict[str, str], body: bytes) -> tuple[Request, Reply]:
        key = (path, headers.get("webhook-id", ""))
        with self._lock:
            self._tick += 1
            self._tries[key] += 1
            try_no = self._tries[key]
            reply = self.policy(path, key[1], try_no)
            request = Request(self._tick, path, headers, body, reply.status, try_no)
            self._requests.append(request)
            self._in_flight[key] += 1
            if self._in_flight[key] > 1:
                self.overlaps.append(key)
        return request, reply

    def _replying(self, request: Request) -> None:
        with self._lock:
            self._tick += 1
            self._finished[request.seq] = self._tick

    def _leave(self, request: Request) -> None:
        with self._lock:
            self._in_flight[(request.path, request.headers.get("webhook-id", ""))] -= 1


# --- the SMTP mailbox ----------------------------------------------------------------------


class Mailbox:
    """An aiosmtpd handler that keeps every message it accepts."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._messages: list[tuple[list[str], Message]] = []

    # aiosmtpd looks the hook up by this exact name.
    async def handle_DATA(  # noqa: N802
        self, server: SMTP, session: Session, envelope: Envelope
    ) -> str:
        """Accept and keep the message."""
        content = envelope.content
        raw = content if isinstance(content, bytes) else str(content).encode()
        with self._lock:
            self._messages.append((list(envelope.rcpt_tos), email.message_from_bytes(raw)))
        return "250 Message accepted for delivery"

    @property
    def messages(self) -> list[tuple[list[str], Message]]:
        """(recipients, message) for every accepted message, in arrival order."""
        with self._lock:
            return list(self._messages)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# --- worker processes ----------------------------------------------------------------------


class WorkerProcess:
    """`python -m liventix worker ...` as its own OS process, its output collected."""

    def __init__(self, env: Mapping[str, str], args: Sequence[str]) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "liventix", "worker", *args],
            env=dict(env),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self._lines: queue.Queue[str] = queue.Queue()
        self.output: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.output.append(line)
            self._lines.put(line)

    def wait_ready(self, timeout: float = 120.0) -> None:
        """Return once the worker said it is running (its signal handlers are installed).
        Generous: on two shared cores with the suite's other process busy, a worker's start-up
        (Python, imports, its connections) took over 30 s."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"worker not running after {timeout} s: {self.text()}")
            try:
                line = self._lines.get(timeout=min(left, 0.1))
            except queue.Empty:
                if self.proc.poll() is not None:
                    raise AssertionError(f"worker exited early: {self.text()}") from None
                continue
            if ": running" in line:
                return

    def signal(self, signum: signal.Signals) -> None:
        """Send a signal to the worker."""
        self.proc.send_signal(signum)

    def wait(self, timeout: float) -> int:
        """Wait for the worker to exit; its status."""
        code = self.proc.wait(timeout=timeout)
        self._reader.join(timeout=5)
        return code

    def text(self) -> str:
        """Everything it printed so far."""
        return "".join(self.output)

    def close(self) -> None:
        """Kill it if it still runs (tests call this in `finally`)."""
        if self.proc.poll() is None:
            self.proc.kill()
        try:
            self.proc.wait(timeout=10)
        finally:
            # The pipe reaches EOF once the process is gone; let the reader finish first.
            self._reader.join(timeout=5)
            if self.proc.stdout is not None:
                self.proc.stdout.close()


MakeWorker = Callable[..., outbox.Worker]
"""make_worker(name=None, **WorkerSettings overrides) -> an in-process worker."""

SpawnWorker = Callable[..., WorkerProcess]
"""spawn_worker(*cli args, env=None) -> a started worker process."""


def worker_env(server_url: str, database: str, **extra: str) -> dict[str, str]:
    """The environment of a CLI process using the test's database on the test's server."""
    env = dict(os.environ)
    env.update(
        DATABASE_URL=server_url,
        LIVENTIX_DB_NAME=database,
        LIVENTIX_WEBHOOK_ALLOW=LOOPBACK_ENV,
        PYTHONUNBUFFERED="1",
        **extra,
    )
    return env


def run_cli(env: Mapping[str, str], *args: str, timeout: float = 30.0) -> str:
    """Run `python -m liventix <args>` to completion; its output (fails on a non-zero exit)."""
    done = subprocess.run(
        [sys.executable, "-m", "liventix", *args],
        env=dict(env),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout

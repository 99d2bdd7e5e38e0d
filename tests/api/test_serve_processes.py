"""`liventix serve --processes 2` as a real process: two uvicorn servers in children sharing
one listening socket, each answering authenticated requests on its own engine; a child
killed is reported and replaced; SIGTERM stops the parent and every child."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import psutil  # type: ignore[import-untyped]
import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url

from liventix.database import make_engine
from tests.api.support import new_org

START_TIMEOUT = 60.0


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _wait_for(what: str, check: Callable[[], bool], process: subprocess.Popen[bytes]) -> None:
    """Wait until `check()` holds (a bound on the wait, not a timing assertion)."""
    deadline = time.monotonic() + START_TIMEOUT
    while not check():
        assert process.poll() is None, f"liventix serve exited while waiting for {what}"
        assert time.monotonic() < deadline, f"gave up waiting for {what}"
        time.sleep(0.1)


def _servers(parent: int) -> set[int]:
    """The pids of `parent`'s children that serve (multiprocessing's resource tracker aside)."""
    found = set()
    for child in psutil.Process(parent).children():
        try:
            if "resource_tracker" not in " ".join(child.cmdline()):
                found.add(child.pid)
        except psutil.NoSuchProcess:
            continue
    return found


def _started(log: Path, pids: set[int], servers_so_far: int) -> bool:
    """Every one of `pids` said its uvicorn server started, and as many apps as servers
    started so far are ready to answer."""
    text = log.read_text(errors="replace")
    ready = text.count("Application startup complete")
    return all(f"Started server process [{pid}]" in text for pid in pids) and (
        ready >= servers_so_far
    )


def _listening(pid: int, port: int) -> bool:
    try:
        sockets = psutil.Process(pid).net_connections(kind="tcp")
    except psutil.NoSuchProcess:
        return False
    return any(s.status == psutil.CONN_LISTEN and s.laddr.port == port for s in sockets)


def _answers(url: str, token: str) -> bool:
    """An authenticated read on a fresh connection answers 200 (the kernel hands each new
    connection to one of the servers)."""
    try:
        with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}) as client:
            return client.get("/v1/accounts", timeout=5).status_code == 200
    except httpx.TransportError:
        return False


@pytest.fixture
def org_token(db_url: str) -> Iterator[str]:
    engine = make_engine(db_url, poolclass=sa.pool.NullPool)
    try:
        _org, token = new_org(engine, "Two processes")
        yield token
    finally:
        engine.dispose()


def test_serve_with_two_processes(
    pg_server_url: str, db_url: str, org_token: str, tmp_path: Path
) -> None:
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    env = {
        **os.environ,
        "DATABASE_URL": pg_server_url,
        "LIVENTIX_DB_NAME": str(make_url(db_url).database),
        "PYTHONUNBUFFERED": "1",
    }
    log_path = tmp_path / "serve.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "liventix", "serve", "--port", str(port), "--processes", "2"],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
    try:
        _wait_for("two servers", lambda: len(_servers(process.pid)) == 2, process)
        first = _servers(process.pid)
        _wait_for("both started", lambda: _started(log_path, first, 2), process)
        # The parent bound the socket once; only the children accept on it.
        assert all(_listening(pid, port) for pid in first)
        for _ in range(20):
            assert _answers(url, org_token)
        assert httpx.get(f"{url}/v1/accounts", timeout=5).status_code == 401

        # A child that dies is reported and replaced; the other one serves meanwhile.
        killed = min(first)
        os.kill(killed, signal.SIGKILL)
        _wait_for(
            "a replacement",
            lambda: killed not in _servers(process.pid) and len(_servers(process.pid)) == 2,
            process,
        )
        second = _servers(process.pid)
        assert second - first, "no new server process"
        _wait_for("the replacement started", lambda: _started(log_path, second, 3), process)
        for _ in range(20):
            assert _answers(url, org_token)

        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=60) == 0
        for pid in second:
            assert (
                not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
            )
        with pytest.raises(httpx.TransportError):
            httpx.get(f"{url}/health", timeout=2)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    text = log_path.read_text(errors="replace")
    assert f"(pid {killed}) exited with status -9" in text, text[-3000:]
    assert "stopped 2 processes" in text, text[-3000:]

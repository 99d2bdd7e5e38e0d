"""An on-sale's buyers are spread over `liventix serve --processes 2`: each child listens on a
socket of its own on the one port (`SO_REUSEPORT`), and the kernel hands each new connection
to one of them by a hash of its addresses. On one shared socket, the first child to wake took
every connection waiting (bench.onsale's 64 buyers split about 2 to 1, and the busier child
queued for its request slots). A real `liventix serve` process, real connections."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import psutil  # type: ignore[import-untyped]
import sqlalchemy as sa
from sqlalchemy.engine import make_url

from liventix.database import make_engine
from tests.api.support import new_org, serving_children, wait_for_serve
from tests.support import free_port

START_TIMEOUT = 120.0
CONNECTIONS = 40
"""Keep-alive connections opened at once, as an on-sale's buyers open them. A child gets
none of them with probability 2 x 2^-40 when the kernel spreads them by hash."""


def _wait_for(what: str, check: Callable[[], bool], process: subprocess.Popen[bytes]) -> None:
    wait_for_serve(what, check, process, START_TIMEOUT)


def _listening_inodes(proc: psutil.Process, port: int) -> set[int]:
    """The inodes of the listening sockets on `port` that `proc` holds."""
    listening = {
        c.fd
        for c in proc.net_connections(kind="tcp")
        if c.status == psutil.CONN_LISTEN and c.laddr.port == port
    }
    inodes = set()
    for fd in listening:
        target = os.readlink(f"/proc/{proc.pid}/fd/{fd}")  # socket:[inode]
        inodes.add(int(target.strip("socket:[]")))
    return inodes


def _ready(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=2) as s:
            s.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            return s.recv(64).startswith(b"HTTP/1.1 200")
    except OSError:
        return False


def _established(proc: psutil.Process, port: int) -> int:
    return sum(
        1
        for c in proc.net_connections(kind="tcp")
        if c.status == psutil.CONN_ESTABLISHED and c.laddr.port == port
    )


def test_each_child_listens_on_its_own_socket_and_the_buyers_are_spread(
    pg_server_url: str, db_url: str, tmp_path: Path
) -> None:
    engine = make_engine(db_url, poolclass=sa.pool.NullPool)
    try:
        _org, token = new_org(engine, "Spread")
    finally:
        engine.dispose()
    port = free_port()
    env = {
        **os.environ,
        "DATABASE_URL": pg_server_url,
        "LIVENTIX_DB_NAME": str(make_url(db_url).database),
        "PYTHONUNBUFFERED": "1",
    }
    with (tmp_path / "serve.log").open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "liventix", "serve", "--port", str(port), "--processes", "2"],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
    buyers: list[socket.socket] = []
    try:
        _wait_for("two servers", lambda: len(serving_children(process.pid)) == 2, process)
        children = serving_children(process.pid)
        _wait_for(
            "both listening",
            lambda: all(_listening_inodes(c, port) for c in children) and _ready(port),
            process,
        )
        first, second = (_listening_inodes(c, port) for c in children)
        assert len(first) == 1 and len(second) == 1
        assert first != second, "the children share one listening socket"

        # The buyers connect at once, then each asks once on its kept connection.
        for _ in range(CONNECTIONS):
            buyers.append(socket.create_connection(("127.0.0.1", port), timeout=30))
        request = (
            f"GET /v1/accounts HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\n\r\n"
        ).encode()
        for buyer in buyers:
            buyer.sendall(request)
        for buyer in buyers:
            assert buyer.recv(64).startswith(b"HTTP/1.1 200")
        counts = [_established(c, port) for c in children]
        assert sum(counts) == CONNECTIONS
        assert min(counts) > 0, f"every buyer went to one child: {counts}"
    finally:
        for buyer in buyers:
            buyer.close()
        process.terminate()
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

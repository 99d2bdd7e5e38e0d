"""`liventix serve --processes 2` as a real process: two uvicorn servers in children, each on
a listening socket of its own on the one port (`SO_REUSEPORT`), each answering authenticated
requests on its own engine; a child killed is reported and replaced; SIGTERM stops the parent
and every child. And the port is the server's alone: while anything else listens on it (a
stale `liventix serve`, whose sockets have `SO_REUSEPORT` too), the group is refused, and
`liventix serve` exits with status 2, where Linux would have let it join and split the
clients between the two."""

from __future__ import annotations

import errno
import os
import select
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

from liventix.api.server import ServeError, _listen_each
from liventix.database import make_engine
from tests.api.support import new_org, serving_children, wait_for_serve
from tests.support import free_port

START_TIMEOUT = 60.0


def _wait_for(what: str, check: Callable[[], bool], process: subprocess.Popen[bytes]) -> None:
    wait_for_serve(what, check, process, START_TIMEOUT)


def _servers(parent: int) -> set[int]:
    """The pids of `parent`'s children that serve."""
    return {child.pid for child in serving_children(parent)}


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


def _serve_env(pg_server_url: str, db_url: str) -> dict[str, str]:
    return {
        **os.environ,
        "DATABASE_URL": pg_server_url,
        "LIVENTIX_DB_NAME": str(make_url(db_url).database),
        "PYTHONUNBUFFERED": "1",
    }


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
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = _serve_env(pg_server_url, db_url)
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
        # The parent bound one socket per child; each child listens on the port.
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


def _listener(host: str, port: int, *, reuse_port: bool) -> socket.socket:
    """Someone else listening on (host, port): with `reuse_port`, as a `liventix serve`
    child's socket does (or a server of the same user that sets `SO_REUSEPORT`)."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if reuse_port:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    sock.listen()
    return sock


def _close(socks: list[socket.socket]) -> None:
    for sock in socks:
        sock.close()


@pytest.mark.parametrize("port", ["free", 0])
def test_the_group_binds_one_listening_socket_per_child_on_one_port(port: str | int) -> None:
    asked = free_port() if port == "free" else 0
    socks = _listen_each("127.0.0.1", asked, 3)
    try:
        assert len({sock.fileno() for sock in socks}) == 3
        (bound,) = {sock.getsockname() for sock in socks}
        assert bound[0] == "127.0.0.1"
        assert bound[1] == asked or (asked == 0 and bound[1] != 0)
        for sock in socks:
            assert sock.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN) == 1
            assert sock.getsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT) == 1
            assert sock.get_inheritable()
    finally:
        _close(socks)


@pytest.mark.parametrize(
    ("other", "reuse_port"),
    [
        ("127.0.0.1", True),  # a stale liventix serve's socket, or another group's
        ("127.0.0.1", False),  # a server in one process (uvicorn's own socket)
        ("0.0.0.0", True),  # on every address, the group's one among them
    ],
)
def test_a_port_something_listens_on_is_refused(other: str, reuse_port: bool) -> None:
    foreign = _listener(other, 0, reuse_port=reuse_port)
    port = foreign.getsockname()[1]
    try:
        with pytest.raises(ServeError, match=f"127.0.0.1:{port}: .*Address already in use"):
            _listen_each("127.0.0.1", port, 2)
    finally:
        foreign.close()
    # The listener was what stood in the way: with it gone, the port binds.
    socks = _listen_each("127.0.0.1", port, 2)
    _close(socks)
    assert len(socks) == 2


def test_a_second_group_on_a_served_port_is_refused() -> None:
    first = _listen_each("127.0.0.1", 0, 2)
    port = first[0].getsockname()[1]
    try:
        with pytest.raises(ServeError, match="Address already in use"):
            _listen_each("127.0.0.1", port, 2)
        # The first group still serves: a connection is accepted by one of its sockets.
        with socket.create_connection(("127.0.0.1", port), timeout=10):
            ready, _, _ = select.select(first, [], [], 10)
            assert ready
            conn, _ = ready[0].accept()
            conn.close()
    finally:
        _close(first)


def _time_wait_on(port: int) -> bool:
    return any(
        c.status == psutil.CONN_TIME_WAIT and c.laddr.port == port
        for c in psutil.net_connections(kind="tcp4")
    )


def test_a_port_whose_last_connections_linger_binds_again() -> None:
    """The server's side of a connection it closed first waits in TIME_WAIT; the probe has
    `SO_REUSEADDR`, so a server restarted at once binds its port anyway."""
    first = _listen_each("127.0.0.1", 0, 2)
    port = first[0].getsockname()[1]
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=10) as client:
            ready, _, _ = select.select(first, [], [], 10)
            assert ready
            conn, _ = ready[0].accept()
            conn.close()  # the server closes first
            assert client.recv(1) == b""
    finally:
        _close(first)
    deadline = time.monotonic() + START_TIMEOUT
    while not _time_wait_on(port):
        assert time.monotonic() < deadline, "no connection in TIME_WAIT"
        time.sleep(0.05)
    # A bind without SO_REUSEADDR would fail here; the group's does not.
    with socket.socket() as plain, pytest.raises(OSError) as refused:
        plain.bind(("127.0.0.1", port))
    assert refused.value.errno == errno.EADDRINUSE
    socks = _listen_each("127.0.0.1", port, 2)
    _close(socks)
    assert len(socks) == 2


def test_serve_exits_2_when_the_port_is_served(pg_server_url: str, db_url: str) -> None:
    stale = _listener("127.0.0.1", 0, reuse_port=True)
    port = stale.getsockname()[1]
    try:
        done = subprocess.run(
            [sys.executable, "-m", "liventix", "serve", "--port", str(port), "--processes", "2"],
            env=_serve_env(pg_server_url, db_url),
            check=False,
            capture_output=True,
            stdin=subprocess.DEVNULL,
            timeout=120,
        )
    finally:
        stale.close()
    stderr = done.stderr.decode(errors="replace")
    assert done.returncode == 2, stderr[-3000:]
    assert f"cannot listen on 127.0.0.1:{port}" in stderr, stderr[-3000:]

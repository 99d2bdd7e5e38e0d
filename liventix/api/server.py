"""Serving the API with uvicorn: the application database, the Stripe gateway and the
webhook secret from the settings, in one process or in several.

One Python process serves with one GIL: on a two-core machine the API's own CPU (parsing,
routing, the stripe library, SQL round trips) is what caps an on-sale, not PostgreSQL. With
`processes` above one the parent migrates the database, binds one listening socket per child
on the same port (`SO_REUSEPORT`; refused, exit status 2, while anything else listens there)
and starts that many children (spawned: nothing of the parent's state is shared but its
socket); each runs its own uvicorn server on its socket, with
its own engine and Stripe client created in the child, and the kernel hands each new
connection to one of the sockets by a hash of its addresses, so the connections are spread
evenly. (On one shared socket the first child to wake took every connection waiting, up to
its backlog: the 64 buyers of bench.onsale, connecting at once, split about 2 to 1, and the
busier child queued for its request slots while the other had room.) The parent only
supervises:

- SIGTERM or SIGINT makes it send SIGTERM to every child, which finishes its requests in
  flight (uvicorn's graceful shutdown); a child still running after `STOP_TIMEOUT` is killed;
- a child that exits on its own is reported (its pid and exit status, on the log) and started
  again on the same socket (the parent keeps it open: connections the kernel queued on it
  meanwhile wait for the new child); one that dies within `EARLY_DEATH_S` of its start
  `EARLY_DEATHS` times in a row (a setup error, say) stops the server with exit status 1
  rather than loop.

The database's connections are shared out: the processes together keep the pool one process
has (`POOL_SIZE` + `MAX_OVERFLOW`), at least `MIN_POOL` each, and never more than half of
what the server accepts (`max_connections` less its reserved slots), so the workers, the CLI
and the operators keep theirs.
"""

from __future__ import annotations

import gc
import logging
import multiprocessing
import multiprocessing.connection
import os
import signal
import socket
import sys
import time
from dataclasses import dataclass, field, replace
from types import FrameType

import sqlalchemy as sa
import uvicorn

import outbox
from liventix import logs
from liventix.api.app import create_app
from liventix.api.webhooks import routes as webhook_routes
from liventix.database import make_engine, make_read_engine, prepare, read_url
from liventix.settings import Settings
from liventix.stripe_gateway import StripeGateway, StripeSettings, default_max_rps

log = logging.getLogger("liventix.serve")

POOL_SIZE = 10
MAX_OVERFLOW = 20
"""The API's connections in one process: the pool kept, and what it may open beyond."""
MIN_POOL = 4
"""Connections each process keeps at least (its request slots are the pool less two)."""
STOP_TIMEOUT = 30.0
"""Seconds the children have to finish their requests once told to stop."""
EARLY_DEATH_S = 5.0
EARLY_DEATHS = 3
_POLL_S = 0.5


class ServeError(Exception):
    """The API could not be served as asked."""


def default_processes() -> int:
    """The CPUs this process may run on (what `--processes` defaults to)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


@dataclass(frozen=True)
class _Child:
    """What a child process needs to serve (picklable: it crosses the spawn)."""

    url: str
    stripe: StripeSettings
    stripe_webhook_secret: str | None
    log_level: str
    pool_size: int
    max_overflow: int
    webhook_allow: tuple[str, ...] = ()
    secret_key: str | None = field(default=None, repr=False)
    log_format: str = "auto"
    app_log_level: str = "INFO"
    access_log: bool = True
    read_url: str | None = field(default=None, repr=False)
    """The read replica's application database (LIVENTIX_READ_URL): the lists and reports
    read there (`liventix.api.unit_of_work`); None: everything reads the primary."""


def serve(
    settings: Settings,
    *,
    host: str = "127.0.0.1",
    port: int = 8000,
    log_level: str = "info",
    processes: int | None = 1,
) -> int:
    """Serve until SIGINT or SIGTERM (which finish the requests in flight); return the exit
    status (2: could not serve as asked, said on stderr). With `processes` > 1 (None: one
    per CPU), that many server processes listen on the port, one socket each."""
    count = default_processes() if processes is None else processes
    url = prepare(settings)
    stripe = _stripe_share(settings.stripe(), count)
    secret = settings.stripe_webhook_secret
    allow = tuple(str(net) for net in settings.webhook_allow)
    key = settings.secret_key
    replica = read_url(settings)
    if count <= 1:
        _serve_here(
            _Child(
                url,
                stripe,
                secret,
                log_level,
                POOL_SIZE,
                MAX_OVERFLOW,
                allow,
                key,
                read_url=replica,
            ),
            host,
            port,
        )
        return 0
    try:
        pool_size, max_overflow = _pool_share(url, count)
        socks = _listen_each(host, port, count)
    except ServeError as error:
        print(f"liventix serve: {error}", file=sys.stderr)
        return 2
    child = _Child(
        url,
        stripe,
        secret,
        log_level,
        pool_size,
        max_overflow,
        allow,
        key,
        log_format=settings.log_format,
        app_log_level=settings.log_level,
        access_log=settings.access_log,
        read_url=replica,
    )
    return _Supervisor(child, socks, log_level).run()


GC_THRESHOLDS = (20_000, 20, 20)
"""The collector's thresholds in a server process, once its modules are loaded and frozen
(`_settle_heap`): a request allocates thousands of short-lived objects, and with Python's
default (700) the young generation was collected every few requests."""


def _settle_heap() -> None:
    """Move what start-up allocated (modules, routes, pydantic's validators, SQLAlchemy's
    caches: hundreds of thousands of objects) out of the collector's reach, and collect
    less often: py-spy on bench.onsale showed the collector's passes over that heap in a
    quarter of a GET's CPU. Objects that live on (cycles included) are still collected."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)


def _app(child: _Child) -> tuple[list[sa.Engine], object]:
    """The app and its engines (the primary's, then the replica's if any: dispose each)."""
    # A spawned child shares nothing with the parent: the key webhook secrets are sealed
    # with, and the webhook targets allowed inside, come with it.
    outbox.use_sealing_key(child.secret_key)
    engine = make_engine(child.url, pool_size=child.pool_size, max_overflow=child.max_overflow)
    engines = [engine]
    read_engine = None
    if child.read_url is not None:
        read_engine = make_read_engine(
            child.read_url, pool_size=child.pool_size, max_overflow=child.max_overflow
        )
        engines.append(read_engine)
    app = create_app(
        engine,
        gateway=StripeGateway(child.stripe),
        stripe_webhook_secret=child.stripe_webhook_secret,
        read_engine=read_engine,
    )
    webhook_routes.allow_targets(app, outbox.parse_allow(",".join(child.webhook_allow)))
    _settle_heap()
    return engines, app


def _dispose(engines: list[sa.Engine]) -> None:
    for engine in engines:
        engine.dispose()


def _serve_here(child: _Child, host: str, port: int) -> None:
    engines, app = _app(child)
    try:
        uvicorn.run(
            app,  # type: ignore[arg-type]
            host=host,
            port=port,
            log_level=child.log_level,
            log_config=None,  # uvicorn's lines go through liventix.logs, as configured
            proxy_headers=False,
        )
    finally:
        _dispose(engines)


def _serve_child(child: _Child, sock: socket.socket) -> None:
    """A child's life: its own engine and Stripe client, a uvicorn server on its listening
    socket until SIGTERM or SIGINT."""
    # A spawned child starts with no logging configured: the parent's choice, in JSON too.
    logs.configure(child.log_format, child.app_log_level, access_log=child.access_log)
    engines, app = _app(child)
    config = uvicorn.Config(
        app,  # type: ignore[arg-type]
        log_level=child.log_level,
        log_config=None,
        proxy_headers=False,
    )
    try:
        uvicorn.Server(config).run(sockets=[sock])
    finally:
        _dispose(engines)


def _bound(host: str, port: int, *, reuse_port: bool = False) -> socket.socket:
    """A socket bound to (host, port) with `SO_REUSEADDR` (a port whose last server's
    connections linger in TIME_WAIT binds again), and with `reuse_port` `SO_REUSEPORT`."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if reuse_port:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    try:
        sock.bind((host, port))
    except OSError as error:
        sock.close()
        raise ServeError(f"cannot listen on {host}:{port}: {error}") from error
    return sock


def _listen(host: str, port: int, *, reuse_port: bool = False) -> socket.socket:
    """A listening socket on (host, port), inheritable by a spawned child; with
    `reuse_port`, one of a group of sockets on the same port (`SO_REUSEPORT`)."""
    sock = _bound(host, port, reuse_port=reuse_port)
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def _listen_each(host: str, port: int, count: int) -> list[socket.socket]:
    """One listening socket per child, all on one port (the first's, when `port` is 0):
    the kernel spreads new connections over them by a hash of the connection's addresses.
    Where `SO_REUSEPORT` is missing (not Linux nor a BSD), one socket that every child
    shares.

    Nothing else may listen on the port: Linux lets any socket of the same user with
    `SO_REUSEPORT` join a group, so a second `liventix serve` (a stale one, or one on another
    database) would bind too and the kernel would split the clients between the two. So a
    probe is bound first, without `SO_REUSEPORT`: with `SO_REUSEADDR` alone a bind fails
    (EADDRINUSE) while any socket listens on the port, and only then (TIME_WAIT connections
    do not stop it); it is closed before the group binds, which it would stop too. Two
    servers started in the same instant can still both pass between one's probe and its
    first bind (microseconds); a server started later fails with `ServeError`. Port 0 needs
    no probe: the kernel picks for the first socket a port no socket is bound to."""
    if not hasattr(socket, "SO_REUSEPORT"):
        return [_listen(host, port)] * count
    if port != 0:
        _bound(host, port).close()
    socks: list[socket.socket] = []
    try:
        for _ in range(count):
            socks.append(_listen(host, port, reuse_port=True))
            port = socks[0].getsockname()[1]
    except ServeError:
        for sock in socks:
            sock.close()
        raise
    return socks


def _stripe_share(stripe: StripeSettings, processes: int) -> StripeSettings:
    """Each process's share of the API's budget of Stripe calls a second: the setting (or
    the default for the key) is the API's as a whole, as its database connections are, not
    each process's (one per CPU would multiply it past Stripe's limit)."""
    rate = stripe.max_rps
    if rate is None:
        rate = default_max_rps(stripe.api_key, stripe.api_base)
    if rate <= 0 or processes <= 1:
        return replace(stripe, max_rps=rate)
    return replace(stripe, max_rps=rate / processes)


def _pool_share(url: str, processes: int) -> tuple[int, int]:
    """(pool_size, max_overflow) per process: one process's pool shared out, at least
    MIN_POOL each, and the whole within half of the server's connection slots."""
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as conn:
            limit = int(conn.execute(sa.text("SHOW max_connections")).scalar_one())
            reserved = int(
                conn.execute(sa.text("SHOW superuser_reserved_connections")).scalar_one()
            )
    finally:
        engine.dispose()
    room = (limit - reserved) // 2
    each = max(MIN_POOL, -(-(POOL_SIZE + MAX_OVERFLOW) // processes))
    if processes * each > room:
        each = room // processes
        if each < MIN_POOL:
            raise ServeError(
                f"{processes} processes need {processes * MIN_POOL} database connections at "
                f"least; the server takes {limit - reserved}, and half of them is the API's "
                "share: serve with fewer processes or raise max_connections"
            )
        log.warning("%d connections per process: half of max_connections=%d", each, limit)
    # All kept: a connection opened beyond the kept pool is closed when handed back, and an
    # on-sale has more than a third of them in use at once, so it opened one (a server
    # process forked, authenticated) for a checkout in ten.
    return each, 0


class _Supervisor:
    """The parent of the server processes (see the module)."""

    def __init__(self, child: _Child, socks: list[socket.socket], log_level: str):
        self.child = child
        self.processes = len(socks)
        self.socks = socks
        self.context = multiprocessing.get_context("spawn")
        self.running: dict[int, tuple[multiprocessing.process.BaseProcess, float]] = {}
        self.stopping: int | None = None  # the signal that asked to stop
        self.early_deaths = 0
        if not logging.getLogger().handlers:  # `liventix serve` configured it already
            logs.configure(child.log_format, child.app_log_level, access_log=child.access_log)
        log.setLevel(log_level.upper() if isinstance(log_level, str) else log_level)

    def _start(self, slot: int) -> None:
        process = self.context.Process(
            target=_serve_child,
            args=(self.child, self.socks[slot]),
            name=f"liventix-serve-{slot}",
            daemon=False,
        )
        process.start()
        self.running[slot] = (process, time.monotonic())
        log.info("API process %d started (pid %s)", slot, process.pid)

    def _signalled(self, sig: int, _frame: FrameType | None) -> None:
        if self.stopping is None:
            self.stopping = sig

    def run(self) -> int:
        """Start the children, keep them running until told to stop; the exit status."""
        previous = {s: signal.signal(s, self._signalled) for s in (signal.SIGTERM, signal.SIGINT)}
        status = 0
        try:
            host, port = self.socks[0].getsockname()[:2]
            log.info("serving on http://%s:%s with %d processes", host, port, self.processes)
            for slot in range(self.processes):
                self._start(slot)
            while self.stopping is None:
                sentinels = [p.sentinel for p, _ in self.running.values()]
                multiprocessing.connection.wait(sentinels, timeout=_POLL_S)
                if self.stopping is not None:
                    break
                if not self._replace_the_dead():
                    status = 1
                    break
        finally:
            self._stop_all()
            for sock in set(self.socks):
                sock.close()
            for s, handler in previous.items():
                signal.signal(s, handler)
        return status

    def _replace_the_dead(self) -> bool:
        """Report and restart the children that exited; False when they keep dying early."""
        for slot, (process, started) in list(self.running.items()):
            if process.is_alive():
                continue
            process.join()
            lived = time.monotonic() - started
            log.error(
                "API process %d (pid %s) exited with status %s after %.1f s; starting another",
                slot,
                process.pid,
                process.exitcode,
                lived,
            )
            self.early_deaths = self.early_deaths + 1 if lived < EARLY_DEATH_S else 0
            if self.early_deaths >= EARLY_DEATHS:
                log.error("API processes die as they start; stopping (see the errors above)")
                return False
            self._start(slot)
        return True

    def _stop_all(self) -> None:
        # SIGTERM whatever the parent got: a terminal's Ctrl-C has already sent the children
        # SIGINT too, and a second SIGINT would make uvicorn drop its requests in flight.
        for process, _ in self.running.values():
            if process.is_alive() and process.pid is not None:
                os.kill(process.pid, signal.SIGTERM)
        deadline = time.monotonic() + STOP_TIMEOUT
        for slot, (process, _) in self.running.items():
            process.join(max(0.0, deadline - time.monotonic()))
            if process.is_alive():
                log.warning("API process %d (pid %s) did not stop: killed", slot, process.pid)
                process.kill()
                process.join()
        log.info("stopped %d processes", len(self.running))
        self.running.clear()
        sys.stderr.flush()

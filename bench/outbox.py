"""Outbox benchmark: deliveries per second and LISTEN/NOTIFY latency, beside a bare queue.

One run, one PostgreSQL server (`bench.posting._server`'s: an embedded one in a temporary
directory, configured as a deployment on this machine by
`liventix.database.production_settings()`, or with PostgreSQL's defaults under
`--server-defaults`; or DATABASE_URL's, as found; its settings printed, and in the JSON
line: `bench.posting.server_run_on`, "external" for DATABASE_URL's):

- baseline: a bare queue on the same server, a table `(id bigserial, payload jsonb)` filled by
  producer processes doing INSERT (five times the outbox's message count, so its drain lasts
  long enough to time), then drained by 1 and 4 consumer processes doing
  `DELETE ... WHERE id IN (SELECT ... ORDER BY id LIMIT 100 FOR UPDATE SKIP LOCKED) RETURNING`;
- outbox throughput: messages published beforehand (many aggregates, four organizations with
  one endpoint each), then timed from the workers' start until every delivery is
  'succeeded', with 1 and 4 `outbox.Worker` processes (default `WorkerSettings`) sending to a
  receiver in its own process: `liventix.testing`'s webhook receiver (the tests' and the
  demo's), answering 200 at once, its CPU reported apart;
- latency: one idle worker polling every 5 s, so only a NOTIFY explains a fast wake-up; single
  messages ~50 ms apart, each published in its own transaction, time from the moment the
  publisher sends COMMIT to the receiver's receipt (both `time.time()` on this machine);
- e-mail (bench/smtp_sink.py): an aiosmtpd server in its own process; with the worker's 16
  sending threads, the same e-mails sent over a new `smtplib.SMTP` session each (the baseline:
  the sender before `MailClient`) and by `MailClient.send` over kept sessions, in alternating
  rounds; then end to end, messages published with one e-mail each (no webhook) and delivered
  by one `outbox.Worker` process until all 'succeeded', once as the worker is (kept sessions)
  and once with the per-message-session sender put in its place.

Each phase also reports where the time went: the worker's claim / send / record split (timed
around the outbox's own functions), the CPU of the receiver, the workers and PostgreSQL over
the phase (and of the machine's other processes: other load skews every figure), and EXPLAIN
ANALYZE of the claim with a full, a half-drained (under load) and an empty queue. The last line
printed is one JSON object with every figure.

Run as `python -m bench.outbox [--seconds N]`; `--profile DIR` writes cProfile files of each
worker (its loop thread and its sending threads) and prints the top of worker 0's; `--plans`
prints the claim's plans in full; `--emails N` sets the e-mail section's size;
`--server-defaults` runs on PostgreSQL's default settings.
"""

from __future__ import annotations

import argparse
import cProfile
import json
import multiprocessing
import os
import pstats
import random
import re
import statistics
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing, contextmanager, suppress
from dataclasses import asdict, dataclass, field
from datetime import timedelta
from multiprocessing.connection import Connection as Pipe
from multiprocessing.context import SpawnContext, SpawnProcess
from multiprocessing.queues import Queue
from multiprocessing.synchronize import Event
from pathlib import Path
from typing import Any, Protocol, cast

import aiosmtpd
import psycopg
import sqlalchemy as sa
from pydantic import BaseModel
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

import outbox
import outbox.dispatch as outbox_dispatch
import outbox.worker as outbox_worker
from bench.posting import _server as posting_server
from bench.posting import server_run_on
from bench.smtp_sink import BODY as EMAIL_BODY
from bench.smtp_sink import NewSessionMailer, SmtpSink, recipient, sender_phase
from liventix.database import (
    create_database,
    database_url,
    drop_database,
    make_engine,
    upgrade,
)
from liventix.testing import Receiver, Reply

MESSAGE_TYPE = "bench.ticket_issued"
ORGS = 4  # one endpoint each, so a message fans out to exactly one delivery
MESSAGES_PER_AGGREGATE = 4  # real per-aggregate ordering, interleaved so it never serialises
BATCH = 100  # the bare consumers' batch: WorkerSettings' default batch_size
LOCAL = outbox.parse_allow("127.0.0.1/32")  # webhooks may reach the receiver on 127.0.0.1
PUBLISH_TX = 200  # messages per publishing transaction when pre-publishing
BARE_PRODUCERS = 2
BARE_INSERT_BATCH = 1000
LATENCY_POLL_S = 5.0
LATENCY_SPACING_S = 0.05
PHASE_TIMEOUT_S = 300.0
EMAILS = 2000  # e-mails per sender round and per end-to-end phase (--emails)
EMAIL_ROUNDS = 2  # alternating rounds of each sender


class TicketIssued(BaseModel):
    """The benchmark's message payload, the size of a small real one."""

    ticket_id: str
    order_id: str
    amount: int
    currency: str
    note: str


outbox.register_message_type(MESSAGE_TYPE, TicketIssued)


def _payload(i: int) -> TicketIssued:
    return TicketIssued(
        ticket_id=f"tkt_{i:08d}",
        order_id=f"ord_{i // MESSAGES_PER_AGGREGATE:08d}",
        amount=5000 + i % 1000,
        currency="eur",
        note="general admission, row 12, seat 7",
    )


def _psycopg_dsn(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


# --------------------------------------------------------------------------------------------
# The receiver: its own process, liventix.testing's webhook receiver answering 200 at once.


class _Counting:
    """The receiver's policy: answer 200 "ok" (after `delay_s`), counting the webhooks, the
    first arrivals of each webhook-id and the repeats, and (once recording) when each
    webhook-id first arrived. It runs under the receiver's lock."""

    def __init__(self, delay_s: float) -> None:
        self.reply = Reply(200, {"content-type": "text/plain"}, b"ok", delay_s)
        self.recording = False
        self.reset()

    def reset(self) -> None:
        self.count = self.unique = self.duplicates = 0
        self.times: dict[str, float] = {}

    def __call__(self, path: str, webhook_id: str, try_no: int) -> Reply:
        self.count += 1
        if try_no > 1:
            self.duplicates += 1
        else:
            self.unique += 1
            if self.recording:
                self.times[webhook_id] = time.time()
        return self.reply


def _receiver_main(pipe: Pipe, delay_s: float) -> None:
    """The receiver process: answers the bench's commands ("stats", "times", "reset",
    "record", "stop") on the pipe until told to stop."""
    counting = _Counting(delay_s)
    server = Receiver()
    server.policy = counting
    server.start()
    pipe.send(server.port)
    try:
        while (what := pipe.recv()) != "stop":
            if what == "reset":
                server.reset()  # its try numbers too: a webhook-id seen before is new again
            with server.lock:
                if what == "reset":
                    counting.reset()
                elif what == "record":
                    counting.recording = True
                answer: object = (
                    dict(counting.times)
                    if what == "times"
                    else {
                        "count": counting.count,
                        "unique": counting.unique,
                        "duplicates": counting.duplicates,
                        "cpu": time.process_time(),
                    }
                )
            pipe.send(answer)
    finally:
        server.close()


class ReceiverClient:
    """The bench's handle on the receiver process: its URL and its commands."""

    def __init__(self, port: int, pipe: Pipe) -> None:
        self.port = port
        self.pipe = pipe
        self.lock = threading.Lock()

    def url(self, k: int) -> str:
        """The webhook endpoint URL number `k`."""
        return f"http://127.0.0.1:{self.port}/hook/{k}"

    def call(self, what: str) -> Any:
        """Send a command ("stats", "times", "reset", "record", "stop"); its answer."""
        with self.lock:
            self.pipe.send(what)
            return None if what == "stop" else self.pipe.recv()

    def stats(self) -> dict[str, float]:
        """Requests received, unique webhook-ids, duplicates, the receiver's CPU seconds."""
        result: dict[str, float] = self.call("stats")
        return result


# --------------------------------------------------------------------------------------------
# CPU accounting from /proc (PostgreSQL's processes are not our children).


def _proc_cpu_ticks(pid: int) -> tuple[int, int, int]:
    """(ppid, own ticks, reaped children's ticks) of a process."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    # After the command: state ppid ... utime(14) stime(15) cutime(16) cstime(17), 1-based.
    return int(fields[1]), int(fields[11]) + int(fields[12]), int(fields[13]) + int(fields[14])


class PostgresCpu:
    """CPU seconds used so far by the server: the postmaster, its live children, and the
    children it has reaped (their time lands in its cutime/cstime)."""

    def __init__(self, postmaster: int | None) -> None:
        self.postmaster = postmaster
        self.tick = os.sysconf("SC_CLK_TCK")

    @classmethod
    def find(cls, engine: sa.Engine) -> PostgresCpu:
        """Locate the postmaster through a backend's parent; none if not on this machine."""
        with engine.connect() as conn:
            # Read while the backend is alive (a NullPool engine ends it on close).
            backend = conn.execute(sa.text("SELECT pg_backend_pid()")).scalar_one()
            try:
                ppid = _proc_cpu_ticks(int(backend))[0]
                comm = Path(f"/proc/{ppid}/comm").read_text().strip()
            except OSError:
                return cls(None)
        return cls(ppid if comm.startswith("postgres") else None)

    def seconds(self) -> float | None:
        """The server's CPU seconds so far, or None if it is not on this machine."""
        if self.postmaster is None:
            return None
        _, own, reaped = _proc_cpu_ticks(self.postmaster)
        total = own + reaped
        for entry in os.scandir("/proc"):
            if not entry.name.isdigit():
                continue
            try:
                ppid, child, child_reaped = _proc_cpu_ticks(int(entry.name))
            except (OSError, IndexError):
                continue
            if ppid == self.postmaster:
                total += child + child_reaped
        return total / self.tick


def _machine_busy() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine so far, from /proc/stat."""
    with open("/proc/stat") as f:
        values = [int(v) for v in f.readline().split()[1:]]
    idle = values[3] + values[4]
    tick = os.sysconf("SC_CLK_TCK")
    return (sum(values) - idle) / tick, sum(values) / tick


@dataclass
class CpuWindow:
    """CPU use over one timed window, in percent of one core."""

    wall_s: float
    postgres: float | None
    receiver: float
    workers: float
    driver: float
    machine_busy: float
    machine_cores: int
    actors: str = "workers"
    server: str = "receiver"

    @property
    def outside(self) -> float:
        """CPU used by processes outside this bench (and the kernel's own work)."""
        ours = (self.postgres or 0) + self.receiver + self.workers + self.driver
        return self.machine_busy - ours

    def describe(self) -> str:
        """One line: who used the cores."""
        pg = "?" if self.postgres is None else f"{self.postgres:.0f}%"
        return (
            f"CPU over {self.wall_s:.1f} s, % of one core ({self.machine_cores} cores = "
            f"{100 * self.machine_cores}%): PostgreSQL {pg}, {self.actors} {self.workers:.0f}%, "
            f"{self.server} {self.receiver:.0f}%, bench driver {self.driver:.0f}%, outside the "
            f"bench {self.outside:.0f}%; machine busy {self.machine_busy:.0f}%"
        )


class CpuReporter(Protocol):
    """A server in a process of its own that reports its CPU seconds (as "cpu")."""

    def stats(self) -> dict[str, float]:
        """Its counters, "cpu" among them."""
        ...


class CpuMeter:
    """Snapshots at the start of a window, the window's CPU split at its end."""

    def __init__(self, pg: PostgresCpu, receiver: CpuReporter | None) -> None:
        self.pg = pg
        self.receiver = receiver
        self.t0 = time.perf_counter()
        self.pg0 = pg.seconds()
        self.rx0 = receiver.stats()["cpu"] if receiver is not None else 0.0
        self.driver0 = time.process_time()
        self.busy0, self.total0 = _machine_busy()

    def end(self) -> None:
        """Close the window (the moment the work is done)."""
        self.wall = time.perf_counter() - self.t0
        self.pg1 = self.pg.seconds()
        self.rx1 = self.receiver.stats()["cpu"] if self.receiver is not None else 0.0
        self.driver1 = time.process_time()
        self.busy1, self.total1 = _machine_busy()

    def window(self, workers_cpu_s: float) -> CpuWindow:
        """The closed window's split; `workers_cpu_s` is what the workers (or consumers)
        report of their own CPU time, which they know only once stopped."""
        wall = self.wall
        cores = os.cpu_count() or 1
        pg = None
        if self.pg1 is not None and self.pg0 is not None:
            pg = 100 * (self.pg1 - self.pg0) / wall
        busy = (self.busy1 - self.busy0) / max(self.total1 - self.total0, 1e-9)
        return CpuWindow(
            wall_s=wall,
            postgres=pg,
            receiver=100 * (self.rx1 - self.rx0) / wall,
            workers=100 * workers_cpu_s / wall,
            driver=100 * (self.driver1 - self.driver0) / wall,
            machine_busy=100 * cores * busy,
            machine_cores=cores,
        )


# --------------------------------------------------------------------------------------------
# Worker processes: an outbox.Worker each, timed around the outbox's own claim and record.


@dataclass
class Timings:
    """Where one worker's loop spent its wall time (seconds)."""

    batches: int = 0
    claimed: int = 0
    claim_s: float = 0.0
    send_s: float = 0.0
    record_s: float = 0.0
    deliver_s: float = 0.0
    requests: int = 0
    request_s: float = 0.0
    send_cpu_s: float = 0.0
    loop_cpu_s: float = 0.0
    run_s: float = 0.0
    cpu_s: float = 0.0

    def add(self, other: Timings) -> None:
        """Sum another worker's timings into this one."""
        for name, value in asdict(other).items():
            setattr(self, name, getattr(self, name) + value)


@dataclass(frozen=True)
class WorkerJob:
    """What a worker process needs: its database, its number, its settings, profiling."""

    url: str
    label: str
    index: int
    poll_interval: float
    profile_dir: str | None
    smtp_port: int | None = None
    mail_per_message: bool = False


class _TimedPool:
    """Stands in for the worker's sending pool: times each batch's `map` (wall)."""

    def __init__(self, pool: ThreadPoolExecutor, timings: Timings) -> None:
        self.pool = pool
        self.timings = timings

    def map(self, fn: Callable[[Any], Any], items: Sequence[Any]) -> Iterator[Any]:
        t0 = time.perf_counter()
        results = list(self.pool.map(fn, items))
        self.timings.send_s += time.perf_counter() - t0
        return iter(results)

    def shutdown(self, wait: bool = True) -> None:
        self.pool.shutdown(wait=wait)


class TimedWorker(outbox.Worker):
    """An outbox.Worker whose batches, HTTP requests and (optionally) profiles are recorded;
    the delivering itself is the outbox's own code. For measurement only, it leans on the
    Worker's insides (`_pool`, `_send`, the module's `claim` and `record`): if they change,
    this fails loudly rather than measuring something else."""

    def __init__(
        self,
        engine: sa.Engine,
        settings: outbox.WorkerSettings,
        *,
        name: str,
        timings: Timings,
        profile: bool,
    ) -> None:
        super().__init__(engine, settings, name=name)
        self.timings = timings
        self.send_profiles: list[cProfile.Profile] = []
        self._local = threading.local()
        self._profile = profile
        self._lock = threading.Lock()
        self._pool = cast(ThreadPoolExecutor, _TimedPool(self._pool, timings))

    def deliver_once(self) -> int:
        t0, c0 = time.perf_counter(), time.thread_time()
        n = super().deliver_once()
        self.timings.deliver_s += time.perf_counter() - t0
        self.timings.loop_cpu_s += time.thread_time() - c0
        if n:
            self.timings.batches += 1
            self.timings.claimed += n
        return n

    def _send(self, delivery: outbox.Claimed) -> outbox.Outcome:
        profiler: cProfile.Profile | None = None
        if self._profile:
            profiler = getattr(self._local, "profiler", None)
            if profiler is None:
                profiler = self._local.profiler = cProfile.Profile()
                with self._lock:
                    self.send_profiles.append(profiler)
            profiler.enable()
        t0, c0 = time.perf_counter(), time.thread_time()
        try:
            return super()._send(delivery)
        finally:
            elapsed, cpu = time.perf_counter() - t0, time.thread_time() - c0
            if profiler is not None:
                profiler.disable()
            with self._lock:
                self.timings.requests += 1
                self.timings.request_s += elapsed
                self.timings.send_cpu_s += cpu


def _instrument(timings: Timings) -> None:
    """Time the outbox's claim and record statements where the worker module calls them."""
    # outbox.worker imported them by name: replace them in its namespace.
    claim = vars(outbox_worker)["claim"]
    record = vars(outbox_worker)["record"]

    def timed_claim(*args: Any, **kwargs: Any) -> Any:
        t0 = time.perf_counter()
        try:
            return claim(*args, **kwargs)
        finally:
            timings.claim_s += time.perf_counter() - t0

    def timed_record(*args: Any, **kwargs: Any) -> Any:
        t0 = time.perf_counter()
        try:
            return record(*args, **kwargs)
        finally:
            timings.record_s += time.perf_counter() - t0

    setattr(outbox_worker, "claim", timed_claim)  # noqa: B010
    setattr(outbox_worker, "record", timed_record)  # noqa: B010


def _worker_main(job: WorkerJob, go: Event, stop: Event, results: Queue[Any]) -> None:
    engine = make_engine(job.url, pool_size=2, max_overflow=2)
    with engine.connect():
        pass  # open the pool's first connection before the clock starts
    timings = Timings()
    _instrument(timings)
    settings = outbox.WorkerSettings(poll_interval=job.poll_interval, webhook_allow=LOCAL)
    if job.smtp_port is not None:
        settings = outbox.WorkerSettings(
            poll_interval=job.poll_interval,
            smtp=outbox.SmtpSettings(host="127.0.0.1", port=job.smtp_port),
            webhook_allow=LOCAL,
        )
    worker = TimedWorker(
        engine,
        settings,
        name=f"bench-{job.index}",
        timings=timings,
        profile=job.profile_dir is not None,
    )
    if job.mail_per_message:
        # The sender before MailClient, in the worker's own seat.
        smtp = settings.smtp
        worker._mail = NewSessionMailer(smtp.host, smtp.port, smtp.timeout)
    results.put(("ready", job.index))
    go.wait()

    def stopper() -> None:
        stop.wait()
        worker.stop()

    threading.Thread(target=stopper, daemon=True).start()
    loop_profile = cProfile.Profile() if job.profile_dir is not None else None
    cpu0, t0 = time.process_time(), time.perf_counter()
    if loop_profile is not None:
        loop_profile.enable()
    worker.run()
    if loop_profile is not None:
        loop_profile.disable()
    timings.run_s = time.perf_counter() - t0
    timings.cpu_s = time.process_time() - cpu0
    if job.profile_dir is not None and loop_profile is not None:
        stem = Path(job.profile_dir) / f"{job.label}-worker-{job.index}"
        loop_profile.dump_stats(f"{stem}-loop.prof")
        if worker.send_profiles:
            pstats.Stats(*worker.send_profiles).dump_stats(f"{stem}-send.prof")
    engine.dispose()
    results.put(("done", asdict(timings)))


# --------------------------------------------------------------------------------------------
# The bench.


@dataclass
class Bench:
    """The server, the receiver and the settings shared by every phase."""

    server_url: str
    ctx: SpawnContext
    receiver: ReceiverClient
    messages: int
    latency_probes: int
    profile_dir: str | None
    prefix: str = field(default_factory=lambda: f"bench_{uuid.uuid4().hex[:8]}")
    databases: list[str] = field(default_factory=list)
    template: str | None = None
    pg_cpu: PostgresCpu | None = None

    def database(self, suffix: str, *, migrated: bool) -> str:
        """Create a fresh database on the server (a clone of the migrated template if asked)."""
        name = f"{self.prefix}_{suffix}"
        if migrated and self.template is None:
            self.template = f"{self.prefix}_template"
            create_database(self.server_url, self.template)
            self.databases.append(self.template)
            upgrade(database_url(self.server_url, self.template))
        create_database(self.server_url, name, template=self.template if migrated else None)
        self.databases.append(name)
        return database_url(self.server_url, name)

    def drop_all(self) -> None:
        """Drop every database the run created."""
        for name in reversed(self.databases):
            drop_database(self.server_url, name)

    def postgres_cpu(self, engine: sa.Engine) -> PostgresCpu:
        """The server's CPU meter (found once)."""
        if self.pg_cpu is None:
            self.pg_cpu = PostgresCpu.find(engine)
        return self.pg_cpu


def _wait_ready(results: Queue[Any], count: int) -> None:
    # A worker process's imports alone took over 60 s on the shared machine under load ~28.
    for _ in range(count):
        kind, _ = results.get(timeout=180)
        if kind != "ready":
            raise RuntimeError(f"expected a ready worker, got {kind!r}")


def _collect(results: Queue[Any], count: int) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for _ in range(count):
        kind, data = results.get(timeout=60)
        if kind != "done":
            raise RuntimeError(f"expected a finished process, got {kind!r}")
        out.append(data)
    return out


def _join(processes: list[SpawnProcess]) -> None:
    for p in processes:
        p.join(timeout=30)
        if p.exitcode != 0:
            raise RuntimeError(f"{p.name} exited with {p.exitcode}")


# ---- (a) the bare queue ----------------------------------------------------------------------

_BARE_DELETE = """
    DELETE FROM bare_queue
     WHERE id IN (SELECT id FROM bare_queue ORDER BY id LIMIT %s FOR UPDATE SKIP LOCKED)
    RETURNING id, payload
"""


def _bare_producer(dsn: str, start: int, count: int, go: Event, results: Queue[Any]) -> None:
    with psycopg.connect(dsn, autocommit=True) as conn:
        results.put(("ready", start))
        go.wait()
        for lo in range(start, start + count, BARE_INSERT_BATCH):
            hi = min(lo + BARE_INSERT_BATCH, start + count)
            payloads = [_payload(i).model_dump_json() for i in range(lo, hi)]
            conn.execute("INSERT INTO bare_queue (payload) SELECT unnest(%s::jsonb[])", (payloads,))
        results.put(("done", {}))


def _bare_consumer(dsn: str, go: Event, release: Event, results: Queue[Any]) -> None:
    with psycopg.connect(dsn, autocommit=True) as conn:
        results.put(("ready", 0))
        go.wait()
        cpu0, t0 = time.process_time(), time.perf_counter()
        taken = 0
        while True:
            rows = conn.execute(_BARE_DELETE, (BATCH,)).fetchall()
            if not rows:
                break
            taken += len(rows)
        finished = time.perf_counter()
        results.put(
            (
                "done",
                {"taken": taken, "elapsed": finished - t0, "cpu": time.process_time() - cpu0},
            )
        )
        # Hold the session until the CPU window closes: a backend that exits meanwhile
        # could slip between the reads of its own and its parent's counters.
        release.wait()


@dataclass
class BareResult:
    """One bare drain: rows per second, the CPU split, the insert rate before it."""

    consumers: int
    rows: int
    per_s: float
    insert_per_s: float
    cpu: CpuWindow


def bare_phase(bench: Bench, url: str, consumers: int, rows: int) -> BareResult:
    """Fill the bare queue with `rows` (producers), then time `consumers` draining it."""
    dsn = _psycopg_dsn(url)
    engine = make_engine(url, poolclass=NullPool)
    with engine.begin() as conn:
        conn.execute(sa.text("TRUNCATE bare_queue"))
    ctx = bench.ctx
    results: Queue[Any] = ctx.Queue()

    go = ctx.Event()
    share = -(-rows // BARE_PRODUCERS)
    producers = [
        ctx.Process(
            target=_bare_producer,
            args=(dsn, k * share, min(share, rows - k * share), go, results),
            name=f"bare-producer-{k}",
        )
        for k in range(BARE_PRODUCERS)
    ]
    for p in producers:
        p.start()
    _wait_ready(results, len(producers))
    t0 = time.perf_counter()
    go.set()
    _collect(results, len(producers))
    insert_s = time.perf_counter() - t0
    _join(producers)
    with engine.begin() as conn:
        conn.execute(sa.text("ANALYZE bare_queue"))

    go, release = ctx.Event(), ctx.Event()
    procs = [
        ctx.Process(
            target=_bare_consumer, args=(dsn, go, release, results), name=f"bare-consumer-{k}"
        )
        for k in range(consumers)
    ]
    for p in procs:
        p.start()
    _wait_ready(results, consumers)
    meter = CpuMeter(bench.postgres_cpu(engine), None)
    t0 = time.perf_counter()
    go.set()
    done = _collect(results, consumers)
    elapsed = time.perf_counter() - t0
    meter.end()
    release.set()
    cpu = meter.window(sum(d["cpu"] for d in done))
    cpu.actors = "consumers"
    _join(procs)
    taken = sum(d["taken"] for d in done)
    if taken != rows:
        raise RuntimeError(f"bare queue: {taken} rows taken of {rows}")
    engine.dispose()
    return BareResult(consumers, rows, rows / elapsed, rows / insert_s, cpu)


# ---- (b) outbox throughput -------------------------------------------------------------------


def _setup_endpoints(engine: sa.Engine, receiver: ReceiverClient) -> list[uuid.UUID]:
    orgs = [uuid.UUID(int=0xBE0C_0000 + k) for k in range(ORGS)]
    with engine.begin() as conn:
        for k, org in enumerate(orgs):
            outbox.register_endpoint(conn, org, receiver.url(k), [MESSAGE_TYPE], allow=LOCAL)
    return orgs


def _publish_range(engine: sa.Engine, orgs: list[uuid.UUID], lo: int, hi: int) -> None:
    aggregates = max(1, (hi - lo) // MESSAGES_PER_AGGREGATE)
    for start in range(lo, hi, PUBLISH_TX):
        with engine.begin() as conn:
            for i in range(start, min(start + PUBLISH_TX, hi)):
                aggregate = i % aggregates
                outbox.publish(
                    conn,
                    type=MESSAGE_TYPE,
                    payload=_payload(i),
                    aggregate_type="ticket",
                    aggregate_id=f"tkt_{aggregate:08d}",
                    org_id=orgs[aggregate % len(orgs)],
                )


@dataclass
class Explained:
    """EXPLAIN ANALYZE of one claim: its execution time, rows and buffers."""

    label: str
    execution_ms: float
    rows: int
    shared_hit: int
    shared_read: int
    plan: str

    def describe(self) -> str:
        """One line for the report."""
        return (
            f"claim EXPLAIN ANALYZE ({self.label}): {self.execution_ms:.2f} ms, "
            f"{self.rows} rows, buffers hit={self.shared_hit} read={self.shared_read}"
        )


def explain_claim(engine: sa.Engine, label: str) -> Explained:
    """Run the outbox's claim under EXPLAIN (ANALYZE, BUFFERS), then roll it back."""
    sql = "EXPLAIN (ANALYZE, BUFFERS) " + outbox_dispatch._CLAIM.text
    params = {"limit": BATCH, "lease": timedelta(seconds=60), "worker": "explain"}
    with engine.connect() as conn:
        plan = "\n".join(conn.execute(sa.text(sql), params).scalars().all())
        conn.rollback()
    execution = re.search(r"Execution Time: ([\d.]+) ms", plan)
    rows = re.search(r"actual time=[\d.]+\.\.[\d.]+ rows=([\d.]+)", plan)
    hit = re.search(r"shared hit=(\d+)", plan)
    read = re.search(r"shared (?:hit=\d+ )?read=(\d+)", plan.split("\n", 2)[1])
    return Explained(
        label=label,
        execution_ms=float(execution.group(1)) if execution else float("nan"),
        rows=int(float(rows.group(1))) if rows else 0,
        shared_hit=int(hit.group(1)) if hit else 0,
        shared_read=int(read.group(1)) if read else 0,
        plan=plan,
    )


@dataclass
class OutboxResult:
    """One outbox drain: deliveries per second, the workers' time split, the CPU split."""

    workers: int
    messages: int
    per_s: float
    publish_per_s: float
    timings: Timings
    cpu: CpuWindow
    explains: list[Explained]
    duplicates: int
    failures: list[str]
    request: str = "HTTP request"
    sessions: int | None = None  # SMTP sessions the server saw (e-mail phases)

    @property
    def worker_cpu_us(self) -> float:
        """The workers' CPU per delivery, in microseconds (little swayed by other load)."""
        return 1e6 * self.timings.cpu_s / max(self.timings.claimed, 1)

    @property
    def postgres_cpu_us(self) -> float | None:
        """PostgreSQL's CPU per delivery over the drain, in microseconds, if measurable."""
        if self.cpu.postgres is None:
            return None
        return round(self.cpu.postgres / 100 * self.cpu.wall_s / self.messages * 1e6, 1)

    @property
    def cpu_ceiling(self) -> float | None:
        """Deliveries/s the machine's cores could carry at this run's CPU cost per delivery
        (workers, receiver, PostgreSQL) if nothing else ran: a bound, not a measurement."""
        if self.cpu.postgres is None:
            return None
        used = (self.cpu.workers + self.cpu.receiver + self.cpu.postgres) / 100 * self.cpu.wall_s
        return self.cpu.machine_cores * self.messages / used

    def describe_timings(self) -> str:
        """Where the workers' loops spent their time, in percent of their wall time."""
        t = self.timings
        run = max(t.run_s, 1e-9)
        other_tx = t.deliver_s - t.claim_s - t.send_s - t.record_s
        per_batch = t.deliver_s / max(t.batches, 1) * 1000

        def per(seconds: float) -> float:
            return seconds / max(t.claimed, 1) * 1e6

        return (
            f"worker loop time: claim {100 * t.claim_s / run:.0f}%, send "
            f"{100 * t.send_s / run:.0f}%, record {100 * t.record_s / run:.0f}%, "
            f"begin/commit and glue {100 * other_tx / run:.0f}%, idle/inbox/prune "
            f"{100 * (t.run_s - t.deliver_s) / run:.0f}%; {t.batches} batches of "
            f"{t.claimed / max(t.batches, 1):.0f}, {per_batch:.0f} ms each "
            f"(claim {t.claim_s / max(t.batches, 1) * 1000:.1f}, send "
            f"{t.send_s / max(t.batches, 1) * 1000:.1f}, record "
            f"{t.record_s / max(t.batches, 1) * 1000:.1f}); one {self.request} "
            f"{t.request_s / max(t.requests, 1) * 1000:.2f} ms as the sender sees it; "
            f"worker CPU per delivery {per(t.cpu_s):.0f} us (sending threads "
            f"{per(t.send_cpu_s):.0f}, loop thread's claim/record {per(t.loop_cpu_s):.0f}, "
            f"rest {per(t.cpu_s - t.send_cpu_s - t.loop_cpu_s):.0f})"
        )


def _attempts(engine: sa.Engine) -> tuple[int, int, list[str]]:
    """Deliveries succeeded, attempts made, and the failed attempts grouped by error."""
    with engine.connect() as conn:
        succeeded, attempts = conn.execute(
            sa.text(
                "SELECT (SELECT count(*) FROM messaging.deliveries WHERE status = 'succeeded'),"
                "       (SELECT count(*) FROM messaging.attempts)"
            )
        ).one()
        failures = [
            f"{n} x {code or ''} {error or ''}".strip()
            for code, error, n in conn.execute(
                sa.text(
                    "SELECT status_code, left(error, 120), count(*) FROM messaging.attempts "
                    "WHERE NOT succeeded GROUP BY 1, 2 ORDER BY 3 DESC"
                )
            )
        ]
    return int(succeeded), int(attempts), failures


def _open_deliveries(engine: sa.Engine) -> int:
    with engine.connect() as conn:
        count: int = conn.execute(
            sa.text(
                "SELECT count(*) FROM messaging.deliveries "
                "WHERE status IN ('pending', 'delivering')"
            )
        ).scalar_one()
    return count


def _start_workers(
    bench: Bench,
    url: str,
    label: str,
    count: int,
    poll_interval: float,
    *,
    smtp_port: int | None = None,
    mail_per_message: bool = False,
) -> tuple[list[SpawnProcess], Event, Event, Queue[Any]]:
    ctx = bench.ctx
    go, stop = ctx.Event(), ctx.Event()
    results: Queue[Any] = ctx.Queue()
    processes = [
        ctx.Process(
            target=_worker_main,
            args=(
                WorkerJob(
                    url, label, k, poll_interval, bench.profile_dir, smtp_port, mail_per_message
                ),
                go,
                stop,
                results,
            ),
            name=f"outbox-worker-{k}",
        )
        for k in range(count)
    ]
    for p in processes:
        p.start()
    _wait_ready(results, count)
    return processes, go, stop, results


def _wait_listening(engine: sa.Engine, count: int) -> None:
    """Wait until `count` worker listeners have issued their LISTEN."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        with engine.connect() as conn:
            listening = conn.execute(
                sa.text(
                    "SELECT count(*) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND query LIKE 'LISTEN messaging_inbox%'"
                )
            ).scalar_one()
        if listening >= count:
            return
        time.sleep(0.02)
    raise RuntimeError("workers never started listening")


def outbox_phase(bench: Bench, workers: int) -> OutboxResult:
    """Publish `bench.messages` beforehand, then time `workers` processes delivering them."""
    url = bench.database(f"outbox_{workers}", migrated=True)
    engine = make_engine(url, pool_size=4)
    orgs = _setup_endpoints(engine, bench.receiver)
    t0 = time.perf_counter()
    _publish_range(engine, orgs, 0, bench.messages)
    publish_s = time.perf_counter() - t0
    with engine.begin() as conn:
        conn.execute(sa.text("ANALYZE messaging.messages, messaging.deliveries"))
    explains = [explain_claim(engine, "full queue")]
    bench.receiver.call("reset")

    processes, go, stop, results = _start_workers(
        bench, url, f"outbox_{workers}", workers, poll_interval=1.0
    )
    meter = CpuMeter(bench.postgres_cpu(engine), bench.receiver)
    t0 = time.perf_counter()
    go.set()
    half_done = False
    deadline = t0 + PHASE_TIMEOUT_S
    while True:
        received = bench.receiver.stats()["unique"]
        if not half_done and received >= bench.messages // 2:
            half_done = True
            explains.append(explain_claim(engine, "half drained, under load"))
        if received >= bench.messages and _open_deliveries(engine) == 0:
            break
        if time.perf_counter() > deadline:
            raise RuntimeError(f"outbox: {received} of {bench.messages} after {PHASE_TIMEOUT_S} s")
        time.sleep(0.05 if received < bench.messages else 0.005)
    elapsed = time.perf_counter() - t0
    meter.end()
    stop.set()
    done = _collect(results, workers)
    _join(processes)
    timings = Timings()
    for d in done:
        timings.add(Timings(**d))
    cpu = meter.window(timings.cpu_s)
    stats = bench.receiver.stats()
    explains.append(explain_claim(engine, "empty queue"))
    succeeded, attempts, failures = _attempts(engine)
    engine.dispose()
    if succeeded != bench.messages:
        raise RuntimeError(f"outbox: {succeeded} succeeded of {bench.messages}")
    return OutboxResult(
        workers=workers,
        messages=bench.messages,
        per_s=bench.messages / elapsed,
        publish_per_s=bench.messages / publish_s,
        timings=timings,
        cpu=cpu,
        explains=explains,
        duplicates=int(stats["duplicates"]) + int(attempts) - bench.messages,
        failures=failures,
    )


# ---- (c) latency when idle -------------------------------------------------------------------


@dataclass
class LatencyResult:
    """Commit-to-receipt latency of single messages to an idle worker."""

    commit_p50_ms: float
    probes: int
    p50_ms: float
    p99_ms: float
    max_ms: float
    min_ms: float


def latency_phase(bench: Bench) -> LatencyResult:
    """One idle worker (5 s poll), messages one at a time: commit to receipt, in ms."""
    url = bench.database("latency", migrated=True)
    engine = make_engine(url, pool_size=2)
    with engine.begin() as conn:
        org = uuid.UUID(int=0xBE0C_1A7E)
        outbox.register_endpoint(conn, org, bench.receiver.url(0), [MESSAGE_TYPE], allow=LOCAL)
    bench.receiver.call("reset")
    bench.receiver.call("record")
    processes, go, stop, results = _start_workers(
        bench, url, "latency", 1, poll_interval=LATENCY_POLL_S
    )
    go.set()
    _wait_listening(engine, 1)
    time.sleep(0.3)  # let its first round (an empty claim, inbox, prune) pass
    rng = random.Random(7)
    committed: dict[str, float] = {}
    commit_ms: list[float] = []
    for i in range(bench.latency_probes):
        time.sleep(rng.uniform(0.5, 1.5) * LATENCY_SPACING_S)
        with engine.connect() as conn:
            message_id = outbox.publish(
                conn,
                type=MESSAGE_TYPE,
                payload=_payload(i),
                aggregate_type="ticket",
                aggregate_id=f"tkt_{i:08d}",
                org_id=org,
            )
            # The clock starts as COMMIT is sent: the NOTIFY may wake the worker before the
            # publisher runs again, so a time taken after commit() could follow the receipt.
            sent = time.time()
            conn.commit()
            commit_ms.append((time.time() - sent) * 1000)
        committed[str(message_id)] = sent
    deadline = time.monotonic() + 2 * LATENCY_POLL_S + 5
    while bench.receiver.stats()["unique"] < len(committed):
        if time.monotonic() > deadline:
            raise RuntimeError("latency: not every probe arrived")
        time.sleep(0.05)
    received: dict[str, float] = bench.receiver.call("times")
    stop.set()
    _collect(results, 1)
    _join(processes)
    engine.dispose()
    latencies = sorted((received[k] - t) * 1000 for k, t in committed.items())
    quantiles = statistics.quantiles(latencies, n=100, method="inclusive")
    return LatencyResult(
        commit_p50_ms=statistics.median(commit_ms),
        probes=len(latencies),
        p50_ms=statistics.median(latencies),
        p99_ms=quantiles[98],
        max_ms=latencies[-1],
        min_ms=latencies[0],
    )


# ---- (d) e-mail end to end -------------------------------------------------------------------


def _publish_emails(engine: sa.Engine, org: uuid.UUID, count: int) -> None:
    aggregates = max(1, count // MESSAGES_PER_AGGREGATE)
    for start in range(0, count, PUBLISH_TX):
        with engine.begin() as conn:
            for i in range(start, min(start + PUBLISH_TX, count)):
                aggregate = i % aggregates
                # One address per aggregate: its e-mails keep their order, as a buyer's would.
                email = outbox.Email(
                    to=recipient(aggregate), subject=f"Your ticket tkt_{i:08d}", body=EMAIL_BODY
                )
                outbox.publish(
                    conn,
                    type=MESSAGE_TYPE,
                    payload=_payload(i),
                    aggregate_type="ticket",
                    aggregate_id=f"tkt_{aggregate:08d}",
                    org_id=org,
                    emails=[email],
                )


def email_phase(bench: Bench, sink: SmtpSink, emails: int, *, per_message: bool) -> OutboxResult:
    """Publish `emails` messages with one e-mail each (the organization has no endpoint),
    then time one worker process delivering them; `per_message` puts the sender before
    MailClient (a new SMTP session per e-mail) in the worker's place."""
    label = "email_new_session" if per_message else "email"
    url = bench.database(label, migrated=True)
    engine = make_engine(url, pool_size=4)
    org = uuid.UUID(int=0xBE0C_E3A1)
    t0 = time.perf_counter()
    _publish_emails(engine, org, emails)
    publish_s = time.perf_counter() - t0
    with engine.begin() as conn:
        conn.execute(sa.text("ANALYZE messaging.messages, messaging.deliveries"))
    sink.reset()

    processes, go, stop, results = _start_workers(
        bench,
        url,
        label,
        1,
        poll_interval=1.0,
        smtp_port=sink.port,
        mail_per_message=per_message,
    )
    meter = CpuMeter(bench.postgres_cpu(engine), sink)
    t0 = time.perf_counter()
    go.set()
    deadline = t0 + PHASE_TIMEOUT_S
    while True:
        received = sink.stats()["unique"]
        if received >= emails and _open_deliveries(engine) == 0:
            break
        if time.perf_counter() > deadline:
            raise RuntimeError(f"{label}: {received} of {emails} after {PHASE_TIMEOUT_S} s")
        time.sleep(0.05 if received < emails else 0.005)
    elapsed = time.perf_counter() - t0
    meter.end()
    stop.set()
    done = _collect(results, 1)
    _join(processes)
    timings = Timings()
    for d in done:
        timings.add(Timings(**d))
    cpu = meter.window(timings.cpu_s)
    cpu.server = "SMTP server"
    stats = sink.stats()
    succeeded, attempts, failures = _attempts(engine)
    engine.dispose()
    if succeeded != emails:
        raise RuntimeError(f"{label}: {succeeded} succeeded of {emails}")
    return OutboxResult(
        workers=1,
        messages=emails,
        per_s=emails / elapsed,
        publish_per_s=emails / publish_s,
        timings=timings,
        cpu=cpu,
        explains=[],
        duplicates=int(stats["duplicates"]) + attempts - emails,
        failures=failures,
        request="e-mail",
        sessions=int(stats["sessions"]),
    )


# ---- the run ---------------------------------------------------------------------------------


@contextmanager
def _server(*, tuned: bool = True) -> Iterator[tuple[str, str]]:
    """The server's maintenance URL and a description: DATABASE_URL's, or an embedded one
    configured as a deployment on this machine (`bench.posting._server`:
    `liventix.database.production_settings()`, or PostgreSQL's defaults unless `tuned`),
    whose settings it prints."""
    with posting_server(tuned=tuned) as url:
        if os.environ.get("DATABASE_URL"):
            yield url, "DATABASE_URL"
        else:
            shown = "production_settings()" if tuned else "PostgreSQL's defaults"
            yield url, f"embedded, {shown}"


@contextmanager
def _receiver(ctx: SpawnContext, delay_s: float) -> Iterator[ReceiverClient]:
    parent, child = ctx.Pipe()
    process = ctx.Process(
        target=_receiver_main, args=(child, delay_s), name="receiver", daemon=True
    )
    process.start()
    if not parent.poll(30):
        raise RuntimeError("the receiver did not start")
    client = ReceiverClient(int(parent.recv()), parent)
    try:
        yield client
    finally:
        with suppress(OSError):
            client.call("stop")
        process.join(timeout=5)
        if process.is_alive():
            process.kill()


def _server_facts(url: str) -> str:
    engine = sa.create_engine(url, poolclass=NullPool)
    with engine.connect() as conn:
        version = conn.execute(sa.text("SHOW server_version")).scalar_one()
        facts = [
            f"{name}={conn.execute(sa.text(f'SHOW {name}')).scalar_one()}"
            for name in ("fsync", "synchronous_commit", "shared_buffers", "max_connections")
        ]
    engine.dispose()
    return f"PostgreSQL {version} ({', '.join(facts)})"


def _print_profile(profile_dir: str) -> None:
    for part in ("loop", "send"):
        path = Path(profile_dir) / f"outbox_4-worker-0-{part}.prof"
        if not path.exists():
            continue
        print(f"--- cProfile, outbox_4, worker 0, {part} thread(s), top 25 by own time ---")
        stats = pstats.Stats(str(path), stream=sys.stdout)
        stats.sort_stats("tottime").print_stats(25)


def main(argv: Sequence[str] | None = None) -> None:
    """Run every phase and print the figures, the ratios and the JSON line."""
    parser = argparse.ArgumentParser(prog="python -m bench.outbox", description=__doc__)
    parser.add_argument(
        "--seconds",
        type=float,
        default=10.0,
        help="scale: how long each throughput phase lasts at the issue's aim of 2,000/s "
        "(2,000 x N messages per phase; 20 x N latency probes ~50 ms apart); default 10",
    )
    parser.add_argument("--messages", type=int, help="messages per throughput phase")
    parser.add_argument("--profile", metavar="DIR", help="write cProfile files of each worker")
    parser.add_argument("--plans", action="store_true", help="print the claim's full plans")
    parser.add_argument(
        "--emails",
        type=int,
        default=EMAILS,
        help=f"e-mails per sender round and per end-to-end e-mail phase; default {EMAILS}",
    )
    parser.add_argument(
        "--receiver-delay-ms",
        type=float,
        default=0.0,
        help="make the receiver answer webhooks this late, like a real endpoint (default 0)",
    )
    parser.add_argument(
        "--server-defaults",
        action="store_true",
        help="the embedded server with PostgreSQL's defaults (128 MB shared_buffers, checkpoints"
        " every 5 min or 1 GB of WAL), not liventix.database.production_settings()",
    )
    args = parser.parse_args(argv)
    messages = args.messages or max(1000, int(2000 * args.seconds))
    probes = max(20, int(20 * args.seconds))
    if args.profile:
        Path(args.profile).mkdir(parents=True, exist_ok=True)

    ctx = multiprocessing.get_context("spawn")
    email_threads = outbox.WorkerSettings().concurrency
    with (
        _server(tuned=not args.server_defaults) as (server_url, where),
        _receiver(ctx, args.receiver_delay_ms / 1000) as receiver,
        closing(SmtpSink.start(ctx)) as sink,
    ):
        bench = Bench(server_url, ctx, receiver, messages, probes, args.profile)
        try:
            print(f"server: {_server_facts(server_url)}, {where}; {os.cpu_count()} CPUs")
            run_on = server_run_on(server_url, tuned=not args.server_defaults)
            busy0, total0 = _machine_busy()
            time.sleep(1.0)
            busy1, total1 = _machine_busy()
            background = 100 * (os.cpu_count() or 1) * (busy1 - busy0) / (total1 - total0)
            print(
                f"background load before the run (other processes on this machine): "
                f"{background:.0f}% of {100 * (os.cpu_count() or 1)}%"
            )
            print(
                f"receiver: one process, liventix.testing's webhook receiver (http.server, "
                f"a thread per keep-alive connection), {ORGS} endpoints on "
                f"127.0.0.1:{receiver.port}, answering after {args.receiver_delay_ms:g} ms"
            )
            bare_url = bench.database("bare", migrated=False)
            engine = make_engine(bare_url, poolclass=NullPool)
            with engine.begin() as conn:
                conn.execute(
                    sa.text("CREATE TABLE bare_queue (id bigserial PRIMARY KEY, payload jsonb)")
                )
            engine.dispose()
            bare = {n: bare_phase(bench, bare_url, n, 5 * messages) for n in (1, 4)}
            for b in bare.values():
                print(
                    f"bare_{b.consumers}: {b.per_s:,.0f} msg/s ({b.rows:,} rows drained by "
                    f"{b.consumers} consumer process(es), DELETE ... SKIP LOCKED, batches of "
                    f"{BATCH}; INSERT by {BARE_PRODUCERS} producers at {b.insert_per_s:,.0f}/s)"
                )
                print(f"  {b.cpu.describe()}")

            out = {n: outbox_phase(bench, n) for n in (1, 4)}
            for o in out.values():
                print(
                    f"outbox_{o.workers}: {o.per_s:,.0f} deliveries/s ({o.messages:,} messages "
                    f"published at {o.publish_per_s:,.0f}/s beforehand, delivered by "
                    f"{o.workers} worker process(es) until all 'succeeded'; repeats: "
                    f"{o.duplicates})"
                )
                if o.failures:
                    print(f"  failed attempts: {'; '.join(o.failures)}")
                print(f"  {o.describe_timings()}")
                print(f"  {o.cpu.describe()}")
                if o.cpu_ceiling is not None:
                    print(
                        f"  CPU ceiling: {o.cpu_ceiling:,.0f} deliveries/s if this bench had "
                        f"the {o.cpu.machine_cores} cores to itself at this CPU cost per delivery"
                    )
                for e in o.explains:
                    print(f"  {e.describe()}")
                    if args.plans:
                        print("    " + e.plan.replace("\n", "\n    "))

            lat = latency_phase(bench)
            print(
                f"latency (idle worker, poll {LATENCY_POLL_S:.0f} s, LISTEN/NOTIFY): "
                f"{lat.probes} probes, commit to receipt p50 {lat.p50_ms:.1f} ms, "
                f"p99 {lat.p99_ms:.1f} ms (min {lat.min_ms:.1f}, max {lat.max_ms:.1f}; the clock "
                f"starts when COMMIT is sent, the COMMIT itself took {lat.commit_p50_ms:.1f} ms "
                f"at p50)"
            )

            email_t0 = time.perf_counter()
            print(
                f"e-mail: aiosmtpd {aiosmtpd.__version__} in its own process on "
                f"127.0.0.1:{sink.port}, accepting every message; {email_threads} sending "
                f"threads (WorkerSettings' concurrency)"
            )
            senders = sender_phase(sink, args.emails, email_threads, EMAIL_ROUNDS)
            print("email_new_session (baseline, a new smtplib.SMTP session per message):")
            print(f"  {senders.describe('new')}")
            print("email_kept_session (MailClient.send, one kept session per thread):")
            print(f"  {senders.describe('kept')}")
            mail = {
                per_message: email_phase(bench, sink, args.emails, per_message=per_message)
                for per_message in (False, True)
            }
            for per_message, m in mail.items():
                how = "a new session per e-mail" if per_message else "MailClient, kept sessions"
                print(
                    f"email_deliveries{'_new_session' if per_message else ''} ({how}): "
                    f"{m.per_s:,.0f} deliveries/s ({m.messages:,} messages with one e-mail each "
                    f"published at {m.publish_per_s:,.0f}/s beforehand, delivered by 1 worker "
                    f"process until all 'succeeded'; SMTP sessions: {m.sessions}; repeats: "
                    f"{m.duplicates})"
                )
                if m.failures:
                    print(f"  failed attempts: {'; '.join(m.failures)}")
                print(f"  {m.describe_timings()}")
                print(f"  {m.cpu.describe()}")
            print(f"e-mail section: {time.perf_counter() - email_t0:.1f} s of wall time")
        finally:
            bench.drop_all()

    ratio_1 = out[1].per_s / bare[1].per_s
    ratio_4 = out[4].per_s / bare[4].per_s
    print(f"ratio_1 (outbox_1 / bare_1): {ratio_1:.3f}")
    print(f"ratio_4 (outbox_4 / bare_4): {ratio_4:.3f}")
    email_new, email_kept = senders.per_s("new"), senders.per_s("kept")
    session_ratio = email_kept / email_new
    deliveries_ratio = mail[False].per_s / mail[True].per_s
    email_outbox_ratio = mail[False].per_s / email_kept
    print(f"email_session_ratio (email_kept_session / email_new_session): {session_ratio:.3f}")
    print(
        f"email_deliveries_ratio (email_deliveries / email_deliveries_new_session): "
        f"{deliveries_ratio:.3f}"
    )
    print(
        f"email_outbox_ratio (email_deliveries / email_kept_session, the outbox's cost over "
        f"the bare sender): {email_outbox_ratio:.3f}"
    )
    print(
        f"aims: >= 2,000 deliveries/s with 4 workers: {out[4].per_s:,.0f} "
        f"({'met' if out[4].per_s >= 2000 else 'NOT met'}); p99 < 100 ms idle: "
        f"{lat.p99_ms:.1f} ms ({'met' if lat.p99_ms < 100 else 'NOT met'})"
    )
    if args.profile:
        _print_profile(args.profile)
    summary = {
        "bare_1": round(bare[1].per_s, 1),
        "bare_4": round(bare[4].per_s, 1),
        "outbox_1": round(out[1].per_s, 1),
        "outbox_4": round(out[4].per_s, 1),
        "ratio_1": round(ratio_1, 4),
        "ratio_4": round(ratio_4, 4),
        "latency_p50_ms": round(lat.p50_ms, 2),
        "latency_p99_ms": round(lat.p99_ms, 2),
        "messages": messages,
        **run_on,
        "latency_probes": lat.probes,
        "background_load_pct": round(background, 1),
        "worker_cpu_us_per_delivery_1": round(out[1].worker_cpu_us, 1),
        "worker_cpu_us_per_delivery_4": round(out[4].worker_cpu_us, 1),
        "postgres_cpu_us_per_delivery_4": out[4].postgres_cpu_us,
        "outbox_4_cpu_ceiling": None if out[4].cpu_ceiling is None else round(out[4].cpu_ceiling),
        "emails": args.emails,
        "email_threads": email_threads,
        "email_new_session_per_s": round(email_new, 1),
        "email_kept_session_per_s": round(email_kept, 1),
        "email_session_ratio": round(session_ratio, 4),
        "email_deliveries_per_s": round(mail[False].per_s, 1),
        "email_deliveries_new_session_per_s": round(mail[True].per_s, 1),
        "email_deliveries_ratio": round(deliveries_ratio, 4),
        "email_outbox_ratio": round(email_outbox_ratio, 4),
        "email_worker_cpu_us_per_delivery": round(mail[False].worker_cpu_us, 1),
        "email_worker_cpu_us_per_delivery_new_session": round(mail[True].worker_cpu_us, 1),
        # Other processes' CPU during each end-to-end e-mail phase: load that skews it.
        "email_deliveries_outside_cpu_pct": round(mail[False].cpu.outside, 1),
        "email_deliveries_new_session_outside_cpu_pct": round(mail[True].cpu.outside, 1),
    }
    print(json.dumps(summary))


if __name__ == "__main__":
    main()

"""How the ledger behaves as it grows: posting rate and balance reads at 10^4, 10^6 and 10^7
lines, the posting rate measured against a small ledger kept beside the big one.

Run as `python -m bench.growth [--seconds N] [--rounds N] [--fill-workers N] [--quick]`. One
server, as `bench.posting`'s (an embedded PostgreSQL in a temporary directory, or
`DATABASE_URL`'s). Two databases on it:

- the *big* one, filled with the batch path (`ledger.post_batch`, independent two-line
  entries, `--fill-batch` per call) to each size in turn by `--fill-workers` processes in
  parallel, each on its own slice of the accounts and its own *big* account (half of its
  entries debit it, so that worker 0's holds at least 10^5 lines from 10^6 lines on): the
  workers' batches never wait on each other's row locks. One fill entry in 1,000 is
  backdated (effective 2026-01-01), so the balance by effective time has dated lines to
  correct by. The fill's own rate is printed every minute and kept (`fill_*`);
- the *small* one: a copy of the big one taken when it held the first size's lines
  (`CREATE DATABASE ... TEMPLATE`), cloned afresh from that copy before each of its runs, so
  that it holds the first size's lines at every run (a run's postings would otherwise grow it
  tenfold over the rounds). Same accounts, same organization. The clones are dropped when
  the size's measurements are done, not after each run: DROP DATABASE makes the server
  checkpoint (session 31: 30 of the run's 34 checkpoints), which put every big run just
  after one whatever the settings said.

At each size, the posting rate of the big ledger against the small one's, measured paired:
`--rounds` interleaved rounds (at the sizes before the last, 2), each running single postings
(`post_entry_now`, random pairs of the spread accounts, as `bench.posting`'s `post_N`) at 1
and then 16 client processes on the small and the big ledger, each first in turn (small, big;
big, small; ...). Before every run its database is settled the same way (the accounts
vacuumed, the tables analysed), and the machine's load average is printed before and after it.
The server is `bench.posting._server`'s, configured as a deployment on this machine
(`liventix.database.production_settings()`; `--server-defaults` for PostgreSQL's own), and
checkpoints come as its settings schedule them (every 15 min or 8 GB of WAL), after a VACUUM
(ANALYZE) and one CHECKPOINT at the end of each fill, so that no round pays for the fill's
aftermath (autovacuum's pass over the tables it grew, writing it out).
Session 30 checkpointed before every run (`--checkpoint-each-run`): that put every run at
the start of a checkpoint cycle, where each page's first write logs the whole page (a
full-page image), which costs the big ledger (a posting's index leaves are seldom ones
already written) and not the small one (a few hundred leaves take every posting), in every
run, where a deployment pays it once per page per checkpoint cycle (docs/scaling.md). Per size:
the median rate of each (`post_N_small_at_`, `post_N_big_at_`), the ratio of the medians
(`growth_ratio_at_`, `growth_ratio_16_at_`), CPU per posting of each (client + server: what
other load on the machine disturbs least) and its ratio, the blocks each posting read from
outside shared_buffers and the full-page images it wrote (`_fpi_`; and each run's checkpoints,
if one fell in it). At the first size both
ledgers hold the same lines: its ratio is the method's own noise (an A/A test). Then one
client posting to the two ledgers in turn, posting by posting (`--alternating` each, every
posting timed): the finest interleaving there is, so that the load is the same for both
(`growth_ratio_alternating_at_`, from the mean times; and from the medians).

The issue's keys come from the last size's rounds: `post_1_at_1e4` (the small ledger),
`post_1_at_1e7` (the big one) and `growth_ratio` (the second / the first), so the ratio is
the ledger's and not the machine's load at two moments an hour apart. Then `balance` and
`balance_as_of` (by recorded time, a moment in the middle of the account's history; and by
effective time, the same moment) of worker 0's big account on the big ledger: median and 95th
percentile of 50 calls. The tables' and indexes' sizes beside shared_buffers are printed at
each size. `--quick` fills to 10^3, 10^4 and 10^5 lines instead, `--sizes 4,6` to the powers
of ten given. The last line printed is one JSON object holding every figure.
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import multiprocessing as mp
import os
import random
import statistics
import sys
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from multiprocessing.pool import Pool
from typing import Any

import sqlalchemy as sa

import ledger
from bench.posting import (
    CLIENTS,
    START_MARGIN,
    Book,
    Results,
    Run,
    ServerCpu,
    _entry,
    _open_book,
    _ready,
    _run,
    _server,
    _settle,
    per,
    server_run_on,
)
from liventix.database import create_database, database_url, drop_database, make_engine, upgrade

FULL_SIZES = (10**4, 10**6, 10**7)
QUICK_SIZES = (10**3, 10**4, 10**5)
READS = 50
BACKDATED = 1000
BACKDATE = datetime(2026, 1, 1, tzinfo=UTC)
PROGRESS_EVERY = 60.0
"""Seconds between a fill worker's progress lines."""


def _tag(lines: int) -> str:
    """`1e4` for 10,000 lines (sizes are powers of ten)."""
    return f"1e{round(math.log10(lines))}"


def _load() -> float:
    return round(os.getloadavg()[0], 2)


def _vacuum(engine: sa.Engine) -> None:
    """VACUUM (ANALYZE) the whole database."""
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.exec_driver_sql("VACUUM (ANALYZE)")


def _count_lines(engine: sa.Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(sa.text("SELECT count(*) FROM payments.lines")).scalar_one())


# ------------------------------------------------------------------------------------------
# The fill: worker processes posting batches on disjoint accounts
# ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FillJob:
    """What one fill worker posts: `entries` entries on its own accounts."""

    url: str
    worker: int
    org: uuid.UUID
    accounts: tuple[uuid.UUID, ...]
    big: uuid.UUID
    entries: int
    batch: int
    seed: int


@dataclass(frozen=True)
class FillTally:
    """What one fill worker did."""

    entries: int
    elapsed: float
    cpu: float
    error: str | None = None


def fill_worker(job: FillJob) -> FillTally:
    """Post `job.entries` independent two-line entries in batches (a pool task); half debit
    the worker's big account, one in BACKDATED is backdated."""
    engine = make_engine(job.url, pool_size=1, max_overflow=0)
    rng = random.Random(job.seed)
    prefix = f"fill-{job.worker}-{uuid.uuid4().hex[:8]}-"
    posted = 0
    started = last = time.perf_counter()
    cpu0 = time.process_time()
    try:
        while posted < job.entries:
            size = min(job.batch, job.entries - posted)
            batch = []
            for i in range(posted, posted + size):
                debit, credit = rng.sample(job.accounts, 2)
                if i % 2 == 0:
                    debit = job.big
                amount = rng.randint(1, 1000)
                batch.append(
                    ledger.PostEntry(
                        f"{prefix}{i}",
                        [
                            ledger.Line(debit, "debit", amount, "USD"),
                            ledger.Line(credit, "credit", amount, "USD"),
                        ],
                        # the dated lines that the balance by effective time reads besides
                        # its probe
                        effective_at=BACKDATE if i % BACKDATED == BACKDATED - 1 else None,
                    )
                )
            with engine.begin() as conn:
                results = ledger.post_batch(conn, job.org, batch)
            refused = [r.error for r in results if r.error is not None]
            if refused:
                raise RuntimeError(f"fill: an entry was refused: {refused[0]}")
            posted += size
            now = time.perf_counter()
            if now - last >= PROGRESS_EVERY:
                last = now
                rate = posted / (now - started)
                print(
                    f"  fill worker {job.worker}: {posted:,} of {job.entries:,} entries in"
                    f" {now - started:.0f} s ({rate:,.0f}/s), {(job.entries - posted) / rate:.0f}"
                    f" s to go; load {_load()}",
                    flush=True,
                )
    except Exception as exc:
        return FillTally(posted, time.perf_counter() - started, 0.0, f"{type(exc).__name__}: {exc}")
    finally:
        engine.dispose()
    return FillTally(posted, time.perf_counter() - started, time.process_time() - cpu0)


def _fill(
    pool: Pool,
    url: str,
    engine: sa.Engine,
    book: Book,
    bigs: Sequence[uuid.UUID],
    *,
    target: int,
    batch: int,
    seed: int,
) -> tuple[int, float, float]:
    """Fill the big ledger to `target` lines with one worker per big account; the entries
    posted, the seconds it took and the workers' CPU seconds."""
    entries = max(0, target - _count_lines(engine)) // 2
    workers = len(bigs)
    jobs = [
        FillJob(
            url,
            w,
            book.org,
            book.accounts[w::workers],
            bigs[w],
            entries // workers + (1 if w < entries % workers else 0),
            batch,
            seed * 100 + w,
        )
        for w in range(workers)
    ]
    started = time.perf_counter()
    tallies: list[FillTally] = pool.map(fill_worker, [j for j in jobs if j.entries], chunksize=1)
    elapsed = time.perf_counter() - started
    errors = [t.error for t in tallies if t.error]
    if errors:
        raise RuntimeError(errors[0])
    return sum(t.entries for t in tallies), elapsed, sum(t.cpu for t in tallies)


# ------------------------------------------------------------------------------------------
# Paired rounds: the small ledger and the big one
# ------------------------------------------------------------------------------------------


@dataclass
class Ledgers:
    """The big ledger, the small one's frozen copy, and the prefix of its working clones;
    whether each run starts with a CHECKPOINT (session 30's way) or with the server's own
    schedule of checkpoints."""

    admin: str
    big: str
    big_engine: sa.Engine
    frozen: str
    clone: str
    checkpoint_each_run: bool = False
    clones: list[str] = field(default_factory=list)

    def drop_clones(self) -> None:
        """Drop the small ledger's clones (each DROP DATABASE is a checkpoint)."""
        while self.clones:
            drop_database(self.admin, self.clones.pop())

    @contextmanager
    def open(self, which: str) -> Iterator[tuple[str, sa.Engine]]:
        """The URL and an engine of the ledger to measure, settled: the small one cloned
        afresh from its frozen copy (dropped by `drop_clones`)."""
        if which == "big":
            _settle(self.big_engine, checkpoint=self.checkpoint_each_run)
            yield database_url(self.admin, self.big), self.big_engine
            return
        clone = f"{self.clone}_{len(self.clones)}"
        self.clones.append(clone)
        # WAL_LOG (the default strategy) copies the pages through the WAL: no checkpoint.
        create_database(self.admin, clone, template=self.frozen)
        url = database_url(self.admin, clone)
        engine = make_engine(url, pool_size=2)
        try:
            _settle(engine, checkpoint=self.checkpoint_each_run)
            yield url, engine
        finally:
            engine.dispose()


_READ = sa.text(
    "SELECT blks_read, blks_hit FROM pg_stat_database WHERE datname = current_database()"
)


_WAL = sa.text("""
    SELECT w.wal_fpi, w.wal_bytes, c.num_done
      FROM pg_stat_wal w, pg_stat_checkpointer c
""")


@dataclass(frozen=True)
class Counters:
    """The database's blocks read and hit; the server's full-page images, WAL bytes and
    checkpoints done (the WAL's are the whole server's: only this bench runs on it)."""

    read: int
    hit: int
    fpi: int
    wal_bytes: int
    checkpoints: int


def _counters(engine: sa.Engine) -> Counters:
    with engine.connect() as conn:
        conn.exec_driver_sql("SELECT pg_stat_clear_snapshot()")
        read, hit = conn.execute(_READ).one()
        fpi, wal_bytes, checkpoints = conn.execute(_WAL).one()
        return Counters(int(read), int(hit), int(fpi), int(wal_bytes), int(checkpoints))


@dataclass
class Paired:
    """One size's runs of each ledger at each client count."""

    rates: dict[tuple[str, int], list[float]]
    cpu_us: dict[tuple[str, int], list[float]]
    read_per: dict[tuple[str, int], list[float]]
    fpi_per: dict[tuple[str, int], list[float]]
    log: list[list[Any]]


def _paired(
    pool: Pool,
    ledgers: Ledgers,
    book: Book,
    *,
    rounds: int,
    seconds: float,
    server: ServerCpu,
) -> Paired:
    """`rounds` interleaved rounds of post_1 and post_16 on the small and the big ledger, each
    first in turn."""
    out = Paired({}, {}, {}, {}, [])
    for r in range(rounds):
        order = ("small", "big") if r % 2 == 0 else ("big", "small")
        for processes in (1, CLIENTS):
            for which in order:
                with ledgers.open(which) as (url, engine):
                    before = _load()
                    c0 = _counters(engine)
                    job = book.job(url, "post", time.time() + START_MARGIN, seconds, 1)
                    run: Run = _run(
                        pool, engine, job, processes, server=server, name=f"post_{processes}"
                    )
                    c1 = _counters(engine)
                    after = _load()
                done = run.transactions_per_s * seconds
                cpu = run.client_cpu_us + run.server_cpu_us
                # Counted from the settling's end to the run's: its start-up and linger too.
                read = per(c1.read - c0.read, done)
                fpi = per(c1.fpi - c0.fpi, done)
                wal_kb = per(c1.wal_bytes - c0.wal_bytes, done) / 1024
                checkpoints = c1.checkpoints - c0.checkpoints
                key = (which, processes)
                out.rates.setdefault(key, []).append(run.transactions_per_s)
                out.cpu_us.setdefault(key, []).append(cpu)
                out.read_per.setdefault(key, []).append(read)
                out.fpi_per.setdefault(key, []).append(fpi)
                out.log.append(
                    [
                        r,
                        which,
                        processes,
                        round(run.transactions_per_s, 1),
                        round(cpu),
                        before,
                        after,
                        round(run.other_cpu, 2),
                        round(read, 2),
                        round(fpi, 2),
                        checkpoints,
                    ]
                )
                print(
                    f"  round {r + 1} {which:<5} post_{processes:<2}"
                    f" {run.transactions_per_s:8.1f}/s"
                    f"  {cpu:6.0f} us CPU/posting  {read:6.2f} blocks read/posting"
                    f" ({per(c1.hit - c0.hit, done):5.0f} hit)  {fpi:5.2f} FPI"
                    f" {wal_kb:5.1f} KB WAL/posting"
                    + (f" ({checkpoints} checkpoint(s) in it)" if checkpoints else "")
                    + f"  other CPU {run.other_cpu:.2f}; load {before} -> {after}",
                    flush=True,
                )
    return out


def _round_ratios(log: Sequence[Sequence[Any]], processes: int) -> list[float]:
    """Each round's big rate over its small rate at this client count: the two runs next to
    each other in time, so that the load they shared cancels."""
    rates: dict[tuple[int, str], float] = {
        (int(r[0]), str(r[1])): float(r[3]) for r in log if r[2] == processes
    }
    rounds = sorted({r for r, _ in rates})
    return [per(rates[r, "big"], rates[r, "small"]) for r in rounds]


def _alternating(
    ledgers: Ledgers, book: Book, postings: int
) -> dict[str, tuple[float, float, float]]:
    """One client posting to the small and the big ledger in turn (small, big; big, small;
    ...), each posting timed: interleaved at the grain of one posting, so that both sides
    see the same load. Per ledger: the rate the mean time gives, the median time (ms) and
    the client's CPU per posting (us)."""
    job = book.job("", "post", 0.0, 0.0, 1)
    rng = random.Random(7)
    keys = (f"alt-{uuid.uuid4().hex[:8]}-{n}" for n in itertools.count())
    times: dict[str, list[float]] = {"small": [], "big": []}
    cpu: dict[str, float] = {"small": 0.0, "big": 0.0}
    with (
        ledgers.open("small") as (_, small),
        ledgers.open("big") as (_, big),
        small.connect() as on_small,
        big.connect() as on_big,
    ):
        held = {"small": on_small, "big": on_big}
        for conn in held.values():  # connect and warm up outside the timing
            for _ in range(20):
                ledger.post_entry_now(conn, book.org, _entry(job, rng, next(keys)))
        for n in range(postings):
            for which in ("small", "big") if n % 2 == 0 else ("big", "small"):
                entry = _entry(job, rng, next(keys))
                cpu0, started = time.process_time(), time.perf_counter()
                ledger.post_entry_now(held[which], book.org, entry)
                times[which].append(time.perf_counter() - started)
                cpu[which] += time.process_time() - cpu0
    return {
        which: (
            per(len(t), sum(t)),
            statistics.median(t) * 1e3,
            per(cpu[which], len(t)) * 1e6,
        )
        for which, t in times.items()
    }


# ------------------------------------------------------------------------------------------
# Reads and sizes
# ------------------------------------------------------------------------------------------


def _latencies_ms(
    engine: sa.Engine, big: uuid.UUID
) -> tuple[list[float], list[float], list[float]]:
    """`balance` and `balance_as_of` (recorded, and effective, mid-history) of the big
    account, in ms."""
    with engine.connect() as conn:
        first, last = conn.execute(
            sa.text(
                "SELECT min(created_at), max(created_at) FROM payments.lines WHERE account_id = :a"
            ),
            {"a": big},
        ).one()
        middle: datetime = first + (last - first) / 2
        now_ms: list[float] = []
        as_of_ms: list[float] = []
        effective_ms: list[float] = []
        for _ in range(READS):
            started = time.perf_counter()
            ledger.balance(conn, big)
            now_ms.append((time.perf_counter() - started) * 1e3)
            started = time.perf_counter()
            ledger.balance_as_of(conn, big, middle)
            as_of_ms.append((time.perf_counter() - started) * 1e3)
            started = time.perf_counter()
            ledger.balance_as_of(conn, big, middle, by="effective")
            effective_ms.append((time.perf_counter() - started) * 1e3)
        conn.rollback()
    return now_ms, as_of_ms, effective_ms


def _p95(values: Sequence[float]) -> float:
    return sorted(values)[max(0, math.ceil(0.95 * len(values)) - 1)]


_SIZES = sa.text("""
    SELECT c.relname, pg_relation_size(c.oid) / 1048576
      FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
     WHERE n.nspname = 'payments' AND c.relkind IN ('r', 'i')
       AND pg_relation_size(c.oid) >= 1048576
     ORDER BY pg_relation_size(c.oid) DESC
     LIMIT 12
""")


def _sizes_mb(engine: sa.Engine) -> dict[str, int]:
    """The ledger's largest tables and indexes, in MB."""
    with engine.connect() as conn:
        return {str(name): int(mb) for name, mb in conn.execute(_SIZES).all()}


# ------------------------------------------------------------------------------------------
# The run
# ------------------------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark and print its figures, the last line one JSON object."""
    parser = argparse.ArgumentParser(prog="python -m bench.growth", description=__doc__)
    parser.add_argument("--seconds", type=float, default=6.0, help="length of each posting run")
    parser.add_argument(
        "--rounds", type=int, default=10, help="interleaved rounds at the last size (2 before)"
    )
    parser.add_argument("--accounts", type=int, default=10_000, help="accounts to spread over")
    parser.add_argument(
        "--fill-workers", type=int, default=2, help="processes filling on disjoint accounts"
    )
    parser.add_argument("--fill-batch", type=int, default=1000, help="entries per fill batch")
    parser.add_argument(
        "--alternating",
        type=int,
        default=3000,
        help="postings to each ledger by one client alternating between them",
    )
    parser.add_argument("--quick", action="store_true", help="fill to 10^3, 10^4, 10^5 lines")
    parser.add_argument(
        "--sizes", help="powers of ten to fill to, comma-separated (default 4,6,7; --quick 3,4,5)"
    )
    parser.add_argument(
        "--checkpoint-each-run",
        action="store_true",
        help="a CHECKPOINT before every run (session 30's way: the worst case for full-page"
        " writes) instead of once after each fill",
    )
    parser.add_argument(
        "--server-defaults",
        action="store_true",
        help="the embedded server with PostgreSQL's defaults (128 MB shared_buffers, checkpoints"
        " every 5 min or 1 GB of WAL), not liventix.database.production_settings()",
    )
    args = parser.parse_args(argv)
    sizes = QUICK_SIZES if args.quick else FULL_SIZES
    if args.sizes:
        sizes = tuple(10 ** int(x) for x in args.sizes.split(","))
    seconds = max(2.0, args.seconds)
    workers = max(1, args.fill_workers)
    results = Results()
    name = f"bench_growth_{uuid.uuid4().hex[:8]}"
    frozen, clone = f"{name}_small", f"{name}_clone"
    began = time.perf_counter()

    ledgers: Ledgers | None = None
    with _server(tuned=not args.server_defaults) as admin:
        try:
            create_database(admin, name)
            url = database_url(admin, name)
            upgrade(url)
            engine = make_engine(url, pool_size=2)
            server = ServerCpu(engine)
            results.figures.update(server_run_on(url, tuned=not args.server_defaults))
            book = _open_book(engine, args.accounts)
            with engine.begin() as conn:
                bigs = [
                    ledger.open_account(
                        conn, book.org, ledger.OpenAccount(f"big-{w}", f"big-{w}", "asset", "USD")
                    ).id
                    for w in range(workers)
                ]
            ledgers = Ledgers(admin, name, engine, frozen, clone, args.checkpoint_each_run)
            every = "before every run" if args.checkpoint_each_run else "after each fill only"
            print(
                f"sizes {', '.join(_tag(s) for s in sizes)} lines; fill: {workers} worker(s),"
                f" {args.fill_batch} entries per batch; {seconds:g} s per posting run,"
                f" {args.rounds} paired rounds at the last size; a CHECKPOINT {every};"
                f" baseline: the small ledger ({_tag(sizes[0])} lines) in the same rounds;"
                f" load {_load()}",
                flush=True,
            )
            results.put("checkpoint_each_run", args.checkpoint_each_run)
            fill_total = 0.0
            with mp.get_context("spawn").Pool(max(CLIENTS, workers)) as pool:
                pool.map(_ready, range(max(CLIENTS, workers)), chunksize=1)
                for n, size in enumerate(sizes):
                    tag = _tag(size)
                    last = n == len(sizes) - 1
                    load0 = _load()
                    posted, filled, fill_cpu = _fill(
                        pool,
                        url,
                        engine,
                        book,
                        bigs,
                        target=size,
                        batch=args.fill_batch,
                        seed=14 + n,
                    )
                    fill_total += filled
                    print(f"at {tag} lines (filled in {filled:.0f} s)", flush=True)
                    results.put(f"fill_s_to_{tag}", filled, "s, with the batch path")
                    results.put(
                        f"fill_entries_per_s_to_{tag}",
                        per(posted, filled),
                        f"entries/s, {workers} process(es); load {load0} -> {_load()}",
                    )
                    results.put(
                        f"fill_client_cpu_us_to_{tag}",
                        per(fill_cpu, posted) * 1e6,
                        "client CPU per entry",
                    )
                    # The fill's aftermath done once before the rounds, not during them:
                    # autovacuum's pass over the tables it grew (at 10^6 it ran through the
                    # first big run, 30 full-page images per posting) and its dirty pages.
                    started = time.perf_counter()
                    _vacuum(engine)
                    results.put(f"vacuum_s_after_fill_to_{tag}", time.perf_counter() - started)
                    _settle(engine)
                    if n == 0:
                        # The small ledger: this size's copy, frozen.
                        engine.dispose()
                        create_database(admin, frozen, template=name)
                    results.put(f"lines_at_{tag}", _count_lines(engine))
                    results.put(f"sizes_mb_at_{tag}", _sizes_mb(engine))
                    paired = _paired(
                        pool,
                        ledgers,
                        book,
                        rounds=max(1, args.rounds) if last else 2,
                        seconds=seconds,
                        server=server,
                    )
                    results.put(
                        f"runs_at_{tag}",
                        paired.log,
                        "round, ledger, clients, /s, CPU us, load before, after, other CPU,"
                        " blocks read, full-page images per posting, checkpoints in the run",
                    )
                    for processes in (1, CLIENTS):
                        small = statistics.median(paired.rates[("small", processes)])
                        big = statistics.median(paired.rates[("big", processes)])
                        cpu_small = statistics.median(paired.cpu_us[("small", processes)])
                        cpu_big = statistics.median(paired.cpu_us[("big", processes)])
                        p = f"post_{processes}"
                        results.put(f"{p}_small_at_{tag}", small, "/s, median")
                        results.put(f"{p}_big_at_{tag}", big, "/s, median")
                        results.put(
                            f"growth_ratio{'' if processes == 1 else '_16'}_at_{tag}",
                            per(big, small),
                            f"big / small ({tag} / {_tag(sizes[0])} lines)",
                        )
                        pairs = _round_ratios(paired.log, processes)
                        results.put(
                            f"{p}_round_ratios_at_{tag}",
                            [round(x, 3) for x in pairs],
                            "big / small, each round's adjacent pair",
                        )
                        results.put(f"{p}_round_ratio_median_at_{tag}", statistics.median(pairs))
                        results.put(f"{p}_cpu_us_small_at_{tag}", cpu_small, "client + server")
                        results.put(f"{p}_cpu_us_big_at_{tag}", cpu_big, "client + server")
                        results.put(
                            f"{p}_cpu_ratio_at_{tag}", per(cpu_big, cpu_small), "big / small"
                        )
                        results.put(
                            f"{p}_blocks_read_small_at_{tag}",
                            statistics.median(paired.read_per[("small", processes)]),
                            "from outside shared_buffers, per posting",
                        )
                        results.put(
                            f"{p}_blocks_read_big_at_{tag}",
                            statistics.median(paired.read_per[("big", processes)]),
                        )
                        results.put(
                            f"{p}_fpi_small_at_{tag}",
                            statistics.median(paired.fpi_per[("small", processes)]),
                            "full-page images written per posting",
                        )
                        results.put(
                            f"{p}_fpi_big_at_{tag}",
                            statistics.median(paired.fpi_per[("big", processes)]),
                        )
                    load0 = _load()
                    alt = _alternating(ledgers, book, args.alternating)
                    print(
                        f"  one client alternating small / big, {args.alternating} postings each;"
                        f" load {load0} -> {_load()}",
                        flush=True,
                    )
                    for which in ("small", "big"):
                        rate, p50, client_us = alt[which]
                        results.put(f"post_1_alternating_{which}_at_{tag}", rate, "/s, 1 / mean")
                        results.put(f"post_1_alternating_{which}_p50_ms_at_{tag}", p50)
                        results.put(f"post_1_alternating_{which}_client_cpu_us_at_{tag}", client_us)
                    results.put(
                        f"growth_ratio_alternating_at_{tag}",
                        per(alt["big"][0], alt["small"][0]),
                        "big / small, interleaved posting by posting",
                    )
                    results.put(
                        f"growth_ratio_alternating_p50_at_{tag}",
                        per(alt["small"][1], alt["big"][1]),
                        "small's median time / big's",
                    )
                    now_ms, as_of_ms, effective_ms = _latencies_ms(engine, bigs[0])
                    with engine.connect() as conn:
                        big_lines = int(
                            conn.execute(
                                sa.text(
                                    "SELECT count(*) FROM payments.lines WHERE account_id = :a"
                                ),
                                {"a": bigs[0]},
                            ).scalar_one()
                        )
                    results.put(f"big_account_lines_at_{tag}", big_lines)
                    results.put(f"balance_p50_ms_at_{tag}", statistics.median(now_ms))
                    results.put(f"balance_p95_ms_at_{tag}", _p95(now_ms))
                    results.put(f"balance_as_of_p50_ms_at_{tag}", statistics.median(as_of_ms))
                    results.put(f"balance_as_of_p95_ms_at_{tag}", _p95(as_of_ms))
                    results.put(
                        f"balance_as_of_effective_p50_ms_at_{tag}", statistics.median(effective_ms)
                    )
                    results.put(f"load_at_{tag}", list(os.getloadavg()), "1/5/15 min")
                    ledgers.drop_clones()
            first, last_tag = _tag(sizes[0]), _tag(sizes[-1])
            print("the issue's keys: the last size's paired rounds", flush=True)
            f = results.figures
            results.put(f"post_1_at_{first}", f[f"post_1_small_at_{last_tag}"], "/s, small ledger")
            results.put(f"post_1_at_{last_tag}", f[f"post_1_big_at_{last_tag}"], "/s, big ledger")
            results.put(
                "growth_ratio",
                f[f"growth_ratio_at_{last_tag}"],
                f"post_1 at {last_tag} / at {first}",
            )
            results.put(
                "growth_ratio_paired",
                f[f"post_1_round_ratio_median_at_{last_tag}"],
                "median of the rounds' own big / small ratios",
            )
            results.put("growth_ratio_16", f[f"growth_ratio_16_at_{last_tag}"])
            results.put(
                "growth_ratio_alternating",
                f[f"growth_ratio_alternating_at_{last_tag}"],
                "one client, posting by posting",
            )
            results.put("growth_cpu_ratio", f[f"post_1_cpu_ratio_at_{last_tag}"], "CPU per posting")
            results.put("fill_s_total", fill_total)
            results.put("run_s_total", time.perf_counter() - began)
            results.put("load_at_end", list(os.getloadavg()), "1/5/15 min")
            print("targets", flush=True)
            # Met only when every reading of it is: the ratio of medians (the key)
            # swings with the load, so the paired and the alternating readings must agree.
            readings = (f["growth_ratio"], f["growth_ratio_paired"], f["growth_ratio_alternating"])
            results.put(
                "target_growth_ratio_within_10pct",
                all(r is not None and 0.9 <= r <= 1.1 for r in readings),
            )
            results.put(
                f"target_balance_as_of_p50_2ms_at_{last_tag}",
                f[f"balance_as_of_p50_ms_at_{last_tag}"] <= 2.0,
            )
            engine.dispose()
        finally:
            if ledgers is not None:
                ledgers.drop_clones()
            drop_database(admin, frozen)
            drop_database(admin, name)

    print(json.dumps(results.figures), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

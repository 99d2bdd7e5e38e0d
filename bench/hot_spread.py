"""The hot sale against the spread posting at 16 clients, in interleaved rounds (issue 14's
`hot_over_spread`, read as bench.posting's feature rounds read theirs).

Run as `python -m bench.hot_spread [--rounds 6] [--seconds 6] [--accounts 10000]`. One server
(bench.posting's `_server`: an embedded one, or `DATABASE_URL`'s), one database, bench.posting's
book (10,000 regular accounts, the platform's high-volume fee account) and its client: 16
processes posting through `ledger.post_entry_now`, one round trip each:

- `post` (the baseline): two-line entries between random pairs of accounts, bench.posting's
  `post_16`;
- `hot`: the same with the platform's high-volume fee as a third line, bench.posting's `hot_16`.

After a warm-up of both (the fee account's index pages exist, the plans are cached), each round
runs both cases one after the other, the order alternating (post, hot; hot, post; ...), every
segment from the same start (bench.posting's `_settle`: the accounts vacuumed, the tables
analysed, a CHECKPOINT), so neither case inherits a state the other does not: bench.posting
measures `post_16` on a young database and `hot_16` after its feature rounds (their
CHECKPOINTs, the tables several times larger), and at 16 clients on 2 cores the CPU per posting
moves by 10-20 % with such states (docs/engine.md, "The hot sale at 16 clients: where its
extra CPU goes"). Per segment: postings per second, client and backend CPU per posting (the
clients' own counters, the backends' from /proc as bench.posting reads them), WAL bytes per
posting (`pg_current_wal_lsn()` around it; the first seconds after a CHECKPOINT write full-page
images, in both cases alike) and the other load on the machine.

Figures: `hot_over_spread_interleaved` (the median over rounds of hot's rate / post's in the
same round: the ratio the issue's goal, >= 0.8, reads in bench.posting's `hot_over_spread`
from one pair of runs), `hot_over_spread_cpu` (the median over rounds of
post's client + server CPU per posting / hot's: what the rate ratio follows while both are
CPU-bound), and each case's medians (`hot_spread_post_rate`, `hot_spread_hot_rate`, their
`_client_cpu_us`, `_server_cpu_us`, `_wal_bytes`, `_other_cpu`). The last line printed is one
JSON object holding every figure.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import statistics
import time
from collections.abc import Sequence
from dataclasses import dataclass
from multiprocessing.pool import Pool

import sqlalchemy as sa

from bench.posting import (
    CLIENTS,
    START_MARGIN,
    Book,
    Mode,
    Run,
    ServerCpu,
    _analyze,
    _open_book,
    _ready,
    _run,
    _server,
    _settle,
)
from liventix.database import create_database, database_url, drop_database, make_engine, upgrade

CASES: tuple[Mode, Mode] = ("post", "hot")
WARM_SECONDS = 3.0


@dataclass(frozen=True)
class Segment:
    """One case's run in one round."""

    run: Run
    wal_bytes: float
    """WAL written per posting over the segment (its warm-up calls included)."""


def _wal_lsn(engine: sa.Engine) -> int:
    with engine.connect() as conn:
        return int(conn.exec_driver_sql("SELECT pg_current_wal_lsn() - '0/0'::pg_lsn").scalar_one())


def _segment(
    pool: Pool,
    engine: sa.Engine,
    book: Book,
    url: str,
    mode: Mode,
    *,
    seconds: float,
    server: ServerCpu,
) -> Segment:
    _settle(engine)
    before = _wal_lsn(engine)
    job = book.job(url, mode, time.time() + START_MARGIN, seconds, 1)
    run = _run(pool, engine, job, CLIENTS, server=server, name=mode)
    done = run.transactions_per_s * seconds + CLIENTS  # with each client's warm-up call
    return Segment(run, (_wal_lsn(engine) - before) / done)


def interleaved(
    pool: Pool,
    engine: sa.Engine,
    book: Book,
    url: str,
    *,
    server: ServerCpu,
    rounds: int,
    seconds: float,
) -> dict[str, object]:
    """Interleaved rounds of the spread and the hot case on `book`: every figure, by name."""
    for mode in CASES:  # warm: the fee account's pages, every client's plans
        job = book.job(url, mode, time.time() + START_MARGIN, WARM_SECONDS, 1)
        _run(pool, engine, job, CLIENTS, server=server, name=f"warm {mode}")
    _analyze(engine)
    segments: dict[str, list[Segment]] = {mode: [] for mode in CASES}
    for r in range(rounds):
        for mode in CASES if r % 2 == 0 else tuple(reversed(CASES)):
            s = _segment(pool, engine, book, url, mode, seconds=seconds, server=server)
            segments[mode].append(s)
            print(
                f"  round {r + 1} {mode:<4} {s.run.transactions_per_s:8.1f}/s"
                f"  CPU per posting {s.run.client_cpu_us:6.1f} + {s.run.server_cpu_us:6.1f} us"
                f"  WAL {s.wal_bytes:6.0f} B  other load {s.run.other_cpu:.2f}",
                flush=True,
            )

    def cpu(s: Segment) -> float:
        return s.run.client_cpu_us + s.run.server_cpu_us

    pairs = list(zip(segments["hot"], segments["post"], strict=True))
    rate_ratios = [h.run.transactions_per_s / p.run.transactions_per_s for h, p in pairs]
    cpu_ratios = [cpu(p) / cpu(h) for h, p in pairs]
    figures: dict[str, object] = {
        "hot_over_spread_interleaved": round(statistics.median(rate_ratios), 3),
        "hot_over_spread_rounds": [round(x, 3) for x in rate_ratios],
        "hot_over_spread_cpu": round(statistics.median(cpu_ratios), 3),
    }
    for mode in CASES:
        ss = segments[mode]
        name = f"hot_spread_{mode}"
        figures[f"{name}_rate"] = round(statistics.median(s.run.transactions_per_s for s in ss), 1)
        figures[f"{name}_client_cpu_us"] = round(
            statistics.median(s.run.client_cpu_us for s in ss), 1
        )
        figures[f"{name}_server_cpu_us"] = round(
            statistics.median(s.run.server_cpu_us for s in ss), 1
        )
        figures[f"{name}_wal_bytes"] = round(statistics.median(s.wal_bytes for s in ss))
        figures[f"{name}_other_cpu"] = round(statistics.median(s.run.other_cpu for s in ss), 3)
    return figures


def main(argv: Sequence[str] | None = None) -> int:
    """Run the interleaved rounds and print the figures, the last line one JSON object."""
    parser = argparse.ArgumentParser(prog="python -m bench.hot_spread", description=__doc__)
    parser.add_argument("--rounds", type=int, default=6, help="rounds (one segment per case)")
    parser.add_argument("--seconds", type=float, default=6.0, help="length of each segment")
    parser.add_argument("--accounts", type=int, default=10_000, help="accounts to spread over")
    args = parser.parse_args(argv)
    name = f"bench_hot_spread_{os.getpid()}"
    with _server() as admin:
        create_database(admin, name)
        try:
            url = database_url(admin, name)
            upgrade(url)
            engine = make_engine(url, pool_size=2)
            book = _open_book(engine, args.accounts)
            print(
                f"baseline: post (two lines, {args.accounts} accounts); against it: hot (the"
                f" platform's high-volume fee a third line); {CLIENTS} clients,"
                f" {args.rounds} rounds of {args.seconds:g} s per case, order alternating;"
                f" load {os.getloadavg()[0]:.1f}",
                flush=True,
            )
            with mp.get_context("spawn").Pool(CLIENTS) as pool:
                pool.map(_ready, range(CLIENTS), chunksize=1)
                figures = interleaved(
                    pool,
                    engine,
                    book,
                    url,
                    server=ServerCpu(engine),
                    rounds=max(1, args.rounds),
                    seconds=max(2.0, args.seconds),
                )
            engine.dispose()
        finally:
            drop_database(admin, name)
    for key, value in figures.items():
        print(f"  {key:<40} {value}", flush=True)
    print(json.dumps(figures), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

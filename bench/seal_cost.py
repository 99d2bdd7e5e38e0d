"""What the checkpoint sealer costs postings (issue 16 item 1).

Run as `python -m bench.seal_cost [--rounds 6] [--seconds 3] [--clients 2]`. One fresh
database; postings of two-line entries between random pairs of `--accounts` plain accounts,
each in its own transaction, from `--clients` processes. Rounds alternate in one window:

- A (the baseline): postings alone;
- B: postings with a sealer process beside them, sealing in a loop (`ledger.seal`, its own
  transaction each time, `--every` seconds apart: far more often than the worker's
  periodic step).

The figure is the ratio of the medians of B's and A's posting rates (goal: under 10 % cost,
a ratio >= 0.90), with the entries the sealer sealed. The last line printed is one JSON
object holding every figure.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass

import sqlalchemy as sa

import ledger
from bench.ledger_ab import (
    Job,
    add_server_flag,
    fresh_database,
    load,
    median,
    open_book,
    post_for,
    server,
    warm,
)
from liventix.database import make_engine

START_MARGIN = 1.5


@dataclass(frozen=True)
class SealJob:
    """The sealer's loop: from `start` for `seconds`, one seal every `every` seconds."""

    url: str
    start: float
    seconds: float
    every: float


def seal_for(job: SealJob) -> tuple[int, int]:
    """Seal in a loop through the window; (runs, entries sealed)."""
    engine = make_engine(job.url, pool_size=1)
    try:
        time.sleep(max(0.0, job.start - time.time()))
        runs = sealed = 0
        while time.time() < job.start + job.seconds:
            with engine.begin() as conn:
                sealed += ledger.seal(conn, limit=50_000).sealed
            runs += 1
            time.sleep(job.every)
        return runs, sealed
    finally:
        engine.dispose()


def main(argv: Sequence[str] | None = None) -> int:
    """Run the A/B rounds and print the figures, the last line one JSON object."""
    parser = argparse.ArgumentParser(prog="python -m bench.seal_cost", description=__doc__)
    parser.add_argument("--rounds", type=int, default=6, help="rounds of each side")
    parser.add_argument("--seconds", type=float, default=3.0, help="length of each round")
    parser.add_argument("--clients", type=int, default=2, help="posting processes")
    parser.add_argument("--accounts", type=int, default=1000, help="accounts posted to")
    parser.add_argument("--every", type=float, default=0.2, help="seconds between seals")
    add_server_flag(parser)
    args = parser.parse_args(argv)
    print(f"machine: {load()}", flush=True)
    with (
        server(tuned=not args.server_defaults) as admin,
        fresh_database(admin, "bench_seals") as url,
    ):
        engine = make_engine(url, pool_size=2)
        book = open_book(engine, args.accounts)
        with engine.begin() as conn:
            conn.execute(sa.text("ANALYZE"))
        rates: dict[str, list[float]] = {"A": [], "B": []}
        runs = sealed = 0
        print(
            f"baseline A: postings alone; B: a sealer every {args.every:g} s beside them;"
            f" {args.rounds} x {args.seconds:g} s each, {args.clients} clients",
            flush=True,
        )
        with mp.get_context("spawn").Pool(args.clients + 1) as pool:
            pool.map(warm, range(args.clients + 1), chunksize=1)
            for r in range(args.rounds):
                for side in ("A", "B") if r % 2 == 0 else ("B", "A"):
                    start = time.time() + START_MARGIN
                    jobs = [
                        Job(url, book.org, book.accounts, start, args.seconds, r * 100 + c)
                        for c in range(args.clients)
                    ]
                    sealer = None
                    if side == "B":
                        sealer = pool.apply_async(
                            seal_for, (SealJob(url, start, args.seconds, args.every),)
                        )
                    rate = sum(pool.map(post_for, jobs, chunksize=1)) / args.seconds
                    if sealer is not None:
                        done, count = sealer.get()
                        runs, sealed = runs + done, sealed + count
                    rates[side].append(rate)
                    print(f"round {r + 1} {side}: {rate:.0f} postings/s", flush=True)
        with engine.begin() as conn:
            ledger.seal(conn)
            clean = ledger.verify(conn).clean
        engine.dispose()
    a, b = median(rates["A"]), median(rates["B"])
    ratio = b / a if a else 0.0
    print(f"A (postings alone) median {a:.0f}/s; B (sealer beside them) {b:.0f}/s")
    print(f"ratio B/A {ratio:.3f} (goal >= 0.90); {runs} seals sealed {sealed} entries")
    print(f"verify after: {'clean' if clean else 'NOT CLEAN'}; machine after: {load()}")
    print(
        json.dumps(
            {
                "bench": "seal_cost",
                "baseline_a_per_s": round(a, 1),
                "with_sealer_b_per_s": round(b, 1),
                "ratio_b_over_a": round(ratio, 4),
                "rounds_a": [round(x, 1) for x in rates["A"]],
                "rounds_b": [round(x, 1) for x in rates["B"]],
                "seals": runs,
                "entries_sealed": sealed,
                "verify_clean": clean,
                "clients": args.clients,
                "load": load(),
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())

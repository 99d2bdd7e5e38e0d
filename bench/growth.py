"""How the ledger behaves as it grows: posting rate and balance reads at 10^4, 10^6 and 10^7
lines.

Run as `python -m bench.growth [--seconds N] [--quick]`. One server, as `bench.posting`'s (an
embedded PostgreSQL in a temporary directory, or `DATABASE_URL`'s). The ledger is filled with
the batch path (`ledger.post_batch`, independent two-line entries, 500 per call); half of
the entries debit one *big* account, so that it holds at least 10^5 lines from 10^6 lines on.
At each size, once the fill is settled (the accounts vacuumed, the tables analysed, a
CHECKPOINT writing out the fill's dirty buffers, as bench.posting starts its rounds):

- single postings (`post_entry`, each in its own transaction, random pairs of the spread
  accounts) at 1 and 16 client processes, as `bench.posting` measures them (`post_N_at_1eK`);
- `ledger.balance` and `ledger.balance_as_of` (by recorded time, a moment in the middle of
  the big account's history; and by effective time, the same moment) of the big account:
  median and 95th percentile of 50 calls. One fill entry in 1,000 is backdated (effective
  2026-01-01), so the balance by effective time has dated lines to correct by.

The baseline is the first size: `growth_ratio` is the posting rate at the last size over the
rate at the first (1 client). `--quick` fills to 10^3, 10^4 and 10^5 lines instead, `--sizes
4,6` to the powers of ten given. The last line printed is one JSON object holding every
figure.
"""

from __future__ import annotations

import argparse
import json
import math
import multiprocessing as mp
import os
import random
import statistics
import sys
import time
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa

import ledger
from bench.posting import (
    CLIENTS,
    START_MARGIN,
    Book,
    Results,
    ServerCpu,
    _open_book,
    _ready,
    _run,
    _server,
    _settle,
    per,
)
from liventix.database import create_database, database_url, drop_database, make_engine, upgrade

FULL_SIZES = (10**4, 10**6, 10**7)
QUICK_SIZES = (10**3, 10**4, 10**5)
FILL_BATCH = 500
READS = 50
BACKDATED = 1000
BACKDATE = datetime(2026, 1, 1, tzinfo=UTC)


def _tag(lines: int) -> str:
    """`1e4` for 10,000 lines (sizes are powers of ten)."""
    return f"1e{round(math.log10(lines))}"


def _count_lines(engine: sa.Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(sa.text("SELECT count(*) FROM payments.lines")).scalar_one())


def _fill(engine: sa.Engine, book: Book, big: uuid.UUID, target: int, rng: random.Random) -> int:
    """Post independent two-line entries with the batch path until `target` lines exist;
    the entries posted. Prints its progress (entries per second) every minute."""
    missing = target - _count_lines(engine)
    n = posted = 0
    started = last = time.perf_counter()
    while missing > 0:
        size = min(FILL_BATCH, max(1, missing // 2))
        batch = []
        for _ in range(size):
            debit, credit = rng.sample(book.accounts, 2)
            if n % 2 == 0:
                debit = big
            n += 1
            amount = rng.randint(1, 1000)
            batch.append(
                ledger.PostEntry(
                    f"fill-{uuid.uuid4().hex}",
                    [
                        ledger.Line(debit, "debit", amount, "USD"),
                        ledger.Line(credit, "credit", amount, "USD"),
                    ],
                    # one entry in BACKDATED is booked a day back: the dated lines that the
                    # balance by effective time reads besides its probe
                    effective_at=BACKDATE if n % BACKDATED == 0 else None,
                )
            )
        with engine.begin() as conn:
            results = ledger.post_batch(conn, book.org, batch)
        refused = [r.error for r in results if r.error is not None]
        if refused:
            raise RuntimeError(f"fill: an entry was refused: {refused[0]}")
        missing -= 2 * size
        posted += size
        now = time.perf_counter()
        if now - last >= 60:
            last = now
            rate = posted / (now - started)
            print(
                f"  filling: {posted:,} entries in {now - started:.0f} s ({rate:,.0f}/s),"
                f" {max(0, missing) / 2 / rate:.0f} s to go",
                flush=True,
            )
    return posted


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


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark and print its figures, the last line one JSON object."""
    parser = argparse.ArgumentParser(prog="python -m bench.growth", description=__doc__)
    parser.add_argument("--seconds", type=float, default=10.0, help="length of each posting run")
    parser.add_argument("--accounts", type=int, default=10_000, help="accounts to spread over")
    parser.add_argument("--quick", action="store_true", help="fill to 10^3, 10^4, 10^5 lines")
    parser.add_argument(
        "--sizes", help="powers of ten to fill to, comma-separated (default 4,6,7; --quick 3,4,5)"
    )
    args = parser.parse_args(argv)
    sizes = QUICK_SIZES if args.quick else FULL_SIZES
    if args.sizes:
        sizes = tuple(10 ** int(x) for x in args.sizes.split(","))
    seconds = max(2.0, args.seconds)
    results = Results()
    name = f"bench_growth_{uuid.uuid4().hex[:8]}"
    rng = random.Random(14)

    with _server() as admin:
        try:
            create_database(admin, name)
            url = database_url(admin, name)
            upgrade(url)
            engine = make_engine(url, pool_size=2)
            server = ServerCpu(engine)
            book = _open_book(engine, args.accounts)
            with engine.begin() as conn:
                big = ledger.open_account(
                    conn, book.org, ledger.OpenAccount("big", "big", "asset", "USD")
                ).id
            print(
                f"sizes {', '.join(_tag(s) for s in sizes)} lines; {seconds:g} s per posting run;"
                f" baseline: the posting rate at {_tag(sizes[0])} lines",
                flush=True,
            )
            with mp.get_context("spawn").Pool(CLIENTS) as pool:
                pool.map(_ready, range(CLIENTS), chunksize=1)
                for size in sizes:
                    tag = _tag(size)
                    started = time.perf_counter()
                    posted = _fill(engine, book, big, size, rng)
                    filled = time.perf_counter() - started
                    # The fill's backlog (dirty buffers, the accounts' dead versions) is
                    # settled before measuring, so that a size's figures do not pay for it.
                    _settle(engine)
                    print(f"at {tag} lines (filled in {filled:.0f} s)")
                    results.put(f"load_at_{tag}", list(os.getloadavg()), "load average 1/5/15 min")
                    results.put(f"fill_s_to_{tag}", filled, "s, with the batch path")
                    results.put(
                        f"fill_entries_per_s_to_{tag}", per(posted, filled), "entries/s, 1 process"
                    )
                    for processes in (1, 16):
                        job = book.job(url, "post", time.time() + START_MARGIN, seconds, 1)
                        run = _run(
                            pool, engine, job, processes, server=server, name=f"post_{processes}"
                        )
                        results.put(f"post_{processes}_at_{tag}", run.transactions_per_s, "/s")
                        results.put(
                            f"post_{processes}_cpu_us_at_{tag}",
                            run.client_cpu_us + run.server_cpu_us,
                            "client + server CPU per posting",
                        )
                    now_ms, as_of_ms, effective_ms = _latencies_ms(engine, big)
                    with engine.connect() as conn:
                        big_lines = int(
                            conn.execute(
                                sa.text(
                                    "SELECT count(*) FROM payments.lines WHERE account_id = :a"
                                ),
                                {"a": big},
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
            results.put("load_at_end", list(os.getloadavg()), "load average 1, 5, 15 min")
            print("ratios", flush=True)
            first, last = _tag(sizes[0]), _tag(sizes[-1])
            results.put(
                "growth_ratio",
                per(results.figures[f"post_1_at_{last}"], results.figures[f"post_1_at_{first}"]),
                f"post_1 at {last} / at {first}",
            )
            results.put(
                "growth_ratio_16",
                per(results.figures[f"post_16_at_{last}"], results.figures[f"post_16_at_{first}"]),
            )
            print("targets", flush=True)
            results.put("target_growth_ratio_0_9", (results.figures["growth_ratio"] or 0.0) >= 0.9)
            results.put(
                f"target_balance_as_of_p50_2ms_at_{last}",
                results.figures[f"balance_as_of_p50_ms_at_{last}"] <= 2.0,
            )
            engine.dispose()
        finally:
            drop_database(admin, name)

    print(json.dumps(results.figures), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

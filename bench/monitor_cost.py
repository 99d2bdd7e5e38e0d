"""What balance monitors cost postings on accounts WITHOUT monitors (issue 16 item 2).

Run as `python -m bench.monitor_cost [--rounds 6] [--seconds 3] [--clients 2]`. One fresh
database; postings of two-line entries between random pairs of `--accounts` plain accounts,
each in its own transaction, from `--clients` processes. Rounds alternate in one window:

- A (the baseline): the monitors' trigger on payments.accounts disabled, no monitor at all,
  as the ledger was before monitors;
- B: the trigger enabled and `--monitors` monitors on OTHER accounts (never posted to).

The figure is the ratio of the medians of B's and A's posting rates (goal: within 5 %, a
ratio >= 0.95). The last line printed is one JSON object holding every figure.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import sys
import time
from collections.abc import Sequence

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


def _watch(engine: sa.Engine, enabled: bool) -> None:
    verb = "ENABLE" if enabled else "DISABLE"
    with engine.begin() as conn:
        conn.execute(
            sa.text(f"ALTER TABLE payments.accounts {verb} TRIGGER accounts_watch_balance")
        )


def main(argv: Sequence[str] | None = None) -> int:
    """Run the A/B rounds and print the figures, the last line one JSON object."""
    parser = argparse.ArgumentParser(prog="python -m bench.monitor_cost", description=__doc__)
    parser.add_argument("--rounds", type=int, default=6, help="rounds of each side")
    parser.add_argument("--seconds", type=float, default=3.0, help="length of each round")
    parser.add_argument("--clients", type=int, default=2, help="posting processes")
    parser.add_argument("--accounts", type=int, default=1000, help="accounts posted to")
    parser.add_argument("--monitors", type=int, default=1000, help="monitors on other accounts")
    add_server_flag(parser)
    args = parser.parse_args(argv)
    print(f"machine: {load()}", flush=True)
    with (
        server(tuned=not args.server_defaults) as admin,
        fresh_database(admin, "bench_monitors") as url,
    ):
        engine = make_engine(url, pool_size=2)
        book = open_book(engine, args.accounts)
        watched = open_book(engine, args.monitors)
        with engine.begin() as conn:
            for n, account in enumerate(watched.accounts):
                ledger.create_monitor(
                    conn,
                    watched.org,
                    ledger.CreateMonitor(f"m{n}", account, "posted", "<", -(n + 1)),
                )
            conn.execute(sa.text("ANALYZE"))
        rates: dict[str, list[float]] = {"A": [], "B": []}
        print(
            f"baseline A: monitors' trigger disabled; B: enabled, {args.monitors} monitors on"
            f" other accounts; {args.rounds} x {args.seconds:g} s each, {args.clients} clients",
            flush=True,
        )
        with mp.get_context("spawn").Pool(args.clients) as pool:
            pool.map(warm, range(args.clients), chunksize=1)
            for r in range(args.rounds):
                for side in ("A", "B") if r % 2 == 0 else ("B", "A"):
                    _watch(engine, side == "B")
                    start = time.time() + START_MARGIN
                    jobs = [
                        Job(url, book.org, book.accounts, start, args.seconds, r * 100 + c)
                        for c in range(args.clients)
                    ]
                    rate = sum(pool.map(post_for, jobs)) / args.seconds
                    rates[side].append(rate)
                    print(f"round {r + 1} {side}: {rate:.0f} postings/s", flush=True)
        _watch(engine, True)
        with engine.connect() as conn:
            fired = conn.execute(
                sa.text("SELECT count(*) FROM messaging.messages WHERE type LIKE 'ledger.balance%'")
            ).scalar_one()
        engine.dispose()
    a, b = median(rates["A"]), median(rates["B"])
    ratio = b / a if a else 0.0
    print(f"A (no monitors' trigger) median {a:.0f}/s; B (monitors elsewhere) {b:.0f}/s")
    print(f"ratio B/A {ratio:.3f} (goal >= 0.95); monitor events published: {fired}")
    print(f"machine after: {load()}")
    print(
        json.dumps(
            {
                "bench": "monitor_cost",
                "baseline_a_per_s": round(a, 1),
                "monitors_elsewhere_b_per_s": round(b, 1),
                "ratio_b_over_a": round(ratio, 4),
                "rounds_a": [round(x, 1) for x in rates["A"]],
                "rounds_b": [round(x, 1) for x in rates["B"]],
                "clients": args.clients,
                "monitors": args.monitors,
                "events_published": int(fired),
                "load": load(),
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Same-run A/B of a single posting's CPU between two checkouts of this repository.

Run as `python -m bench.engine_ab ROOT_A ROOT_B [--rounds 6] [--postings 400]`. One embedded
server (or `DATABASE_URL`'s) for both; each root gets a worker process of its own, run from
that root (its `ledger`, its migrations, in a fresh database of its own), which opens an
organization and 10,000 plain accounts and then, on each round, posts `--postings` two-line
entries on one connection, each in its own `with engine.begin()` (three round trips: BEGIN,
the call, COMMIT), as `bench.posting`'s post_1 does. The rounds are interleaved A, B, A, B...
in one window, so load on the shared machine touches both alike (`--mode hot`: three-line
sales crediting the platform's high-volume fee account, as `bench.posting`'s hot_16;
`--mode independent` or `linked`: batches of 100 independent or 500 linked entries
instead). Per entry it reports the client's CPU (the worker's own process time), the server
backend's CPU (read from the backend's process counters) and the wall time, as medians over
the rounds, with the ratios B / A. The last line printed is one JSON object.

Caution: in the batch modes an A/A run (the same root twice) read 1.9x the server CPU on B,
growing round by round (a VACUUM of the accounts before each round did not change it), while
the client CPU agreed (0.99); the single-posting mode's A/A agrees on both (1.007, 1.023).
Until that is understood, read the batch modes' client figures only.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import textwrap
import uuid
from collections.abc import Sequence
from typing import Any

from bench.ledger_ab import add_server_flag, load, server

# The worker's code: only names both roots have (liventix.database, ledger's public face).
_WORKER = textwrap.dedent(
    """
    import json, random, sys, time, uuid
    import psutil
    import sqlalchemy as sa
    import ledger
    from liventix.database import create_database, database_url, make_engine, upgrade

    admin, name = sys.argv[1], sys.argv[2]
    create_database(admin, name)
    url = database_url(admin, name)
    upgrade(url)
    engine = make_engine(url, pool_size=1, max_overflow=0)
    org = uuid.uuid4()
    platform = uuid.uuid4()
    with engine.begin() as conn:
        ledger.open_organization(conn, platform, "Liventix", is_platform=True)
        ledger.open_organization(conn, org, "Bench org")
        fee = ledger.open_account(conn, platform, ledger.OpenAccount(
            "fee", "fee-revenue", "revenue", "USD", high_volume=True)).id
        accounts = list(conn.execute(sa.text(
            "INSERT INTO payments.accounts (org_id, code, name, type, currency)"
            " SELECT :org, 'acct-' || g, 'acct-' || g,"
            " CASE WHEN g % 2 = 0 THEN 'asset' ELSE 'liability' END, 'USD'"
            " FROM generate_series(1, 10000) g RETURNING id"), {"org": org}).scalars())
    rng = random.Random(7)
    count = 0
    mode = sys.argv[3]

    def entry():
        global count
        debit, credit = rng.sample(accounts, 2)
        amount = rng.randint(100, 10_000)
        count += 1
        if mode == "hot":  # bench.posting's hot_16 entry: a sale with the platform's fee
            cut = amount // 20
            return ledger.PostEntry(f"ab-{count}", [
                ledger.Line(debit, "debit", amount, "USD"),
                ledger.Line(credit, "credit", amount - cut, "USD"),
                ledger.Line(fee, "credit", cut, "USD")])
        return ledger.PostEntry(f"ab-{count}", [ledger.Line(debit, "debit", amount, "USD"),
                                                ledger.Line(credit, "credit", amount, "USD")])

    def post(n):
        for _ in range(n):
            with engine.begin() as conn:
                ledger.post_entry(conn, org, entry())

    def batches(n, size, linked):
        for _ in range(max(1, n // size)):
            batch = [entry() for _ in range(size)]
            with engine.begin() as conn:
                results = ledger.post_batch(conn, org, batch,
                                            links=[linked] * (size - 1) + [False])
            assert all(r.error is None for r in results), results[0]
        return max(1, n // size) * size

    work = {
        "post": lambda n: post(n) or n,
        "hot": lambda n: post(n) or n,
        "independent": lambda n: batches(n, 100, False),
        "linked": lambda n: batches(n, 500, True),
    }[mode]
    work(500)
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as c:
        for t in ("accounts", "entries", "lines", "idempotency_keys"):
            c.exec_driver_sql(f"ANALYZE payments.{t}")
    work(500)
    with engine.connect() as c:
        backend = psutil.Process(c.exec_driver_sql("SELECT pg_backend_pid()").scalar_one())
    print("ready", flush=True)
    for line in sys.stdin:
        n = int(line)
        t = backend.cpu_times()
        s0 = t.user + t.system
        c0, w0 = time.process_time(), time.perf_counter()
        n = work(n)
        w1, c1 = time.perf_counter(), time.process_time()
        t = backend.cpu_times()
        s1 = t.user + t.system
        print(json.dumps({"client": (c1 - c0) / n * 1e6, "server": (s1 - s0) / n * 1e6,
                          "wall": (w1 - w0) / n * 1e6}), flush=True)
    engine.dispose()
    """
)


def _spawn(root: str, admin: str, mode: str) -> subprocess.Popen[str]:
    env = dict(os.environ, PYTHONPATH=root)
    name = f"engine_ab_{uuid.uuid4().hex[:8]}"
    proc = subprocess.Popen(
        [sys.executable, "-c", _WORKER, admin, name, mode],
        cwd=root,
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    if proc.stdout.readline().strip() != "ready":
        raise RuntimeError(f"the worker for {root} did not start")
    return proc


def _round(proc: subprocess.Popen[str], n: int) -> dict[str, float]:
    assert proc.stdin is not None and proc.stdout is not None
    proc.stdin.write(f"{n}\n")
    proc.stdin.flush()
    figures: dict[str, float] = json.loads(proc.stdout.readline())
    return figures


def main(argv: Sequence[str] | None = None) -> int:
    """Run the interleaved rounds and print the medians, the ratios and one JSON line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("root_a")
    parser.add_argument("root_b")
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--postings", type=int, default=400, help="entries per round")
    parser.add_argument(
        "--mode",
        choices=("post", "hot", "independent", "linked"),
        default="post",
        help="single postings, independent batches of 100 or linked batches of 500",
    )
    add_server_flag(parser)
    args = parser.parse_args(argv)
    print(f"A = {args.root_a}, B = {args.root_b}; mode {args.mode}; {load()}")
    with server(tuned=not args.server_defaults) as admin:
        workers = {
            "a": _spawn(args.root_a, admin, args.mode),
            "b": _spawn(args.root_b, admin, args.mode),
        }
        rounds: dict[str, list[dict[str, float]]] = {"a": [], "b": []}
        try:
            for number in range(args.rounds):
                order = ("a", "b") if number % 2 == 0 else ("b", "a")
                for side in order:
                    rounds[side].append(_round(workers[side], args.postings))
        finally:
            for proc in workers.values():
                if proc.stdin is not None:
                    proc.stdin.close()
                proc.wait(timeout=60)
    out: dict[str, Any] = {"mode": args.mode}
    for side in ("a", "b"):
        for what in ("client", "server", "wall"):
            value = statistics.median(r[what] for r in rounds[side])
            out[f"{side}_{what}_us"] = round(value, 1)
            spread = [round(r[what]) for r in rounds[side]]
            print(f"  {side} {what:7} {value:9.1f} us per entry   rounds {spread}")
    for what in ("client", "server", "wall"):
        out[f"b_over_a_{what}"] = round(out[f"b_{what}_us"] / out[f"a_{what}_us"], 3)
        print(f"  B / A {what:7} {out[f'b_over_a_{what}']:.3f}")
    print(load())
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

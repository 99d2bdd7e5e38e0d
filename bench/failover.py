"""What a synchronous standby costs postings, and how long a failover leaves postings
unacknowledged (issue 19).

Run as `python -m bench.failover [--rounds 4] [--seconds 3] [--clients 2] [--fsync on|off]`.
A primary and a standby of our own on 127.0.0.1 (`liventix.replication`: initdb, then
`pg_basebackup -R`, streaming), one database migrated on the primary, postings of two-line
entries between random pairs of `--accounts` accounts, each in its own transaction, from
`--clients` processes. Rounds alternate in one window, on the same pair and database:

- A (the baseline): the primary waits for no standby (`synchronous_standby_names` empty);
- B: the primary names the standby (`ANY 1 ("s1")`): each COMMIT waits until the standby has
  flushed it.

The cost is the ratio of the medians of B's and A's posting rates, and, from one client posting
one entry at a time (A and B interleaved again), the median commit latency of each: what the
standby adds to every commit. Then one failover: a client
posts in a loop through `liventix.retrying.run_unit_of_work` on the pair's multi-host URL; the
primary is killed (`pg_ctl stop -m immediate`) and the standby promoted at once (`pg_ctl
promote`, as an automated failover would); the figure is the time from the kill to the first
posting acknowledged by the new primary (with the promotion's own share), and the postings
acknowledged before the kill are all found on the new primary.

The machine is shared: its load is printed before and after, the rounds are interleaved. The
last line printed is one JSON object holding every figure.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import multiprocessing as mp
import random
import shutil
import socket
import tempfile
import threading
import time
import uuid
from collections.abc import Sequence
from pathlib import Path

import psycopg
import sqlalchemy as sa

import ledger
from bench.ledger_ab import Job, load, median, open_book, post_for, warm
from liventix import replication
from liventix.database import create_database, make_engine, upgrade
from liventix.retrying import RetryPolicy, run_unit_of_work

START_MARGIN = 1.5
DATABASE = "bench_failover"
STANDBY = "s1"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _synchronous(primary_url: str, on: bool) -> None:
    """Name the standby in synchronous_standby_names, or no standby, and reload."""
    if on:
        replication.register_synchronous(primary_url, STANDBY)
    else:
        replication.unregister_synchronous(primary_url)
    with psycopg.connect(replication.libpq_conninfo(primary_url), autocommit=True) as conn:
        # The reload is asynchronous: wait until the primary's walsender says so.
        want = ("sync", "quorum") if on else ("async",)
        for _ in range(200):
            row = conn.execute(
                "SELECT sync_state FROM pg_stat_replication WHERE application_name = %s",
                (STANDBY,),
            ).fetchone()
            if row is not None and row[0] in want:
                return
            time.sleep(0.02)
    raise RuntimeError(f"the standby's sync state did not become {want}")


def _latencies(url: str, org: uuid.UUID, accounts: Sequence[uuid.UUID], n: int) -> list[float]:
    """Post `n` entries one after another from this process; each commit's latency (s)."""
    engine = make_engine(url, pool_size=1, max_overflow=0)
    rng = random.Random(n)
    out = []
    try:
        for i in range(n):
            debit, credit = rng.sample(list(accounts), 2)
            lines = [ledger.Line(debit, "debit", 7, "USD"), ledger.Line(credit, "credit", 7, "USD")]
            started = time.perf_counter()
            with engine.begin() as conn:
                ledger.post_entry(conn, org, ledger.PostEntry(f"lat-{uuid.uuid4().hex}-{i}", lines))
            out.append(time.perf_counter() - started)
    finally:
        engine.dispose()
    return out


def _failover(
    url: str,
    dirs: tuple[Path, Path],
    standby_port: int,
    org: uuid.UUID,
    accounts: Sequence[uuid.UUID],
) -> dict[str, float | int]:
    """Post in a loop, kill the primary, promote the standby; the times (seconds)."""
    engine = make_engine(url, pool_size=1, max_overflow=0)
    acked: list[tuple[float, uuid.UUID, int]] = []
    stop = threading.Event()
    rng = random.Random(19)
    policy = RetryPolicy(first_wait=0.005, max_wait=0.02, deadline=120.0)

    def client() -> None:
        n = 0
        while not stop.is_set():
            debit, credit = rng.sample(list(accounts), 2)
            request = ledger.PostEntry(
                f"failover-{n}",
                [
                    ledger.Line(debit, "debit", 100, "USD"),
                    ledger.Line(credit, "credit", 100, "USD"),
                ],
            )

            def post(
                conn: sa.Connection, r: ledger.PostEntry = request
            ) -> tuple[ledger.WriteResult, int]:
                port = conn.execute(sa.text("SELECT inet_server_port()")).scalar_one()
                return ledger.post_entry(conn, org, r), int(port)

            result, port = run_unit_of_work(engine, post, policy=policy)
            acked.append((time.monotonic(), result.id, port))
            n += 1

    thread = threading.Thread(target=client, daemon=True)
    thread.start()
    time.sleep(1.0)
    before = len(acked)
    killed = time.monotonic()
    replication.stop_server(dirs[0], "immediate")
    replication.promote(dirs[1])
    promoted = time.monotonic()
    # The first posting the new primary acknowledged (one in flight when the primary died
    # may still have been acknowledged by it, just after the kill).
    first = None
    while first is None:
        first = next((t for t, _, p in acked[before:] if p == standby_port), None)
        time.sleep(0.001)
        if time.monotonic() - killed > 120:
            raise RuntimeError("no posting acknowledged within 120 s of the kill")
    time.sleep(0.5)
    stop.set()
    thread.join(timeout=30)
    ids = [i for _, i, _ in acked]
    with engine.connect() as conn:
        found = conn.execute(
            sa.text("SELECT count(*) FROM payments.entries WHERE id = ANY(:ids)"), {"ids": ids}
        ).scalar_one()
    engine.dispose()
    return {
        "kill_to_first_ack_s": round(first - killed, 3),
        "kill_to_promoted_s": round(promoted - killed, 3),
        "acked_before_kill": before,
        "acked_total": len(ids),
        "acked_found_after": int(found),
    }


def main(argv: Sequence[str] | None = None) -> int:
    """Run the A/B rounds and the failover; print the figures, the last line one JSON."""
    parser = argparse.ArgumentParser(prog="python -m bench.failover", description=__doc__)
    parser.add_argument("--rounds", type=int, default=4, help="rounds of each side")
    parser.add_argument("--seconds", type=float, default=3.0, help="length of each round")
    parser.add_argument("--clients", type=int, default=2, help="posting processes")
    parser.add_argument("--accounts", type=int, default=1000, help="accounts posted to")
    parser.add_argument("--fsync", choices=("on", "off"), default="on", help="both servers'")
    parser.add_argument(
        "--latency-postings", type=int, default=100, help="one client's postings per round"
    )
    args = parser.parse_args(argv)
    print(f"machine before: {load()}", flush=True)
    root = Path(tempfile.mkdtemp(prefix="liventix-bench-failover-"))
    root.chmod(0o755)
    primary_dir, standby_dir = root / "primary", root / "standby"
    ports = (_free_port(), _free_port())
    try:
        replication.init_server(primary_dir, ports[0], extra={"fsync": args.fsync})
        replication.start_server(primary_dir)
        primary = replication.local_url(ports[0])
        replication.create_standby(
            primary, standby_dir, port=ports[1], name=STANDBY, synchronous=False
        )
        create_database(primary, DATABASE)
        url = replication.multi_host_url([("127.0.0.1", p) for p in ports], DATABASE)
        upgrade(url)
        engine = make_engine(url, pool_size=2)
        book = open_book(engine, args.accounts)
        with engine.begin() as conn:
            conn.execute(sa.text("ANALYZE"))
        engine.dispose()
        rates: dict[str, list[float]] = {"A": [], "B": []}
        print(
            f"baseline A: no synchronous standby; B: a synchronous standby (ANY 1); "
            f"{args.rounds} x {args.seconds:g} s each, {args.clients} clients, fsync {args.fsync}",
            flush=True,
        )
        with mp.get_context("spawn").Pool(args.clients) as pool:
            pool.map(warm, range(args.clients), chunksize=1)
            for r in range(args.rounds):
                for side in ("A", "B") if r % 2 == 0 else ("B", "A"):
                    _synchronous(primary, side == "B")
                    start = time.time() + START_MARGIN
                    jobs = [
                        Job(url, book.org, book.accounts, start, args.seconds, r * 100 + c)
                        for c in range(args.clients)
                    ]
                    rate = sum(pool.map(post_for, jobs, chunksize=1)) / args.seconds
                    rates[side].append(rate)
                    print(f"round {r + 1} {side}: {rate:.0f} postings/s", flush=True)
        # One client, one posting at a time: what a synchronous standby adds to each
        # commit's latency (its share of the rate above, without the clients' contention).
        latency: dict[str, list[float]] = {"A": [], "B": []}
        for r in range(args.rounds):
            for side in ("A", "B") if r % 2 == 0 else ("B", "A"):
                _synchronous(primary, side == "B")
                latency[side] += _latencies(url, book.org, book.accounts, args.latency_postings)
        lat_a, lat_b = median(latency["A"]) * 1e3, median(latency["B"]) * 1e3
        print(
            f"one client, median commit latency: A {lat_a:.2f} ms, B {lat_b:.2f} ms "
            f"(+{lat_b - lat_a:.2f} ms per commit with the synchronous standby)",
            flush=True,
        )
        a, b = median(rates["A"]), median(rates["B"])
        ratio = b / a if a else 0.0
        print(f"A (no standby waited for) median {a:.0f}/s; B (synchronous) {b:.0f}/s")
        print(
            f"ratio B/A {ratio:.3f}; per posting and client {1e3 * args.clients / b:.2f} ms "
            f"(B) against {1e3 * args.clients / a:.2f} ms (A)"
            if a and b
            else "no rate"
        )
        print(f"machine between: {load()}", flush=True)
        _synchronous(primary, True)
        failover = _failover(url, (primary_dir, standby_dir), ports[1], book.org, book.accounts)
        print(
            f"failover: first posting acknowledged by the new primary "
            f"{failover['kill_to_first_ack_s']:.3f} s after the kill (promotion done at "
            f"{failover['kill_to_promoted_s']:.3f} s); {failover['acked_found_after']} of "
            f"{failover['acked_total']} acknowledged postings found on the new primary"
        )
        print(f"machine after: {load()}", flush=True)
    finally:
        for data_dir in (standby_dir, primary_dir):
            with contextlib.suppress(replication.ReplicationError):
                replication.remove_data_dir(data_dir)
        shutil.rmtree(root, ignore_errors=True)
    print(
        json.dumps(
            {
                "bench": "failover",
                "baseline_a_no_standby_per_s": round(a, 1),
                "sync_standby_b_per_s": round(b, 1),
                "ratio_b_over_a": round(ratio, 4),
                "rounds_a": [round(x, 1) for x in rates["A"]],
                "rounds_b": [round(x, 1) for x in rates["B"]],
                "latency_a_ms": round(lat_a, 3),
                "latency_b_ms": round(lat_b, 3),
                "latency_added_ms": round(lat_b - lat_a, 3),
                "clients": args.clients,
                "fsync": args.fsync,
                **failover,
                "load_after": load(),
            }
        )
    )
    return 0 if failover["acked_found_after"] == failover["acked_total"] else 1


if __name__ == "__main__":
    raise SystemExit(main())

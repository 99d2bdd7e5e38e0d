"""Postings per second through the HTTP API, against the Python API's rate in the same run.

Run as `python -m bench.api [--seconds N] [--accounts 1000] [--server-defaults]`. One
PostgreSQL server for the run (`bench.posting._server`: an embedded one in a temporary
directory, configured as a deployment on this machine by
`liventix.database.production_settings()`, or with PostgreSQL's defaults under
`--server-defaults`; or `DATABASE_URL`'s, as found; its settings printed, and in the JSON
line: `bench.posting.server_run_on`, "external" for DATABASE_URL's), one database
migrated to head, one organization with `--accounts` asset accounts and an API key. Each run lasts
`--seconds`, its clients (separate processes) starting together:

- the baseline: `ledger.post_entry` (two lines, a random pair of accounts), each posting in
  its own `with engine.begin()`, at 1 and 16 client processes (`python_N`);
- the same postings as `POST /v1/entries` (a fresh Idempotency-Key each), over keep-alive
  HTTP connections, to the app served by uvicorn in its own process exactly as
  `liventix serve` runs it, at 1 and 16 client processes (`http_N`).

Printed: postings per second of each run, the HTTP rate as a share of the Python rate at the
same concurrency, the HTTP latency percentiles, and the API server process's CPU per posting.
The last line is one JSON object with every figure.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import random
import socket
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Literal

import httpx

import ledger
from bench.posting import _server, server_run_on
from liventix.api import create_key
from liventix.database import (
    create_database,
    database_url,
    drop_database,
    make_engine,
    upgrade,
)

Mode = Literal["python", "http"]
CONCURRENCY = (1, 16)
START_MARGIN = 2.0
"""Seconds between handing out a run's jobs and its common start: to connect and warm up."""


@dataclass(frozen=True)
class Job:
    """What one client process does in a run."""

    mode: Mode
    db_url: str
    api_url: str
    token: str
    org: uuid.UUID
    accounts: tuple[uuid.UUID, ...]
    start_at: float
    seconds: float
    seed: int


@dataclass(frozen=True)
class Tally:
    """What one client process did: postings, refusals, latencies (ms), an error if it
    stopped."""

    postings: int
    failures: int
    latencies_ms: tuple[float, ...]
    error: str | None = None


def _lines(job: Job, rng: random.Random) -> tuple[uuid.UUID, uuid.UUID, int]:
    debit, credit = rng.sample(job.accounts, 2)
    return debit, credit, rng.randint(1, 10_000)


def _python_client(job: Job) -> Tally:
    engine = make_engine(job.db_url, pool_size=1, max_overflow=0)
    rng = random.Random(job.seed)
    prefix = f"bench-py-{job.seed}-{uuid.uuid4().hex[:8]}-"
    n = 0
    latencies: list[float] = []

    def one() -> None:
        nonlocal n
        debit, credit, amount = _lines(job, rng)
        n += 1
        with engine.begin() as conn:
            ledger.post_entry(
                conn,
                job.org,
                ledger.PostEntry(
                    idempotency_key=f"{prefix}{n}",
                    lines=[
                        ledger.Line(debit, "debit", amount, "USD"),
                        ledger.Line(credit, "credit", amount, "USD"),
                    ],
                ),
            )

    try:
        one()
        time.sleep(max(0.0, job.start_at - time.time()))
        deadline = job.start_at + job.seconds
        done = 0
        while time.time() < deadline:
            started = time.perf_counter()
            one()
            latencies.append((time.perf_counter() - started) * 1000)
            done += 1
    except Exception as exc:
        return Tally(0, 0, (), f"{type(exc).__name__}: {str(exc)[:300]}")
    finally:
        engine.dispose()
    return Tally(done, 0, tuple(latencies))


def _http_client(job: Job) -> Tally:
    rng = random.Random(job.seed)
    prefix = f"bench-http-{job.seed}-{uuid.uuid4().hex[:8]}-"
    n = 0
    latencies: list[float] = []
    failures = 0
    client = httpx.Client(
        base_url=job.api_url,
        headers={"Authorization": f"Bearer {job.token}"},
        timeout=30.0,
    )

    def one() -> bool:
        nonlocal n
        debit, credit, amount = _lines(job, rng)
        n += 1
        answer = client.post(
            "/v1/entries",
            headers={"Idempotency-Key": f"{prefix}{n}"},
            json={
                "lines": [
                    {
                        "account_id": str(debit),
                        "side": "debit",
                        "amount": {"amount": amount, "currency": "USD"},
                    },
                    {
                        "account_id": str(credit),
                        "side": "credit",
                        "amount": {"amount": amount, "currency": "USD"},
                    },
                ]
            },
        )
        return answer.status_code == 201

    try:
        one()
        time.sleep(max(0.0, job.start_at - time.time()))
        deadline = job.start_at + job.seconds
        done = 0
        while time.time() < deadline:
            started = time.perf_counter()
            if one():
                done += 1
            else:
                failures += 1
            latencies.append((time.perf_counter() - started) * 1000)
    except Exception as exc:
        return Tally(0, 0, (), f"{type(exc).__name__}: {str(exc)[:300]}")
    finally:
        client.close()
    return Tally(done, failures, tuple(latencies))


def client(job: Job) -> Tally:
    """A pool task: post as fast as one process can, from `job.start_at` for `job.seconds`."""
    return _http_client(job) if job.mode == "http" else _python_client(job)


def _ready(_: int) -> int:
    time.sleep(0.2)
    return os.getpid()


@contextmanager
def _database(server_url: str) -> Iterator[str]:
    name = f"bench_api_{uuid.uuid4().hex[:12]}"
    create_database(server_url, name)
    url = database_url(server_url, name)
    try:
        upgrade(url)
        yield url
    finally:
        drop_database(server_url, name)


def _set_up(url: str, accounts: int) -> tuple[uuid.UUID, tuple[uuid.UUID, ...], str]:
    engine = make_engine(url)
    org = uuid.uuid4()
    try:
        with engine.begin() as conn:
            ledger.open_organization(conn, uuid.UUID(int=1), "Liventix", is_platform=True)
            ledger.open_organization(conn, org, "Bench")
            token = create_key(conn, org, description="bench").token
            ids = tuple(
                ledger.open_account(
                    conn,
                    org,
                    ledger.OpenAccount(
                        idempotency_key=f"acct-{i}", code=f"a{i}", type="asset", currency="USD"
                    ),
                ).id
                for i in range(accounts)
            )
        with engine.connect() as conn:
            conn.execution_options(isolation_level="AUTOCOMMIT").exec_driver_sql("ANALYZE")
    finally:
        engine.dispose()
    return org, ids, token


def serve(db_url: str, port: int) -> None:
    """The API server process: the app on `db_url`, served by uvicorn as `liventix serve`."""
    import uvicorn  # noqa: PLC0415 (only the server process needs it)

    from liventix.api import create_app  # noqa: PLC0415

    engine = make_engine(db_url, pool_size=20, max_overflow=10)
    app = create_app(engine, gateway=None, stripe_webhook_secret=None)
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)


@contextmanager
def _api(db_url: str) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = int(probe.getsockname()[1])
    process = subprocess.Popen(
        [sys.executable, "-m", "bench.api", "--serve", db_url, "--port", str(port)]
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("the API server did not start")
            time.sleep(0.1)
        yield url, process
    finally:
        process.terminate()
        process.wait(timeout=15)


def _cpu_seconds(pid: int) -> float | None:
    try:
        import psutil  # type: ignore[import-untyped]  # noqa: PLC0415 (optional)
    except ImportError:
        return None
    times = psutil.Process(pid).cpu_times()
    return float(times.user + times.system)


def _percentile(values: Sequence[float], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def _analyze(db_url: str) -> None:
    """Fresh planner statistics before each run (as bench.posting does): with statistics
    from when the tables were small, the planner may read an organization's entries by its
    index instead of the primary key, and each read gets slower as entries pile up."""
    engine = make_engine(db_url)
    try:
        with engine.connect() as conn:
            auto = conn.execution_options(isolation_level="AUTOCOMMIT")
            for table in ("accounts", "entries", "lines", "idempotency_keys", "api_idempotency"):
                auto.exec_driver_sql(f"ANALYZE payments.{table}")
    finally:
        engine.dispose()


def _run(pool: Any, mode: Mode, n: int, base: dict[str, Any], seconds: float) -> list[Tally]:
    _analyze(base["db_url"])
    start_at = time.time() + START_MARGIN
    jobs = [
        Job(mode=mode, start_at=start_at, seconds=seconds, seed=1000 * n + i, **base)
        for i in range(n)
    ]
    tallies: list[Tally] = pool.map(client, jobs)
    errors = [t.error for t in tallies if t.error]
    if errors:
        raise RuntimeError(f"{mode}_{n}: {errors[0]}")
    return tallies


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark; print its figures, the last line as one JSON object."""
    parser = argparse.ArgumentParser(prog="python -m bench.api", description=__doc__)
    parser.add_argument("--seconds", type=float, default=5.0, help="length of each run")
    parser.add_argument("--accounts", type=int, default=1000, help="accounts to post between")
    parser.add_argument(
        "--server-defaults",
        action="store_true",
        help="the embedded server with PostgreSQL's defaults (128 MB shared_buffers, checkpoints"
        " every 5 min or 1 GB of WAL), not liventix.database.production_settings()",
    )
    parser.add_argument("--serve", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve:
        serve(args.serve, args.port)
        return 0

    figures: dict[str, Any] = {
        "seconds": args.seconds,
        "accounts": args.accounts,
    }
    context = mp.get_context("spawn")
    with _server(tuned=not args.server_defaults) as server_url, _database(server_url) as db_url:
        figures.update(server_run_on(server_url, tuned=not args.server_defaults))
        org, accounts, token = _set_up(db_url, args.accounts)
        base: dict[str, Any] = {
            "db_url": db_url,
            "api_url": "",
            "token": token,
            "org": org,
            "accounts": accounts,
        }
        with context.Pool(max(CONCURRENCY)) as pool:
            pool.map(_ready, range(max(CONCURRENCY)))
            for n in CONCURRENCY:
                tallies = _run(pool, "python", n, base, args.seconds)
                rate = sum(t.postings for t in tallies) / args.seconds
                figures[f"python_{n}"] = round(rate, 1)
                print(f"python_{n:<3} {rate:10.1f} postings/s  (ledger.post_entry)", flush=True)
            with _api(db_url) as (api_url, process):
                base["api_url"] = api_url
                for n in CONCURRENCY:
                    cpu0 = _cpu_seconds(process.pid)
                    tallies = _run(pool, "http", n, base, args.seconds)
                    cpu1 = _cpu_seconds(process.pid)
                    done = sum(t.postings for t in tallies)
                    rate = done / args.seconds
                    latencies = [x for t in tallies for x in t.latencies_ms]
                    figures[f"http_{n}"] = round(rate, 1)
                    figures[f"http_{n}_failures"] = sum(t.failures for t in tallies)
                    # A run that completed nothing (a tiny --seconds on a loaded machine) has
                    # no latency: null, not a crash that loses the run's other figures.
                    p50 = round(statistics.median(latencies), 2) if latencies else None
                    p99 = round(_percentile(latencies, 0.99), 2) if latencies else None
                    figures[f"http_{n}_p50_ms"] = p50
                    figures[f"http_{n}_p99_ms"] = p99
                    if cpu0 is not None and cpu1 is not None and done:
                        # Includes the warm-up requests: a slight overestimate.
                        figures[f"http_{n}_server_cpu_ms"] = round((cpu1 - cpu0) * 1000 / done, 3)
                    ratio = rate / figures[f"python_{n}"] if figures[f"python_{n}"] else 0.0
                    figures[f"ratio_http_{n}"] = round(ratio, 3)
                    print(
                        f"http_{n:<5} {rate:10.1f} postings/s  (POST /v1/entries)  "
                        f"{ratio:6.1%} of python_{n}  p50 {figures[f'http_{n}_p50_ms']} ms  "
                        f"p99 {figures[f'http_{n}_p99_ms']} ms",
                        flush=True,
                    )
    print(json.dumps(figures), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

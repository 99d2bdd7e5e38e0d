"""Shared set-up of the ledger-feature benchmarks (`bench.monitor_cost`, `bench.seal_cost`,
`bench.verify`): one server (`bench.posting._server`'s: an embedded PostgreSQL in a temporary
directory configured by `liventix.database.production_settings()`, or PostgreSQL's defaults
with `tuned=False`, `--server-defaults` by `add_server_flag`; or `DATABASE_URL`'s, as found;
its settings printed), a fresh migrated database, a book of plain accounts, and posting
client processes that count postings (each in its own transaction, random pairs of the
book's accounts) for a given time, for same-run A/B rounds interleaved in one window."""

from __future__ import annotations

import argparse
import os
import random
import statistics
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import psutil  # type: ignore[import-untyped]
import sqlalchemy as sa

import ledger
from bench.posting import _server as posting_server
from liventix.database import (
    create_database,
    database_url,
    drop_database,
    make_engine,
    upgrade,
)


@contextmanager
def server(*, tuned: bool = True) -> Iterator[str]:
    """A URL on the server's maintenance database: DATABASE_URL's, or an embedded server's
    configured as a deployment on this machine (`bench.posting._server`:
    `liventix.database.production_settings()`; PostgreSQL's defaults unless `tuned`), whose
    settings it prints."""
    with posting_server(tuned=tuned) as url:
        yield url


def add_server_flag(parser: argparse.ArgumentParser) -> None:
    """The `--server-defaults` flag of the benches on this server (`server(tuned=not
    args.server_defaults)`), as `bench.growth` has it."""
    parser.add_argument(
        "--server-defaults",
        action="store_true",
        help="the embedded server with PostgreSQL's defaults (128 MB shared_buffers, checkpoints"
        " every 5 min or 1 GB of WAL), not liventix.database.production_settings()",
    )


@contextmanager
def fresh_database(admin: str, prefix: str) -> Iterator[str]:
    """A new database migrated to head, dropped afterwards; its URL."""
    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    create_database(admin, name)
    try:
        url = database_url(admin, name)
        upgrade(url)
        yield url
    finally:
        drop_database(admin, name)


@dataclass(frozen=True)
class Book:
    """An organization (the platform exists too) and its plain accounts."""

    org: uuid.UUID
    accounts: tuple[uuid.UUID, ...]


def open_book(engine: sa.Engine, n: int) -> Book:
    """An organization and `n` plain USD accounts (inserted in bulk: set-up); the platform
    is registered first if missing."""
    org = uuid.uuid4()
    with engine.begin() as conn:
        if ledger.platform_org(conn) is None:
            ledger.open_organization(conn, uuid.uuid4(), "Liventix", is_platform=True)
        ledger.open_organization(conn, org, "Bench org")
        ids = conn.execute(
            sa.text(
                "INSERT INTO payments.accounts (org_id, code, name, type, currency)"
                " SELECT :org, 'acct-' || g, 'acct-' || g,"
                " CASE WHEN g % 2 = 0 THEN 'asset' ELSE 'liability' END, 'USD'"
                " FROM generate_series(1, :n) g RETURNING id"
            ),
            {"org": org, "n": n},
        ).scalars()
        return Book(org, tuple(ids))


@dataclass(frozen=True)
class Job:
    """What one posting client does: post for `seconds` from `start` (epoch)."""

    url: str
    org: uuid.UUID
    accounts: tuple[uuid.UUID, ...]
    start: float
    seconds: float
    seed: int


def post_for(job: Job) -> int:
    """Post single two-line entries, each in its own transaction, from `job.start` for
    `job.seconds`; return how many committed in the window."""
    engine = make_engine(job.url, pool_size=1)
    rng = random.Random(job.seed)
    try:
        with engine.begin() as conn:  # connect before the window
            conn.execute(sa.text("SELECT 1"))
        time.sleep(max(0.0, job.start - time.time()))
        end = job.start + job.seconds
        done = 0
        while time.time() < end:
            debit, credit = rng.sample(job.accounts, 2)
            amount = rng.randint(1, 1000)
            with engine.begin() as conn:
                ledger.post_entry(
                    conn,
                    job.org,
                    ledger.PostEntry(
                        f"b-{uuid.uuid4().hex}",
                        [
                            ledger.Line(debit, "debit", amount, "USD"),
                            ledger.Line(credit, "credit", amount, "USD"),
                        ],
                    ),
                )
            done += 1
        return done
    finally:
        engine.dispose()


def warm(_: int) -> int:
    """Run in each pool process before the first round: imports done, a connection made."""
    return 0


def median(values: list[float]) -> float:
    """The median (0 for none)."""
    return statistics.median(values) if values else 0.0


def load() -> str:
    """The machine's load averages and core count, for the report."""
    one, five, fifteen = os.getloadavg()
    return f"load {one:.2f} {five:.2f} {fifteen:.2f} on {psutil.cpu_count()} cores"

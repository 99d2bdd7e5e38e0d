"""Shared set-up of the ledger-feature benchmarks (`bench.monitor_cost`, `bench.seal_cost`,
`bench.verify`): one server (an embedded PostgreSQL in a temporary directory, or
`DATABASE_URL`'s), a fresh migrated database, a book of plain accounts, and posting client
processes that count postings (each in its own transaction, random pairs of the book's
accounts) for a given time, for same-run A/B rounds interleaved in one window."""

from __future__ import annotations

import os
import random
import shutil
import statistics
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import psutil  # type: ignore[import-untyped]
import sqlalchemy as sa

import ledger
from liventix.database import (
    create_database,
    database_url,
    drop_database,
    make_engine,
    normalize_url,
    start_embedded_server,
    upgrade,
)


@contextmanager
def server() -> Iterator[str]:
    """A URL on the server's maintenance database: DATABASE_URL's, or an embedded server's."""
    external = os.environ.get("DATABASE_URL")
    if external:
        yield normalize_url(external)
        return
    tmp = Path(tempfile.mkdtemp(prefix="liventix-bench-"))
    tmp.chmod(0o755)  # the server runs as its own system user, which must reach pgdata
    embedded = start_embedded_server(tmp / "pgdata", cleanup_mode="delete")
    try:
        yield normalize_url(embedded.get_uri("postgres"))
    finally:
        embedded.cleanup()
        shutil.rmtree(tmp, ignore_errors=True)


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

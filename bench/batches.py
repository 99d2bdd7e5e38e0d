"""Batches from one process: entries per second, and the CPU each entry costs on either side,
against the cost of the rows themselves.

Run as `python -m bench.batches [--seconds N] [--rounds R] [--accounts 10000]`. One server, as
`bench.posting`'s (an embedded PostgreSQL in a temporary directory, or `DATABASE_URL`'s).
From this one process, on one connection unless said, in interleaved rounds (each case first
in turn), after every case has run `--warm-up` seconds unmeasured:

- `independent_batch_1`: `ledger.post_batch_now` of `--independent-batch` (100) two-line
  entries standing alone, random pairs of `--accounts` accounts, each batch its own unit of
  work in one round trip (until session 31, `with conn.begin(): ledger.post_batch(...)`:
  three, BEGIN, the call and COMMIT);
- `linked_batch_1`: the same with `--batch` (500) entries linked in one chain;
  (the JSON's `batch_path` names the call these three cases measure, `post_batch_now`: the
  same keys held `with conn.begin(): ledger.post_batch(...)` figures before session 31, and
  results without `batch_path` are of that path);
- `independent_batch_2`: the independent batches again from this same process, on two
  connections (one thread each): while one connection's backend works, the other thread
  builds, validates and encodes its next batch (psycopg releases the GIL while it waits), so
  the client's CPU and the server's overlap on the machine's two cores; the two backends also
  run at once and wait for each other only on accounts both batches move;
- `independent_batch_pipelined` and `linked_batch_pipelined` (session 39): the same batches
  as `independent_batch_1` and `linked_batch_1`, one process and one connection, as one
  stream through `ledger.post_batches_now` (libpq's pipeline mode, two batches in flight: the
  client builds the next batch while the server posts the current one; each batch's commit
  as `post_batch_now`'s; the group-commit cases of session 39, `*_group`, were taken out with
  the mode: their results were not durable);
- `independent_batch_streams2` (session 40): the independent batches from this one process
  through `ledger.post_batches_now(engine, ..., connections=2)`: two pipelined streams on two
  connections of an engine's pool of two (one thread each, the batches handed out in order,
  the results yielded in order), each batch its own unit of work as `post_batch_now`'s; the
  commit order across batches is what it gives up (the backends' CPU read from the pool's
  two connections, the same two for every round);
- the baseline, `floor_<size>`: the same rows (an idempotency key with a 64-digit
  fingerprint, an entry and its two lines per entry, effective when recorded, the accounts'
  new totals) written by four plain statements into copies of the ledger's tables with the
  same columns, indexes and storage parameters (the accounts' fillfactor) but no rule (no
  trigger, no check, no lock, no fingerprint, no validation): what the rows themselves cost
  the server. (Before session 30 the floor's lines took two clock readings, so each was
  `dated` and wrote one index entry more than the door's, and its keys a shorter hash.)

Per case: entries per second (the median round), CPU per entry of this process (the client:
building the requests, validating, fingerprinting, encoding, decoding) and of its backends
(the server; read from /proc, so only for a local server), WAL bytes and full-page images
per entry (pg_stat_wal: a round's checkpoint shows there), and the ratios of the batch
path's server CPU to the floor's. The issue's goals are 15,000 entries/s for both kinds from
one process: `best_independent` and `best_linked` read the best of the one-process ways that
keep `post_batch_now`'s per-batch guarantees: one batch at a time (`*_batch_1`), pipelined
(`*_batch_pipelined`) and, for independent batches, two connections batch by batch
(`independent_batch_2`) and two pipelined streams (`independent_batch_streams2`; both since
session 40; `bench.posting` has no two-connections-batch-by-batch case, so its
`best_independent` compares the other three: the two benches' keys of the same names differ
by that one way) (`best_independent_way`, `best_linked_way` name the one that gave it), and
`target_independent_15000`, `target_linked_15000` judge them. `best_independent_one_connection`
(and its `_way`) is the best of the one-connection ways only, `best_independent`'s meaning
before session 40, so that figures stay comparable with earlier sessions'. The per-case targets
of before stay (`target_independent_batch_2_15000`, ...). The machine's load average is
printed before and after, and kept in the JSON, the last line printed.
"""

from __future__ import annotations

import argparse
import hashlib
import itertools
import json
import os
import random
import statistics
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

import sqlalchemy as sa

import ledger
from bench.posting import Book, Results, _analyze, _open_book, _server, per
from liventix.database import create_database, database_url, drop_database, make_engine, upgrade

Bind = sa.Connection | sa.Engine

GOAL = 15_000
"""Entries per second from one process, for both cases (issue 14)."""

_FLOOR_TABLES = ("accounts", "idempotency_keys", "entries", "lines")
# The floor's four statements: the rows the fast door writes for a batch, with nothing else.
_FLOOR_KEYS = sa.text(
    "INSERT INTO bench_floor.idempotency_keys (org_id, key, operation, request_hash, status,"
    " result) SELECT :org, k, 'post_entries', h, 'succeeded', jsonb_build_object('id', id)"
    " FROM unnest(CAST(:keys AS text[]), CAST(:hashes AS text[]), CAST(:ids AS uuid[]))"
    " AS x(k, h, id)"
)
_FLOOR_ENTRIES = sa.text(
    "INSERT INTO bench_floor.entries (id, org_id, kind, description, metadata, effective_at,"
    " created_at, idempotency_key)"
    " SELECT id, :org, 'standard', '', '{}', now(), now(), k"
    " FROM unnest(CAST(:ids AS uuid[]), CAST(:keys AS text[])) AS x(id, k)"
)
_FLOOR_LINES = sa.text(
    "INSERT INTO bench_floor.lines (entry_id, entry_org_id, org_id, account_id, side, amount,"
    " currency, effective_at, created_at, account_version, account_posted_debits,"
    " account_posted_credits)"
    " SELECT (CAST(:ids AS uuid[]))[(o + 1) / 2], :org, :org, a, CASE WHEN o % 2 = 1 THEN"
    " 'debit' ELSE 'credit' END, m, 'USD', now(), now(), 1, m, m"
    " FROM unnest(CAST(:accounts AS uuid[]), CAST(:amounts AS bigint[])) WITH ORDINALITY"
    " AS x(a, m, o)"
)
_FLOOR_ACCOUNTS = sa.text(
    "UPDATE bench_floor.accounts a SET posted_debits = a.posted_debits + d.dr,"
    " posted_credits = a.posted_credits + d.cr, version = a.version + d.n"
    " FROM (SELECT x.a, sum(CASE WHEN x.o % 2 = 1 THEN x.m ELSE 0 END) AS dr,"
    " sum(CASE WHEN x.o % 2 = 0 THEN x.m ELSE 0 END) AS cr, count(*) AS n"
    " FROM unnest(CAST(:accounts AS uuid[]), CAST(:amounts AS bigint[])) WITH ORDINALITY"
    " AS x(a, m, o) GROUP BY x.a) d WHERE a.id = d.a"
)


@dataclass(frozen=True)
class Case:
    """One measured case: its name, entries per call, and how to make one call."""

    name: str
    size: int
    call: Callable[[sa.Connection, uuid.UUID, list[ledger.PostEntry]], None] | None
    """One call (None: a pooled stream's case, which warms up through its stream)."""
    connections: int = 1
    stream: Callable[[Bind, uuid.UUID, Iterator[list[ledger.PostEntry]]], int] | None = None
    """For a stream's case: posts every batch the iterator gives, returns the entries."""
    pooled: bool = False
    """The stream's case takes the pooled engine (`_round`'s `pool`), not a connection."""


@dataclass(frozen=True)
class Round:
    """What one round of a case did."""

    entries: int
    wall: float
    client_cpu: float
    server_cpu: float | None
    wal_bytes: int
    wal_fpi: int


def _backend_cpu(pid: int | None) -> float | None:
    """CPU seconds of a local backend so far (nanoseconds in /proc/<pid>/schedstat)."""
    if pid is None:
        return None
    try:
        with open(f"/proc/{pid}/schedstat") as f:
            return int(f.read().split()[0]) / 1e9
    except OSError:
        return None


def _requests(
    book: Book, rng: random.Random, keys: Iterator[str], size: int
) -> list[ledger.PostEntry]:
    batch = []
    for _ in range(size):
        debit, credit = rng.sample(book.accounts, 2)
        amount = rng.randint(100, 10_000)
        batch.append(
            ledger.PostEntry(
                next(keys),
                [
                    ledger.Line(debit, "debit", amount, "USD"),
                    ledger.Line(credit, "credit", amount, "USD"),
                ],
            )
        )
    return batch


def _post(links: bool) -> Callable[[sa.Connection, uuid.UUID, list[ledger.PostEntry]], None]:
    def call(conn: sa.Connection, org: uuid.UUID, batch: list[ledger.PostEntry]) -> None:
        flags = [links] * (len(batch) - 1) + [False]
        # Each batch its own unit of work: committed when the call returns, in one round
        # trip (the connection has no transaction open between calls).
        results = ledger.post_batch_now(conn, org, batch, links=flags)
        refused = [r.error for r in results if r.error is not None]
        if refused:
            raise RuntimeError(f"a batch entry was refused: {refused[0]}")

    return call


def _stream(
    links: bool, connections: int = 1
) -> Callable[[Bind, uuid.UUID, Iterator[list[ledger.PostEntry]]], int]:
    def stream(bind: Bind, org: uuid.UUID, batches: Iterator[list[ledger.PostEntry]]) -> int:
        done = 0
        linked = (ledger.Batch(b, [links] * (len(b) - 1) + [False]) for b in batches)
        for results in ledger.post_batches_now(bind, org, linked, connections=connections):
            refused = [r.error for r in results if r.error is not None]
            if refused:
                raise RuntimeError(f"a batch entry was refused: {refused[0]}")
            done += len(results)
        return done

    return stream


def _one_of(
    stream: Callable[[Bind, uuid.UUID, Iterator[list[ledger.PostEntry]]], int],
) -> Callable[[sa.Connection, uuid.UUID, list[ledger.PostEntry]], None]:
    """A stream's case's single call (its warm-up): a stream of one batch."""

    def call(conn: sa.Connection, org: uuid.UUID, batch: list[ledger.PostEntry]) -> None:
        stream(conn, org, iter([batch]))

    return call


def _uuid7() -> str:
    """A UUIDv7 (as PostgreSQL's uuidv7(), which the fast door gives its entries): the time in
    ms, then random bits."""
    ms, bits = time.time_ns() // 1_000_000, random.getrandbits(74)
    value = (ms << 80) | (0x7 << 76) | ((bits >> 62) << 64) | (0b10 << 62) | (bits & (2**62 - 1))
    return str(uuid.UUID(int=value))


def _floor(conn: sa.Connection, org: uuid.UUID, batch: list[ledger.PostEntry]) -> None:
    """The same rows, written with nothing else (the baseline)."""
    accounts: list[str] = []
    amounts: list[int] = []
    for request in batch:
        for line in request.lines:
            accounts.append(str(line.account_id))
            amounts.append(line.amount)
    params = {
        "org": org,
        "keys": [r.idempotency_key for r in batch],
        # A request's fingerprint is 64 hex digits: the same width as the door's.
        "hashes": [hashlib.sha256(r.idempotency_key.encode()).hexdigest() for r in batch],
        "ids": [_uuid7() for _ in batch],
        "accounts": accounts,
        "amounts": amounts,
    }
    with conn.begin():
        for statement in (_FLOOR_KEYS, _FLOOR_ACCOUNTS, _FLOOR_ENTRIES, _FLOOR_LINES):
            conn.execute(statement, params)


def _copy_tables(engine: sa.Engine) -> None:
    """bench_floor's copies of the ledger's tables: same columns, defaults, indexes and storage
    parameters, the accounts' rows; no trigger, no constraint but the indexes' own and the
    balance columns' domain (payments.account_count, whose check a copy keeps: planned once
    per session, run on the columns a statement assigns, as in the ledger)."""
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE SCHEMA bench_floor")
        for table in _FLOOR_TABLES:
            # The storage parameters too (LIKE copies none): the accounts' fillfactor keeps
            # their updates HOT, as in the ledger.
            options = conn.exec_driver_sql(
                "SELECT coalesce(array_to_string(reloptions, ', '), '') FROM pg_class"
                f" WHERE oid = 'payments.{table}'::regclass"
            ).scalar_one()
            conn.exec_driver_sql(
                f"CREATE TABLE bench_floor.{table} (LIKE payments.{table} INCLUDING DEFAULTS"
                " INCLUDING GENERATED INCLUDING IDENTITY INCLUDING INDEXES)"
                + (f" WITH ({options})" if options else "")
            )
        # Every stored column but the generated ones (whatever the schema holds now).
        columns = conn.exec_driver_sql(
            "SELECT string_agg(quote_ident(attname), ', ' ORDER BY attnum) FROM pg_attribute"
            " WHERE attrelid = 'payments.accounts'::regclass AND attnum > 0"
            " AND NOT attisdropped AND attgenerated = ''"
        ).scalar_one()
        conn.exec_driver_sql(
            f"INSERT INTO bench_floor.accounts ({columns}) SELECT {columns} FROM payments.accounts"
        )


def _keys(prefix: str) -> Iterator[str]:
    """Idempotency keys, each used once: the prefix and a count."""
    return (f"{prefix}-{n}" for n in itertools.count())


def _round(
    conns: Sequence[sa.Connection],
    case: Case,
    book: Book,
    *,
    seconds: float,
    rng: random.Random,
    pids: Sequence[int | None],
    pool: tuple[sa.Engine, Sequence[int | None]] | None = None,
) -> Round:
    """One round of a case on its first `case.connections` connections, one thread each; a
    pooled case's, from this thread on `pool`'s engine (its backends' pids beside it)."""
    binds: list[Bind]
    if case.pooled:
        assert pool is not None and case.stream is not None
        binds, backends = [pool[0]], list(pool[1])
    else:
        binds, backends = list(conns[: case.connections]), list(pids[: case.connections])
    run = uuid.uuid4().hex[:8]
    keys = [_keys(f"{case.name}-{run}-{i}") for i in range(len(binds))]
    rngs = [random.Random(rng.random()) for _ in binds]
    for bind, key, r in zip(binds, keys, rngs, strict=True):
        warm = _requests(book, r, key, case.size)
        if case.pooled and case.stream is not None:
            case.stream(bind, book.org, iter([warm]))
        else:
            assert isinstance(bind, sa.Connection) and case.call is not None
            case.call(bind, book.org, warm)
    done = [0] * len(binds)
    wal0, fpi0 = _wal(conns[0]), _fpi(conns, pool)
    server0 = [_backend_cpu(pid) for pid in backends]
    client0, started = time.process_time(), time.perf_counter()
    deadline = started + seconds

    def work(i: int) -> None:
        if case.stream is not None:

            def batches() -> Iterator[list[ledger.PostEntry]]:
                while time.perf_counter() < deadline:
                    yield _requests(book, rngs[i], keys[i], case.size)

            done[i] += case.stream(binds[i], book.org, batches())
            return
        conn = binds[i]
        assert isinstance(conn, sa.Connection) and case.call is not None
        while time.perf_counter() < deadline:
            case.call(conn, book.org, _requests(book, rngs[i], keys[i], case.size))
            done[i] += case.size

    threads = [threading.Thread(target=work, args=(i,)) for i in range(1, len(binds))]
    for thread in threads:
        thread.start()
    work(0)
    for thread in threads:
        thread.join()
    wall, client = time.perf_counter() - started, time.process_time() - client0
    server1 = [_backend_cpu(pid) for pid in backends]
    wal, fpi = _wal(conns[0]) - wal0, _fpi(conns, pool) - fpi0
    server: float | None = 0.0
    for before, after in zip(server0, server1, strict=True):
        server = (
            None if server is None or before is None or after is None else server + after - before
        )
    return Round(sum(done), wall, client, server, wal, fpi)


def _wal(conn: sa.Connection) -> int:
    """The server's WAL insert position, in bytes (every session's: the server is the
    benchmark's own, and a round's full-page images after a checkpoint are counted)."""
    lsn = int(conn.exec_driver_sql("SELECT pg_current_wal_insert_lsn() - '0/0'").scalar_one())
    conn.rollback()
    return lsn


def _fpi(
    conns: Sequence[sa.Connection], pool: tuple[sa.Engine, Sequence[int | None]] | None = None
) -> int:
    """Full-page images the server has written to the WAL so far (pg_stat_wal: every
    session's; each connection's pending statistics flushed first, the pool's two too)."""
    for conn in conns:
        conn.exec_driver_sql("SELECT pg_stat_force_next_flush()")
        conn.rollback()
    if pool is not None:
        with pool[0].connect() as one, pool[0].connect() as other:
            for conn in (one, other):
                conn.exec_driver_sql("SELECT pg_stat_force_next_flush()")
                conn.rollback()
    fpi = int(conns[0].exec_driver_sql("SELECT wal_fpi FROM pg_stat_wal").scalar_one())
    conns[0].rollback()
    return fpi


def _load() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark and print its figures, the last line one JSON object."""
    parser = argparse.ArgumentParser(prog="python -m bench.batches", description=__doc__)
    parser.add_argument("--seconds", type=float, default=5.0, help="length of each round")
    parser.add_argument("--rounds", type=int, default=3, help="rounds of every case")
    parser.add_argument(
        "--warm-up", type=float, default=2.0, help="seconds of every case before the rounds"
    )
    parser.add_argument("--accounts", type=int, default=10_000, help="accounts to spread over")
    parser.add_argument("--batch", type=int, default=500, help="entries per linked batch")
    parser.add_argument(
        "--independent-batch", type=int, default=100, help="entries per independent batch"
    )
    args = parser.parse_args(argv)
    results = Results()
    name = f"bench_batches_{uuid.uuid4().hex[:8]}"
    rng = random.Random(14)
    small, large = args.independent_batch, args.batch
    cases = [
        Case("independent_batch_1", small, _post(False)),
        Case("linked_batch_1", large, _post(True)),
        Case("independent_batch_2", small, _post(False), connections=2),
        Case("independent_batch_pipelined", small, _one_of(_stream(False)), stream=_stream(False)),
        Case("linked_batch_pipelined", large, _one_of(_stream(True)), stream=_stream(True)),
        Case("independent_batch_streams2", small, None, stream=_stream(False, 2), pooled=True),
        Case(f"floor_{small}", small, _floor),
        Case(f"floor_{large}", large, _floor),
    ]
    with _server() as admin:
        try:
            create_database(admin, name)
            url = database_url(admin, name)
            upgrade(url)
            engine = make_engine(url, pool_size=2)
            book = _open_book(engine, args.accounts)
            _copy_tables(engine)
            # The two streams' pool: its two connections, the same for every round (a
            # QueuePool keeps both; none past them), so their backends' CPU can be read.
            streams = make_engine(url, pool_size=2, max_overflow=0)
            with streams.connect() as one, streams.connect() as other:
                stream_pids: list[int | None] = []
                for c in (one, other):
                    stream_pids.append(
                        int(c.execute(sa.text("SELECT pg_backend_pid()")).scalar_one())
                    )
                    c.rollback()
            pool = (streams, stream_pids)
            results.put("load_before", _load(), "load average 1/5/15 min")
            results.put(
                "batch_path",
                "post_batch_now",
                "the call the batch cases measure (one round trip; before session 31,"
                " with conn.begin(): post_batch)",
            )
            print(
                f"{args.rounds} rounds of {args.seconds:g} s per case, interleaved; baseline:"
                " the floor (the same rows by plain statements, no rule)",
                flush=True,
            )
            rounds: dict[str, list[Round]] = {case.name: [] for case in cases}
            with engine.connect() as conn, engine.connect() as other:
                conns = (conn, other)
                pids: list[int | None] = []
                for c in conns:
                    pids.append(int(c.execute(sa.text("SELECT pg_backend_pid()")).scalar_one()))
                    c.rollback()
                # Not measured: every case once first, for --warm-up seconds (caches, plans,
                # the tables past their first pages). Before session 30 the door's generic
                # plans, chosen on the statistics of near-empty tables, scanned the keys
                # whole, so the first case of the first round ran at ~1.5x its steady server
                # CPU per entry for seconds, whichever case it was (payments_batches.sql).
                for case in cases:
                    _round(conns, case, book, seconds=args.warm_up, rng=rng, pids=pids, pool=pool)
                for r in range(args.rounds):
                    _analyze(engine)
                    order = cases[r % len(cases) :] + cases[: r % len(cases)]
                    for case in order:
                        rounds[case.name].append(
                            _round(
                                conns,
                                case,
                                book,
                                seconds=args.seconds,
                                rng=rng,
                                pids=pids,
                                pool=pool,
                            )
                        )
            for case in cases:
                done = rounds[case.name]
                entries = sum(x.entries for x in done)
                servers = [x.server_cpu for x in done]
                server = None if None in servers else sum(s or 0.0 for s in servers)
                results.put(
                    case.name,
                    statistics.median(per(x.entries, x.wall) for x in done),
                    "entries/s (median round)",
                )
                client_us = per(sum(x.client_cpu for x in done), entries) * 1e6
                results.put(
                    f"{case.name}_wal_bytes",
                    per(sum(x.wal_bytes for x in done), entries),
                    "WAL per entry",
                )
                results.put(
                    f"{case.name}_wal_fpi",
                    per(sum(x.wal_fpi for x in done), entries),
                    "full-page images per entry",
                )
                results.put(f"{case.name}_client_cpu_us", client_us, "per entry")
                if server is not None:
                    server_us = per(server, entries) * 1e6
                    results.put(f"{case.name}_server_cpu_us", server_us, "per entry, its backends")
                    results.put(f"{case.name}_cpu_us", client_us + server_us, "per entry, both")
            results.put("load_after", _load(), "load average 1/5/15 min")
            print("ratios", flush=True)
            f = results.figures
            for measured, floor in (
                ("independent_batch_1", small),
                ("independent_batch_2", small),
                ("independent_batch_pipelined", small),
                ("independent_batch_streams2", small),
                ("linked_batch_1", large),
                ("linked_batch_pipelined", large),
            ):
                if f.get(f"{measured}_server_cpu_us") and f.get(f"floor_{floor}_server_cpu_us"):
                    results.put(
                        f"{measured}_server_over_floor",
                        per(f[f"{measured}_server_cpu_us"], f[f"floor_{floor}_server_cpu_us"]),
                        "server CPU per entry / the floor's",
                    )
            print("targets", flush=True)
            results.put(
                "independent_2_over_1",
                per(f["independent_batch_2"], f["independent_batch_1"]),
                "two connections over one",
            )
            results.put(
                "pipelined_over_1_independent",
                per(f["independent_batch_pipelined"], f["independent_batch_1"]),
                "one connection, pipelined over one batch at a time",
            )
            results.put(
                "streams2_over_pipelined_independent",
                per(f["independent_batch_streams2"], f["independent_batch_pipelined"]),
                "two pipelined streams over one",
            )
            results.put(
                "pipelined_over_1_linked",
                per(f["linked_batch_pipelined"], f["linked_batch_1"]),
                "one connection, pipelined over one batch at a time",
            )
            results.put("target_independent_batch_1_15000", f["independent_batch_1"] >= GOAL)
            results.put("target_independent_batch_2_15000", f["independent_batch_2"] >= GOAL)
            results.put("target_linked_batch_1_15000", f["linked_batch_1"] >= GOAL)
            results.put(
                "target_independent_batch_streams2_15000", f["independent_batch_streams2"] >= GOAL
            )
            # The same ways as bench.posting's keys of the same names, each from one process
            # with post_batch_now's per-batch guarantees; best_independent_one_connection is
            # best_independent's meaning before session 40 (one connection), for comparison.
            one_connection = ["independent_batch_1", "independent_batch_pipelined"]
            best = max(one_connection, key=lambda way: f[way] or 0.0)
            results.put(
                "best_independent_one_connection",
                f[best],
                "entries/s, one process, one connection: one at a time or pipelined",
            )
            results.put("best_independent_one_connection_way", best)
            for kind in ("independent", "linked"):
                ways = [f"{kind}_batch_1", f"{kind}_batch_pipelined"]
                if kind == "independent":
                    ways += ["independent_batch_2", "independent_batch_streams2"]
                best = max(ways, key=lambda way: f[way] or 0.0)
                results.put(
                    f"best_{kind}",
                    f[best],
                    "entries/s, one process: one at a time, pipelined"
                    + (
                        ", two connections batch by batch or two streams"
                        if kind == "independent"
                        else ""
                    ),
                )
                results.put(f"best_{kind}_way", best)
                results.put(f"target_{kind}_15000", (f[best] or 0.0) >= GOAL)
            streams.dispose()
            engine.dispose()
        finally:
            drop_database(admin, name)
    print(json.dumps(results.figures), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

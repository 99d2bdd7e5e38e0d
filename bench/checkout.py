"""Completed checkouts per second (hold, pay, issue, with escrow and outbox), beside the
ledger's bare posting rate from the same run on the same server.

Run as `python -m bench.checkout [--seconds N] [--tickets 2]`. One server for the whole run:
an embedded PostgreSQL in a temporary directory, or `DATABASE_URL`'s server if set (one
database is created on it and dropped afterwards). Each run lasts `--seconds`:

- the baseline: `ledger.post_entry`, two lines between random accounts of 1,000, each in its
  own `with engine.begin()`, at 1 and 4 client processes (`post_N`);
- a completed checkout, at 1 and 4 client processes (`checkout_N`), each client on an event
  of its own organizer, and at 4 processes all on one event and ticket type (`hot_4`). A
  checkout is two transactions, as the application runs them:
  1. `ticketing_fsm.start_checkout` (hold `--tickets` tickets, the order, its PaymentIntent);
  2. what the inbox handler of `payment_intent.succeeded` does: `ticketing_fsm.pay_for_intent`
     (escrow's capture: the ledger entry into the event's escrow; the order found by its
     PaymentIntent, paid, tickets issued; `order.paid` / `ticket.issued` messages with the
     buyer's e-mails and the organizer's webhook deliveries written to the outbox).
  The PaymentIntent comes from the Stripe stand-in's account, called in process (no HTTP:
  what is measured is the database work), and the Stripe event is not stored in and claimed
  from the inbox (two more short transactions in the application). Nothing delivers the
  outbox here: that is `bench.outbox`'s measure. Nor is the payment's transaction shaped as the
  worker's: here `pay_for_intent` is its first statement, where the worker's unit of work
  (`outbox.inbox.finish_claimed`) sends the claim's relock, a SAVEPOINT and the order's lookup
  before it. A gain that needs the payment's statement first in its transaction (sending it
  with the BEGIN, say) is this bench's alone, not the product's (session 36 reverted one).

Before the first run, `FILL` completed checkouts on each event (their escrows opened, the
checkout's tables holding rows), and before each run the tables are analysed: every run
measures on statistics of non-empty tables (`checkout_1` used to run on checkout tables
analysed while empty, the later cases after earlier runs' fills).

Then `--rounds` more pairs of `post_4` and `checkout_4` (the order alternating), and the
ratio of each round with their median (`checkout_4_over_post_4_median`, and by CPU): on a
shared machine one pair's ratio moves with the other work. A run that completed nothing
(starved) has its figures per operation, and the ratios over them, as null, the medians
being the other rounds'.

Where the time goes: CPU per checkout of the client processes, of their backends and of the
server's other processes (read from the processes' CPU counters, as `bench.posting` does),
the backends' wait events (sampled), the WAL written per operation (the server's insert
position before and after the window: not moved by the machine's load), and the statements
per transaction (counted on one checkout) beside a `SELECT 1` round trip, and the ratios
again from CPU per operation (`..._by_cpu`). The last line printed is one JSON object.
"""

from __future__ import annotations

import argparse
import dataclasses
import itertools
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
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from multiprocessing.pool import Pool
from typing import Any, Literal

import psycopg
import sqlalchemy as sa

import escrow
import ledger
import outbox
import pgdriver
import ticketing_fsm as tk
from bench.posting import Results, ServerCpu, Window, _round_trip_us, _sample_waits, _server
from bench.posting import per as _over  # a / b, NaN (None in the results) when b is 0
from liventix.database import create_database, database_url, drop_database, make_engine, upgrade
from liventix.testing.stripe import StripeStandIn, stripe_fee
from ticketing_fsm import store as tk_store  # the measuring instrument's hook only

Mode = Literal["post", "checkout"]

CLIENTS = 4
ACCOUNTS = 1_000
PRICE = 2_500
START_MARGIN = 1.5
"""Seconds between handing out a run's jobs and its common start: to connect and warm up."""
LINGER = 0.5
"""Seconds clients stay connected after the window, so their backends' CPU can be read."""
APPLICATION = "bench.checkout"
PLATFORM = uuid.UUID("00000000-0000-0000-0000-000000000001")
PLAN: list[tuple[str, Mode, int, bool]] = [
    ("post_1", "post", 1, False),
    ("checkout_1", "checkout", 1, False),
    ("post_4", "post", 4, False),
    ("checkout_4", "checkout", 4, False),
    ("hot_4", "checkout", 4, True),
]


class StandInGateway:
    """The checkout's gateway on the Stripe stand-in's account (`liventix.testing.stripe`),
    called in process: no HTTP, so what is measured is the database work."""

    def __init__(self) -> None:
        self.account = StripeStandIn()

    def create_payment_intent(
        self, amount: int, currency: str, metadata: dict[str, str], idempotency_key: str
    ) -> tk.CreatedIntent:
        """A new PaymentIntent, or the one created before under this key."""
        intent = self.account.create_payment_intent(
            amount=amount, currency=currency, metadata=metadata, idempotency_key=idempotency_key
        )
        return tk.CreatedIntent(intent.id, intent.client_secret)

    def create_refund(
        self, payment_intent_id: str, amount: int, metadata: dict[str, str], idempotency_key: str
    ) -> str:
        """A refund of a paid intent (not used by a checkout)."""
        refund = self.account.create_refund(
            payment_intent_id=payment_intent_id,
            amount=amount,
            metadata=metadata,
            idempotency_key=idempotency_key,
        )
        return refund.id


@dataclass(frozen=True)
class World:
    """An organizer's event on sale, with one ticket type."""

    org: uuid.UUID
    event: uuid.UUID
    ticket_type: uuid.UUID
    ends_at: datetime


@dataclass(frozen=True)
class Job:
    """What one client process does during one run."""

    url: str
    mode: Mode
    start_at: float
    seconds: float
    tickets: int
    worlds: tuple[World, ...]
    book_org: uuid.UUID
    accounts: tuple[uuid.UUID, ...]
    seed: int = 0


@dataclass(frozen=True)
class Tally:
    """What one client process did inside the run's window."""

    done: int
    transactions: int
    elapsed: float
    cpu: float
    error: str | None = None


@dataclass(frozen=True)
class Run:
    """One measured run."""

    name: str
    per_s: float
    client_cpu_us: float
    server_cpu_us: float
    background_cpu_us: float
    waits: dict[str, float]
    wal_bytes: float


def checkout_once(
    engine: sa.Engine,
    gateway: tk.PaymentGateway,
    world: World,
    key: str,
    tickets: int,
) -> tk.Checkout:
    """One completed checkout: hold and PaymentIntent; then payment booked and tickets
    issued, as the `payment_intent.succeeded` handler does. Two transactions."""
    request = tk.CheckoutRequest(
        key,
        world.org,
        world.event,
        f"{key}@example.com",
        [tk.CheckoutItem(world.ticket_type, tickets)],
    )
    checkout = tk.start_checkout(engine, gateway, request)
    pi = checkout.payment_intent_id
    with engine.begin() as conn:
        outcome = tk.pay_for_intent(
            conn,
            escrow.CapturedPayment(
                payment_id=pi,
                org_id=world.org,
                event_id=str(world.event),
                currency=checkout.currency,
                gross=checkout.amount,
                stripe_fee=stripe_fee(checkout.amount),
                event_ends_at=world.ends_at,
                charge_id=f"ch_{pi[3:]}",
                balance_transaction_id=f"txn_{pi[3:]}",
            ),
            cause=f"evt_{pi[3:]}",
        )
    if outcome != "issued":
        raise RuntimeError(f"checkout {key}: pay_for_intent said {outcome!r}")
    return checkout


def client(job: Job) -> Tally:
    """Work as fast as one process can from `job.start_at` for `job.seconds` (a pool task)."""
    engine = make_engine(
        job.url, pool_size=1, max_overflow=0, connect_args={"application_name": APPLICATION}
    )
    rng = random.Random(job.seed)
    world = job.worlds[job.seed % len(job.worlds)]
    gateway = StandInGateway()
    prefix = f"{job.mode}-{job.seed}-{uuid.uuid4().hex[:8]}-"
    keys = (f"{prefix}{n}" for n in itertools.count())

    def one() -> int:
        if job.mode == "checkout":
            checkout_once(engine, gateway, world, next(keys), job.tickets)
            return 2
        debit, credit = rng.sample(job.accounts, 2)
        amount = rng.randint(100, 10_000)
        entry = ledger.PostEntry(
            next(keys),
            [
                ledger.Line(debit, "debit", amount, "USD"),
                ledger.Line(credit, "credit", amount, "USD"),
            ],
        )
        with engine.begin() as conn:
            ledger.post_entry(conn, job.book_org, entry)
        return 1

    done = transactions = 0
    elapsed = cpu = 0.0
    try:
        one()  # connect and warm up outside the window
        time.sleep(max(0.0, job.start_at - time.time()))
        deadline = job.start_at + job.seconds
        started, cpu0 = time.perf_counter(), time.process_time()
        while time.time() < deadline:
            transactions += one()
            done += 1
        elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu0
        time.sleep(max(0.0, deadline + LINGER - time.time()))
    except Exception as exc:
        return Tally(0, 0, 0.0, 0.0, f"{type(exc).__name__}: {str(exc)[:300]}")
    finally:
        engine.dispose()
    return Tally(done, transactions, elapsed, cpu)


def _ready(_: int) -> int:
    """A no-op pool task: once every process has answered, all have imported everything."""
    time.sleep(0.2)
    return os.getpid()


# ------------------------------------------------------------------------------------------
# Set-up
# ------------------------------------------------------------------------------------------


def _open_world(conn: sa.Connection, name: str, capacity: int) -> World:
    org = uuid.uuid4()
    ledger.open_organization(conn, org, name)
    escrow.set_policy(conn, org, escrow.Policy())
    # A webhook endpoint, so every message also writes its webhook delivery (never sent).
    outbox.register_endpoint(
        conn, org, "http://127.0.0.1:9/hooks", allow=outbox.parse_allow("127.0.0.1/32")
    )
    now = datetime.now(UTC)
    ends = now + timedelta(days=30, hours=3)
    event = tk.create_event(
        conn, org, name=name, currency="USD", starts_at=now + timedelta(days=30), ends_at=ends
    )
    ticket_type = tk.add_ticket_type(
        conn,
        org,
        event,
        name="General admission",
        price=PRICE,
        capacity=capacity,
        sales_start=now - timedelta(hours=1),
        sales_end=now + timedelta(days=30),
    )
    return World(org, event, ticket_type, ends)


def _open_book(conn: sa.Connection) -> tuple[uuid.UUID, tuple[uuid.UUID, ...]]:
    org = uuid.uuid4()
    ledger.open_organization(conn, org, "Bench book")
    # Plain accounts in bulk: opening them through the API is set-up, not the measure.
    ids = conn.execute(
        sa.text(
            "INSERT INTO payments.accounts (org_id, code, name, type, currency)"
            " SELECT :org, 'acct-' || g, 'acct-' || g,"
            " CASE WHEN g % 2 = 0 THEN 'asset' ELSE 'liability' END, 'USD'"
            " FROM generate_series(1, :n) g RETURNING id"
        ),
        {"org": org, "n": ACCOUNTS},
    ).scalars()
    return org, tuple(ids)


FILL = 100
"""Completed checkouts per event before the first run (`_fill`)."""


def _fill(url: str, worlds: Sequence[World], tickets: int) -> None:
    """`FILL` completed checkouts on each event, from this process, before any run."""
    engine = make_engine(url, pool_size=1, max_overflow=0)
    try:
        gateway = StandInGateway()
        for world in worlds:
            for n in range(FILL):
                checkout_once(engine, gateway, world, f"fill-{world.event}-{n}", tickets)
    finally:
        engine.dispose()


def _analyze(engine: sa.Engine) -> None:
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        for table in (
            "payments.accounts",
            "payments.entries",
            "payments.lines",
            "payments.idempotency_keys",
            "payments.card_payments",
            "ticketing.orders",
            "ticketing.tickets",
            "messaging.messages",
            "messaging.deliveries",
        ):
            conn.exec_driver_sql(f"ANALYZE {table}")


# ------------------------------------------------------------------------------------------
# Measuring
# ------------------------------------------------------------------------------------------


def _run(pool: Pool, engine: sa.Engine, job: Job, processes: int, server: ServerCpu) -> Run:
    """Run `processes` clients doing `job` together; their throughput and CPU."""
    jobs = [dataclasses.replace(job, seed=seed) for seed in range(processes)]
    pending = pool.map_async(client, jobs, chunksize=1)
    time.sleep(max(0.0, job.start_at - time.time()))
    window = Window(server, APPLICATION)
    lsn = _wal_position(engine)
    waits = _sample_waits(engine, job.start_at + job.seconds)
    span = window.close()  # while the clients linger, still connected
    wal = _wal_position(engine) - lsn
    tallies: list[Tally] = pending.get(timeout=job.seconds + 120)
    errors = [t.error for t in tallies if t.error]
    if errors:
        raise RuntimeError(f"a client failed: {errors[0]}")
    done = sum(t.done for t in tallies)
    # A run that completed nothing (starved by the machine's other work): its figures per
    # operation are NaN (None in the results), not a division by zero losing the whole run.
    return Run(
        name="",
        per_s=sum(t.done / t.elapsed for t in tallies),
        client_cpu_us=_over(sum(t.cpu for t in tallies), done) * 1e6,
        server_cpu_us=_over(span.backends, done) * 1e6,
        background_cpu_us=_over(span.server - span.backends, done) * 1e6,
        waits=waits,
        wal_bytes=_over(wal, done),
    )


def _round_ratios(pairs: Sequence[tuple[Run, Run]]) -> dict[str, Any]:
    """`post_4` and `checkout_4` in rounds ((post, checkout) pairs): each round's ratio of
    completed checkouts per bare posting, by rate and by CPU per operation, and their
    medians, which other work on a shared machine moves less than one pair's. A round
    where a run completed nothing has no ratio (None; the medians are the other rounds'),
    None for the median when no round has one."""
    by_rate = [_over(check.per_s, post.per_s) for post, check in pairs]
    by_cpu = [
        _over(
            post.client_cpu_us + post.server_cpu_us,
            check.client_cpu_us + check.server_cpu_us,
        )
        for post, check in pairs
    ]

    def rounds(ratios: list[float]) -> list[float | None]:
        return [None if math.isnan(x) else round(x, 3) for x in ratios]

    def median(ratios: list[float]) -> float | None:
        found = [x for x in ratios if not math.isnan(x)]
        return statistics.median(found) if found else None

    return {
        "checkout_4_over_post_4_rounds": rounds(by_rate),
        "checkout_4_over_post_4_median": median(by_rate),
        "checkout_4_over_post_4_by_cpu_rounds": rounds(by_cpu),
        "checkout_4_over_post_4_by_cpu_median": median(by_cpu),
    }


def _wal_position(engine: sa.Engine) -> int:
    """The server's WAL insert position, in bytes: WAL written per operation is a measure
    of the work a write does that the machine's load does not move (the whole server's:
    with DATABASE_URL shared with other work, that work's too)."""
    with engine.connect() as conn:
        return int(
            conn.execute(
                sa.text("SELECT pg_wal_lsn_diff(pg_current_wal_insert_lsn(), '0/0')")
            ).scalar_one()
        )


def _sent_alone(sending: Any, counts: list[int], trips: list[int]) -> Any:
    """`sending` counted as a transaction of one statement in one round trip, when it
    answers (None: nothing sent): `_statements`' instrument."""

    def sent_alone(*args: Any, **kwargs: Any) -> Any:
        row = sending(*args, **kwargs)
        if row is not None:
            counts.append(1)
            trips[0] += 1
        return row

    return sent_alone


def _statements(url: str, world: World, tickets: int) -> tuple[list[int], int]:
    """Statements sent per transaction of one checkout, counted at psycopg's cursor and at
    the ledger's libpq door (`pgdriver.call`), and the round trips in all: each statement, a
    BEGIN psycopg sends before a transaction's first statement, a COMMIT it sends at the end
    (none when a statement committed the transaction itself, as the hold's
    `ticketing.hold_checkout` does); a statement that is a transaction of its own
    (`pgdriver.call_alone`) counts as one transaction of one statement, one round trip; the
    hold's opening read sent with its BEGIN (`begin_with_opening`) as one statement, one
    round trip; the hold of one ticket type sent with its BEGIN and COMMIT
    (`open_and_hold_now`) as one statement, one round trip, or as a transaction of its own
    on a pooled connection (`open_and_hold_alone`) as one transaction of one statement.
    Counted on the connection's second checkout: the first reads what the payment's one-call
    capture then knows (`escrow.capture_call`), as a client's first checkout does."""
    engine = make_engine(url, pool_size=1, max_overflow=0)
    checkout_once(engine, StandInGateway(), world, f"warm-{uuid.uuid4().hex}", tickets)
    counts: list[int] = []
    trips = [0]
    original = psycopg.Cursor.execute
    calling = pgdriver.call
    alone = pgdriver.call_alone
    opening = tk_store.checkout.begin_with_opening
    holding = tk_store.checkout.open_and_hold_now
    holding_alone = tk_store.checkout.open_and_hold_alone

    def idle(driver: psycopg.Connection[Any]) -> bool:
        return driver.pgconn.transaction_status == psycopg.pq.TransactionStatus.IDLE

    def counting(self: psycopg.Cursor[Any], *args: Any, **kwargs: Any) -> Any:
        if counts:
            counts[-1] += 1
            trips[0] += 1 + (idle(self.connection) and not self.connection.autocommit)
        return original(self, *args, **kwargs)

    def call(conn: sa.Connection, *args: Any, **kwargs: Any) -> Any:
        driver: Any = conn.connection.driver_connection
        if counts:
            counts[-1] += 1
            trips[0] += 1 + idle(driver)
        return calling(conn, *args, **kwargs)

    def call_alone(*args: Any, **kwargs: Any) -> Any:
        counts.append(1)
        trips[0] += 1
        return alone(*args, **kwargs)

    def one_trip(sending: Any) -> Any:
        # A statement sent in one round trip with its transaction's BEGIN (and COMMIT).
        def sent_once(*args: Any, **kwargs: Any) -> Any:
            sent = sending(*args, **kwargs)
            if sent is not None:
                counts[-1] += 1
                trips[0] += 1
            return sent

        return sent_once

    def begin(*_: Any) -> None:
        counts.append(0)

    def commit(conn: sa.Connection) -> None:
        driver: Any = conn.connection.driver_connection
        trips[0] += not idle(driver)

    sa.event.listen(engine, "begin", begin)
    sa.event.listen(engine, "commit", commit)
    setattr(psycopg.Cursor, "execute", counting)  # noqa: B010 (a measuring instrument, undone below)
    setattr(pgdriver, "call", call)  # noqa: B010
    setattr(pgdriver, "call_alone", call_alone)  # noqa: B010
    setattr(tk_store.checkout, "begin_with_opening", one_trip(opening))  # noqa: B010
    setattr(tk_store.checkout, "open_and_hold_now", one_trip(holding))  # noqa: B010
    hold_alone = _sent_alone(holding_alone, counts, trips)
    setattr(tk_store.checkout, "open_and_hold_alone", hold_alone)  # noqa: B010
    try:
        checkout_once(engine, StandInGateway(), world, f"count-{uuid.uuid4().hex}", tickets)
    finally:
        setattr(psycopg.Cursor, "execute", original)  # noqa: B010
        setattr(pgdriver, "call", calling)  # noqa: B010
        setattr(pgdriver, "call_alone", alone)  # noqa: B010
        setattr(tk_store.checkout, "begin_with_opening", opening)  # noqa: B010
        setattr(tk_store.checkout, "open_and_hold_now", holding)  # noqa: B010
        setattr(tk_store.checkout, "open_and_hold_alone", holding_alone)  # noqa: B010
        engine.dispose()
    return counts, trips[0]


def _check(engine: sa.Engine, expected: int) -> dict[str, Any]:
    """The books after the runs: orders paid, tickets issued, outbox rows, trial balance."""
    with engine.connect() as conn:
        row = conn.execute(
            sa.text("""SELECT (SELECT count(*) FROM ticketing.orders WHERE status = 'paid') AS paid,
                              (SELECT count(*) FROM ticketing.orders
                                WHERE status <> 'paid') AS unpaid,
                              (SELECT count(*) FROM ticketing.tickets
                                WHERE status = 'issued') AS issued,
                              (SELECT count(*) FROM messaging.messages) AS messages,
                              (SELECT count(*) FROM messaging.deliveries) AS deliveries""")
        ).one()
        balanced = ledger.trial_balance(conn).balanced
        oversold = conn.execute(
            sa.text("SELECT count(*) FROM ticketing.ticket_types WHERE held + sold > capacity")
        ).scalar_one()
    if row.unpaid or not balanced or oversold or row.paid < expected:
        raise RuntimeError(f"the books are wrong after the runs: {row}, balanced={balanced}")
    return {
        "orders_paid": int(row.paid),
        "tickets_issued": int(row.issued),
        "outbox_messages_per_checkout": round(row.messages / row.paid, 2),
        "outbox_deliveries_per_checkout": round(row.deliveries / row.paid, 2),
        "trial_balance_balanced": balanced,
    }


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark and print its figures, the last line one JSON object."""
    parser = argparse.ArgumentParser(prog="python -m bench.checkout", description=__doc__)
    parser.add_argument("--seconds", type=float, default=8.0, help="length of each run")
    parser.add_argument("--tickets", type=int, default=2, help="tickets per checkout")
    parser.add_argument(
        "--rounds",
        type=int,
        default=2,
        help="more post_4/checkout_4 pairs after the plan, in alternating order",
    )
    args = parser.parse_args(argv)
    seconds: float = max(2.0, args.seconds)
    results = Results()
    db = f"bench_checkout_{os.getpid()}_{uuid.uuid4().hex[:6]}"

    with _server() as admin:
        try:
            create_database(admin, db)
            url = database_url(admin, db)
            upgrade(url)
            engine = make_engine(url, pool_size=2)
            server = ServerCpu(engine)
            with engine.begin() as conn:
                ledger.open_organization(conn, PLATFORM, "Liventix", is_platform=True)
                worlds = tuple(
                    _open_world(conn, f"Organizer {i}", 10_000_000) for i in range(CLIENTS)
                )
                book_org, accounts = _open_book(conn)
                version = conn.execute(sa.text("SHOW server_version")).scalar_one()
                commit = conn.execute(sa.text("SHOW synchronous_commit")).scalar_one()
            # Some checkouts on each event before any run, so that every run measures on
            # tables analysed with rows in them (checkout_1 ran on checkout tables analysed
            # while empty, the other cases after earlier runs' fills), and each event's
            # escrow is open.
            _fill(url, worlds, args.tickets)
            print(
                f"PostgreSQL {version} (synchronous_commit={commit}); {os.cpu_count()} cores"
                f" shared by the server and the clients; {seconds:g} s per run;"
                f" {args.tickets} tickets per checkout; PaymentIntents from an in-process"
                " stand-in for Stripe; server CPU "
                + ("read from its processes" if server.postmaster else "not readable (remote)"),
                flush=True,
            )
            runs: dict[str, Run] = {}

            def _job(mode: Mode, hot: bool) -> Job:
                """The tables analysed, then one run's job (the hot case on one event)."""
                _analyze(engine)
                return Job(
                    url=url,
                    mode=mode,
                    start_at=time.time() + START_MARGIN,
                    seconds=seconds,
                    tickets=args.tickets,
                    worlds=worlds[:1] if hot else worlds,
                    book_org=book_org,
                    accounts=accounts,
                )

            with mp.get_context("spawn").Pool(CLIENTS) as pool:
                pool.map(_ready, range(CLIENTS), chunksize=1)
                for name, mode, processes, hot in PLAN:
                    print(f"{name}: {mode}, {processes} process(es)", flush=True)
                    job = _job(mode, hot)
                    run = dataclasses.replace(_run(pool, engine, job, processes, server), name=name)
                    runs[name] = run
                    unit = "postings/s" if mode == "post" else "checkouts/s"
                    results.put(name, run.per_s, unit)
                    per = "per posting" if mode == "post" else "per checkout"
                    results.put(f"{name}_client_cpu_us", run.client_cpu_us, per)
                    results.put(f"{name}_server_cpu_us", run.server_cpu_us, per + ", backends")
                    results.put(
                        f"{name}_background_cpu_us", run.background_cpu_us, per + ", the rest"
                    )
                    results.put(f"{name}_waits", run.waits, "backends' wait events, sampled")
                    results.put(f"{name}_wal_bytes", run.wal_bytes, per + ", WAL written")
                pairs = [(runs["post_4"], runs["checkout_4"])]
                for r in range(max(0, args.rounds)):
                    pair: dict[str, Run] = {}
                    for mode in ("checkout", "post") if r % 2 == 0 else ("post", "checkout"):
                        job = _job(mode, False)
                        load = os.getloadavg()[0]
                        pair[mode] = _run(pool, engine, job, CLIENTS, server)
                        print(
                            f"round {r + 1}: {mode}_4 {pair[mode].per_s:.1f}/s, CPU"
                            f" {pair[mode].client_cpu_us:.0f} + {pair[mode].server_cpu_us:.0f} us"
                            f" (load {load:.1f})",
                            flush=True,
                        )
                    pairs.append((pair["post"], pair["checkout"]))

            print("ratios", flush=True)
            # post_4 and checkout_4 in rounds (the plan's pair, then --rounds more, each pair
            # run in turn, the order alternating).
            for name, value in _round_ratios(pairs).items():
                results.put(name, value)
            for n in (1, 4):
                results.put(
                    f"checkout_{n}_over_post_{n}",
                    _over(runs[f"checkout_{n}"].per_s, runs[f"post_{n}"].per_s),
                    "completed checkouts per bare posting",
                )
            # The same ratio from CPU per operation (clients and their backends): what the
            # throughput ratio tends to when the cores are saturated, and less moved by
            # other work on a shared machine than the throughputs are.
            for n in (1, 4):
                post, check = runs[f"post_{n}"], runs[f"checkout_{n}"]
                results.put(
                    f"checkout_{n}_over_post_{n}_by_cpu",
                    _over(
                        post.client_cpu_us + post.server_cpu_us,
                        check.client_cpu_us + check.server_cpu_us,
                    ),
                    "CPU per posting / CPU per checkout",
                )
            results.put(
                "checkout_4_over_1", _over(runs["checkout_4"].per_s, runs["checkout_1"].per_s)
            )
            results.put("post_4_over_1", _over(runs["post_4"].per_s, runs["post_1"].per_s))
            results.put(
                "hot_4_over_checkout_4", _over(runs["hot_4"].per_s, runs["checkout_4"].per_s)
            )

            print("where the time goes", flush=True)
            # Counted: the hold, the record, the payment.
            counted, trips = _statements(url, worlds[0], args.tickets)
            rtt = _round_trip_us(engine)
            results.put("statements_per_transaction", counted, "start_checkout, payment")
            results.put(
                "round_trips_per_checkout",
                trips,
                "statements + the BEGINs and COMMITs sent on their own",
            )
            results.put("select1_round_trip_us", rtt, "SQLAlchemy+psycopg, AUTOCOMMIT")
            results.put("latency_checkout_1_us", _over(1e6, runs["checkout_1"].per_s), "one client")
            results.put("latency_post_1_us", _over(1e6, runs["post_1"].per_s), "one client")
            done = sum(
                round(r.per_s * seconds) for n, r in runs.items() if n.startswith(("check", "hot"))
            )
            for name, value in _check(engine, done // 2).items():
                results.put(name, value)
            engine.dispose()
        finally:
            drop_database(admin, db)

    print(json.dumps(results.figures), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

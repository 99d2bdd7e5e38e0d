"""Concurrency with real OS processes: buyers racing for the last seats, scanners racing to
check the same ticket in, and the same checkout sent twice at once.

Each worker is a process of its own (multiprocessing's 'spawn' context) with its own engine
on the test's database and its own in-process Stripe stand-in; every unit of work is one
transaction (`with engine.begin() as conn:`), as the application's edge runs them. A
barrier lines the workers up so their requests really overlap.
"""

from __future__ import annotations

import contextlib
import multiprocessing as mp
import queue
import random
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import pytest
import sqlalchemy as sa

import escrow
import ticketing_fsm as tk
from tests.ticketing_core.support import (
    Gateway,
    World,
    captured,
    check_audit_trail,
    check_balanced,
    check_capacity,
    check_paid_in_ledger,
    counters,
    open_world,
    pay,
    refund_requests,
    request,
)

pytestmark = pytest.mark.slow

BUYERS = 8
SEATS = 100
REQUESTS = 200
DOUBLES = 50
"""Requests for two tickets; the rest ask for one (250 seats wanted for 100)."""
SCANNED = 12
WAIT_SECONDS = 60.0


def _engine(db_url: str) -> sa.Engine:
    """A worker's engine: one connection."""
    return sa.create_engine(db_url, pool_size=1, max_overflow=0)


def _describe(exc: BaseException) -> str:
    """The exception's type, the SQLSTATE behind it if any, and its message."""
    sqlstate = getattr(getattr(exc, "orig", None), "sqlstate", None)
    return f"{type(exc).__name__} (sqlstate {sqlstate}): {str(exc)[:300]}"


@contextlib.contextmanager
def _processes(
    target: Callable[..., None], args: list[tuple[Any, ...]], *, parent: bool = False
) -> Iterator[tuple[list[Any], Any, Any]]:
    """One spawned process per argument tuple, each given a shared barrier and result queue
    after its own arguments; yields (processes, queue, barrier); stops them on the way out.
    With `parent`, the test process is one of the barrier's parties too."""
    ctx = mp.get_context("spawn")
    barrier = ctx.Barrier(len(args) + parent)
    results = ctx.Queue()
    procs = [ctx.Process(target=target, args=(*a, barrier, results)) for a in args]
    for p in procs:
        p.start()
    try:
        yield procs, results, barrier
    finally:
        for p in procs:
            p.join(timeout=10)
            if p.is_alive():
                p.terminate()
                p.join()


def _collect(procs: list[Any], results: Any) -> list[Any]:
    """Each process's report."""
    got: list[Any] = []
    deadline = time.monotonic() + WAIT_SECONDS
    while len(got) < len(procs):
        try:
            got.append(results.get(timeout=0.1))
        except queue.Empty:
            dead = [p.exitcode for p in procs if p.exitcode not in (None, 0)]
            assert not dead, f"a worker died with exit code {dead}"
            assert time.monotonic() < deadline, "workers did not finish in time"
    return got


# -- 8 buyers, 100 seats, 200 requests ------------------------------------------------------


@dataclass
class BuyerReport:
    """What one buyer process was told."""

    worker: int
    won: list[tuple[str, int, uuid.UUID, str, int]] = field(default_factory=list)
    """(key, quantity, order id, PaymentIntent id, amount)"""
    sold_out: list[tuple[str, int, int]] = field(default_factory=list)
    """(key, quantity requested, seats available)"""
    paid: list[tuple[uuid.UUID, str]] = field(default_factory=list)
    seconds: tuple[float, float] = (0.0, 0.0)
    """How long its checkouts took, and its payments."""
    unexpected: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Buyer:
    """One buyer process's work: its checkouts, (idempotency key, tickets) each."""

    db_url: str
    world: World
    worker: int
    wants: list[tuple[str, int]]


def _buyer(job: Buyer, barrier: Any, results: Any) -> None:
    """A buyer process: its checkouts as fast as it can; then, once every buyer is done and
    the test has looked, the payment of each checkout it won (escrow's capture and the
    tickets' issue in one transaction, as the payment handler runs them)."""
    world = job.world
    report = BuyerReport(job.worker)
    engine = _engine(job.db_url)
    gateway = Gateway()
    try:
        engine.connect().close()
        barrier.wait(timeout=WAIT_SECONDS)
        started = time.monotonic()
        for key, quantity in job.wants:
            try:
                checkout = tk.start_checkout(
                    engine, gateway, request(world, key, (quantity,), buyer=f"{key}@example.com")
                )
                report.won.append(
                    (key, quantity, checkout.order_id, checkout.payment_intent_id, checkout.amount)
                )
            except tk.SoldOut as exc:
                report.sold_out.append((key, quantity, exc.available))
            except Exception as exc:
                report.unexpected.append(f"checkout {key}: {_describe(exc)}")
        checkouts = time.monotonic() - started
        barrier.wait(timeout=WAIT_SECONDS)  # every checkout is done
        barrier.wait(timeout=WAIT_SECONDS)  # the test has counted the holds
        started = time.monotonic()
        for key, _quantity, order_id, pi, amount in report.won:
            try:
                with engine.begin() as conn:
                    order = tk.get_order(conn, order_id)
                    checkout = tk.Checkout(
                        order_id, amount, order.currency, pi, "", order.hold_expires_at, False
                    )
                    escrow.capture_payment(conn, captured(world, checkout), cause=f"evt-{key}")
                    outcome = tk.payment_succeeded(conn, order_id, cause=f"evt-{key}")
                report.paid.append((order_id, outcome))
            except Exception as exc:
                report.unexpected.append(f"payment {key}: {_describe(exc)}")
        report.seconds = (checkouts, time.monotonic() - started)
    except Exception as exc:
        report.unexpected.append("worker stopped: " + _describe(exc))
    finally:
        engine.dispose()
        results.put(report)


def test_eight_buyers_race_for_a_hundred_seats(engine: sa.Engine, db_url: str) -> None:
    with engine.begin() as conn:
        world = open_world(conn, capacities=(SEATS,), prices=(4_000,))
    rng = random.Random(5)
    quantities = [2] * DOUBLES + [1] * (REQUESTS - DOUBLES)
    rng.shuffle(quantities)
    wants = [(f"buy-{i}", q) for i, q in enumerate(quantities)]
    # Over 100 single-seat requests: whatever the interleaving, the seats run out exactly.
    assert quantities.count(1) > SEATS
    shares = [wants[w::BUYERS] for w in range(BUYERS)]

    started = time.monotonic()
    jobs = [(Buyer(db_url, world, w, shares[w]),) for w in range(BUYERS)]
    with _processes(_buyer, jobs, parent=True) as (procs, results, barrier):
        barrier.wait(timeout=WAIT_SECONDS)  # the start
        barrier.wait(timeout=WAIT_SECONDS)  # every checkout is done: count the holds
        with engine.connect() as conn:
            held = counters(conn, world.ga)
            awaiting = conn.execute(
                sa.text("SELECT count(*) FROM ticketing.orders WHERE status = 'awaiting_payment'")
            ).scalar_one()
        barrier.wait(timeout=WAIT_SECONDS)  # now pay
        reports: list[BuyerReport] = _collect(procs, results)
    elapsed = time.monotonic() - started
    print(
        f"{BUYERS} buyers: {elapsed:.1f} s in all; checkouts "
        f"{max(r.seconds[0] for r in reports):.1f} s, payments "
        f"{max(r.seconds[1] for r in reports):.1f} s"
    )

    assert [u for r in reports for u in r.unexpected] == []
    won = [w for r in reports for w in r.won]
    refused = [s for r in reports for s in r.sold_out]
    # Once the checkouts are done: every seat held, none twice, none sold yet.
    assert (held.capacity, held.held, held.sold, held.tickets) == (SEATS, SEATS, 0, {"held": SEATS})
    assert awaiting == len(won)
    assert len(won) + len(refused) == REQUESTS
    seats_won = sum(q for _, q, *_ in won)
    assert seats_won == SEATS, f"{seats_won} seats sold for {SEATS}"
    # A refusal is honest: it came when fewer seats were left than asked for.
    assert all(available < q for _, q, available in refused), refused
    assert len({w[2] for w in won}) == len(won) and len({w[3] for w in won}) == len(won)
    assert all(amount == 4_000 * q for _, q, _o, _p, amount in won)

    paid = [p for r in reports for p in r.paid]
    assert sorted(o for o, _ in paid) == sorted(w[2] for w in won)
    assert {outcome for _, outcome in paid} == {"issued"}
    with engine.connect() as conn:
        c = counters(conn, world.ga)
        assert (c.capacity, c.held, c.sold) == (SEATS, 0, SEATS)
        assert c.tickets == {"issued": SEATS}
        # No seat twice: one ticket per seat won, each of its own order, each code unique.
        per_order: dict[uuid.UUID, int] = dict(
            conn.execute(
                sa.text("""SELECT order_id, count(*) FROM ticketing.tickets
                            GROUP BY order_id""")
            ).all()
        )
        assert per_order == {w[2]: w[1] for w in won}
        codes = conn.execute(
            sa.text("SELECT count(DISTINCT code), count(*) FROM ticketing.tickets")
        ).one()
        assert tuple(codes) == (SEATS, SEATS)
        orders = Counter(
            conn.execute(sa.text("SELECT status FROM ticketing.orders")).scalars().all()
        )
        assert orders == Counter({"paid": len(won)})
        assert refund_requests(conn) == []
        check_capacity(conn)
        check_paid_in_ledger(conn)
        check_audit_trail(conn)
        check_balanced(conn)


def test_the_counters_hold_while_the_buyers_race(engine: sa.Engine, db_url: str) -> None:
    """Sampled from outside while the buyers race (each sample one snapshot): never more
    held and sold than seats, and the counters always equal to the tickets."""
    with engine.begin() as conn:
        world = open_world(conn, capacities=(SEATS // 2,), prices=(1_500,))
    wants = [(f"peek-{i}", 1 + i % 2) for i in range(REQUESTS // 2)]
    shares = [wants[w::4] for w in range(4)]
    samples = 0
    stop = threading.Event()
    problems: list[str] = []
    snapshots = engine.execution_options(isolation_level="REPEATABLE READ")

    def watch() -> None:
        nonlocal samples
        while not stop.is_set():
            with snapshots.connect() as conn:
                c = counters(conn, world.ga)
            samples += 1
            if c.held + c.sold > c.capacity or (c.held, c.sold) != (
                c.held_tickets,
                c.valid_tickets,
            ):
                problems.append(repr(c))

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        jobs = [(Buyer(db_url, world, w, shares[w]),) for w in range(4)]
        with _processes(_buyer, jobs, parent=True) as (procs, results, barrier):
            for _ in range(3):  # the start, the checkouts done, the payments' start
                barrier.wait(timeout=WAIT_SECONDS)
            reports: list[BuyerReport] = _collect(procs, results)
    finally:
        stop.set()
        watcher.join()
    assert [u for r in reports for u in r.unexpected] == []
    assert problems == []
    assert samples > 0
    with engine.connect() as conn:
        c = counters(conn, world.ga)
        assert (c.held, c.sold, c.tickets) == (0, SEATS // 2, {"issued": SEATS // 2})


# -- two scanners, one ticket ---------------------------------------------------------------


def _scanner(
    db_url: str, door: str, codes: list[tuple[uuid.UUID, str]], barrier: Any, results: Any
) -> None:
    """A scanner process: at each barrier, scan the same code as the other scanner."""
    answers: list[tuple[str, str, str, str]] = []
    engine = _engine(db_url)
    try:
        engine.connect().close()
        for org, code in codes:
            barrier.wait(timeout=WAIT_SECONDS)
            try:
                with engine.begin() as conn:
                    ticket = tk.check_in(conn, org, code, door)
                answers.append(
                    (code, "checked_in", str(ticket.checked_in_by), str(ticket.checked_in_at))
                )
            except tk.AlreadyCheckedIn as exc:
                answers.append((code, "already", exc.checked_in_by, exc.checked_in_at))
            except Exception as exc:
                answers.append((code, "unexpected", door, _describe(exc)))
    finally:
        engine.dispose()
        results.put((door, answers))


def test_two_scanners_check_the_same_ticket_in_at_once(engine: sa.Engine, db_url: str) -> None:
    gateway = Gateway()
    with engine.begin() as conn:
        world = open_world(conn, capacities=(SCANNED,))
    checkout = tk.start_checkout(engine, gateway, request(world, "scan", (SCANNED,)))
    with engine.begin() as conn:
        assert pay(conn, world, checkout) == "issued"
        tickets = tk.tickets_of(conn, checkout.order_id)
    codes = [t.code for t in tickets]
    scans = [(world.org, code) for code in codes]

    doors = ["door-north", "door-south"]
    with _processes(_scanner, [(db_url, d, scans) for d in doors]) as (procs, results, _):
        reports = dict(_collect(procs, results))

    with engine.connect() as conn:
        stored = {
            t.code: t for t in tk.tickets_of(conn, checkout.order_id) if t.status == "checked_in"
        }
        transitions = conn.execute(
            sa.text("""SELECT subject_id, count(*) FROM ticketing.transitions
                        WHERE event = 'check_in' GROUP BY subject_id""")
        ).all()
        check_audit_trail(conn)
    assert set(stored) == set(codes)
    assert {count for _, count in transitions} == {1} and len(transitions) == SCANNED
    for i, code in enumerate(codes):
        got = {door: reports[door][i] for door in doors}
        assert all(answer[0] == code for answer in got.values())
        outcomes = sorted(answer[1] for answer in got.values())
        assert outcomes == ["already", "checked_in"], got
        (winner,) = [d for d, a in got.items() if a[1] == "checked_in"]
        (loser,) = [d for d, a in got.items() if a[1] == "already"]
        ticket = stored[code]
        # The refusal names who checked the ticket in, and when.
        assert ticket.checked_in_by == winner
        assert got[loser][2] == winner
        assert ticket.checked_in_at is not None
        assert datetime.fromisoformat(got[loser][3]) == ticket.checked_in_at


# -- the same checkout, twice at once -------------------------------------------------------


def _same_checkout(db_url: str, world: World, key: str, barrier: Any, results: Any) -> None:
    """Send one checkout at the same moment as the other process (a double-clicked Buy);
    the gateway is slow, as Stripe is, so both are in flight together."""
    engine = _engine(db_url)
    answer: tuple[str, str]
    try:
        engine.connect().close()
        barrier.wait(timeout=WAIT_SECONDS)
        checkout = tk.start_checkout(engine, Gateway(delay=0.5), request(world, key, (2,)))
        answer = ("ok", str(checkout.order_id))
    except Exception as exc:
        answer = ("error", _describe(exc))
    finally:
        engine.dispose()
    results.put(answer)


def test_the_same_checkout_sent_twice_at_once_gives_one_order(
    engine: sa.Engine, db_url: str
) -> None:
    with engine.begin() as conn:
        world = open_world(conn, capacities=(10,))
    with _processes(_same_checkout, [(db_url, world, "double-click")] * 2) as (
        procs,
        results,
        _,
    ):
        answers = _collect(procs, results)
    with engine.connect() as conn:
        c = counters(conn, world.ga)
        orders = conn.execute(sa.text("SELECT count(*) FROM ticketing.orders")).scalar_one()
    assert (c.held, c.held_tickets, orders) == (2, 2, 1)
    # A retry under the same key returns the first checkout (GUIDE 8), or at worst a typed
    # ticketing error: never a raw unique violation from the driver.
    assert [a[0] for a in answers] == ["ok", "ok"], answers
    assert answers[0][1] == answers[1][1]


# -- a checkout in flight while the event is cancelled --------------------------------------


def test_an_event_cancelled_during_a_checkout_never_issues_its_tickets(
    engine: sa.Engine,
) -> None:
    """The checkout has read the event (not cancelled) and holds its seats; the organizer
    cancels the event meanwhile; then the hold commits, Stripe creates the PaymentIntent and
    the checkout is told it expired; the buyer pays all the same (the intent was never
    recorded). The payment finds its order by the intent's metadata and must be refunded in
    full, not turned into tickets for a cancelled event."""
    gateway = Gateway()
    with engine.begin() as conn:
        world = open_world(conn, capacities=(10,))
    buyer = engine.connect()
    in_flight = buyer.begin()
    pending = tk.reserve_checkout(buyer, request(world, "in-flight", (2,)))
    assert isinstance(pending, tk.PendingCheckout)

    refunded: list[int] = []
    errors: list[str] = []

    def organizer() -> None:
        try:
            with engine.begin() as conn:
                refunded.append(tk.cancel_event(conn, world.org, world.event))
        except Exception as exc:
            errors.append(_describe(exc))

    cancelling = threading.Thread(target=organizer)
    cancelling.start()
    cancelling.join(timeout=1.0)  # done already, or waiting for the checkout: both are fine
    in_flight.commit()
    buyer.close()
    cancelling.join(timeout=WAIT_SECONDS)
    assert not cancelling.is_alive() and errors == []

    intent = tk.ask_for_intent(gateway, pending)
    with pytest.raises(tk.CheckoutExpired), engine.begin() as conn:
        tk.record_payment_intent(conn, pending, intent)
    checkout = tk.Checkout(
        order_id=pending.order_id,
        amount=pending.amount,
        currency=pending.currency,
        payment_intent_id=intent.payment_intent_id,
        client_secret=intent.client_secret,
        hold_expires_at=pending.hold_expires_at,
        replayed=False,
    )
    with engine.begin() as conn:
        metadata = gateway.intents[intent.payment_intent_id].metadata
        found = tk.order_for_payment(conn, intent.payment_intent_id, metadata, pending.amount)
        assert found == pending.order_id
        outcome = pay(conn, world, checkout, cause="evt-late")
    with engine.connect() as conn:
        order = tk.get_order(conn, checkout.order_id)
        requests = refund_requests(conn, checkout.order_id)
        assert outcome != "issued"
        assert order.status == "cancelled"
        assert [r.amount for _, r in requests] == [checkout.amount]
        assert counters(conn, world.ga).tickets.get("issued", 0) == 0
        check_capacity(conn)


# -- a transfer racing a refund of the same order -------------------------------------------

RACES = 20


def _racer(
    db_url: str,
    role: str,
    rounds: list[tuple[uuid.UUID, uuid.UUID, uuid.UUID]],
    barrier: Any,
    results: Any,
) -> None:
    """At each barrier, transfer the order's ticket (`transfer`) or refund the whole order
    (`refund`), at the same moment as the other process."""
    answers: list[str] = []
    engine = _engine(db_url)
    try:
        engine.connect().close()
        for org, order_id, ticket_id in rounds:
            barrier.wait(timeout=WAIT_SECONDS)
            try:
                with engine.begin() as conn:
                    if role == "transfer":
                        tk.transfer_ticket(conn, org, ticket_id, "friend@example.com", cause="gift")
                    else:
                        tk.refund_tickets(
                            conn, org, order_id, None, idempotency_key=f"r-{order_id}"
                        )
                answers.append("ok")
            except tk.InvalidTransition as exc:
                answers.append(f"refused: {exc.state}")
            except Exception as exc:
                answers.append(_describe(exc))
    finally:
        engine.dispose()
        results.put((role, answers))


def test_a_transfer_racing_a_refund_of_its_order_is_serialised(
    engine: sa.Engine, db_url: str
) -> None:
    """The holder gives the ticket away while the organizer refunds the order: one goes
    first, the other sees its outcome (refunded, or refused); neither fails with a driver
    error (a deadlock between the ticket's lock and the order's)."""
    gateway = Gateway()
    rounds = []
    with engine.begin() as conn:
        world = open_world(conn, capacities=(RACES,))
    for i in range(RACES):
        checkout = tk.start_checkout(engine, gateway, request(world, f"race-{i}", (1,)))
        with engine.begin() as conn:
            assert pay(conn, world, checkout) == "issued"
            (ticket,) = tk.tickets_of(conn, checkout.order_id)
            rounds.append((world.org, checkout.order_id, ticket.id))
    roles = [(db_url, role, rounds) for role in ("transfer", "refund")]
    with _processes(_racer, roles) as (procs, results, _):
        answers = dict(_collect(procs, results))
    failures = Counter(
        a.split(":")[0]
        for a in answers["transfer"] + answers["refund"]
        if not a.startswith(("ok", "refused"))
    )
    assert failures == Counter(), failures
    assert set(answers["refund"]) == {"ok"}
    assert set(answers["transfer"]) <= {"ok", "refused: refunded"}
    with engine.connect() as conn:
        c = counters(conn, world.ga)
        assert (c.held, c.sold, c.valid_tickets) == (0, 0, 0)
        check_capacity(conn)
        check_audit_trail(conn)

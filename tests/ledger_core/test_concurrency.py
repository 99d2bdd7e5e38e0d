"""Concurrency: eight OS processes writing to the same accounts at once.

Each worker is a process of its own (multiprocessing's 'spawn' context), with its own engine
and one transaction per write (`with engine.begin() as conn:`), as the application's units of
work are. The workers spend from wallets that may not be overdrawn (together they try to
spend far more than was funded), pay merchants out of plain accounts, take holds and post or
void them, and race each other to resolve the same holds; every standard entry also credits
one high-volume platform fee account, which the test process rolls up meanwhile. Afterwards
the ledger must hold exactly what the workers were told succeeded, nothing of what was
refused, and every account's history must be consistent line by line.
"""

from __future__ import annotations

import contextlib
import multiprocessing as mp
import queue
import random
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import partial
from typing import Any, NamedTuple, TypeVar
from uuid import UUID

import pytest
import sqlalchemy as sa

import ledger
from liventix.database import make_engine
from tests.ledger_core.conftest import ORG_A, PLATFORM, OpenAccountFn, transfer

pytestmark = pytest.mark.slow

WORKERS = 8
OPS_PER_WORKER = 80
WALLETS = 4
MERCHANTS = 3
FUND = 60_000
"""Each wallet's funding: the workers try to spend more than twice what all wallets hold."""
RACE_HOLDS = 12
RACE_HOLD_AMOUNT = 1_000
WAIT_SECONDS = 120.0

T = TypeVar("T")


@dataclass(frozen=True)
class Book:
    """The accounts and contended holds the workers share."""

    db_url: str
    funding: UUID
    wallets: tuple[UUID, ...]
    merchants: tuple[UUID, ...]
    bank: UUID
    fees: UUID
    races: tuple[UUID, ...]


class Posted(NamedTuple):
    """An entry a worker was told was posted: `amount` debited, `amount - fee` credited."""

    key: str
    entry_id: UUID
    debit: UUID
    credit: UUID
    amount: int
    fee: int


class Refused(NamedTuple):
    """A write refused with InsufficientFunds."""

    key: str
    account_id: UUID
    amount: int


class Resolved(NamedTuple):
    """A hold a worker created and then posted (for `posted`) or voided (posted is 0)."""

    hold_id: UUID
    debit: UUID
    credit: UUID
    amount: int
    posted: int


class Race(NamedTuple):
    """One worker's attempt at a contended hold: what it tried and what it was told."""

    hold_id: UUID
    tried: str
    outcome: str


@dataclass
class Report:
    """What one worker saw."""

    worker: int
    posted: list[Posted] = field(default_factory=list)
    refused: list[Refused] = field(default_factory=list)
    holds: list[Resolved] = field(default_factory=list)
    holds_refused: int = 0
    races: list[Race] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)


class Replay(NamedTuple):
    """One worker's answer to a write sent under a shared key."""

    key: str
    id: UUID
    replayed: bool


def _describe(exc: BaseException) -> str:
    """The exception's type, the SQLSTATE behind it if any, and its message."""
    sqlstate = None
    cause: BaseException | None = exc
    while cause is not None and sqlstate is None:
        sqlstate = getattr(getattr(cause, "orig", cause), "sqlstate", None)
        cause = cause.__cause__
    return f"{type(exc).__name__} (sqlstate {sqlstate}): {str(exc)[:300]}"


def _attempt(
    report: Report, fn: Callable[[], T], expected: tuple[type[ledger.LedgerError], ...] = ()
) -> T | ledger.LedgerError | None:
    """Run one unit of work: its result, the expected ledger error, or None (recorded)."""
    try:
        return fn()
    except expected as exc:
        return exc
    except Exception as exc:
        report.unexpected.append(_describe(exc))
        return None


def _work(book: Book, worker: int, barrier: Any, results: Any) -> None:
    """A worker process: race for the contended holds, then a random mix of writes."""
    report = Report(worker)
    engine = make_engine(book.db_url, pool_size=1, max_overflow=0)
    rng = random.Random(worker)
    seq = iter(range(10**9))

    def key(kind: str) -> str:
        return f"w{worker}-{kind}-{next(seq)}"

    def write(fn: Callable[[sa.Connection], T], *expected: type[ledger.LedgerError]) -> Any:
        # A refusal is caught inside the transaction, which then commits: the ledger
        # records it under its key, as a caller that handles the error would.
        def unit() -> T | ledger.LedgerError:
            with engine.begin() as conn:
                try:
                    return fn(conn)
                except expected as exc:
                    return exc

        return _attempt(report, unit)

    try:
        engine.connect().close()  # connect before the start line, not after it
        barrier.wait(timeout=WAIT_SECONDS)

        # Everyone at once on the same holds: even workers post, odd ones void.
        races = list(book.races)
        rng.shuffle(races)
        for hold in races:
            tried = "posted" if worker % 2 == 0 else "voided"
            request: ledger.PostHold | ledger.VoidHold = (
                ledger.PostHold(key("race"), hold, RACE_HOLD_AMOUNT - 100)
                if tried == "posted"
                else ledger.VoidHold(key("race"), hold)
            )

            def resolve(
                conn: sa.Connection, r: ledger.PostHold | ledger.VoidHold = request
            ) -> ledger.WriteResult:
                if isinstance(r, ledger.PostHold):
                    return ledger.post_hold(conn, ORG_A, r)
                return ledger.void_hold(conn, ORG_A, r)

            got = write(resolve, ledger.HoldAlreadyResolved)
            if isinstance(got, ledger.WriteResult):
                report.races.append(Race(hold, tried, tried))
            elif isinstance(got, ledger.HoldAlreadyResolved):
                report.races.append(Race(hold, tried, got.code))

        open_holds: list[tuple[UUID, UUID, UUID, int]] = []
        for _ in range(OPS_PER_WORKER):
            dice = rng.random()
            if dice < 0.6:  # spend from a wallet: merchant and platform fee credited
                wallet, merchant = rng.choice(book.wallets), rng.choice(book.merchants)
                amount = rng.randint(200, 3_000)
                fee = amount // 20
                k = key("spend")
                entry = ledger.PostEntry(
                    k,
                    [
                        ledger.Line(wallet, "debit", amount, "USD"),
                        ledger.Line(merchant, "credit", amount - fee, "USD"),
                        ledger.Line(book.fees, "credit", fee, "USD"),
                    ],
                )
                got = write(
                    partial(ledger.post_entry, org_id=ORG_A, request=entry),
                    ledger.InsufficientFunds,
                )
                if isinstance(got, ledger.WriteResult):
                    report.posted.append(Posted(k, got.id, wallet, merchant, amount, fee))
                elif isinstance(got, ledger.InsufficientFunds):
                    assert got.account_id == str(wallet)
                    report.refused.append(Refused(k, wallet, amount))
            elif dice < 0.75:  # pay a merchant out to the bank: plain accounts only
                merchant = rng.choice(book.merchants)
                amount = rng.randint(50, 500)
                fee = amount // 20
                k = key("payout")
                entry = ledger.PostEntry(
                    k,
                    [
                        ledger.Line(merchant, "debit", amount, "USD"),
                        ledger.Line(book.bank, "credit", amount - fee, "USD"),
                        ledger.Line(book.fees, "credit", fee, "USD"),
                    ],
                )
                got = write(partial(ledger.post_entry, org_id=ORG_A, request=entry))
                if isinstance(got, ledger.WriteResult):
                    report.posted.append(Posted(k, got.id, merchant, book.bank, amount, fee))
            elif dice < 0.9 or not open_holds:  # reserve from a wallet
                wallet, merchant = rng.choice(book.wallets), rng.choice(book.merchants)
                amount = rng.randint(200, 2_000)
                hold_request = ledger.CreateHold(key("hold"), wallet, merchant, amount, "USD")
                got = write(
                    partial(ledger.create_hold, org_id=ORG_A, request=hold_request),
                    ledger.InsufficientFunds,
                )
                if isinstance(got, ledger.WriteResult):
                    open_holds.append((got.id, wallet, merchant, amount))
                elif isinstance(got, ledger.InsufficientFunds):
                    report.holds_refused += 1
            else:
                _resolve_own(
                    report, write, key, rng, open_holds.pop(rng.randrange(len(open_holds)))
                )
        while open_holds:
            _resolve_own(report, write, key, rng, open_holds.pop())
    except Exception as exc:
        report.unexpected.append("worker stopped: " + _describe(exc))
    finally:
        engine.dispose()
        results.put(report)


def _resolve_own(
    report: Report,
    write: Callable[..., Any],
    key: Callable[[str], str],
    rng: random.Random,
    hold: tuple[UUID, UUID, UUID, int],
) -> None:
    """Post part of one of the worker's own holds, or void it."""
    hold_id, wallet, merchant, amount = hold
    if rng.random() < 0.5:
        k = key("post")
        part = rng.randint(1, amount)
        request = ledger.PostHold(k, hold_id, part)
        got = write(partial(ledger.post_hold, org_id=ORG_A, request=request))
        if isinstance(got, ledger.WriteResult):
            report.holds.append(Resolved(hold_id, wallet, merchant, amount, part))
            report.posted.append(Posted(k, got.id, wallet, merchant, part, 0))
    else:
        void = ledger.VoidHold(key("void"), hold_id)
        got = write(partial(ledger.void_hold, org_id=ORG_A, request=void))
        if isinstance(got, ledger.WriteResult):
            report.holds.append(Resolved(hold_id, wallet, merchant, amount, 0))


def _same_key(
    db_url: str,
    rounds: list[ledger.PostEntry | ledger.CreateHold],
    barrier: Any,
    results: Any,
) -> None:
    """A worker process: send each request at the same moment as the others do."""
    engine = make_engine(db_url, pool_size=1, max_overflow=0)
    answers: list[Replay | str] = []
    try:
        engine.connect().close()
        for request in rounds:
            barrier.wait(timeout=WAIT_SECONDS)
            try:
                with engine.begin() as conn:
                    if isinstance(request, ledger.CreateHold):
                        got = ledger.create_hold(conn, ORG_A, request)
                    else:
                        got = ledger.post_entry(conn, ORG_A, request)
                answers.append(Replay(request.idempotency_key, got.id, got.replayed))
            except Exception as exc:
                answers.append(_describe(exc))
    except Exception as exc:
        answers.append("worker stopped: " + _describe(exc))
    finally:
        engine.dispose()
        results.put(answers)


@contextlib.contextmanager
def _processes(
    target: Callable[..., None], args: list[tuple[Any, ...]]
) -> Iterator[tuple[list[Any], Any]]:
    """Start one spawned process per argument tuple (each given a shared barrier and result
    queue after its own arguments); yield (processes, queue); stop them on the way out."""
    ctx = mp.get_context("spawn")
    barrier = ctx.Barrier(len(args))
    results = ctx.Queue()
    procs = [ctx.Process(target=target, args=(*a, barrier, results)) for a in args]
    for p in procs:
        p.start()
    try:
        yield procs, results
    finally:
        for p in procs:
            p.join(timeout=10)
            if p.is_alive():
                p.terminate()
                p.join()


def _collect(procs: list[Any], results: Any, between: Callable[[], None]) -> list[Any]:
    """Each process's report, calling `between` while waiting."""
    got: list[Any] = []
    deadline = time.monotonic() + WAIT_SECONDS
    while len(got) < len(procs):
        between()
        try:
            got.append(results.get(timeout=0.05))
        except queue.Empty:
            dead = [p.exitcode for p in procs if p.exitcode not in (None, 0)]
            assert not dead, f"a worker died with exit code {dead}"
            assert time.monotonic() < deadline, "workers did not finish in time"
    return got


def _open_book(engine: sa.Engine, db_url: str, open_account: OpenAccountFn) -> Book:
    funding = open_account(ORG_A, "funding", "equity")
    wallets = tuple(
        open_account(ORG_A, f"wallet-{i}", "liability", debits_must_not_exceed_credits=True)
        for i in range(WALLETS)
    )
    merchants = tuple(open_account(ORG_A, f"merchant-{i}", "liability") for i in range(MERCHANTS))
    bank = open_account(ORG_A, "bank", "asset")
    fees = open_account(PLATFORM, "fee-revenue", "revenue", high_volume=True)
    races = []
    with engine.begin() as conn:
        for i, wallet in enumerate(wallets):
            ledger.post_entry(conn, ORG_A, transfer(f"fund-{i}", funding, wallet, FUND))
        for i in range(RACE_HOLDS):
            hold = ledger.CreateHold(
                f"race-hold-{i}",
                wallets[i % WALLETS],
                merchants[i % MERCHANTS],
                RACE_HOLD_AMOUNT,
                "USD",
            )
            races.append(ledger.create_hold(conn, ORG_A, hold).id)
    return Book(db_url, funding, wallets, merchants, bank, fees, tuple(races))


def _line_history(conn: sa.Connection, account: UUID, order: str) -> list[Any]:
    return list(
        conn.execute(
            sa.text(
                "SELECT id, side, amount, account_version, account_posted_debits,"
                " account_posted_credits FROM payments.lines WHERE account_id = :a"
                f" ORDER BY {order}"
            ),
            {"a": account},
        )
    )


def _assert_history(rows: list[Any], final_version: int, *, flagged: bool = False) -> None:
    """Positions copied into the lines run with the lines: versions increase, the posted
    totals are the running sums (never overdrawn on a flagged account)."""
    debits = credits = 0
    last_version = 0
    for row in rows:
        debits += row.amount if row.side == "debit" else 0
        credits += row.amount if row.side == "credit" else 0
        assert row.account_version is not None
        assert row.account_version > last_version, row
        assert (row.account_posted_debits, row.account_posted_credits) == (debits, credits), row
        assert not flagged or debits <= credits, row
        last_version = row.account_version
    assert last_version <= final_version


def test_concurrent_writers_never_overdraw_and_keep_every_history_exact(
    engine: sa.Engine, db_url: str, open_account: OpenAccountFn
) -> None:
    book = _open_book(engine, db_url, open_account)
    roll_ups = 0

    def roll_up() -> None:
        nonlocal roll_ups
        with engine.begin() as conn:
            roll_ups += ledger.roll_up(conn)

    with _processes(_work, [(book, i) for i in range(WORKERS)]) as (procs, results):
        reports: list[Report] = _collect(procs, results, roll_up)

    unexpected = [f"worker {r.worker}: {u}" for r in reports for u in r.unexpected]
    assert unexpected == []  # no deadlock (40P01), serialization failure (40001), nothing else

    posted = [p for r in reports for p in r.posted]
    refused = [x for r in reports for x in r.refused]
    own_holds = [h for r in reports for h in r.holds]
    races = [x for r in reports for x in r.races]
    # The run exercised what it means to: spends succeeded and spends were refused.
    assert len(refused) > 0
    assert sum(1 for p in posted if p.debit in book.wallets and p.fee) > 0
    assert roll_ups > 0

    # Each contended hold was resolved by exactly one worker; the others were told how.
    by_hold: dict[UUID, list[Race]] = defaultdict(list)
    for race in races:
        by_hold[race.hold_id].append(race)
    assert set(by_hold) == set(book.races)
    race_posts: list[Posted] = []
    with engine.begin() as conn:
        for hold, attempts in by_hold.items():
            assert len(attempts) == WORKERS
            winners = [a for a in attempts if a.outcome == a.tried]
            assert len(winners) == 1, attempts
            status = ledger.get_hold(conn, hold)
            assert status.status == winners[0].tried
            losers = {a.outcome for a in attempts if a is not winners[0]}
            assert losers == {f"hold_already_{status.status}"}
            if status.status == "posted":
                assert status.entry_id is not None
                assert status.posted_amount == RACE_HOLD_AMOUNT - 100
                race_posts.append(
                    Posted(
                        "race",
                        status.entry_id,
                        status.debit_account_id,
                        status.credit_account_id,
                        status.posted_amount,
                        0,
                    )
                )
    posted += race_posts

    # What the workers were told is what the ledger holds, account by account.
    debits: Counter[UUID] = Counter()
    credits: Counter[UUID] = Counter()
    debits[book.funding] += FUND * WALLETS
    for wallet in book.wallets:
        credits[wallet] += FUND
    for p in posted:
        debits[p.debit] += p.amount
        credits[p.credit] += p.amount - p.fee
        credits[book.fees] += p.fee
    everything = (book.funding, *book.wallets, *book.merchants, book.bank, book.fees)
    with engine.begin() as conn:
        for account in everything:
            b = ledger.balance(conn, account)
            assert (b.posted_debits, b.posted_credits) == (debits[account], credits[account])
            assert (b.pending_debits, b.pending_credits) == (0, 0)  # every hold resolved
            sums = conn.execute(
                sa.text(
                    "SELECT coalesce(sum(amount) FILTER (WHERE side = 'debit'), 0),"
                    " coalesce(sum(amount) FILTER (WHERE side = 'credit'), 0)"
                    " FROM payments.lines WHERE account_id = :a"
                ),
                {"a": account},
            ).one()
            assert tuple(sums) == (b.posted_debits, b.posted_credits)
        for wallet in book.wallets:
            balance = ledger.balance(conn, wallet).posted
            assert balance >= 0
            assert balance == FUND - sum(p.amount for p in posted if p.debit == wallet)

        # The whole ledger balances; refused writes left no entry, and their refusal is kept.
        total = conn.execute(
            sa.text(
                "SELECT sum(amount) FILTER (WHERE side = 'debit'),"
                " sum(amount) FILTER (WHERE side = 'credit') FROM payments.lines"
            )
        ).one()
        assert total[0] == total[1]
        assert ledger.trial_balance(conn, ORG_A).balanced
        entries = conn.execute(sa.text("SELECT count(*) FROM payments.entries")).scalar_one()
        assert entries == WALLETS + len(posted)
        refused_keys = [x.key for x in refused]
        assert (
            conn.execute(
                sa.text("SELECT count(*) FROM payments.entries WHERE idempotency_key = ANY(:k)"),
                {"k": refused_keys},
            ).scalar_one()
            == 0
        )
        stored = conn.execute(
            sa.text(
                "SELECT status, result ->> 'code' AS code, count(*) FROM payments.idempotency_keys"
                " WHERE key = ANY(:k) GROUP BY 1, 2"
            ),
            {"k": refused_keys},
        ).all()
        assert [tuple(s) for s in stored] == [("failed", "insufficient_funds", len(refused))]
        holds_made = conn.execute(sa.text("SELECT count(*) FROM payments.holds")).scalar_one()
        assert holds_made == RACE_HOLDS + len(own_holds)
        unresolved = conn.execute(
            sa.text(
                "SELECT count(*) FROM payments.holds h WHERE NOT EXISTS"
                " (SELECT FROM payments.hold_resolutions r WHERE r.hold_id = h.id)"
            )
        ).scalar_one()
        assert unresolved == 0

        # Every regular account's lines carry its positions in order. Its version counts
        # its lines and, for a hold, its creation and its resolution (each changes the
        # pending totals), so it is 1..n exactly on the accounts no hold touched.
        for account in (book.funding, *book.wallets, *book.merchants, book.bank):
            rows = _line_history(conn, account, "id")
            holds = conn.execute(
                sa.text(
                    "SELECT count(*) FROM payments.holds"
                    " WHERE debit_account_id = :a OR credit_account_id = :a"
                ),
                {"a": account},
            ).scalar_one()
            version = ledger.balance(conn, account).version
            assert version is not None
            assert version == len(rows) + 2 * holds
            _assert_history(rows, version, flagged=account in book.wallets)
            if holds == 0:
                assert [r.account_version for r in rows] == list(range(1, len(rows) + 1))

        # The fee account, once rolled up, too: versions 1..n, running totals, the row exact.
        # In version order, not id order: a roll-up running while writers commit can see a
        # line before one with a smaller id that commits later, which then gets the next
        # version (a few lines per run here).
        ledger.roll_up(conn)
        rows = _line_history(conn, book.fees, "account_version, id")
        assert [r.account_version for r in rows] == list(range(1, len(rows) + 1))
        _assert_history(rows, len(rows))
        row = conn.execute(
            sa.text(
                "SELECT posted_debits, posted_credits, version FROM payments.accounts WHERE id = :a"
            ),
            {"a": book.fees},
        ).one()
        assert tuple(row) == (0, credits[book.fees], len(rows))


def test_the_same_key_sent_by_many_processes_at_once_writes_once(
    engine: sa.Engine, db_url: str, open_account: OpenAccountFn
) -> None:
    funding = open_account(ORG_A, "funding", "equity")
    wallet = open_account(ORG_A, "wallet", "liability", debits_must_not_exceed_credits=True)
    merchant = open_account(ORG_A, "merchant", "liability")
    fees = open_account(PLATFORM, "fee-revenue", "revenue", high_volume=True)
    with engine.begin() as conn:
        ledger.post_entry(conn, ORG_A, transfer("fund", funding, wallet, 10_000))
    rounds: list[ledger.PostEntry | ledger.CreateHold] = [
        ledger.PostEntry(
            f"sale-{i}",
            [
                ledger.Line(wallet, "debit", 1_000, "USD"),
                ledger.Line(merchant, "credit", 950, "USD"),
                ledger.Line(fees, "credit", 50, "USD"),
            ],
            description=f"sale {i}",
        )
        for i in range(4)
    ]
    rounds.append(ledger.CreateHold("reserve", wallet, merchant, 2_000, "USD"))

    with _processes(_same_key, [(db_url, rounds)] * WORKERS) as (procs, results):
        answers: list[list[Replay | str]] = _collect(procs, results, lambda: None)

    errors = [a for got in answers for a in got if isinstance(a, str)]
    assert errors == []
    for request in rounds:
        got = [
            a
            for r in answers
            for a in r
            if isinstance(a, Replay) and a.key == request.idempotency_key
        ]
        assert len(got) == WORKERS
        assert len({a.id for a in got}) == 1  # everyone was given the one id
        assert sum(1 for a in got if not a.replayed) == 1  # one wrote, the rest replayed
    with engine.begin() as conn:
        for request in rounds:
            k = request.idempotency_key
            table = "holds" if isinstance(request, ledger.CreateHold) else "entries"
            assert (
                conn.execute(
                    sa.text(f"SELECT count(*) FROM payments.{table} WHERE idempotency_key = :k"),
                    {"k": k},
                ).scalar_one()
                == 1
            )
        b = ledger.balance(conn, wallet)
        assert (b.posted, b.available) == (10_000 - 4 * 1_000, 10_000 - 4 * 1_000 - 2_000)
        assert ledger.balance(conn, merchant).posted == 4 * 950
        assert ledger.balance(conn, fees).posted == 4 * 50
        lines = conn.execute(sa.text("SELECT count(*) FROM payments.lines")).scalar_one()
        assert lines == 2 + 4 * 3

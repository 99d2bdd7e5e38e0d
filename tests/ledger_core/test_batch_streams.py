"""Two streams of batches from one process (`ledger.post_batches_now(engine, ...,
connections=2)`): two connections of the engine's pool, each a pipelined stream on a thread of
its own, the batches handed out in order to whichever stream asks, results yielded in order.

What the tests hold it to: batches whose results do not depend on their commit order (plain,
replays and conflicts of keys posted before, refusals, linked chains, batches the door
declines, a reversal) give the results and balances of the same batches one by one; results
come in the order given while the streams finish out of it (one stream held up by a row lock,
the other committing later batches meanwhile); two streams moving the same accounts lose no
update; an error is raised at its batch's turn, after the results of the batches before it
(one of them still waiting when the error came); closing early leaves no thread and both
pooled connections clean; three connections, or a Connection as the bind, are refused. And
how the streams stop and wait: a caller who does not ask leaves its iterator mostly unread
(`_AHEAD`), never read by both streams at once; Ctrl-C in a process whose stream waits on a
lock ends it at once; a generator left open does not hold up the interpreter's exit; a stream
failing with no batch of its own stops a batch the other was drawing; a stream holding only
batches past a failure leaves without sending the one it has not sent; both streams failing,
the later failure is a note on the error raised.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

import ledger
from ledger import batches
from tests.ledger_core.conftest import ORG_A, OpenAccountFn, transfer
from tests.ledger_core.test_batch_stream import (
    _balances,
    _entries,
    _in_pipeline,
    _shape,
    _until,
)


def _stream_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith(batches._THREAD_NAME)]


@contextmanager
def _locked(engine: sa.Engine, account: uuid.UUID) -> Iterator[sa.Connection]:
    """A connection holding `account`'s row lock (its transaction open) until it leaves."""
    with engine.connect() as holder:
        holder.execute(
            sa.text("SELECT 1 FROM payments.accounts WHERE id = :a FOR UPDATE"), {"a": account}
        )
        yield holder


class _Caller:
    """A caller taking a two-stream run's results on a thread of its own (started here)."""

    def __init__(self, engine: sa.Engine, specs: Sequence[list[ledger.PostEntry]]) -> None:
        self.got: list[list[ledger.BatchResult]] = []
        self.failures: list[BaseException] = []
        self.thread = threading.Thread(target=self._take, args=(engine, specs))
        self.thread.start()

    def _take(self, engine: sa.Engine, specs: Sequence[list[ledger.PostEntry]]) -> None:
        try:
            for results in ledger.post_batches_now(engine, ORG_A, iter(specs), connections=2):
                self.got.append(results)
        except BaseException as exc:  # reported by the test
            self.failures.append(exc)

    def join(self) -> None:
        self.thread.join(60)
        assert not self.thread.is_alive()


@pytest.fixture
def counted(monkeypatch: pytest.MonkeyPatch) -> dict[int, int]:
    """Batches each stream (by its connection) yielded: `batches._stream` wrapped."""
    counts: dict[int, int] = {}
    real = batches._stream

    def wrapped(conn: sa.Connection, *args: Any) -> Iterator[list[ledger.BatchResult]]:
        inner = real(conn, *args)
        counts.setdefault(id(conn), 0)
        try:
            for results in inner:
                counts[id(conn)] += 1
                yield results
        finally:
            inner.close()

    monkeypatch.setattr(batches, "_stream", wrapped)
    return counts


def _twins(open_account: OpenAccountFn, prefix: str) -> tuple[uuid.UUID, uuid.UUID]:
    """Cash (may not go below zero) and sales."""
    return (
        open_account(ORG_A, f"{prefix}-cash", "asset", credits_must_not_exceed_debits=True),
        open_account(ORG_A, f"{prefix}-sales", "revenue"),
    )


def _seeds(prefix: str, cash: uuid.UUID, sales: uuid.UUID) -> list[ledger.PostEntry]:
    """Posted before the stream: cash funded far beyond what the stream takes out, and keys
    the stream replays and conflicts with."""
    return [
        transfer(f"{prefix}-s-0", cash, sales, 1_000_000),
        transfer(f"{prefix}-s-1", cash, sales, 7),
        transfer(f"{prefix}-s-2", cash, sales, 9),
        transfer(f"{prefix}-s-3", cash, sales, 11),
    ]


def _mixed(
    prefix: str, cash: uuid.UUID, sales: uuid.UUID, reversed_entry: uuid.UUID
) -> list[ledger.Batch]:
    """Batches whose results do not depend on the order they commit in: every entry moves
    cash and sales alone (so every chain locks the same two rows in the same order), a
    refusal overdraws cash whatever else posted, a replay or conflict names a seed's key."""
    out = []
    for n in range(24):
        key = f"{prefix}-{n}"
        kind = n % 6
        if kind == 0:  # plain: the fast door
            requests = [transfer(f"{key}-0", cash, sales, 10), transfer(f"{key}-1", sales, cash, 3)]
        elif kind == 1:  # a replay of a seed: declined, the long way
            requests = [transfer(f"{prefix}-s-1", cash, sales, 7), transfer(key, cash, sales, 5)]
        elif kind == 2:  # an overdraft refused beside one posting
            requests = [transfer(key, cash, sales, 4), transfer(f"{key}-x", sales, cash, 5_000_000)]
        elif kind == 3:  # a seed's key with another amount: a conflict
            requests = [transfer(key, cash, sales, 6), transfer(f"{prefix}-s-2", cash, sales, 10)]
        else:  # linked chains: one posting (4), one refused whole (5)
            amount = 1 if kind == 4 else 9_000_000
            requests = [
                transfer(f"{key}-0", cash, sales, 2),
                transfer(f"{key}-1", sales, cash, amount),
            ]
        links = [kind >= 4, False]
        out.append(ledger.Batch(requests, links))
    out.append(ledger.Batch([ledger.ReverseEntry(f"{prefix}-r", reversed_entry)]))  # not plain
    return out


@pytest.mark.parametrize("window", [1, 2])
def test_a_mixed_stream_on_two_connections_gives_the_one_by_one_results(
    engine: sa.Engine, open_account: OpenAccountFn, counted: dict[int, int], window: int
) -> None:
    """Twenty-five batches (plain, replays, conflicts, refusals beside postings, linked
    chains posting and refused whole, a reversal) through two streams and one by one through
    post_batch_now, each way on its own twin accounts: the same results per batch, in order,
    and the same balances; both streams ran."""
    sides: dict[str, Any] = {}
    for prefix in ("p", "s"):
        cash, sales = _twins(open_account, prefix)
        seeded = ledger.post_batch_now(engine, ORG_A, _seeds(prefix, cash, sales))
        entry = seeded[3].id
        assert entry is not None
        sides[prefix] = (cash, sales, seeded, _mixed(prefix, cash, sales, entry))
    cash_p, sales_p, seeded_p, stream = sides["p"]
    got = list(ledger.post_batches_now(engine, ORG_A, stream, window=window, connections=2))
    cash_s, sales_s, seeded_s, one_by_one = sides["s"]
    want = [ledger.post_batch_now(engine, ORG_A, b.requests, links=b.links) for b in one_by_one]
    first_p: dict[uuid.UUID, int] = {}
    first_s: dict[uuid.UUID, int] = {}
    assert _shape(seeded_p, first_p) == _shape(seeded_s, first_s)
    assert [_shape(r, first_p) for r in got] == [_shape(r, first_s) for r in want]
    statuses = [[r.status for r in batch] for batch in got]
    assert statuses[:6] == [
        ["posted", "posted"],
        ["replayed", "posted"],
        ["posted", "refused"],
        ["posted", "refused"],
        ["posted", "posted"],
        ["refused", "refused"],
    ]
    assert statuses[-1] == ["posted"]
    assert isinstance(got[3][1].error, ledger.IdempotencyConflict)
    assert _balances(engine, [cash_p, sales_p]) == _balances(engine, [cash_s, sales_s])
    assert len(counted) == 2 and all(counted.values())
    assert sum(counted.values()) == len(stream)
    assert _stream_threads() == []


def test_results_come_in_order_while_the_streams_finish_out_of_it(
    engine: sa.Engine, open_account: OpenAccountFn
) -> None:
    """The first batch waits for a row lock another transaction holds; the other stream
    commits later batches meanwhile, and the caller gets nothing until the first commits;
    then every batch's results, in the order given, each the ids its keys committed."""
    cash, sales = _twins(open_account, "o")
    # The first batch's accounts are its own: it holds none the others need while it waits.
    held, aside = open_account(ORG_A, "o-held", "asset"), open_account(ORG_A, "o-aside", "revenue")
    specs = [[transfer("o-0-0", held, aside, 1)]] + [
        [transfer(f"o-{n}-{i}", cash, sales, 1) for i in range(3)] for n in range(1, 9)
    ]
    with _locked(engine, held) as holder:
        caller = _Caller(engine, specs)
        # Later batches committed by the other stream while the first waits for the lock.
        _until(lambda: sum(1 for b in _entries(engine, "o") if b != "o-0") >= 3)
        assert "o-0" not in _entries(engine, "o")
        assert caller.got == [] and not caller.failures
        holder.rollback()
    caller.join()
    got = caller.got
    assert not caller.failures
    assert len(got) == len(specs)
    with engine.connect() as conn:
        rows = conn.execute(
            sa.text("SELECT idempotency_key, id FROM payments.entries WHERE org_id = :o"),
            {"o": ORG_A},
        ).all()
    ids: dict[str, uuid.UUID] = {key: entry for key, entry in rows}
    for batch, results in zip(specs, got, strict=True):
        assert [r.status for r in results] == ["posted"] * len(batch)
        assert [r.id for r in results] == [ids[e.idempotency_key] for e in batch]
    assert _stream_threads() == []


def test_two_streams_moving_the_same_accounts_lose_no_update(
    engine: sa.Engine, open_account: OpenAccountFn, counted: dict[int, int]
) -> None:
    """Forty batches of ten entries between the same four accounts, on two streams (the
    fast door locks a batch's accounts in id order, so the streams wait for each other): each
    account's totals and version are what the requests add up to, and what its lines sum to;
    both streams posted."""
    accounts = [open_account(ORG_A, f"u-{n}", "asset") for n in range(4)]
    rng = random.Random(40)
    specs = []
    want = {a: [0, 0, 0] for a in accounts}
    for n in range(40):
        batch = []
        for i in range(10):
            debit, credit = rng.sample(accounts, 2)
            amount = rng.randint(1, 1_000)
            batch.append(transfer(f"u-{n}-{i}", debit, credit, amount))
            want[debit][0] += amount
            want[credit][1] += amount
            want[debit][2] += 1
            want[credit][2] += 1
        specs.append(batch)
    got = list(ledger.post_batches_now(engine, ORG_A, iter(specs), connections=2))
    assert all(r.status == "posted" for batch in got for r in batch)
    assert _balances(engine, accounts) == [tuple(want[a]) for a in accounts]
    with engine.connect() as conn:
        lines = conn.execute(
            sa.text(
                "SELECT account_id, sum(amount) FILTER (WHERE side = 'debit'),"
                " sum(amount) FILTER (WHERE side = 'credit'), count(*)"
                " FROM payments.lines WHERE account_id = ANY(:a) GROUP BY account_id"
            ),
            {"a": accounts},
        ).all()
    assert {a: (int(d), int(c), n) for a, d, c, n in lines} == {
        a: tuple(v) for a, v in want.items()
    }
    assert len(counted) == 2 and all(counted.values())
    assert _stream_threads() == []


_BOOM = """
CREATE SEQUENCE public.boom_tries;
CREATE FUNCTION public.boom() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF starts_with(NEW.idempotency_key, 'boom-') THEN
        PERFORM nextval('public.boom_tries');
        RAISE EXCEPTION 'boom' USING ERRCODE = '57014';
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER boom BEFORE INSERT ON payments.entries
    FOR EACH ROW EXECUTE FUNCTION public.boom();
"""


def _booms(engine: sa.Engine) -> int:
    with engine.connect() as conn:
        last, called = conn.execute(
            sa.text("SELECT last_value, is_called FROM public.boom_tries")
        ).one()
    return int(last) if called else 0


def test_an_error_is_raised_in_its_turn_after_the_batches_before_it(
    engine: sa.Engine, open_account: OpenAccountFn
) -> None:
    """Batch 2 waits for a row lock; every batch after it fails on the server (a trigger's
    error). The free stream fails first, while batch 2 still waits: the caller gets nothing
    more until batch 2 commits, then batches 0-2's results, then the error (at batch 3's
    turn); nothing of the failing batches is written, no thread is left, both connections
    are back in the pool."""
    with engine.begin() as conn:
        conn.exec_driver_sql(_BOOM)
    cash, sales = _twins(open_account, "e")
    held, aside = open_account(ORG_A, "e-held", "asset"), open_account(ORG_A, "e-aside", "revenue")
    specs = [
        [transfer("e-0-0", cash, sales, 1)],
        [transfer("e-1-0", cash, sales, 1)],
        [transfer("e-2-0", held, aside, 1)],
    ] + [[transfer(f"boom-{n}", cash, sales, 1)] for n in range(3, 13)]
    checked_out = engine.pool.checkedout()  # type: ignore[attr-defined]
    with _locked(engine, held) as holder:
        caller = _Caller(engine, specs)
        _until(lambda: _booms(engine) >= 1)
        _until(lambda: len(_stream_threads()) == 1)  # the failed stream has left
        assert "e-2" not in _entries(engine, "e")
        assert len(caller.got) <= 2 and not caller.failures
        holder.rollback()
    caller.join()
    assert [[r.status for r in b] for b in caller.got] == [["posted"]] * 3
    assert len(caller.failures) == 1
    error = caller.failures[0]
    assert isinstance(error, sa.exc.DBAPIError)
    assert getattr(error.orig, "sqlstate", None) == "57014"
    assert _entries(engine, "e") == {"e-0": 1, "e-1": 1, "e-2": 1}
    assert _entries(engine, "boom") == {}
    assert _stream_threads() == []
    assert engine.pool.checkedout() == checked_out  # type: ignore[attr-defined]


def test_the_caller_s_error_is_raised_in_its_turn(
    engine: sa.Engine, open_account: OpenAccountFn
) -> None:
    """The caller's iterator raises after six batches: their results first, in order, then
    its error; every batch handed out committed whole; no thread left."""
    cash, sales = _twins(open_account, "c")

    def source() -> Iterator[list[ledger.PostEntry]]:
        for n in range(6):
            yield [transfer(f"c-{n}-{i}", cash, sales, 1) for i in range(4)]
        raise KeyError("the caller's")

    got = []
    with pytest.raises(KeyError):
        for results in ledger.post_batches_now(engine, ORG_A, source(), connections=2):
            got.append(results)
    assert [[r.status for r in b] for b in got] == [["posted"] * 4] * 6
    assert _entries(engine, "c") == {f"c-{n}": 4 for n in range(6)}
    assert _stream_threads() == []


def test_closing_early_leaves_no_thread_and_both_connections_clean(
    engine: sa.Engine, open_account: OpenAccountFn
) -> None:
    """The caller stops after the first result of thirty batches: both threads end, both
    connections of a pool of two are back, out of pipeline mode, no transaction open, no
    session setting left, usable; each batch committed whole or not at all, and the stream
    run again replays what committed and posts the rest."""
    cash, sales = _twins(open_account, "x")
    specs = [[transfer(f"x-{n}-{i}", cash, sales, 1) for i in range(5)] for n in range(30)]
    url = engine.url.render_as_string(hide_password=False)
    two = sa.create_engine(url, pool_size=2, max_overflow=0, poolclass=sa.QueuePool)
    try:
        stream = ledger.post_batches_now(two, ORG_A, iter(specs), connections=2)
        first = next(stream)
        assert two.pool.checkedout() == 2  # type: ignore[attr-defined]
        assert len(_stream_threads()) == 2
        stream.close()
        assert _stream_threads() == []
        assert two.pool.checkedout() == 0  # type: ignore[attr-defined]
        show = sa.text("SELECT coalesce(current_setting('ledger.batch_stream', true), '')")
        with two.connect() as one, two.connect() as other:
            for conn in (one, other):
                assert not _in_pipeline(conn) and not conn.in_transaction()
                assert conn.execute(show).scalar_one() == ""
                conn.rollback()
        counts = _entries(engine, "x")
        assert set(counts.values()) == {5} and "x-0" in counts
        again = list(ledger.post_batches_now(two, ORG_A, iter(specs), connections=2))
    finally:
        two.dispose()
    assert [r.id for r in again[0]] == [r.id for r in first]
    for n, results in enumerate(again):
        status = "replayed" if f"x-{n}" in counts else "posted"
        assert [r.status for r in results] == [status] * 5
    assert _entries(engine, "x") == {f"x-{n}": 5 for n in range(30)}
    assert _stream_threads() == []


def test_three_connections_or_a_connection_bind_are_refused(
    engine: sa.Engine, open_account: OpenAccountFn
) -> None:
    """connections=3: InvalidRequest; connections=2 on a Connection (one connection cannot be
    two): InvalidRequest; nothing taken from the caller's batches, nothing written."""
    cash, sales = _twins(open_account, "n")
    specs: Sequence[list[ledger.PostEntry]] = [[transfer("n-0-0", cash, sales, 1)]]
    source = iter(specs)
    with pytest.raises(ledger.InvalidRequest):
        next(ledger.post_batches_now(engine, ORG_A, source, connections=3))
    with engine.connect() as conn, pytest.raises(ledger.InvalidRequest):
        next(ledger.post_batches_now(conn, ORG_A, source, connections=2))
    assert next(source) is specs[0]
    assert _entries(engine, "n") == {}
    assert _stream_threads() == []


class _Recorded(batches._Shared):
    """`batches._Shared`, each one made kept in `made` (the test reads the streams' state)."""

    made: list[batches._Shared] = []

    def __init__(self, source: Any) -> None:
        super().__init__(source)
        _Recorded.made.append(self)


@pytest.fixture
def recorded(monkeypatch: pytest.MonkeyPatch) -> list[batches._Shared]:
    _Recorded.made = []
    monkeypatch.setattr(batches, "_Shared", _Recorded)
    return _Recorded.made


class _Source:
    """The caller's batches, counting the draws and noting any draw made while another was
    still inside `__next__` (the streams must read the caller's iterator one at a time)."""

    def __init__(self, specs: Sequence[Any]) -> None:
        self.specs = list(specs)
        self.drawn = 0
        self.inside = 0
        self.overlapped = 0

    def __iter__(self) -> _Source:
        return self

    def __next__(self) -> Any:
        self.inside += 1
        try:
            if self.inside > 1:
                self.overlapped += 1
            self.drawing()
            time.sleep(0.001)  # a window for the other stream to come in, were it unguarded
            if self.drawn == len(self.specs):
                raise StopIteration
            self.drawn += 1
            return self.specs[self.drawn - 1]
        finally:
            self.inside -= 1

    def drawing(self) -> None:
        """Called inside each draw."""


@pytest.mark.parametrize("window", [1, 2])
def test_the_streams_run_at_most_ahead_of_a_caller_who_does_not_ask(
    engine: sa.Engine, open_account: OpenAccountFn, recorded: list[batches._Shared], window: int
) -> None:
    """Sixty batches of five; the caller takes one result and then asks nothing: once both
    streams wait to run ahead, the caller's iterator was read at most `_AHEAD` batches past
    the one not yet taken plus what each stream holds (window + 1), never drained; closing
    then commits nothing more than was drawn, and no draw ever overlapped another."""
    cash, sales = _twins(open_account, "h")
    source = _Source(
        [[transfer(f"h-{n}-{i}", cash, sales, 1) for i in range(5)] for n in range(60)]
    )
    stream = ledger.post_batches_now(engine, ORG_A, source, window=window, connections=2)
    first = next(stream)
    assert [r.status for r in first] == ["posted"] * 5
    (shared,) = recorded
    _until(lambda: source.drawn == 60 or getattr(shared, "parked", 0) == 2)
    drawn = source.drawn
    stream.close()
    # The docstring's bound: _AHEAD past the batch not yet taken, plus a window and one more.
    assert drawn <= 1 + batches._AHEAD + window + 1
    assert source.drawn == drawn
    counts = _entries(engine, "h")
    assert len(counts) <= drawn and set(counts.values()) <= {5}
    assert source.overlapped == 0
    assert _stream_threads() == []


_CHILD = """
import faulthandler, json, signal, sys, threading, uuid
import sqlalchemy as sa
import ledger
from ledger import batches
from tests.ledger_core.conftest import ORG_A, transfer

# Python's own Ctrl-C, whatever this process inherited: a shell without job control starts
# a background command (a CI run started with &) with SIGINT ignored, and Python then
# installs no KeyboardInterrupt handler, so the signal would do nothing.
signal.signal(signal.SIGINT, signal.default_int_handler)
# Every thread's stack on SIGUSR1: what the test reports if this process ever hangs.
faulthandler.register(signal.SIGUSR1, all_threads=True)
url, mode = sys.argv[1:3]
held, aside, cash, sales = map(uuid.UUID, sys.argv[3:])
engine = sa.create_engine(url, connect_args={"application_name": "streams-" + mode})
specs = [[transfer("k-0-0", held, aside, 1)]] + [
    [transfer(f"k-{n}-{i}", cash, sales, 1) for i in range(3)] for n in range(1, 60)
]
stream = ledger.post_batches_now(engine, ORG_A, iter(specs), connections=2)
if mode == "exit":  # one result taken, the generator left open at the interpreter's exit
    print(json.dumps([r.status for r in next(stream)]), flush=True)
    sys.exit(0)
if mode == "int-thread":  # on a line from the test: SIGINT to a stream's thread, not this one
    def nudge():
        sys.stdin.readline()
        named = [t for t in threading.enumerate() if t.name.startswith(batches._THREAD_NAME)]
        signal.pthread_kill(named[-1].ident, signal.SIGINT)
    threading.Thread(target=nudge, daemon=True).start()
print("started", flush=True)
try:
    for results in stream:
        print("results", flush=True)
except KeyboardInterrupt:
    threads = [t for t in threading.enumerate() if t.name.startswith(batches._THREAD_NAME)]
    print(json.dumps({"threads": len(threads), "checked_out": engine.pool.checkedout()}))
    sys.exit(3)
"""


def _child(engine: sa.Engine, mode: str, accounts: Sequence[uuid.UUID]) -> subprocess.Popen[str]:
    root = Path(__file__).resolve().parents[2]
    url = engine.url.render_as_string(hide_password=False)
    return subprocess.Popen(
        [sys.executable, "-c", _CHILD, url, mode, *map(str, accounts)],
        cwd=root,
        env={**os.environ, "PYTHONPATH": str(root)},
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _backends(conn: sa.Connection, name: str) -> int:
    return int(
        conn.execute(
            sa.text("SELECT count(*) FROM pg_stat_activity WHERE application_name = :n"),
            {"n": name},
        ).scalar_one()
    )


@pytest.mark.parametrize("mode", ["int", "int-thread"])
def test_ctrl_c_ends_two_streams_blocked_on_a_lock(
    engine: sa.Engine, open_account: OpenAccountFn, mode: str
) -> None:
    """A process streams sixty batches on two connections, the first waiting for a row lock
    this test holds, the other stream running ahead meanwhile; SIGINT: the process gets its
    KeyboardInterrupt and ends (its statements in flight cancelled, both threads gone, both
    connections back in its pool), nothing of the blocked batch committed, and no backend
    of the process is left waiting on the lock. `int-thread`: the SIGINT is sent to one of the
    streams' threads, as the kernel may hand a process's signal to any thread: Python only
    notes it there, and the caller's thread, waiting for batch 0, must still act on it (its
    wait is bounded; an unbounded one slept through it until the hang guard)."""
    held, aside = open_account(ORG_A, "k-held", "asset"), open_account(ORG_A, "k-aside", "revenue")
    cash, sales = _twins(open_account, "k")
    with _locked(engine, held) as holder:
        child = _child(engine, mode, [held, aside, cash, sales])
        try:
            _until(lambda: sum(1 for b in _entries(engine, "k") if b != "k-0") >= 3, 60)
            with engine.connect() as watch:
                _until(lambda: _backends(watch, f"streams-{mode}") == 2)
            if mode == "int":
                child.send_signal(signal.SIGINT)
            else:
                assert child.stdin is not None
                child.stdin.write("go\n")
                child.stdin.flush()
            try:
                out, err = child.communicate(timeout=60)  # a hang guard, not a measure
            except subprocess.TimeoutExpired:
                child.send_signal(signal.SIGUSR1)  # its threads' stacks, to its stderr
                time.sleep(1)
                child.kill()
                out, err = child.communicate()
                raise AssertionError(f"the process did not end after SIGINT:\n{err}") from None
        finally:
            if child.poll() is None:
                child.kill()
                child.communicate()
        assert child.returncode == 3, err
        assert json.loads(out.splitlines()[-1]) == {"threads": 0, "checked_out": 0}
        assert "results" not in out  # batch 0 never yielded: nothing after it either
        _until(lambda: _backends(holder, f"streams-{mode}") == 0)
        holder.rollback()
    assert "k-0" not in _entries(engine, "k")
    assert set(_entries(engine, "k").values()) <= {3}


def test_a_stream_left_open_does_not_hold_up_the_interpreter_s_exit(
    engine: sa.Engine, open_account: OpenAccountFn
) -> None:
    """A process takes one result of sixty batches and exits, the generator never closed
    (both streams parked, waiting for the caller to ask): the process ends."""
    held, aside = open_account(ORG_A, "k-held", "asset"), open_account(ORG_A, "k-aside", "revenue")
    cash, sales = _twins(open_account, "k")
    child = _child(engine, "exit", [held, aside, cash, sales])
    try:
        out, err = child.communicate(timeout=60)  # a hang guard, not a measure
    finally:
        if child.poll() is None:
            child.kill()
            child.communicate()
    assert child.returncode == 0, err
    assert json.loads(out) == ["posted"]
    counts = _entries(engine, "k")
    assert "k-0" in counts and set(counts.values()) <= {1, 3}


def test_a_stream_failing_with_no_batch_while_the_other_draws_one_stops_that_batch(
    engine: sa.Engine,
    open_account: OpenAccountFn,
    recorded: list[batches._Shared],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Stream 1 fails holding no batch while stream 0 is inside the caller's iterator
    drawing batch 0: the failure takes number 0 and the batch drawn meanwhile is not handed
    out: the caller gets the error first, and batch 0 is not posted."""
    cash, sales = _twins(open_account, "l")
    specs = [[transfer(f"l-{n}-0", cash, sales, 1)] for n in range(4)]

    class Held(_Source):
        def drawing(self) -> None:
            if self.drawn == 0:  # until stream 1 has failed
                _until(lambda: bool(recorded) and recorded[0].stop_at is not None)

    source = Held(specs)
    real = batches._stream

    def failing(conn: sa.Connection, *args: Any) -> Iterator[list[ledger.BatchResult]]:
        if threading.current_thread().name.endswith("-1"):
            _until(lambda: source.inside == 1)  # stream 0 is drawing
            raise RuntimeError("stream 1, no batch of its own")
        yield from real(conn, *args)

    monkeypatch.setattr(batches, "_stream", failing)
    got = []
    with pytest.raises(RuntimeError, match="stream 1"):
        for results in ledger.post_batches_now(engine, ORG_A, source, connections=2):
            got.append(results)
    assert got == []
    assert source.drawn == 1
    assert _entries(engine, "l") == {}
    assert _stream_threads() == []


def test_both_streams_failing_the_later_failure_is_a_note_on_the_error_raised(
    engine: sa.Engine, open_account: OpenAccountFn
) -> None:
    """Every batch fails on the server (a trigger's error); batch 0 first waits for a row
    lock, so the other stream fails meanwhile on a later batch: the caller gets batch 0's
    error, with the other stream's as a note ("the other stream failed too"); nothing
    written."""
    with engine.begin() as conn:
        conn.exec_driver_sql(_BOOM)
    cash, sales = _twins(open_account, "boom")
    held, aside = open_account(ORG_A, "b-held", "asset"), open_account(ORG_A, "b-aside", "revenue")
    specs = [[transfer("boom-0-0", held, aside, 1)]] + [
        [transfer(f"boom-{n}-0", cash, sales, 1)] for n in range(1, 8)
    ]
    with _locked(engine, held) as holder:
        caller = _Caller(engine, specs)
        _until(lambda: _booms(engine) >= 1)  # the other stream's batch failed
        assert not caller.failures
        holder.rollback()
    caller.join()
    assert caller.got == []  # no batch posts
    (error,) = caller.failures
    assert isinstance(error, sa.exc.DBAPIError)
    notes = getattr(error, "__notes__", [])
    assert len(notes) == 1 and notes[0].startswith("the other stream failed too: ")
    assert "boom" in notes[0]
    assert _booms(engine) == 2
    assert _entries(engine, "boom") == {}
    assert _stream_threads() == []


def test_a_stream_holding_only_batches_past_a_failure_leaves_without_sending_them(
    engine: sa.Engine,
    open_account: OpenAccountFn,
    recorded: list[batches._Shared],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Stream 0 posts batch 0 (the caller takes it and then waits), draws batch 1 and fails
    on it once stream 1 holds batches 2 and 3 in flight and 4 drawn, not sent; stream 1's
    next result (batch 2) comes after the failure: it records it and leaves, reading batch 3
    in flight and never sending batch 4. The caller then gets the error at batch 1's turn."""
    cash, sales = _twins(open_account, "g")
    source = _Source([[transfer(f"g-{n}-0", cash, sales, 1)] for n in range(8)])
    real = batches._stream

    def steered(
        conn: sa.Connection, org_id: uuid.UUID, handed: Iterator[Any], window: int
    ) -> Iterator[list[ledger.BatchResult]]:
        if threading.current_thread().name.endswith("-0"):
            yield ledger.post_batch_now(conn, org_id, next(handed))  # batch 0
            next(handed)  # batch 1
            _until(lambda: source.drawn >= 5)  # stream 1 holds 2, 3 and 4
            raise RuntimeError("stream 0 fails at batch 1")
        _until(lambda: source.drawn >= 2)
        for results in real(conn, org_id, handed, window):
            _until(lambda: recorded[0].stop_at is not None)
            yield results

    monkeypatch.setattr(batches, "_stream", steered)
    stream = ledger.post_batches_now(engine, ORG_A, source, window=2, connections=2)
    assert [r.status for r in next(stream)] == ["posted"]
    _until(lambda: _stream_threads() == [])  # both left while the caller waits
    with pytest.raises(RuntimeError, match="stream 0") as raised:
        next(stream)
    # After the failed batch 1: batch 2 committed and recorded, 3 (read in flight as the
    # stream left: committed) and 4 (drawn, never sent) held: named on the error for a caller
    # resuming from batch 1.
    assert raised.value.__notes__ == [
        "after batch 1 (batches numbered from 0 in the order given), committed all the same,"
        " their results not yielded: [2]; held by a stream when it stopped, committed or not"
        " (their keys tell): [3, 4]"
    ]
    assert source.drawn == 5
    assert _entries(engine, "g") == {"g-0": 1, "g-2": 1, "g-3": 1}

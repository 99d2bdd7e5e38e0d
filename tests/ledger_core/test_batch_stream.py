"""A stream of batches from one connection (`ledger.post_batches_now`): the fast door's
statements pipelined (libpq's pipeline mode, one or two batches in flight), each batch its own
unit of work.

What the tests hold it to: each batch's results are `post_batch_now`'s for the same batch
posted one by one, in order, whatever the door declines (a refusal inside, a replay, a
conflict, a failing linked chain) and whatever the batches after a declined one depend on (a
key it posts, funds it brings); a lost race is run again; closing the stream, an error from
the caller's batches, or a lost connection leaves the connection usable (or invalidated) and
every batch committed whole or not at all. The property compares a random stream with the
same batches one by one on twin accounts (results and balances).
"""

from __future__ import annotations

import os
import resource
import signal
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import ledger
from ledger import batches, writes
from liventix.testing.scratch import Scratch
from tests.ledger_core.conftest import ORG_A, PLATFORM, OpenAccountFn, transfer

Spec = list[tuple[int, int, int, int]]
"""A batch written abstractly: per entry (key number, debit account, credit account, amount),
the accounts by their place in a twin set."""


def _batch(prefix: str, accounts: Sequence[uuid.UUID], spec: Spec) -> list[ledger.PostEntry]:
    return [
        transfer(f"{prefix}-{key}", accounts[debit], accounts[credit], amount)
        for key, debit, credit, amount in spec
    ]


def _shape(results: Sequence[ledger.BatchResult], first: dict[uuid.UUID, int]) -> list[Any]:
    """Results as comparable across the twins: status, error type (a linked failure's index),
    and for an id the place of the result that first gave it in its way's stream."""
    shaped = []
    for result in results:
        error = result.error
        index = getattr(error, "index", None) if error is not None else None
        if result.id is not None:
            first.setdefault(result.id, len(first))
        shaped.append(
            (
                result.status,
                None if error is None else type(error).__name__,
                index,
                None if result.id is None else first[result.id],
            )
        )
    return shaped


def _balances(engine: sa.Engine, accounts: Sequence[uuid.UUID]) -> list[tuple[int, int, int]]:
    with engine.connect() as conn:
        found = [ledger.balance(conn, a) for a in accounts]
    return [(b.posted_debits, b.posted_credits, b.version or 0) for b in found]


def _twins(open_account: OpenAccountFn, prefix: str) -> list[uuid.UUID]:
    """Three accounts: cash (may not go below zero), sales, fees."""
    return [
        open_account(ORG_A, f"{prefix}-cash", "asset", credits_must_not_exceed_debits=True),
        open_account(ORG_A, f"{prefix}-sales", "revenue"),
        open_account(ORG_A, f"{prefix}-fees", "revenue"),
    ]


CASH, SALES, FEES = 0, 1, 2

# A stream whose batches depend on the ones before them: a batch the door declines posts a
# key and brings cash that the next batches use, so committing a later batch before it
# changes their results.
MIXED: list[tuple[Spec, bool]] = [
    ([(1, CASH, SALES, 100), (2, CASH, FEES, 50)], False),  # fast door; cash 150
    ([(3, CASH, SALES, 500), (4, FEES, CASH, 10_000)], False),  # 4 overdraws: declined
    ([(5, SALES, CASH, 600), (6, CASH, SALES, 1)], False),  # 600 <= 650 only after 3
    ([(3, CASH, SALES, 500), (7, CASH, SALES, 2)], False),  # 3 replayed: declined
    ([(7, CASH, SALES, 3)], False),  # 7's key with another amount: a conflict
    ([(8, CASH, SALES, 40), (9, FEES, CASH, 20)], True),  # linked, fast door
    ([(10, CASH, SALES, 1), (11, SALES, CASH, 9_000)], True),  # 11 overdraws: neither
    ([(12, SALES, CASH, 70)], False),  # cash 73 left, had 11's chain not posted
    ([(13, CASH, FEES, 5), (14, CASH, FEES, 6), (15, CASH, FEES, 7)], False),
    ([(16, CASH, SALES, 100_000), (17, SALES, CASH, 200_000)], False),  # 17: declined, last
]


def _specs_stream(
    prefix: str, accounts: Sequence[uuid.UUID], specs: Sequence[tuple[Spec, bool]]
) -> Iterator[ledger.Batch]:
    for spec, linked in specs:
        requests = _batch(prefix, accounts, spec)
        yield ledger.Batch(requests, [linked] * (len(requests) - 1) + [False])


@pytest.fixture(params=["engine", "connection"])
def bind(request: pytest.FixtureRequest, engine: sa.Engine) -> object:
    """What the stream is given: the engine, or a connection with no transaction open."""
    if request.param == "engine":
        return engine
    conn = engine.connect()
    request.addfinalizer(conn.close)
    return conn


@pytest.mark.parametrize("window", [1, 2])
def test_a_mixed_stream_gives_post_batch_now_s_results_in_order(
    engine: sa.Engine, open_account: OpenAccountFn, bind: sa.Engine | sa.Connection, window: int
) -> None:
    """The same ten batches through the stream and one by one through post_batch_now, each
    way on its own twin accounts: the same results per batch (posted, replayed, refused with
    the same error, a linked chain's failure), the same balances; the stream's connection
    left with no transaction and out of pipeline mode."""
    piped, single = _twins(open_account, "p"), _twins(open_account, "s")
    stream = _specs_stream("p", piped, MIXED)
    got = list(ledger.post_batches_now(bind, ORG_A, stream, window=window))
    want = [
        ledger.post_batch_now(engine, ORG_A, b.requests, links=b.links)
        for b in _specs_stream("s", single, MIXED)
    ]
    first_p: dict[uuid.UUID, int] = {}
    first_s: dict[uuid.UUID, int] = {}
    assert [_shape(r, first_p) for r in got] == [_shape(r, first_s) for r in want]
    statuses = [[r.status for r in batch] for batch in got]
    assert statuses[1] == ["posted", "refused"] and statuses[2] == ["posted", "posted"]
    assert statuses[3] == ["replayed", "posted"]
    assert statuses[4] == ["refused"] and statuses[6] == ["refused", "refused"]
    assert isinstance(got[4][0].error, ledger.IdempotencyConflict)
    assert _balances(engine, piped) == _balances(engine, single)
    if isinstance(bind, sa.Connection):
        assert not bind.in_transaction()
        assert bind.execute(sa.text("SELECT 1")).scalar_one() == 1
        bind.rollback()


def test_the_fast_door_takes_plain_batches_pipelined(
    engine: sa.Engine, open_account: OpenAccountFn, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Fifty plain batches: every one posted by the pipeline (no post_batch_now, no
    transaction begun by SQLAlchemy), each committed, results in order of the requests."""
    cash, sales, _ = _twins(open_account, "f")
    calls: list[int] = []
    real = batches.post_batch_now

    def counted(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(batches, "post_batch_now", counted)
    begun: list[int] = []
    sa.event.listen(engine, "begin", lambda _c: begun.append(1))
    stream = ([transfer(f"f-{n}-{i}", cash, sales, 1 + i) for i in range(5)] for n in range(50))
    results = list(ledger.post_batches_now(engine, ORG_A, stream))
    assert (len(calls), len(begun)) == (0, 0)
    assert all(r.status == "posted" for batch in results for r in batch)
    with engine.connect() as conn:
        rows = conn.execute(
            sa.text(
                "SELECT idempotency_key, id FROM payments.entries WHERE idempotency_key LIKE 'f-%'"
            )
        ).all()
    ids = {key: entry for key, entry in rows}
    assert len(ids) == 250
    for n, batch in enumerate(results):
        assert [r.id for r in batch] == [ids[f"f-{n}-{i}"] for i in range(5)]


def _entries(engine: sa.Engine, prefix: str) -> dict[str, int]:
    """Entries committed per batch (keys `<prefix>-<batch>-<i>`)."""
    with engine.connect() as conn:
        keys = conn.execute(
            sa.text("SELECT idempotency_key FROM payments.entries WHERE idempotency_key LIKE :p"),
            {"p": f"{prefix}-%"},
        ).scalars()
        counts: dict[str, int] = {}
        for key in keys:
            batch = key.rsplit("-", 1)[0]
            counts[batch] = counts.get(batch, 0) + 1
    return counts


def _until(check: Callable[[], bool], seconds: float = 20.0) -> None:
    """Wait until `check()` holds (polled); fail if it never does."""
    for _ in range(int(seconds / 0.02)):
        if check():
            return
        time.sleep(0.02)
    raise AssertionError("never came to hold")


def _in_pipeline(conn: sa.Connection) -> bool:
    driver = conn.connection.driver_connection
    assert driver is not None
    return bool(driver.pgconn.pipeline_status)


def test_closing_the_stream_early_leaves_the_connection_usable_and_batches_whole(
    engine: sa.Engine, open_account: OpenAccountFn
) -> None:
    """The caller stops after the first result, the next batch in flight (the one after it
    built, not sent): the stream reads it and leaves pipeline mode; each batch is committed
    whole or not at all, and the stream run again over all of them replays what was
    committed."""
    cash, sales, _ = _twins(open_account, "c")
    specs = [[transfer(f"c-{n}-{i}", cash, sales, 1) for i in range(20)] for n in range(6)]
    with engine.connect() as conn:
        stream = ledger.post_batches_now(conn, ORG_A, iter(specs), window=2)
        first = next(stream)
        assert _in_pipeline(conn)
        stream.close()
        assert not _in_pipeline(conn) and not conn.in_transaction()
        assert conn.execute(sa.text("SELECT 1")).scalar_one() == 1
        conn.rollback()
        counts = _entries(engine, "c")
        assert all(count == 20 for count in counts.values())
        assert len(counts) == 2  # the first, and the one in flight as it was yielded
        again = list(ledger.post_batches_now(conn, ORG_A, iter(specs)))
    assert [r.status for r in again[0]] == ["replayed"] * 20
    assert [r.id for r in again[0]] == [r.id for r in first]
    assert [r.status for r in again[1]] == ["replayed"] * 20
    assert [r.status for r in again[2]] == ["posted"] * 20
    assert [r.status for r in again[5]] == ["posted"] * 20
    assert set(_entries(engine, "c").values()) == {20}


def test_an_error_from_the_caller_s_batches_mid_stream(
    engine: sa.Engine, open_account: OpenAccountFn
) -> None:
    """The caller's iterator raises while the stream builds its fourth batch (two in flight):
    the error reaches the caller; the connection is usable, out of pipeline mode, and the
    batches sent are each committed whole. An invalid batch (empty) raises InvalidRequest in
    its turn, after the results before it, as post_batch_now does."""
    cash, sales, _ = _twins(open_account, "e")

    def source() -> Iterator[list[ledger.PostEntry]]:
        for n in range(3):
            yield [transfer(f"e-{n}-{i}", cash, sales, 1) for i in range(10)]
        raise KeyError("the caller's")

    with engine.connect() as conn:
        seen = []
        with pytest.raises(KeyError):
            for results in ledger.post_batches_now(conn, ORG_A, source()):
                seen.append(results)
        assert not _in_pipeline(conn) and not conn.in_transaction()
        assert _entries(engine, "e") == {f"e-{n}": 10 for n in range(3)}
        seen.clear()
        invalid = [[transfer("e-9-0", cash, sales, 1)], [], [transfer("e-9-1", cash, sales, 1)]]
        with pytest.raises(ledger.InvalidRequest):
            for results in ledger.post_batches_now(conn, ORG_A, iter(invalid)):
                seen.append(results)
        assert [[r.status for r in b] for b in seen] == [["posted"]]
        assert not _in_pipeline(conn) and not conn.in_transaction()
        assert conn.execute(sa.text("SELECT 1")).scalar_one() == 1
        conn.rollback()


def test_a_lost_connection_mid_stream_is_invalidated(
    engine: sa.Engine, open_account: OpenAccountFn
) -> None:
    """The stream's backend is terminated while the stream builds its third batch, once the
    second (sent, its result not read) has committed: the stream raises the driver's error
    with the connection invalidated (never left half-pipelined); the Connection reconnects
    on its next use; the first two batches are committed whole, nothing after them."""
    cash, sales, _ = _twins(open_account, "k")
    with engine.connect() as conn:
        pid = conn.execute(sa.text("SELECT pg_backend_pid()")).scalar_one()
        conn.rollback()

        def source() -> Iterator[list[ledger.PostEntry]]:
            for n in range(6):
                if n == 2:
                    _until(lambda: _entries(engine, "k").get("k-1") == 10)
                    with engine.connect() as other:
                        other.execute(sa.text("SELECT pg_terminate_backend(:p)"), {"p": pid})
                        other.commit()
                    time.sleep(0.2)
                yield [transfer(f"k-{n}-{i}", cash, sales, 1) for i in range(10)]

        with pytest.raises(sa.exc.DBAPIError) as raised:
            for _ in ledger.post_batches_now(conn, ORG_A, source()):
                pass
        assert raised.value.connection_invalidated
        assert conn.invalidated
        assert conn.execute(sa.text("SELECT 1")).scalar_one() == 1  # a new connection
        assert not _in_pipeline(conn)
        conn.rollback()
    assert _entries(engine, "k") == {"k-0": 10, "k-1": 10}


def _wait_for_lock(engine: sa.Engine, pid: int) -> None:
    with engine.connect() as conn:
        for _ in range(500):
            waiting = conn.execute(
                sa.text("SELECT wait_event_type FROM pg_stat_activity WHERE pid = :p"), {"p": pid}
            ).scalar_one_or_none()
            conn.rollback()
            if waiting == "Lock":
                return
            time.sleep(0.01)
    raise AssertionError("the stream's backend never waited for a lock")


def test_a_deadlocked_batch_is_run_again_in_its_turn(
    engine: sa.Engine, open_account: OpenAccountFn, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another transaction holds the higher of two accounts and then asks for the lower one
    while the stream's second batch holds the lower and waits for the higher: the database
    picks the stream's batch (its deadlock_timeout the shorter, 3 s against 60 s). That
    batch is run again after a pause, as post_batch_now's lost races are; the other batches'
    results stay as they were, in order, and every batch is posted once."""
    # The two accounts in id order whatever ids they were given (a random id could be the
    # highest of any number opened after it).
    low, high = sorted((open_account(ORG_A, "d-0", "asset"), open_account(ORG_A, "d-1", "asset")))
    other = open_account(ORG_A, "d-other", "revenue")
    pauses: list[float] = []
    locked, release = threading.Event(), threading.Event()

    def pause(seconds: float) -> None:
        # The pause lets the rival, granted the lower account when the batch was rolled
        # back, finish before the batch runs again, as the real 10-20 ms pause nearly always
        # does: unpaused, the retry could take the lower account first (a row lock is taken
        # again by whoever reaches the row) and deadlock with the rival a second time.
        pauses.append(seconds)
        assert release.wait(10)

    monkeypatch.setattr(writes, "_sleep", pause)
    failures: list[BaseException] = []

    def rival(pid: int) -> None:
        try:
            with engine.connect() as conn:
                conn.exec_driver_sql("SET deadlock_timeout = '60s'")
                conn.commit()
                with conn.begin():
                    lock = "SELECT 1 FROM payments.accounts WHERE id = :a FOR UPDATE"
                    conn.execute(sa.text(lock), {"a": high})
                    locked.set()
                    _wait_for_lock(engine, pid)
                    conn.execute(sa.text(lock), {"a": low})
        except BaseException as exc:  # reported by the test
            failures.append(exc)
        finally:
            release.set()

    with engine.connect() as conn:
        # The database checks for a deadlock once, deadlock_timeout after a backend begins
        # to wait: the stream's check must come after the rival's request closed the cycle
        # (which waits for the stream's backend to be seen waiting: a moment under load),
        # and well before the rival's own check.
        conn.exec_driver_sql("SET deadlock_timeout = '3s'")
        pid = conn.execute(sa.text("SELECT pg_backend_pid()")).scalar_one()
        conn.commit()
        thread = threading.Thread(target=rival, args=(pid,))

        def source() -> Iterator[list[ledger.PostEntry]]:
            yield [transfer("d-a", other, low, 5)]
            thread.start()
            assert locked.wait(10)
            yield [transfer("d-b", low, high, 7)]
            yield [transfer("d-c", other, high, 9)]

        results = list(ledger.post_batches_now(conn, ORG_A, source(), window=2))
        thread.join(10)
    assert not failures
    assert [[r.status for r in b] for b in results] == [["posted"]] * 3
    assert len(pauses) == 1  # asked only for a deadlock or serialization failure
    with engine.connect() as check:
        found = check.execute(
            sa.text(
                "SELECT idempotency_key, id FROM payments.entries"
                " WHERE idempotency_key LIKE 'd-%' ORDER BY idempotency_key"
            )
        ).all()
    assert [key for key, _ in found] == ["d-a", "d-b", "d-c"]
    assert [entry for _, entry in found] == [b[0].id for b in results]


# A trigger on the test's own database: an entry whose key starts with `lr-` fails with a
# deadlock's SQLSTATE, one with `to-` with a statement timeout's (a real error of the
# server's, raised where the door inserts the entry), each try counted in a sequence (which a
# rollback does not undo); and, at each commit, the transaction's synchronous_commit kept.
_TRIGGERS = """
CREATE SEQUENCE public.stream_tries;
CREATE TABLE public.stream_commits (setting text NOT NULL);
CREATE FUNCTION public.stream_refuse() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF starts_with(NEW.idempotency_key, 'lr-') THEN
        PERFORM nextval('public.stream_tries');
        RAISE EXCEPTION 'a lost race' USING ERRCODE = '40P01';
    END IF;
    IF starts_with(NEW.idempotency_key, 'to-') THEN
        PERFORM nextval('public.stream_tries');
        RAISE EXCEPTION 'a timeout' USING ERRCODE = '57014';
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER stream_refuse BEFORE INSERT ON payments.entries
    FOR EACH ROW EXECUTE FUNCTION public.stream_refuse();
CREATE FUNCTION public.stream_commit() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO public.stream_commits VALUES (current_setting('synchronous_commit'));
    RETURN NULL;
END $$;
CREATE CONSTRAINT TRIGGER stream_commit AFTER INSERT ON payments.entries
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION public.stream_commit();
"""


def _tries(engine: sa.Engine) -> int:
    with engine.connect() as conn:
        found = conn.execute(sa.text("SELECT last_value, is_called FROM public.stream_tries"))
        last, called = found.one()
    return int(last) if called else 0


def test_a_batch_that_keeps_losing_races_gets_post_batch_now_s_three_tries(
    engine: sa.Engine, open_account: OpenAccountFn, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A batch whose every try fails with a deadlock: its pipelined statement is its first
    try, post_batch_now's second and third follow after two pauses, then LostRace(attempts=3)
    (3 tries counted by the server); the batch before it yielded, nothing after it run."""
    with engine.begin() as conn:
        conn.exec_driver_sql(_TRIGGERS)
    cash, sales, _ = _twins(open_account, "lr")
    pauses: list[float] = []
    monkeypatch.setattr(writes, "_sleep", pauses.append)
    stream = [
        [transfer("ok-0", cash, sales, 1)],
        [transfer("lr-1", cash, sales, 1)],
        [transfer("ok-2", cash, sales, 1)],
    ]
    seen = []
    with pytest.raises(ledger.LostRace) as raised:
        for results in ledger.post_batches_now(engine, ORG_A, iter(stream)):
            seen.append(results)
    assert raised.value.attempts == 3
    assert _tries(engine) == 3 and len(pauses) == 2
    assert [[r.status for r in b] for b in seen] == [["posted"]]
    assert _entries(engine, "ok") == {"ok": 1}


def test_a_batch_failing_otherwise_in_the_pipeline_is_raised_not_run_again(
    engine: sa.Engine, open_account: OpenAccountFn, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A batch whose pipelined statement fails with another error (a statement timeout's
    SQLSTATE) is raised as post_batch_now raises it, after one try (counted by the server):
    not run a second time; the batch before it yielded, nothing after it run; the connection
    usable, out of pipeline mode."""
    with engine.begin() as conn:
        conn.exec_driver_sql(_TRIGGERS)
    cash, sales, _ = _twins(open_account, "to")
    pauses: list[float] = []
    monkeypatch.setattr(writes, "_sleep", pauses.append)
    stream = [
        [transfer("ok-0", cash, sales, 1)],
        [transfer("to-1", cash, sales, 1)],
        [transfer("ok-2", cash, sales, 1)],
    ]
    seen = []
    with engine.connect() as conn:
        with pytest.raises(sa.exc.DBAPIError) as raised:
            for results in ledger.post_batches_now(conn, ORG_A, iter(stream)):
                seen.append(results)
        assert getattr(raised.value.orig, "sqlstate", None) == "57014"
        assert not raised.value.connection_invalidated
        assert not _in_pipeline(conn) and not conn.in_transaction()
        assert conn.execute(sa.text("SELECT 1")).scalar_one() == 1
        conn.rollback()
    assert _tries(engine) == 1 and pauses == []
    assert [[r.status for r in b] for b in seen] == [["posted"]]
    assert _entries(engine, "ok") == {"ok": 1}


def test_the_stream_commits_as_the_session_s_synchronous_commit_says(
    engine: sa.Engine, open_account: OpenAccountFn
) -> None:
    """The stream's connection set to synchronous_commit = remote_apply (as a role's or
    database's setting would): every batch's transaction commits with it (read at commit,
    by a deferred trigger), the stream sending nothing about it."""
    with engine.begin() as conn:
        conn.exec_driver_sql(_TRIGGERS)
    cash, sales, _ = _twins(open_account, "sc")
    stream = ([transfer(f"sc-{n}-{i}", cash, sales, 1) for i in range(3)] for n in range(6))
    with engine.connect() as conn:
        conn.exec_driver_sql("SET synchronous_commit = remote_apply")
        conn.commit()
        results = list(ledger.post_batches_now(conn, ORG_A, stream))
        conn.exec_driver_sql("RESET synchronous_commit")
        conn.commit()
    assert all(r.status == "posted" for batch in results for r in batch)
    with engine.connect() as conn:
        settings = conn.execute(sa.text("SELECT setting FROM public.stream_commits")).scalars()
        assert sorted(settings) == ["remote_apply"] * 18


def test_the_stream_leaves_no_setting_on_a_pooled_connection(
    one_connection: sa.Engine, open_account: OpenAccountFn
) -> None:
    """The session setting the stream chains its batches with is RESET as it ends (a declined
    batch in the middle, and a plain end): the pool's one connection, taken again, holds
    none, and its prepared statements still serve a second stream."""
    cash, sales, _ = _twins(open_account, "r")
    stream = [
        [transfer("r-0-0", cash, sales, 1)],
        [transfer("r-0-0", cash, sales, 1)],  # replayed: declined by the door, the long way
        [transfer("r-2-0", cash, sales, 1)],
    ]
    show = sa.text("SELECT coalesce(current_setting('ledger.batch_stream', true), '')")
    for _ in range(2):
        results = list(ledger.post_batches_now(one_connection, ORG_A, iter(stream)))
        assert [r.status for b in results for r in b][1] == "replayed"
        with one_connection.connect() as conn:
            assert conn.execute(show).scalar_one() == ""
            conn.rollback()


def test_the_stream_waits_on_a_socket_numbered_past_1024(
    engine: sa.Engine, open_account: OpenAccountFn
) -> None:
    """The stream's connection made after 1,100 other descriptors are open (its socket's
    number past select()'s limit, 1024): the stream waits on it (in a selector) and posts."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < 1500:
        if hard != resource.RLIM_INFINITY and hard < 1500:
            pytest.fail(f"the test needs 1,500 descriptors; the hard limit is {hard}")
        resource.setrlimit(resource.RLIMIT_NOFILE, (1500, hard))
    cash, sales, _ = _twins(open_account, "n")
    spare = [os.open(os.devnull, os.O_RDONLY) for _ in range(1100)]
    url = engine.url.render_as_string(hide_password=False)
    wide = sa.create_engine(url, poolclass=sa.NullPool)
    try:
        with wide.connect() as conn:
            driver = conn.connection.driver_connection
            assert driver is not None and driver.pgconn.socket >= 1024
            stream = ([transfer(f"n-{n}-{i}", cash, sales, 1) for i in range(5)] for n in range(4))
            results = list(ledger.post_batches_now(conn, ORG_A, stream))
    finally:
        wide.dispose()
        for fd in spare:
            os.close(fd)
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    assert all(r.status == "posted" for batch in results for r in batch)
    assert _entries(engine, "n") == {f"n-{n}": 5 for n in range(4)}


# -- the property: a random stream against the same batches one by one --------------------

ENTRY = st.tuples(
    st.integers(0, 19),  # key number: repeats make replays and conflicts
    st.sampled_from([CASH, CASH, SALES, FEES]),
    st.sampled_from([SALES, CASH, FEES]),
    st.sampled_from([1, 5, 40, 300]),
).filter(lambda e: e[1] != e[2])
BATCH = st.tuples(st.lists(ENTRY, min_size=1, max_size=4), st.booleans())


def _open(engine: sa.Engine, prefix: str) -> list[uuid.UUID]:
    with engine.begin() as conn:
        return [
            ledger.open_account(
                conn,
                ORG_A,
                ledger.OpenAccount(
                    idempotency_key=f"open-{prefix}-{code}",
                    code=f"{prefix}-{code}",
                    type=kind,  # type: ignore[arg-type]
                    currency="USD",
                    credits_must_not_exceed_debits=credits,
                    debits_must_not_exceed_credits=debits,
                ),
            ).id
            for code, kind, credits, debits in (
                ("cash", "asset", True, False),
                ("sales", "revenue", False, False),
                ("fees", "revenue", False, True),
            )
        ]


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    specs=st.lists(BATCH, min_size=1, max_size=8),
    window=st.sampled_from([1, 2]),
)
def test_a_random_stream_is_the_same_batches_one_by_one(
    scratch: Scratch, specs: list[tuple[Spec, bool]], window: int
) -> None:
    """Random batches (entries between three accounts, two of them with overdraft flags, keys
    drawn from twenty: replays, conflicts, a key twice in a batch, linked chains): through
    the stream and one by one through post_batch_now, each on its own twin accounts, the
    same results per batch and the same balances."""
    engine = scratch.empty()
    with engine.begin() as conn:
        ledger.open_organization(conn, PLATFORM, "Liventix", is_platform=True)
        ledger.open_organization(conn, ORG_A, "Org A")
    piped, single = _open(engine, "p"), _open(engine, "s")
    # Funds first, so that some entries post and some are refused.
    seed = [(99, CASH, SALES, 200)]
    ledger.post_batch_now(engine, ORG_A, _batch("p", piped, seed))
    ledger.post_batch_now(engine, ORG_A, _batch("s", single, seed))
    stream = _specs_stream("p", piped, specs)
    got = list(ledger.post_batches_now(engine, ORG_A, stream, window=window))
    want = [
        ledger.post_batch_now(engine, ORG_A, b.requests, links=b.links)
        for b in _specs_stream("s", single, specs)
    ]
    first_p: dict[uuid.UUID, int] = {}
    first_s: dict[uuid.UUID, int] = {}
    assert [_shape(r, first_p) for r in got] == [_shape(r, first_s) for r in want]
    assert _balances(engine, piped) == _balances(engine, single)


class Interrupted(BaseException):
    """What the test's signal handler raises in the main thread (as KeyboardInterrupt)."""


def test_an_interrupt_while_the_stream_waits_invalidates_the_connection(
    engine: sa.Engine, open_account: OpenAccountFn
) -> None:
    """A signal's handler raises in the main thread while the stream waits for a batch held up
    by another transaction's lock (the wait is in select, so the handler runs): libpq is left
    mid-read, so the connection is invalidated, not handed back half-pipelined; the Connection
    reconnects on its next use; the held-up batch, already sent, commits whole once the lock
    is released (its backend, waiting for the lock, has not seen the client go); the third,
    never sent, is not there; the stream run again replays what committed."""
    cash, sales, _ = _twins(open_account, "i")
    specs = [[transfer(f"i-{n}-{i}", cash, sales, 1) for i in range(10)] for n in range(3)]
    main = threading.main_thread().ident
    assert main == threading.get_ident()

    def handler(_signum: int, _frame: Any) -> None:
        raise Interrupted

    previous = signal.signal(signal.SIGUSR1, handler)
    try:
        with engine.connect() as holder, engine.connect() as conn:
            pid = conn.execute(sa.text("SELECT pg_backend_pid()")).scalar_one()
            conn.commit()
            holder.execute(
                sa.text("SELECT 1 FROM payments.accounts WHERE id = :a FOR UPDATE"), {"a": cash}
            )

            def interrupt() -> None:
                _wait_for_lock(engine, pid)
                assert main is not None
                signal.pthread_kill(main, signal.SIGUSR1)

            thread = threading.Thread(target=interrupt)
            thread.start()
            with pytest.raises(Interrupted):
                for _ in ledger.post_batches_now(conn, ORG_A, iter(specs)):
                    pass
            thread.join(10)
            assert conn.invalidated
            holder.rollback()  # the lock released: the batch sent may now commit
            assert conn.execute(sa.text("SELECT 1")).scalar_one() == 1  # a new connection
            conn.rollback()
    finally:
        signal.signal(signal.SIGUSR1, previous)
    _until(lambda: "i-0" in _entries(engine, "i"))
    counts = _entries(engine, "i")
    assert counts["i-0"] == 10 and set(counts.values()) == {10} and "i-2" not in counts
    again = list(ledger.post_batches_now(engine, ORG_A, iter(specs)))
    assert all(r.status in ("posted", "replayed") for batch in again for r in batch)
    assert _entries(engine, "i") == {f"i-{n}": 10 for n in range(3)}

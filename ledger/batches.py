"""Batches of entries with TigerBeetle's `create_transfers` semantics (`post_batch`): each
entry stands alone unless linked to the next, and gets its own result.

`post_entries` (the batch that is one chain, all or nothing) is here too. A batch of plain
entries (standard, without conditions) first tries the fast door,
`payments.post_batch_fast`: typed arrays, a few set-based statements for the whole batch,
taken only when every entry posts and no key was seen before. Its columns are validated and
fingerprinted here in one pass, without building each entry's JSON payload (`_plain_rows`:
the same fingerprint as `fingerprint(request.payload())`, in about half the CPU). Anything else (a
replay, a conflict, a refusal, a high-volume account near its limits, reversals, conditions)
goes through `payments.post_batch(jsonb)`, which judges each chain on its own. Both store the
same fingerprint under each key as a single posting does, so a request replays the same
whichever door first took it.

`post_batches_now` is a stream of such batches from one process on one connection (a bulk
importer's, TigerBeetle's client's): each batch its own unit of work as in `post_batch_now`,
the fast door's statements sent through libpq's pipeline mode (`pgdriver.Pipeline`) with one
or two batches in flight, so the client builds the next batch while the server posts the
current one. With `connections=2` it runs two such streams on two connections of an engine's
pool, each on a thread of its own, the batches handed out in the order given to whichever
stream asks next and their results yielded in that order (`_streams`).
"""

from __future__ import annotations

import contextlib
import hashlib
import sys
import threading
from collections import deque
from collections.abc import Generator, Iterable, Iterator, Sequence
from typing import Any, NamedTuple
from uuid import UUID, uuid4

from sqlalchemy import Connection, Engine
from sqlalchemy.exc import DBAPIError

import pgdriver
from ledger.errors import (
    InvalidRequest,
    LedgerError,
    LinkedEntryFailed,
    error_from_code,
)
from ledger.models import BatchResult, WriteResult
from ledger.requests import (
    PostEntry,
    ReverseEntry,
    canonical_json,
    fingerprint,
    plain_entry,
)
from ledger.writes import (
    _array,
    _driver_row,
    _one_row,
    _write,
    alone,
    translated_errors,
)

_BATCH = "SELECT payments.post_batch(%s::jsonb)"
# Every array goes as a text array literal built here: the lines' (validated UUIDs, sides,
# integers, ISO 4217 codes: nothing to quote) as a single posting's do (ledger.writes._array),
# the entries' strings quoted by `_quoted` (psycopg's list dumpers, text or binary, look at
# each element in Python: more client CPU than the rest of sending a batch).
_FAST = (
    "SELECT payments.post_batch_fast(%s::uuid, %s::text[], %s::text[], %s::text[],"
    " %s::text[]::jsonb[], %s::text[]::timestamptz[], %s::text[], %s::int[],"
    " %s::uuid[], %s::text[], %s::bigint[], %s::text[])"
)
# The same call through libpq (`pgdriver.call_alone`), for a batch that is its own unit of work.
_FAST_LIBPQ = _FAST.replace("%s", "$%d") % tuple(range(1, 13))
_FAST_NAME = "ledger_post_batch_fast_" + hashlib.sha256(_FAST_LIBPQ.encode()).hexdigest()[:12]
# The same call for a stream (`post_batches_now`), chained: it runs only if the batch sent
# before it on this connection posted ($13, that batch's token, is the session's
# `ledger.batch_stream`; NULL: the first in flight, run whatever came before), and a batch
# that posts sets its own token ($14) there. A batch that failed (its transaction rolled
# back, the setting with it) or that the door declined (NULL, the setting untouched) leaves
# the batches sent after it returning no row, having written nothing: they are sent again
# after it, in order, so the stream commits its batches in the order given. OFFSET 0 keeps
# the door a subquery's, called once. Nothing about synchronous_commit: each batch commits
# as the role's, database's or server's setting says, as `post_batch_now`'s does.
_CHAINED_LIBPQ = (
    "SELECT x.ids, CASE WHEN x.ids IS NOT NULL"
    " THEN pg_catalog.set_config('ledger.batch_stream', $14, false) END"
    " FROM (" + _FAST_LIBPQ + " AS ids WHERE $13::text IS NULL"
    " OR pg_catalog.current_setting('ledger.batch_stream', true) = $13::text OFFSET 0) AS x"
)
_CHAINED_NAME = (
    "ledger_post_batch_chained_" + hashlib.sha256(_CHAINED_LIBPQ.encode()).hexdigest()[:12]
)
# The session setting the chained statements set, RESET as the stream leaves the pipeline
# (a pooled connection keeps no trace of the stream).
_STREAM_SETTING = "ledger.batch_stream"


class Batch(NamedTuple):
    """A batch of a stream (`post_batches_now`) with its links, as `post_batch_now` takes
    them (None: every request standing alone)."""

    requests: Sequence[PostEntry | ReverseEntry]
    links: Sequence[bool] | None = None


def post_entries(
    conn: Connection, org_id: UUID, requests: Sequence[PostEntry | ReverseEntry]
) -> list[WriteResult]:
    """Post many entries atomically, in order: all are posted or none is."""
    rows = _plain_rows(requests)
    if rows is not None:
        ids = _fast(conn, org_id, rows)
        if ids is not None:
            return [WriteResult(id=entry, replayed=False) for entry in ids]
    # Anything unusual (a replay, a refusal, a reversal, a condition) the long way, which
    # judges it as before: the fast door wrote nothing.
    return _write(conn, org_id, list(requests), record_failure=False)


def post_batch(
    conn: Connection,
    org_id: UUID,
    requests: Sequence[PostEntry | ReverseEntry],
    *,
    links: Sequence[bool] | None = None,
) -> list[BatchResult]:
    """Post many entries in one call, each standing alone unless linked; one result each.

    TigerBeetle's `create_transfers`: `links[i]` true links request i to request i + 1, and a
    chain of linked requests is posted together or not at all (the last request may not be
    linked). A request is posted, replayed (its key was seen with the same request), or
    refused with its typed error without failing the others; the other requests of a refused
    chain are refused with `LinkedEntryFailed` naming it. An independent request's recorded
    refusal is remembered under its key, as `post_entry`'s. `post_entries` is the batch that
    is one chain.
    """
    chains = _chains(len(requests), links)
    rows = _plain_rows(requests)
    if rows is not None:
        ids = _fast(conn, org_id, rows)
        if ids is not None:
            return [BatchResult(index, entry) for index, entry in enumerate(ids)]
    return _long_way(conn, org_id, requests, chains)


def post_batch_now(
    bind: Engine | Connection,
    org_id: UUID,
    requests: Sequence[PostEntry | ReverseEntry],
    *,
    links: Sequence[bool] | None = None,
) -> list[BatchResult]:
    """`post_batch` as its own unit of work: committed when this returns.

    One round trip for a batch the fast door takes (plain entries, none refused, no key seen
    before): the door's one statement is the whole transaction (no BEGIN, no COMMIT; the
    commit-time checks run as it ends), instead of three for `with engine.begin():
    post_batch(...)`; any other batch goes that way (the door having written nothing). As
    `post_entry_now`: `bind` is an engine (a connection of its pool, for the call) or a
    connection with no transaction open; it acts as the connection's role may outside a
    transaction (the schema's owner: a worker, an importer, the CLI), an application role
    posting with `post_batch` in its transaction (its proof is transaction-local): here it
    gets `PermissionDenied`, not `OrganizationNotFound` (the organization may well exist).

    The unit of work is wholly this call's, so a deadlock or serialization failure (40P01,
    40001: the door's statement, or the long way's transaction, rolled back, nothing of the
    caller's held) runs it again after a short jittered pause (10-20 ms, then 20-40 ms), 3
    tries in all, then raises `LostRace` from the last (`ledger.writes.alone`, as
    `post_entry_now` does), never the driver's error.
    """
    chains = _chains(len(requests), links)
    return alone(
        bind,
        ("post_batch_now", "post_batch"),
        lambda: _batch_now(bind, org_id, requests, links, chains),
    )


def post_batches_now(
    bind: Engine | Connection,
    org_id: UUID,
    batches: Iterable[Batch | Sequence[PostEntry | ReverseEntry]],
    *,
    window: int = 2,
    connections: int = 1,
) -> Generator[list[BatchResult], None, None]:
    """`post_batch_now` for each of `batches` in turn (a `Batch` carries its links; a plain
    sequence of requests stands alone), yielding each batch's results as `post_batch_now`
    returns them, in order, each batch committed by the time its results are yielded: a
    stream for a bulk importer from one process on one connection.

    The fast door's statements go through libpq's pipeline mode with up to `window` (1 or 2)
    batches in flight: the next batch is taken from `batches` and built while the server
    posts the current one. Each statement is its own unit of work and runs only if the batch
    sent before it posted, so the stream commits its batches in the order given, as one by
    one: a batch the door declines (a replay, a conflict, a refusal) or whose statement fails
    leaves those after it unrun; they are sent again after it went `post_batch_now`'s way.
    A declined batch goes the long way. A failed one ends as `post_batch_now` would end it:
    a deadlock or serialization failure counts as its first try, and `post_batch_now`'s
    second and third follow after its pauses (then `LostRace(attempts=3)`); any other error
    is raised, translated as `post_batch_now` translates it, the batch not run again (a
    statement prepared on the connection found gone ran nothing: the batch goes
    `post_batch_now`'s way, as its call would prepare it again). A batch the door cannot
    take (not plain, an invalid one) goes `post_batch_now`'s way too once those before it
    are yielded. Independent batches may move the same accounts: one backend posts them one
    after the other, no lock waits.

    `bind`: an engine (one connection of its pool for the whole stream) or a connection with
    no transaction open, which the stream uses alone until it ends (do not use it between
    the results). Closing the stream early (or an error) reads what is in flight, leaves
    pipeline mode, resets the session setting the stream chains its batches with and leaves
    the connection usable (or invalidated if it was lost or interrupted in libpq): batches
    sent and not yet yielded are each committed whole or not at all; their keys replay
    their results.

    Each batch commits as `post_batch_now`'s does: its commit waits for the WAL flush (or
    the standby) as the role's, database's or server's synchronous_commit says; the stream
    sends nothing about it, so nothing yielded is less durable than `post_batch_now`'s
    result. (A group-commit mode, results released after a barrier transaction, was tried
    in session 39 and taken out: see docs/engine.md, A stream of batches.)

    `connections=2` (1 or 2; `InvalidRequest` otherwise, and for a `Connection` bind: one
    connection cannot be two): two such streams on two connections of the engine's pool, each
    pipelined on a thread of its own, so that one backend posts while the other's client builds
    and the commits of one wait for their flush while the other posts. The batches are handed
    out in the order given, each to whichever stream asks next (the caller's iterator is read
    from the streams' threads, one at a time), and their results are yielded in that order: a
    batch's results wait for those of every batch before it, and the streams take at most
    `_AHEAD` batches past the oldest not yet yielded (plus what the stream holding that one
    takes meanwhile, a window and one more): a caller who does not ask leaves the rest of its
    iterator unread. Each batch keeps everything above (its own unit of work, committed and
    durable before its results are yielded; replays by key; a lost race run again). What is
    given up is the commit order across batches: two batches on different streams commit in
    either order (a batch depending on an earlier one, on a key it posts or funds it brings, may
    be judged before it: use connections=1, or link them in one batch), wait for each other's
    row locks on shared accounts, and may deadlock with each other (the long way locks chain by
    chain), a deadlock the stream runs again as `post_batch_now` does. A batch whose post raises
    (or the caller's iterator raising) stops the handing out; the other stream finishes the
    batches it holds before that one, and leaves (reading the rest in flight, committed or not,
    as closing does); the error is raised at that batch's turn, after the results of every batch
    before it (an error of the other stream too is added to it as a note). Closing the generator
    early stops both streams and returns both connections clean (out of pipeline mode, no
    session setting left; or invalidated, if a cancel below met its reset); no thread outlives
    the generator. A stream inside the caller's iterator when it leaves is waited for until
    the iterator returns (a source blocked waiting for input holds the close up, and a
    Ctrl-C's ending with it: no cancel reaches it; on one connection the caller's own thread
    reads it, and Ctrl-C interrupts it).
    Leaving early (closing, an error raised, Ctrl-C in the caller's thread) cancels the
    streams' statements in flight (a lock wait ends at once; each batch is committed whole or
    not at all), again every half second while a thread lives (a statement it began after a
    cancel), before waiting for the threads; a second Ctrl-C while they end leaves them to end
    on their own, each giving its connection back. The batches of the other stream that
    committed after a failed one (in flight, or run ahead) are named in a note on the error
    raised: a caller resuming from the failed batch finds them posted (their keys replay).
    The threads are daemon threads: a generator left open does not hold up the interpreter's
    exit.
    """
    if window not in (1, 2):
        raise InvalidRequest("a stream keeps one or two batches in flight")
    if connections not in (1, 2):
        raise InvalidRequest("a stream runs on one or two connections")
    if connections == 2:
        if not isinstance(bind, Engine):
            raise InvalidRequest("two streams need an engine: one connection cannot be two")
        if pgdriver.has_characteristics(bind):
            for batch in batches:  # no pipeline there (below): batch by batch
                requests, links = _unpacked(batch)
                yield post_batch_now(bind, org_id, requests, links=links)
            return
        yield from _streams(bind, org_id, batches, window)
        return
    if isinstance(bind, Engine):
        if pgdriver.has_characteristics(bind):
            # The pipeline's transactions are the server's implicit ones: no isolation
            # options. Batch by batch, `post_batch_now` takes its transaction's way.
            for batch in batches:
                requests, links = _unpacked(batch)
                yield post_batch_now(bind, org_id, requests, links=links)
            return
        with bind.connect() as conn:
            yield from _stream(conn, org_id, batches, window)
        return
    if bind.in_transaction():
        raise RuntimeError("post_batches_now on a connection with a transaction open")
    yield from _stream(bind, org_id, batches, window)


def _unpacked(
    batch: Batch | Sequence[PostEntry | ReverseEntry],
) -> tuple[Sequence[PostEntry | ReverseEntry], Sequence[bool] | None]:
    """A stream's item as its requests and links."""
    if isinstance(batch, Batch):
        return batch.requests, batch.links
    return batch, None


class _Queued(NamedTuple):
    """A batch of a stream, built: the door's arguments (None: not for the pipeline)."""

    requests: Sequence[PostEntry | ReverseEntry]
    links: Sequence[bool] | None
    chains: list[list[int]] | None
    params: tuple[str, ...] | None


def _queued(org_id: UUID, batch: Batch | Sequence[PostEntry | ReverseEntry]) -> _Queued:
    """A stream's batch built for the pipeline if the fast door may take it."""
    requests, links = _unpacked(batch)
    try:
        chains = _chains(len(requests), links)
    except LedgerError:
        return _Queued(requests, links, None, None)  # post_batch_now raises it in its turn
    rows = _plain_rows(requests)
    params = None if rows is None else _fast_params(org_id, rows)
    return _Queued(requests, links, chains, params)


def _stream(
    conn: Connection,
    org_id: UUID,
    batches: Iterable[Batch | Sequence[PostEntry | ReverseEntry]],
    window: int,
) -> Generator[list[BatchResult], None, None]:
    """`post_batches_now` on a connection with no transaction open."""
    source = iter(batches)
    queue: deque[_Queued] = deque()  # built, to send (in front: sent once, to send again)
    flight: deque[tuple[_Queued, str]] = deque()  # sent, with their tokens, in order
    stream = uuid4().hex
    count = 0
    ended = False
    statements = {_CHAINED_NAME: _CHAINED_LIBPQ}
    with pgdriver.Pipeline(conn, statements, settings=(_STREAM_SETTING,)) as pipe:
        while True:
            if not queue and not ended:
                # Built while the server works on what is in flight.
                batch = next(source, None)
                if batch is None:
                    ended = True
                else:
                    queue.append(_queued(org_id, batch))
            head = queue[0] if queue else None
            if head is not None and head.params is not None and len(flight) < window:
                count += 1
                token = f"{stream}-{count}"
                before = flight[-1][1] if flight else None
                try:
                    pipe.send(_CHAINED_NAME, (*head.params, before, token))
                except TypeError:  # a NUL in a text: post_batch_now's way, in its turn
                    queue[0] = head._replace(params=None)
                    continue
                queue.popleft()
                flight.append((head, token))
                continue
            if flight:
                item, _ = flight.popleft()
                posted, failure = _received(pipe)
                if posted is not None:
                    yield posted
                    continue
                # Declined or failed: the batches in flight after it ran nothing (chained);
                # read, and sent again after it.
                again = []
                while flight:
                    later, _ = flight.popleft()
                    done, _ = _received(pipe)
                    if done is not None:  # cannot be: its statement ran only after a post
                        raise AssertionError("a chained batch posted after one that did not")
                    again.append(later)
                queue.extendleft(reversed(again))
                pipe.close()
                yield _settled(conn, org_id, item, failure)
                continue
            if not queue:
                return
            item = queue.popleft()  # not for the pipeline, nothing in flight
            pipe.close()
            yield post_batch_now(conn, org_id, item.requests, links=item.links)


_AHEAD = 16
"""Batches the two streams (`_streams`) may hand out past the oldest not yet yielded, beyond
what the stream holding that oldest one takes meanwhile: how far one stream runs ahead while
the other waits (a lock, a slow batch) or the caller does not ask."""
_CANCEL_TIMEOUT = 5.0
"""Seconds a cancel request may take (psycopg's own default is 30): leaving early on a lost
network waits for it once per stream and per round of `_left`'s joins."""
_WAKE = 0.25
"""Seconds the caller's thread waits for a batch's results before it looks again (and acts
on a Ctrl-C delivered to another thread meanwhile)."""
_JOIN_STEP = 0.5
"""Seconds `_left` waits for a thread before cancelling its statement again (a statement it
started after the last cancel: the long way, a rerun after a lost race)."""
_THREAD_NAME = "ledger-batch-stream"
"""The streams' threads' names (with `-0`, `-1`)."""
_CANCELED = "57014"
"""query_canceled: a statement `_Shared.cancel` stopped."""


class _Shared:
    """What the two streams of `_streams` and the caller share, under `cond` (the caller's
    iterator under `source_lock`, taken before `cond`, never inside it; the streams'
    connections' cancelling under `cancel_lock`, taken alone)."""

    def __init__(self, batches: Iterable[Batch | Sequence[PostEntry | ReverseEntry]]) -> None:
        self.source = iter(batches)
        self.source_lock = threading.Lock()
        self.cond = threading.Condition()
        self.handed = 0  # batches handed out (numbered 0, 1, ...)
        self.ended = False  # the caller's iterator ended (or raised)
        self.turn = 0  # the batch whose results the caller gets next
        self.done: dict[int, list[BatchResult]] = {}
        self.failures: list[tuple[int, BaseException]] = []  # each at its batch's turn
        self.stop_at: int | None = None  # a failure's turn: nothing more handed out
        self.closing = False  # the caller left: both streams stop
        self.running = 0
        self.parked = 0  # streams waiting in `_handed` for the caller to take results
        self.cancel_lock = threading.Lock()
        self.drivers: dict[int, Any] = {}  # stream number: its driver connection, until released
        self.cancelled = False  # the caller left early: the streams' statements were cancelled
        self.unowned: list[Connection] = []  # taken for a stream whose thread has not claimed it
        self.unsettled: list[int] = []  # batches a stream held when it left early, unread

    def stopped(self) -> bool:
        return self.closing or self.stop_at is not None

    def too_far(self, mine: deque[int]) -> bool:
        """Whether a stream holding `mine` waits before taking another batch (under `cond`):
        the streams hold `_AHEAD` batches past the oldest not yet yielded, and this stream
        does not hold that one (the caller may be waiting for it: its stream never waits)."""
        return self.handed - self.turn >= _AHEAD and not (mine and mine[0] == self.turn)

    def take(self) -> list[BatchResult] | None:
        """The next batch's results once recorded (None: no batch left), or its turn's
        failure raised."""
        with self.cond:
            while True:
                turn = self.turn
                if turn in self.done:
                    self.turn += 1
                    self.cond.notify_all()  # a stream waiting to run ahead may go on
                    return self.done.pop(turn)
                due = [f for f in self.failures if f[0] <= turn]
                if due:
                    raise min(due, key=lambda f: f[0])[1]
                if self.ended and turn >= self.handed:
                    return None
                if not self.running:
                    raise RuntimeError(f"the streams ended without batch {turn}'s results")
                # Never an unbounded wait in the caller's thread: a Ctrl-C the kernel hands
                # to a stream's thread only sets Python's flag, which the caller's thread
                # acts on when it next runs (at worst after this timeout).
                self.cond.wait(_WAKE)

    def cancel(self) -> None:
        """The caller left early: cancel the statement each stream has in flight (a lock
        wait, a slow batch), so that it ends now; a connection already released is not
        touched (it may be another caller's by then). Its cancelled statement's error is not
        a failure (`failed`)."""
        with self.cond:
            self.cancelled = True
        with self.cancel_lock:
            for driver in self.drivers.values():
                cancel = getattr(driver, "cancel_safe", None)  # psycopg's, thread-safe
                if cancel is not None:
                    with contextlib.suppress(Exception):  # at worst the stream ends as it would
                        cancel(timeout=_CANCEL_TIMEOUT)

    def release(self, number: int) -> None:
        """Stream `number` is about to give its connection back: no cancel reaches it then."""
        with self.cancel_lock:
            self.drivers.pop(number, None)

    def unraised(self, raised: BaseException | None) -> None:
        """Once both streams ended: the failures not raised to the caller, never lost; added
        as notes to what the caller gets (`raised`), or the first of them raised."""
        rest = [exc for _, exc in self.failures if exc is not raised]
        if not rest:
            return
        if raised is None or isinstance(raised, GeneratorExit):
            raised = rest.pop(0)
            for other in rest:
                raised.add_note(f"the other stream failed too: {other!r}")
            raise raised
        for other in rest:
            raised.add_note(f"the other stream failed too: {other!r}")

    def committed_after(self, raised: BaseException | None) -> None:
        """Once both streams ended: if `raised` is a batch's failure, the batches after it
        that committed all the same (the other stream's, in flight or run ahead) named on it,
        so that a caller resuming from the failed batch knows they are posted (their keys
        replay their results)."""
        turns = [turn for turn, exc in self.failures if exc is raised]
        if raised is None or not turns:
            return
        after = sorted(n for n in self.done if n > turns[0])
        held = sorted(n for n in self.unsettled if n > turns[0])
        if after or held:
            raised.add_note(
                f"after batch {turns[0]} (batches numbered from 0 in the order given), committed"
                f" all the same, their results not yielded: {after}; held by a stream when it"
                f" stopped, committed or not (their keys tell): {held}"
            )

    def failed(self, mine: deque[int], exc: BaseException) -> None:
        """A stream's error (under `cond`), recorded at the turn of the oldest batch it holds,
        or, holding none, at the next number to hand out (a batch being drawn meanwhile is
        then not handed out: `_handed` looks again); a statement `cancel` stopped is none."""
        orig = getattr(exc, "orig", exc)
        if self.cancelled and getattr(orig, "sqlstate", None) == _CANCELED:
            return
        self.fail(mine[0] if mine else self.handed, exc)

    def fail(self, turn: int, exc: BaseException) -> None:
        """Record a failure at `turn` (under `cond`): nothing more is handed out."""
        self.failures.append((turn, exc))
        self.stop_at = turn if self.stop_at is None else min(self.stop_at, turn)
        self.cond.notify_all()


def _streams(
    engine: Engine,
    org_id: UUID,
    batches: Iterable[Batch | Sequence[PostEntry | ReverseEntry]],
    window: int,
) -> Iterator[list[BatchResult]]:
    """`post_batches_now` on two connections of `engine`'s pool, a `_stream` on each, in a
    thread of its own; results yielded in the order of the batches.

    The threads are daemon threads: a generator left open when the interpreter exits does
    not keep it waiting (the server then sees both connections close: each batch in flight
    committed whole or not at all). Leaving early (closing, an error, Ctrl-C) cancels the
    statements in flight, then waits for both threads; each gives its connection back to the
    pool as it ends (a second Ctrl-C while they end leaves them to end on their own)."""
    shared = _Shared(batches)
    threads: list[threading.Thread] = []
    raised: BaseException | None = None
    try:
        for _ in range(2):  # taken here: a pool's refusal is the caller's at once
            shared.unowned.append(engine.connect())
        conns = list(shared.unowned)
        for n, conn in enumerate(conns):
            shared.drivers[n] = conn.connection.driver_connection
        for n, conn in enumerate(conns):
            # The thread claims its connection (out of `unowned`, under `cond`) as it starts:
            # whenever the caller is interrupted, a connection is either a thread's, given
            # back by it, or unowned, given back by `_left`, never both.
            thread = threading.Thread(
                target=_worker,
                args=(shared, n, conn, org_id, window),
                name=f"{_THREAD_NAME}-{n}",
                daemon=True,
            )
            with shared.cond:
                shared.running += 1
            try:
                thread.start()
            except BaseException:
                with shared.cond:
                    shared.running -= 1
                raise
            threads.append(thread)
        while (results := shared.take()) is not None:
            yield results
    except BaseException as exc:
        raised = exc
        raise
    finally:
        if not sys.is_finalizing():  # else nothing can be waited for: the threads are stopped
            _left(shared, threads, raised)


def _left(shared: _Shared, threads: list[threading.Thread], raised: BaseException | None) -> None:
    """`_streams` left (`raised`: how, None at the end of the batches): both streams stopped
    and waited for (leaving early, their statements in flight cancelled, again every
    `_JOIN_STEP` while a thread lives: a statement it started after a cancel), a connection
    no thread claimed given back, the failures not raised to the caller raised or noted, and
    the batches committed after the failure raised named on it. A thread inside the caller's
    iterator is waited for until the iterator returns (no cancel reaches it; not waiting
    would let the caller use its iterator while the thread still reads it); the thread
    running this is not (the generator finalized on a stream's own thread)."""
    with shared.cond:
        shared.closing = True
        shared.cond.notify_all()
    me = threading.current_thread()
    try:
        for thread in threads:
            while thread is not me and thread.is_alive():
                if raised is not None:
                    shared.cancel()
                thread.join(_JOIN_STEP)
    finally:
        with shared.cond:
            unowned, shared.unowned = shared.unowned, []
        for conn in unowned:  # taken, no thread started on it
            conn.close()
    shared.unraised(raised)
    shared.committed_after(raised)


def _worker(shared: _Shared, number: int, conn: Connection, org_id: UUID, window: int) -> None:
    """One of `_streams`' two: a `_stream` on `conn` over the batches it is handed, each
    one's results recorded under its number; any error recorded at its batch's turn; `conn`
    given back to the pool at the end."""
    with shared.cond:
        claimed = conn in shared.unowned
        if claimed:
            shared.unowned.remove(conn)  # this thread's now: it gives it back (below)
        else:  # the caller left before this thread began: `_left` gave it back
            shared.running -= 1
            shared.cond.notify_all()
    if not claimed:
        shared.release(number)  # no cancel for a connection that is not this stream's
        return
    mine: deque[int] = deque()  # the numbers of the batches this stream holds, in order
    try:
        stream = _stream(conn, org_id, _handed(shared, mine), window)
        try:
            for results in stream:
                with shared.cond:
                    shared.done[mine.popleft()] = results
                    shared.cond.notify_all()
                    stop = shared.stop_at
                    if shared.closing or (stop is not None and all(n > stop for n in mine)):
                        # Left with these in flight (read by the close: committed or not) or
                        # drawn: named on the error raised (`committed_after`). A stream that
                        # failed holds none such: those after its failed batch never ran.
                        shared.unsettled.extend(mine)
                        break  # what it holds is past the failure: read, not waited for
        finally:
            stream.close()  # out of pipeline mode, the session setting reset
    except BaseException as exc:
        with shared.cond:
            shared.failed(mine, exc)
    finally:
        try:
            shared.release(number)
            conn.close()
        finally:
            with shared.cond:
                shared.running -= 1
                shared.cond.notify_all()


def _handed(
    shared: _Shared, mine: deque[int]
) -> Iterator[Batch | Sequence[PostEntry | ReverseEntry]]:
    """The batches handed to one stream, in the order given, numbered in `mine`; it ends
    when the caller's batches do, or once a stream failed or the caller left. It waits while
    the streams are `_AHEAD` past the caller (`_Shared.too_far`)."""
    while True:
        with shared.cond:
            while not shared.stopped() and not shared.ended and shared.too_far(mine):
                shared.parked += 1
                try:
                    shared.cond.wait()
                finally:
                    shared.parked -= 1
            if shared.stopped() or shared.ended:
                return
        with shared.source_lock:
            with shared.cond:
                if shared.stopped() or shared.ended:
                    return
                if shared.too_far(mine):
                    continue  # the other stream took one meanwhile: wait again
                number = shared.handed
            try:
                batch = next(shared.source, None)
            except BaseException as exc:
                with shared.cond:
                    shared.ended = True
                    shared.fail(number, exc)
                return
            with shared.cond:
                if batch is None:
                    shared.ended = True
                    shared.cond.notify_all()
                    return
                if shared.stopped():
                    return  # a failure (perhaps at `number`) or the caller left: not handed out
                shared.handed += 1
                mine.append(number)
        yield batch


def _received(pipe: pgdriver.Pipeline) -> tuple[list[BatchResult] | None, DBAPIError | None]:
    """The oldest batch in flight's results if the door posted it; else (None, its error,
    or None: declined, or not run)."""
    try:
        row = pipe.receive()
    except DBAPIError as exc:
        if exc.connection_invalidated:
            raise
        return None, exc
    if row is None or row[0] is None:
        return None, None
    text = row[0]
    return [BatchResult(i, UUID(x)) for i, x in enumerate(text[1:-1].split(","))], None


def _settled(
    conn: Connection, org_id: UUID, item: _Queued, failure: DBAPIError | None
) -> list[BatchResult]:
    """A batch the pipeline did not post, judged as `post_batch_now` judges it: declined by
    the door (nothing written), the long way; failed, as `post_batch_now` fails (`alone`):
    the pipelined statement was its first try, so a deadlock or serialization failure is
    run again up to `alone`'s tries in all, and any other error is raised (translated) at
    once. A statement that ran nothing (its prepared statement gone or stale) is not a try:
    `post_batch_now` then, as its own call would prepare the statement again."""
    if failure is None and item.chains is not None:
        chains = item.chains
        return alone(
            conn,
            ("post_batches_now", "post_batch"),
            lambda: _long_way_now(conn, org_id, item.requests, chains),
        )
    if failure is None or pgdriver.ran_nothing(failure):
        return post_batch_now(conn, org_id, item.requests, links=item.links)
    built = item.chains
    assert built is not None  # a failure is a sent batch's: its chains were built
    first: list[DBAPIError] = [failure]

    def once() -> list[BatchResult]:
        if first:
            with translated_errors():
                raise first.pop()
        return _batch_now(conn, org_id, item.requests, item.links, built)

    return alone(conn, ("post_batches_now", "post_batch"), once)


def _long_way_now(
    conn: Connection,
    org_id: UUID,
    requests: Sequence[PostEntry | ReverseEntry],
    chains: list[list[int]],
) -> list[BatchResult]:
    """A batch the fast door declined, the long way, as its own unit of work."""
    with conn.begin():
        return _long_way(conn, org_id, requests, chains)


def _batch_now(
    bind: Engine | Connection,
    org_id: UUID,
    requests: Sequence[PostEntry | ReverseEntry],
    links: Sequence[bool] | None,
    chains: list[list[int]],
) -> list[BatchResult]:
    """One try of `post_batch_now`."""
    rows = _plain_rows(requests)
    if rows is not None:
        try:
            with translated_errors():
                row = pgdriver.call_alone(bind, _FAST_NAME, _FAST_LIBPQ, _fast_params(org_id, rows))
        except TypeError:
            pass  # another driver, or a NUL in a text: the transaction's way, door first
        else:
            if row is not None and row[0] is not None:
                text = row[0]
                return [BatchResult(i, UUID(x)) for i, x in enumerate(text[1:-1].split(","))]
            rows = None  # declined, nothing written: judged the long way
    if isinstance(bind, Engine):
        with bind.begin() as conn:
            if rows is None:
                return _long_way(conn, org_id, requests, chains)
            return post_batch(conn, org_id, requests, links=links)
    with bind.begin():
        if rows is None:
            return _long_way(bind, org_id, requests, chains)
        return post_batch(bind, org_id, requests, links=links)


def _long_way(
    conn: Connection,
    org_id: UUID,
    requests: Sequence[PostEntry | ReverseEntry],
    chains: list[list[int]],
) -> list[BatchResult]:
    """The batch judged chain by chain (the fast door declined it, or it is not plain)."""
    # Anything unusual (a refusal, a replay, a reversal, a condition, a key used twice) the
    # long way: the fast door wrote nothing.
    results: dict[int, BatchResult] = {}
    payloads: dict[int, dict[str, Any]] = {}
    keys: set[str] = set()
    refs: set[str] = set()
    for chain in chains:
        refused: dict[int, LedgerError] = {}
        for index in chain:
            try:
                payloads[index] = _batch_payload(requests[index], keys, refs)
            except LedgerError as exc:
                refused[index] = exc
        if refused:
            first = min(refused)
            for index in chain:
                payloads.pop(index, None)
                error = refused.get(index) or LinkedEntryFailed(index=first)
                results[index] = BatchResult(index=index, error=error)
    sent = sorted(payloads)
    if sent:
        # The requests that passed validation may still all be plain: the fast door first.
        rows = _plain_rows([requests[i] for i in sent]) if len(sent) < len(requests) else None
        ids = None if rows is None else _fast(conn, org_id, rows)
        if ids is not None:
            results.update({i: BatchResult(i, entry) for i, entry in zip(sent, ids, strict=True)})
        else:
            sent_chains = [c for c in chains if c[0] in payloads]
            results.update(_send(conn, org_id, sent, [payloads[i] for i in sent], sent_chains))
    return [results[index] for index in range(len(requests))]


def _chains(count: int, links: Sequence[bool] | None) -> list[list[int]]:
    """The requests' indexes grouped in linked chains (a chain of one: independent)."""
    if count == 0:
        raise InvalidRequest("nothing to write")
    flags = [False] * count if links is None else [bool(x) for x in links]
    if len(flags) != count:
        raise InvalidRequest("links has one flag per request")
    if flags[-1]:
        raise InvalidRequest("the last request of a batch cannot be linked to a next one")
    chains: list[list[int]] = []
    current: list[int] = []
    for index, linked in enumerate(flags):
        current.append(index)
        if not linked:
            chains.append(current)
            current = []
    return chains


def _send(
    conn: Connection,
    org_id: UUID,
    sent: list[int],
    payloads: list[dict[str, Any]],
    chains: list[list[int]],
) -> dict[int, BatchResult]:
    """Results of the valid requests (`sent`, request indexes; `payloads` in that order),
    judged by the long door."""
    position = {index: n for n, index in enumerate(sent)}
    body = {
        "org_id": str(org_id),
        "requests": payloads,
        "chains": [[position[i] for i in c] for c in chains],
    }
    with translated_errors():
        row = _one_row(conn, _BATCH, (canonical_json(body),))
    results = {}
    for index, item in zip(sent, row[0]["results"], strict=True):
        if item["status"] == "failed":
            details = dict(item["details"] or {})
            if item["code"] == LinkedEntryFailed.code:
                details["index"] = sent[int(details["index"])]
            error = error_from_code(item["code"], details)
            results[index] = BatchResult(index, replayed=item["replayed"], error=error)
        else:
            results[index] = BatchResult(index, UUID(item["id"]), replayed=item["replayed"])
    return results


class _Plain(NamedTuple):
    """A batch of plain entries as the fast door takes it, column by column: per entry its
    key, fingerprint and fields; per line its entry (1-based), account (as text), side,
    amount and currency."""

    keys: list[str]
    hashes: list[str]
    descriptions: list[str]
    metadata: list[str | None]
    effective_at: list[str | None]
    external_refs: list[str | None]
    entry_of: list[int]
    accounts: list[str]
    sides: list[str]
    amounts: list[int]
    currencies: list[str]


def _plain_rows(requests: Sequence[object]) -> _Plain | None:
    """The fast door's columns for a batch of plain entries (each judged by
    `ledger.requests.plain_entry`: a `PostEntry` without conditions, of the built-in types,
    valid, fingerprinted without building its payload, about half its CPU; each with a key
    and external reference of its own in the batch); or None: the batch goes the long way,
    whose full validation raises any typed error."""
    plain = _Plain([], [], [], [], [], [], [], [], [], [], [])
    keys, hashes, descriptions, metadatas, times, refs = plain[:6]
    entry_of, accounts, sides, amounts, currencies = plain[6:]
    seen_refs: set[str] = set()
    number = 0
    for request in requests:
        entry = plain_entry(request)
        if entry is None:
            return None
        key, hashed, texts, line_sides, line_amounts, line_currencies, text, meta, at, ref = entry
        if ref is not None:
            if ref in seen_refs:
                return None
            seen_refs.add(ref)
        number += 1
        entry_of += [number] * len(texts)
        accounts += texts
        sides += line_sides
        amounts += line_amounts
        currencies += line_currencies
        keys.append(key)
        hashes.append(hashed)
        descriptions.append(text)
        metadatas.append(meta)
        times.append(at)
        refs.append(ref)
    if not number or len(set(keys)) != number:
        return None  # nothing, or a key used twice in the batch
    return plain


def _fast(conn: Connection, org_id: UUID, plain: _Plain) -> list[UUID] | None:
    """The new entries' ids if the fast door posted every entry, else None (nothing
    written)."""
    with translated_errors():
        (ids,) = _driver_row(conn, _FAST, _fast_params(org_id, plain))
    return None if ids is None else list(ids)


def _fast_params(org_id: UUID, plain: _Plain) -> tuple[str, ...]:
    """The fast door's arguments, as text."""
    return (
        str(org_id),
        _quoted(plain.keys),
        _array(plain.hashes),
        _quoted(plain.descriptions),
        _quoted(plain.metadata),
        _quoted(plain.effective_at),
        _quoted(plain.external_refs),
        _array(plain.entry_of),
        _array(plain.accounts),
        _array(plain.sides),
        _array(plain.amounts),
        _array(plain.currencies),
    )


def _quoted(items: Sequence[str | None]) -> str:
    """A PostgreSQL text array literal of any strings (None: NULL), each element quoted."""
    if not any(items):  # the usual description, metadata, time and reference: none
        return "{" + ",".join(['""' if item == "" else "NULL" for item in items]) + "}"
    return (
        "{"
        + ",".join(
            "NULL" if item is None else '"' + item.replace("\\", "\\\\").replace('"', '\\"') + '"'
            for item in items
        )
        + "}"
    )


def _batch_payload(
    request: PostEntry | ReverseEntry, keys: set[str], refs: set[str]
) -> dict[str, Any]:
    """A batch request's validated payload with its fingerprint; keys and external
    references must be unique within the batch."""
    if not isinstance(request, PostEntry | ReverseEntry):
        raise InvalidRequest("a batch holds entries and reversals only")
    payload = request.payload()
    payload["hash"] = fingerprint(payload)
    if payload["key"] in keys:
        raise InvalidRequest("each request of a batch needs its own idempotency key")
    ref = payload.get("external_ref")
    if ref and ref in refs:
        raise InvalidRequest("each entry of a batch needs its own external reference")
    keys.add(payload["key"])
    if ref:
        refs.add(ref)
    return payload

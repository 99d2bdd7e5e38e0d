"""The worker loop: claim due deliveries, send them concurrently, record the outcomes;
handle inbox events; prune old messages. Wakes at once on LISTEN/NOTIFY, polls as a fallback.

Each step is its own unit of work (its own committed transaction): the claim commits before
anything is sent (so the lease is visible to other workers), the outcomes commit after. A
worker killed mid-batch loses nothing: its leases lapse and another worker sends again, with
the same `webhook-id`. Leases are short (10 s) and a live worker extends them every third of
a lease while it sends (a heartbeat, as pgqueuer and River do), so a killed worker's
deliveries, and the later messages of their aggregates queued behind them, are taken over
within about one lease, however long a batch takes to send. A failed delivery waits its
policy's next wait, or is dead after the policy's last attempt (a task's failure no retry can
mend, `outbox.retries.PermanentFailure`, at once): the worker's
(`WorkerSettings.retry`, Svix's schedule) unless it is a task registered with a policy of
its own (`Worker.retry_for`, looked up by the message's type at each failure; nothing of it
is stored on the delivery but its attempt count). An inbox event whose handler must
ask Stripe first is handled the same way: claimed under a lease (commit), prepared with no
transaction open, then finished in a transaction of its own (see `outbox.inbox`).

Such two-step events are prepared concurrently: the loop keeps claiming (one committed
transaction per claim, as before; a one-step event is still handled in its claim's
transaction, on the loop's thread) while up to `WorkerSettings.inbox_concurrency` claims are
prepared and finished on the worker's inbox threads (a pool of their own, sized by that
bound, not the deliveries' `concurrency`), each finish in its own transaction on its own
pooled connection. A payment waiting on Stripe (one to three calls) no longer holds up the
events behind it: with Stripe answering in 250 ms a worker finished at most ~4 payments a
second one at a time. With nothing due and events in flight the loop looks again once one of
them is finished or a poll interval has passed, so an event that comes meanwhile is claimed
within a poll interval however long the others wait on Stripe. One thread renews the leases
of every claim in flight (each claim's own statement, one transaction per beat; a claim is
renewed once it is a heartbeat old), and a claim leaves it before its finish, after any
renewal in progress has committed, so the finish fences on the latest token.
`handle_inbox_once` returns once every event it took is finished; a failure that stops the
loop (a lost database) stops the claiming, lets the rest finish, then reaches `run()` (the
claims it left lapse and are taken again). Every thread holds at most one pooled connection
at a time (no hold-and-wait on the pool). The prepares (waits on Stripe) and the finishes
(database work) have bounds of their own: up to `inbox_concurrency` (32) events wait on Stripe
at once, and up to `inbox_finishes` (8) of them are in their finishing transaction at once
(the others wait for a turn holding no connection), so a wider bound for Stripe's waits asks
nothing more of the server's connection slots: the engine needs room for `inbox_finishes`
finishes, the claiming loop and the renewing thread (the CLI sizes it). With 16 prepares per
worker and Stripe at 250 ms, two workers could not book more than ~100 payments a second
(16 / ~0.32 s each) however fast the machine: session 39's quiet machine drained a burst at
158/s with Stripe answering at once and 99/s at 250 ms; with 32 and 8, 156/s and 146/s
(`bench.inbox`, load 1.3-2.3). A worker may hold up to 32 claims while it finishes 8: an idle
worker beside it finds fewer events due, never a stranded one (the leases are renewed, and a
killed worker's lapse).
Events that overlap in one process met the same races before across processes: handlers
tolerate any order (a refund finished before its payment is retried, NotYetApplicable).

`stop()` (SIGTERM) lets the batch and the inbox events in flight finish, then returns. A
database lost under it (a primary's death, a failover to its standby) stops no worker: `run()`
connects again until the engine's URL reaches a primary, and carries on.

A transient database failure (a deadlock, a serialization failure, a lock not available:
`outbox.retries.transient_sqlstate`) is not a failed attempt: the server answered and
nothing is wrong with the work. An inbox event is deferred (`outbox.inbox`); a task delivery
is run again here, after a short wait (`WorkerSettings.task_retries`), in the same claim
(its lease kept alive), before its outcome is recorded, so its attempt count does not move;
one still failing after the last wait is a failed attempt as before. One met by an inbox
event's transaction outside its handler's savepoint (the relock, the outcome's update,
COMMIT) rolls back the outcome too: the worker records it for that event in a transaction of
its own (`outbox.inbox.fail_rolled_back`), so the same bound applies and such an event still
ends dead. Such a failure outside any handler, task or event (recording a batch, the
periodic step) stops no worker either: `run()` logs it and carries on (a delivery claimed
and not recorded is sent again when its lease lapses).
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from types import FrameType
from typing import Any

import psycopg
import sqlalchemy as sa

from outbox.addresses import NO_ALLOW, AllowList, Resolver, system_resolver
from outbox.dispatch import Claimed, Outcome, claim, prune, record, renew_leases
from outbox.http_post import PostClient
from outbox.inbox import (
    Claim,
    Handlers,
    InboxEvent,
    begin,
    fail_claimed,
    fail_rolled_back,
    finish_claimed,
    next_due,
    renew_claim,
)
from outbox.message_types import task_retry
from outbox.retries import RetryPolicy, transient_sqlstate
from outbox.senders import SmtpSettings, run_task, send_email, send_webhook
from outbox.smtp_send import MailClient

log = logging.getLogger(__name__)

CHANNELS = ("messaging_deliveries", "messaging_inbox")

LOST_DATABASE = (sa.exc.OperationalError, sa.exc.InterfaceError, psycopg.OperationalError)
"""The errors among which a worker's loop looks for a lost database (`lost_database`)."""

LOST_SQLSTATES = frozenset({"57P01", "57P02", "57P03"})
"""admin_shutdown, crash_shutdown, cannot_connect_now (with class 08, connection exception):
the server went away or does not take connections yet (a failover in progress)."""


def lost_database(exc: BaseException) -> bool:
    """Whether `exc` means the database was lost (waited out, connected again): a SQLSTATE
    of class 08 or in `LOST_SQLSTATES`, a connection SQLAlchemy invalidated, or an
    operational or interface error with no SQLSTATE (a failed connect, a closed socket).
    Not a deadlock (40P01), a serialization failure (40001), a statement timeout (57014) or a
    lock not available (55P03): the server answered, and the loop must not hide them as
    'unreachable'. (liventix.retrying's rule; outbox does not import liventix.)"""
    if not isinstance(exc, LOST_DATABASE):
        return False
    if isinstance(exc, sa.exc.DBAPIError) and exc.connection_invalidated:
        return True
    orig = exc.orig if isinstance(exc, sa.exc.DBAPIError) else exc
    code = getattr(orig, "sqlstate", None)
    if code is None:
        return True
    return str(code).startswith("08") or code in LOST_SQLSTATES


def _recordable(exc: BaseException) -> bool:
    """Whether a step's failed transaction is recorded for its event: a database error the
    server answered (a lost database is `run()`'s to wait out), transient or not."""
    return isinstance(exc, sa.exc.DBAPIError | psycopg.Error) and not lost_database(exc)


def _first_line(exc: BaseException) -> str:
    return next(iter(str(exc).splitlines()), type(exc).__name__)


def _settle(in_flight: set[Future[str]], timeout: float | None) -> BaseException | None:
    """Drop the finished from `in_flight`, waiting up to `timeout` seconds (None: until one
    is) for one to finish; the first failure among them, if any (the others logged)."""
    finished, _ = wait(in_flight, timeout=timeout, return_when=FIRST_COMPLETED)
    in_flight.difference_update(finished)
    failures = [f.exception() for f in finished if f.exception() is not None]
    for extra in failures[1:]:
        log.error("inbox event failed as well", exc_info=extra)
    return failures[0] if failures else None


def _drain(in_flight: set[Future[str]], leases: _InboxLeases) -> BaseException | None:
    """Wait until every event in flight is finished and stop renewing leases; the first
    failure among them, if any."""
    wait(in_flight)
    leases.close()
    return _settle(in_flight, 0)


def _check_pool(engine: sa.Engine, settings: WorkerSettings) -> None:
    """Warn when the engine's pool cannot give each inbox finish, the claiming loop and the
    renewing thread a connection at once: they would queue for one (no deadlock: none holds
    two), up to the pool's timeout."""
    pool = engine.pool
    # QueuePool's overflow bound has no public accessor; -1 is no bound.
    if not isinstance(pool, sa.pool.QueuePool) or pool._max_overflow < 0:
        return
    room = pool.size() + pool._max_overflow
    need = max(settings.finishing_bound, settings.concurrency) + 2
    if room < need:
        log.warning(
            "worker: the engine's pool holds %d connections; %d may be wanted at once"
            " (inbox finishes %d or concurrency %d, the loop and a heartbeat)",
            room,
            need,
            settings.finishing_bound,
            settings.concurrency,
        )


@dataclass(frozen=True)
class WorkerSettings:
    """How a worker claims, sends, retries and cleans up."""

    batch_size: int = 100
    concurrency: int = 16
    # How long a claim holds without a heartbeat; a live worker renews it every third of it.
    lease: timedelta = timedelta(seconds=10)
    request_timeout: float = 10.0
    poll_interval: float = 1.0
    # The schedule of webhooks, e-mails, inbox events and tasks registered without a policy
    # of their own (a task's own, `register_task(..., retry=)`, is used for its deliveries).
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    disable_after: timedelta = timedelta(days=5)
    retention: timedelta = timedelta(days=7)
    prune_every: float = 300.0
    max_response_body: int = 2048
    # Seconds `run()` waits before connecting again to a database it lost (a failover).
    reconnect_wait: float = 0.5
    smtp: SmtpSettings = field(default_factory=SmtpSettings)
    # Networks webhooks may reach although not public (loopback for a demo or a test);
    # empty: only public addresses (`outbox.addresses`).
    webhook_allow: AllowList = NO_ALLOW
    # Seconds to wait before running a task again after each transient database failure
    # (deadlock, serialization, lock not available), within its claim; short, since the
    # batch's outcomes are recorded once every delivery of it is done.
    task_retries: tuple[float, ...] = (0.1, 0.3, 1.0)
    # Two-step inbox events (a payment asking Stripe for its fee) prepared at once by one
    # worker, each on a thread of its own; the loop claims the next while they wait on Stripe.
    inbox_concurrency: int = 32
    # Of those, how many are in their finishing transaction at once, each on one of the
    # engine's connections (the rest wait for a turn holding none).
    inbox_finishes: int = 8

    @property
    def heartbeat(self) -> float:
        """Seconds between two renewals of a claim's lease: a third of the lease."""
        return max(self.lease.total_seconds() / 3, 0.05)

    @property
    def finishing_bound(self) -> int:
        """How many inbox events one worker finishes at once (each on a connection)."""
        return max(1, min(self.inbox_finishes, self.inbox_concurrency))


@dataclass(eq=False)
class _Held:
    """An inbox claim in flight as the renewing thread last left it (None once lost), and
    when it was claimed or last renewed (`time.monotonic()`)."""

    claim: Claim | None
    renewed: float


class _InboxLeases:
    """The leases of the inbox claims in flight, renewed by one thread (started with the
    first claim held): every half heartbeat it renews each claim a heartbeat old or more,
    each by its own statement (`renew_claim`, which names the event's organization) in one
    transaction, and keeps the new tokens once that transaction has committed. A failed beat
    is tried again at the next (a lapsed lease only means that finish says "lost")."""

    def __init__(self, worker: Worker) -> None:
        self._worker = worker
        self._held: set[_Held] = set()
        self._lock = threading.Lock()  # the set, briefly
        self._renewing = threading.Lock()  # a beat's whole transaction, and `release`
        self._done = threading.Event()
        self._thread: threading.Thread | None = None

    def hold(self, claim: Claim) -> _Held:
        """Renew `claim`'s lease from now on, until `release`."""
        held = _Held(claim, time.monotonic())
        with self._lock:
            self._held.add(held)
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name=f"inbox-lease-{self._worker.name}", daemon=True
                )
                self._thread.start()
        return held

    def release(self, held: _Held) -> Claim | None:
        """Stop renewing `held`: its latest token, None if it was lost. Waits for a beat in
        progress to commit or fail, so no renewal overlaps the finish that fences on it."""
        with self._renewing, self._lock:
            self._held.discard(held)
            return held.claim

    def close(self) -> None:
        """Stop the renewing thread (every claim released by then)."""
        self._done.set()
        if self._thread is not None:
            self._thread.join()

    def _run(self) -> None:
        heartbeat = self._worker.settings.heartbeat
        while not self._done.wait(heartbeat / 2):
            with self._renewing:
                self._beat(heartbeat)

    def _beat(self, heartbeat: float) -> None:
        worker = self._worker
        now = time.monotonic()
        with self._lock:
            due = [h for h in self._held if now - h.renewed >= heartbeat]
        claims = [h.claim for h in due]
        if not due:
            return
        try:
            with worker.engine.begin() as conn:
                renewed = [
                    None if c is None else renew_claim(conn, c, worker.settings.lease)
                    for c in claims
                ]
        except Exception:
            # A database hiccup: try again next beat; the lease has room for it.
            log.exception("worker %s: renewing %d inbox leases failed", worker.name, len(due))
            return
        now = time.monotonic()
        for held, latest in zip(due, renewed, strict=True):
            held.claim = latest  # once committed: the token the finish fences on
            held.renewed = now
        if any(c is None for c in renewed):
            with self._lock:
                self._held.difference_update(h for h in due if h.claim is None)


class Worker:
    """One dispatcher: `run()` loops until `stop()`; `run_once()` does one round."""

    def __init__(
        self,
        engine: sa.Engine,
        settings: WorkerSettings | None = None,
        *,
        name: str | None = None,
        on_outcome: Callable[[Outcome], None] | None = None,
        on_claim: Callable[[str, int, float], None] | None = None,
        handlers: Handlers | None = None,
        resolver: Resolver = system_resolver,
    ) -> None:
        self.engine = engine
        self.handlers = handlers
        self.settings = settings or WorkerSettings()
        self.name = name or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self.on_outcome = on_outcome
        # Told of every claim: the queue ("outbox" or "inbox"), how many it took, and how
        # long its transaction took (seconds), for the worker's metrics.
        self.on_claim = on_claim
        self._stopping = threading.Event()
        self._client = PostClient(
            timeout=self.settings.request_timeout,
            allow=self.settings.webhook_allow,
            resolver=resolver,
        )
        smtp = self.settings.smtp
        self._mail = MailClient(smtp.server())
        self._pool = ThreadPoolExecutor(max_workers=self.settings.concurrency)
        # The inbox's own threads: sized by its own bound, and never queued behind deliveries.
        self._inbox_pool = ThreadPoolExecutor(
            max_workers=max(1, self.settings.inbox_concurrency),
            thread_name_prefix=f"inbox-{self.name}",
        )
        # Turns at the inbox's finishing transactions (a connection each), fewer than the
        # prepares that wait on Stripe at once.
        self._finishing = threading.BoundedSemaphore(self.settings.finishing_bound)
        self._last_prune = float("-inf")
        _check_pool(engine, self.settings)

    def stop(self) -> None:
        """Ask the loop to finish what is in flight and return."""
        self._stopping.set()

    @property
    def stopping(self) -> bool:
        """True once stop() was called."""
        return self._stopping.is_set()

    def install_signal_handlers(self) -> None:
        """SIGTERM and SIGINT stop the worker gracefully."""

        def _handler(signum: int, frame: FrameType | None) -> None:
            log.info("worker %s: signal %s, finishing in-flight work", self.name, signum)
            self.stop()

        signal.signal(signal.SIGTERM, _handler)
        signal.signal(signal.SIGINT, _handler)

    def deliver_once(self) -> int:
        """Claim one batch, send it, record the outcomes; returns how many were claimed."""
        s = self.settings
        started = time.perf_counter()
        with self.engine.begin() as conn:
            batch = claim(conn, self.name, s.batch_size, s.lease)
        if self.on_claim is not None:
            self.on_claim("outbox", len(batch), time.perf_counter() - started)
        if not batch:
            return 0
        with self._renewing_leases(batch):
            outcomes = list(self._pool.map(self._send, batch))
        delays = {
            o.delivery.id: None
            if o.permanent
            else self.retry_for(o.delivery).delay(o.delivery.attempt, o.retry_after)
            for o in outcomes
            if not o.succeeded
        }
        with self.engine.begin() as conn:
            disabled = record(conn, self.name, outcomes, delays, s.disable_after)
        for endpoint_id in disabled:
            log.warning("worker %s: endpoint %s disabled", self.name, endpoint_id)
        if self.on_outcome is not None:
            for o in outcomes:
                self.on_outcome(o)
        return len(batch)

    def retry_for(self, delivery: Claimed) -> RetryPolicy:
        """The policy a failed delivery is retried on: its task's own, registered with it
        (`register_task(..., retry=)`), looked up by the message's type now, at the failure;
        else the worker's (`WorkerSettings.retry`: webhooks, e-mails, tasks without one)."""
        own = task_retry(delivery.type) if delivery.channel == "task" else None
        return self.settings.retry if own is None else own

    @contextmanager
    def _renewing_leases(self, batch: list[Claimed]) -> Iterator[None]:
        """Keep the batch's leases alive while it is sent: every third of a lease, extend
        the leases this worker still holds (fenced by worker and attempt), so no other
        worker takes a delivery that is still in flight here."""
        done = threading.Event()
        ids = [d.id for d in batch]
        attempts = [d.attempt for d in batch]

        def renew() -> None:
            while not done.wait(self.settings.heartbeat):
                try:
                    with self.engine.begin() as conn:
                        held = renew_leases(conn, self.name, ids, attempts, self.settings.lease)
                except Exception:
                    # A database hiccup: try again next beat; two more fit in the lease.
                    log.exception("worker %s: renewing delivery leases failed", self.name)
                    continue
                if held < len(ids):
                    # Lapsed (this process stalled for a whole lease) and taken over: the
                    # outcome of such a delivery is fenced off when it is recorded.
                    log.warning(
                        "worker %s: %d of %d delivery leases lost",
                        self.name,
                        len(ids) - held,
                        len(ids),
                    )

        thread = threading.Thread(target=renew, name=f"lease-{self.name}", daemon=True)
        thread.start()
        try:
            yield
        finally:
            done.set()
            thread.join()

    def _send(self, delivery: Claimed) -> Outcome:
        started = datetime.now(UTC)
        try:
            if delivery.channel == "email":
                return send_email(self._mail, self.settings.smtp, delivery)
            if delivery.channel == "task":
                return self._run_task(delivery)
            return send_webhook(self._client, delivery, self.settings.max_response_body)
        except Exception as exc:
            # Whatever one delivery does (a URL httpx cannot use, a header smtplib refuses),
            # it fails alone: its attempt is recorded and it is retried, then dead.
            return Outcome(
                delivery=delivery,
                started_at=started,
                duration_ms=0,
                succeeded=False,
                error=f"{type(exc).__name__}: {exc}"[:500],
            )

    def _run_task(self, delivery: Claimed) -> Outcome:
        """Run a task delivery's task (`run_task`); after a transient database failure, run
        it again (a task is idempotent by its message id, and its transactions are its own,
        rolled back by then) after each of `task_retries`' waits, unless the worker is
        stopping."""
        waits = iter(self.settings.task_retries)

        def again(exc: Exception) -> bool:
            code = transient_sqlstate(exc)
            wait = next(waits, None) if code is not None else None
            if wait is None or self._stopping.wait(wait):
                return False
            log.info(
                "worker %s: task %s of delivery %s: transient failure (%s), running it again",
                self.name,
                delivery.type,
                delivery.id,
                code,
            )
            return True

        return run_task(delivery, again)

    def handle_inbox_once(self, limit: int = 100) -> int:
        """Handle up to `limit` due inbox events; returns how many were taken, once every one
        of them is finished. An event whose handler is one step is one transaction, on this
        thread; a two-step handler's event is claimed in one, then prepared with no
        transaction open (Stripe) and finished in another on an inbox thread, up to
        `inbox_concurrency` at once, while this thread claims the next."""
        bound = max(1, self.settings.inbox_concurrency)
        done = 0
        in_flight: set[Future[str]] = set()
        failure: BaseException | None = None
        leases = _InboxLeases(self)
        try:
            while done < limit and not self.stopping and failure is None:
                if len(in_flight) >= bound:
                    failure = _settle(in_flight, None)
                    continue
                step = self._take_next()
                if step is None:
                    if not in_flight:
                        break
                    # Nothing due now: look again once one in flight is finished or a poll
                    # interval has passed, whichever comes first: an event that came
                    # meanwhile is claimed while a slow Stripe keeps the others waiting (a
                    # wait for a finish alone left it behind a prepare that takes its
                    # timeouts: Review2, session 37).
                    failure = _settle(in_flight, self.settings.poll_interval)
                    continue
                done += 1
                if isinstance(step, Claim):
                    held = leases.hold(step)
                    in_flight.add(
                        self._inbox_pool.submit(self._prepare_and_finish, step, held, leases)
                    )
                    failure = _settle(in_flight, 0)
        except BaseException:
            # Every event taken is finished before this raises too; theirs are only logged.
            late = _drain(in_flight, leases)
            if late is not None:
                log.error("worker %s: an inbox event failed as well", self.name, exc_info=late)
            raise
        # Every event taken is finished before this returns (a stop, a failure included).
        late = _drain(in_flight, leases)
        if failure is None:
            failure = late
        elif late is not None:
            log.error("worker %s: an inbox event failed as well", self.name, exc_info=late)
        if failure is not None:
            raise failure  # to run(), which waits before the next round (no hot loop)
        return done

    def _take_next(self) -> str | Claim | None:
        """Take the next due event in a transaction of its own: its status if handled there
        (one step), its claim (two steps), None if none is due."""
        s = self.settings
        started = time.perf_counter()
        taken: InboxEvent | None = None
        step: str | Claim | None
        try:
            with self.engine.begin() as conn:
                taken = next_due(conn)
                step = (
                    None if taken is None else begin(conn, s.retry, self.handlers, s.lease, taken)
                )
        except Exception as exc:
            if taken is None or not _recordable(exc):
                raise
            step = self._record_rolled_back(taken, exc, exc, None)
            if step == "unrecorded":
                raise  # to run(), which waits before the next round (no hot loop)
        if self.on_claim is not None:
            self.on_claim("inbox", int(step is not None), time.perf_counter() - started)
        return step

    def _prepare_and_finish(self, claim: Claim, held: _Held, leases: _InboxLeases) -> str:
        """Run a claimed event's prepare outside any transaction (its lease renewed by
        `leases` meanwhile, as `held`), then its handler in a transaction of its own."""
        data: Any = None
        try:
            data = claim.handler.prepare(claim.event)
        except Exception as exc:
            failure: Exception | None = exc
        else:
            failure = None
        with self._finishing:
            # The lease is renewed while this waits for a turn: released only once it has one.
            latest = leases.release(held)
            status = "lost" if latest is None else self._finish(latest, data, failure)
        if status == "lost":
            log.warning(
                "worker %s: lost the lease on inbox event %s %s while preparing it",
                self.name,
                claim.event.source,
                claim.event.event_id,
            )
        return status

    def _finish(self, latest: Claim, data: Any, failure: Exception | None) -> str:
        """A prepared (or failed) claim's finishing transaction: its handler's effects and
        outcome, or its failure recorded."""
        retry = self.settings.retry
        try:
            with self.engine.begin() as conn:
                if failure is not None:
                    return fail_claimed(conn, retry, latest, failure)
                return finish_claimed(conn, retry, latest, data)
        except Exception as exc:
            if not _recordable(exc):
                raise
            # A failed prepare is recorded as what it was; a finish, as what it met.
            status = self._record_rolled_back(latest.event, failure or exc, exc, latest.until)
            if status == "unrecorded":
                raise  # to run(), which waits before the next round (no hot loop)
            return status

    def _record_rolled_back(
        self, event: InboxEvent, failure: Exception, met: Exception, until: datetime | None
    ) -> str:
        """An event's step whose transaction failed whole on a database error (`met`) outside
        the handler's savepoint: record `failure` for it in a transaction of its own
        (`outbox.inbox.fail_rolled_back`: a transient one deferred, or counted past the bound;
        any other counted as an attempt), so such an event ends dead like any other instead of
        being taken again and again, never counted, or stopping the worker at each try (a
        deferred check refusing at COMMIT). If that transaction fails transiently too, the
        event is left as it was ("unrecorded") and the caller re-raises `met`."""
        log.warning(
            "worker %s: inbox event %s %s: database failure (%s) outside its"
            " handler: %s; recording it on its own",
            self.name,
            event.source,
            event.event_id,
            transient_sqlstate(met) or type(met).__name__,
            _first_line(met),
        )
        try:
            with self.engine.begin() as conn:
                return fail_rolled_back(conn, self.settings.retry, event, failure, until=until)
        except Exception as again:
            code = transient_sqlstate(again)
            if code is None:
                raise
            log.warning(
                "worker %s: inbox event %s %s: recording it failed too (%s); left as it was",
                self.name,
                event.source,
                event.event_id,
                code,
            )
            return "unrecorded"

    def prune_if_due(self) -> int:
        """Prune delivered messages past retention, at most every `prune_every` seconds."""
        now = time.monotonic()
        if now - self._last_prune < self.settings.prune_every:
            return 0
        self._last_prune = now
        with self.engine.begin() as conn:
            return prune(conn, self.settings.retention)

    def run_once(self) -> int:
        """One round: deliveries until none is due (or a stop), inbox events, pruning."""
        total = 0
        while not self.stopping:
            n = self.deliver_once()
            total += n
            if n < self.settings.batch_size:
                break
        total += self.handle_inbox_once()
        self.prune_if_due()
        return total

    def run(self, extra: Callable[[], object] | None = None) -> None:
        """Loop until stop(): work while there is work, else wait for a NOTIFY or the poll.
        A lost database (its server died, a failover under way) is waited out: the loop
        connects again, every `reconnect_wait` seconds, and resumes where the database is."""
        while not self.stopping:
            try:
                self._run_listening(extra)
            except LOST_DATABASE as exc:
                if not lost_database(exc):
                    code = transient_sqlstate(exc)
                    if code is None:
                        raise
                    # A race lost outside any handler or task (recording a batch, the
                    # periodic step): nothing wrong with the work; what was rolled back is
                    # done again (a claimed delivery is sent again once its lease lapses).
                    log.warning(
                        "worker %s: transient database failure (%s): %s; carrying on",
                        self.name,
                        code,
                        _first_line(exc),
                    )
                    self._stopping.wait(self.settings.reconnect_wait)
                    continue
                # The engine's pool was invalidated with the lost connection; the step in
                # flight committed or did not, and either way is safe to run again: a
                # delivery claimed and not recorded is sent again when its lease lapses,
                # with the same webhook-id (at least once).
                log.warning(
                    "worker %s: the database is unreachable (%s); connecting again",
                    self.name,
                    _first_line(exc),
                )
                self._stopping.wait(self.settings.reconnect_wait)
        self.close()

    def _run_listening(self, extra: Callable[[], object] | None) -> None:
        with self._listener() as wait:
            while not self.stopping:
                busy = self.run_once()
                if extra is not None:
                    extra()
                if not busy and not self.stopping:
                    wait(self.settings.poll_interval)

    def close(self) -> None:
        """Release the sending threads, the HTTP connections and the SMTP sessions."""
        self._pool.shutdown(wait=True)
        self._inbox_pool.shutdown(wait=True)
        self._client.close()
        self._mail.close()

    @contextmanager
    def _listener(self) -> Iterator[Callable[[float], None]]:
        # The engine's own connect arguments: a multi-host URL (a primary and its standbys,
        # target_session_attrs=read-write) reaches the same primary as the engine does.
        args, kwargs = self.engine.dialect.create_connect_args(self.engine.url)
        with psycopg.connect(*args, autocommit=True, **kwargs) as listen:
            for channel in CHANNELS:
                listen.execute(f"LISTEN {channel}")

            def wait(timeout: float) -> None:
                deadline = time.monotonic() + timeout
                while not self.stopping:
                    left = deadline - time.monotonic()
                    if left <= 0:
                        return
                    # Wake at the first notification, drain the rest, at most every 0.25 s
                    # to notice a stop.
                    got = list(listen.notifies(timeout=min(left, 0.25), stop_after=1))
                    if got:
                        return

            yield wait

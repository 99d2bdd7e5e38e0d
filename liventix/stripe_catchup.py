"""Stripe's events caught up from Stripe's own list, for the webhooks that never arrive.

Stripe retries a webhook for three days; a delivery lost past that, or an endpoint
misconfigured, is never sent again, and nothing else would tell the payments core that a
buyer paid (issue 11: charged, no tickets, escrow never credited) or that a refund, a
dispute, a transfer or a payout moved. Stripe's remedy is its list of events (`GET
/v1/events`, kept 30 days, newest first): this module owns reading it into the inbox.

`catch_up` reads the list from the inbox's cursor for source `stripe` (`outbox`'s
`messaging.inbox_cursors`) less `OVERLAP_S` (the list is by creation time, and an event can
show up in it after later ones), page by page with no transaction open while Stripe answers.
Each page is stored in one short transaction after its call: every item checked as a
webhook's body is (`liventix.stripe_events.check_listed_event`) and stored under the same key
(source `stripe`, the event id), so an event delivered and listed is one event, whichever came
first; the cursor moves in that transaction. The inbox's handlers then process the events as
they do webhooks (the worker). An item the inbox cannot keep is skipped with a log line and
counted, never a crash. Stripe failing half-way leaves the cursor at the last page stored
and the run returns what it did (`CatchUpReport.interrupted`); the next run goes on from
there. One read at a time moves the cursor (`outbox.claim_inbox_cursor`'s lease): an
operator's `liventix stripe catch-up` takes the cursor over from a worker's read under way
(going on with its walk, unless `--since` says where to start), and the read taken over stops
at its next page (its pages kept, the cursor no longer its own; `TAKEN_OVER`).

Which events: only the types the inbox has a handler for (`types[]`, at most 20; all types
when there are more). A webhook of another type would be kept and marked `ignored` at once:
listing those too would store every other event of the Stripe account (every charge, every
customer) for nothing. Not caught up: anything older than Stripe keeps (30 days).

Runs as the schema's owner (the inbox takes unsigned events from the owner only): `liventix
stripe catch-up` and the worker's periodic step (`CatchUpStep`, every
`LIVENTIX_STRIPE_CATCHUP_INTERVAL` seconds, on a thread of its own in the worker's loop).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

import sqlalchemy as sa
import stripe

import outbox
import ticketing_fsm
from liventix.stripe_events import (
    SOURCE,
    ListedEvent,
    UnusableEvent,
    check_listed_event,
    store_listed_event,
)
from liventix.stripe_gateway import EventsPage, StripeGateway

_log = logging.getLogger(__name__)

OVERLAP_S = 300
"""Seconds before the cursor read again: an event can show up in Stripe's list after later
ones (its list is by `created`; eventually consistent)."""
RETENTION_S = 30 * 86_400
"""How far back Stripe lists events: where a first read starts."""
PAGE_SIZE = 100
"""Stripe's largest page."""
MAX_TYPES = 20
"""Stripe's bound on `types[]`."""
ASK_EVERY_S = 15.0
"""The worker asks the database whether a read is due at most this often."""

TAKEN_OVER = "another read took the inbox's cursor over; it goes on from there"
"""`CatchUpReport.interrupted` of a read that lost the cursor to another (an operator's, or a
worker's that found this one silent an interval): its pages are kept, the cursor is the other
read's."""

_NOW = sa.text("SELECT floor(extract(epoch FROM now()))::bigint")


class EventLister(Protocol):
    """What the catch-up asks Stripe (`StripeGateway.list_events`)."""

    def list_events(
        self,
        *,
        created_gte: int,
        created_lte: int | None = None,
        starting_after: str | None = None,
        types: list[str] | None = None,
        limit: int = 100,
    ) -> EventsPage: ...


@dataclass(frozen=True)
class CatchUpReport:
    """What one run did."""

    ran: bool
    """False: another read began within the interval (nothing asked)."""
    start: int | None = None
    """Where the read started (Stripe's `created`, Unix seconds)."""
    pages: int = 0
    new: int = 0
    """Events stored that the inbox did not have."""
    duplicates: int = 0
    """Events the inbox already had (delivered, or listed before)."""
    skipped: int = 0
    """Items the inbox cannot keep (logged)."""
    caught_up_to: int | None = None
    """The cursor after the run: every event created before it is in the inbox."""
    interrupted: str | None = None
    """Why the read stopped before its start (Stripe failing); the next run resumes."""


def handled_types(gateway: StripeGateway) -> list[str] | None:
    """The Stripe event types the inbox's handlers take (what `liventix.wiring.wire`
    registers), or None (every type) when there are more than Stripe's `types[]` takes."""
    registry = outbox.InboxHandlers()
    ticketing_fsm.register_stripe_handlers(gateway, into=registry)
    types = registry.types(SOURCE)
    return types if 0 < len(types) <= MAX_TYPES else None


def _checked(items: list[Any]) -> tuple[list[ListedEvent], int]:
    kept: list[ListedEvent] = []
    skipped = 0
    for item in items:
        try:
            kept.append(check_listed_event(item))
        except UnusableEvent as error:
            skipped += 1
            name = item.get("id") if isinstance(item, dict) else None
            _log.warning("Stripe's event list: item %r skipped: %s", str(name)[:80], error.reason)
    return kept, skipped


def _last_id(items: list[Any]) -> str | None:
    """The id to page on after this page: its last item's (the last with an id)."""
    for item in reversed(items):
        if isinstance(item, dict) and isinstance(item.get("id"), str) and item["id"]:
            return str(item["id"])
    return None


@dataclass
class _Read:
    """A read under way: where it started, how far down it has stored, what it did."""

    start: int
    lease: datetime
    """The cursor's lease: this read moves the cursor only while it holds it."""
    below: int | None
    """The oldest `created` stored by this read (or the one it resumes)."""
    top: int | None
    """The newest `created` stored by this read (or the one it resumes)."""
    caught: int | None
    covers: bool = True
    """Whether reaching its start leaves nothing unread before the cursor: it starts at or
    before `caught_up_to`, or, with none yet, as far back as Stripe lists. Only such a read
    moves the cursor (a later `--since` on a cursor never finished does not)."""
    pages: int = 0
    new: int = 0
    duplicates: int = 0
    skipped: int = 0
    lost: bool = False
    """Another read took the cursor over: this one stops."""

    def report(self, interrupted: str | None = None) -> CatchUpReport:
        return CatchUpReport(
            True,
            self.start,
            self.pages,
            self.new,
            self.duplicates,
            self.skipped,
            self.caught,
            interrupted,
        )


def _begun(cursor: outbox.InboxCursor, since: int | None, now_s: int, overlap_s: int) -> _Read:
    """Where a read starts: `since`; else the unfinished read it resumes; else the cursor
    less the overlap; else as far back as Stripe lists."""
    caught, lease = cursor.caught_up_to, cursor.lease
    if since is not None:
        read = _Read(since, lease, None, None, caught)
    elif cursor.walk is not None:
        walk = cursor.walk
        read = _Read(walk.start, lease, walk.below, walk.top, caught)
    elif caught is not None:
        read = _Read(caught - overlap_s, lease, None, None, caught)
    else:
        read = _Read(now_s - RETENTION_S, lease, None, None, caught)
    # A read resumed a while after it began started a little later than now's 30 days.
    read.covers = read.start <= (now_s - RETENTION_S + 86_400 if caught is None else caught)
    return read


def _store_page(engine: sa.Engine, read: _Read, kept: list[ListedEvent], *, finished: bool) -> None:
    """One page's events and the cursor, in one transaction (after the page's call):
    finished (the read reached its start) or moved down to the page's oldest; the cursor
    untouched (`read.lost`) if another read holds it now (the events are kept all the same:
    storing one is idempotent)."""
    if kept:
        newest = max(e.created for e in kept)
        read.top = newest if read.top is None else max(read.top, newest)
        read.below = min(e.created for e in kept)
    with engine.begin() as conn:
        # Every read takes the overlap's events again, and a busy account's are thousands:
        # those the inbox holds are found in one statement, not an insert each.
        known = outbox.stored_event_ids(conn, SOURCE, [e.id for e in kept]) if kept else set()
        for event in kept:
            if event.id not in known and store_listed_event(conn, event):
                read.new += 1
            else:
                read.duplicates += 1
        cursor: outbox.InboxCursor | None = None
        if finished:
            top = read.top if read.covers else None
            cursor = outbox.finish_inbox_cursor(
                conn, SOURCE, lease=read.lease, start=read.start, top=top
            )
        elif read.below is not None and read.top is not None:
            cursor = outbox.walk_inbox_cursor(
                conn, SOURCE, lease=read.lease, start=read.start, below=read.below, top=read.top
            )
        if cursor is not None:
            read.lease, read.caught = cursor.lease, cursor.caught_up_to
        elif finished or (read.below is not None and read.top is not None):
            read.lost = True
    read.pages += 1


def catch_up(
    engine: sa.Engine,
    stripe_api: EventLister,
    *,
    every: timedelta = timedelta(0),
    since: int | None = None,
    types: Sequence[str] | None = None,
    overlap_s: int = OVERLAP_S,
    page_size: int = PAGE_SIZE,
) -> CatchUpReport:
    """Read Stripe's events into the inbox from the cursor (less `overlap_s`), or from
    `since` (Unix seconds) when given, unless another read began within `every`; each page
    stored with the cursor in a transaction of its own after its call (see the module)."""
    with engine.begin() as conn:
        cursor = outbox.claim_inbox_cursor(conn, SOURCE, every)
        now_s = int(conn.execute(_NOW).scalar_one())
    if cursor is None:
        return CatchUpReport(ran=False)
    read = _begun(cursor, since, now_s, overlap_s)
    # A resumed read lists only what it has not reached: at or before its oldest stored
    # (that second again: another event of it may have been on the next page).
    upto = read.below
    after: str | None = None
    while True:
        try:
            page = stripe_api.list_events(
                created_gte=read.start,
                created_lte=upto,
                starting_after=after,
                types=list(types) if types else None,
                limit=page_size,
            )
        except (stripe.StripeError, OSError) as error:
            _log.warning("Stripe's event list: stopped after %d page(s): %s", read.pages, error)
            return read.report(interrupted=str(error))
        kept, bad = _checked(page.items)
        read.skipped += bad
        after = _last_id(page.items)
        _store_page(engine, read, kept, finished=not page.has_more)
        if read.lost:
            _log.warning("Stripe's event list: page %d stored, then: %s", read.pages, TAKEN_OVER)
            return read.report(interrupted=TAKEN_OVER)
        if not page.has_more:
            return read.report()
        if after is None:  # no id to go on from: Stripe's fault; the next run resumes
            return read.report(interrupted="a page of Stripe's list had no event id to page on")


class CatchUpStep:
    """The worker's periodic part: `catch_up` when a read is due (`every` since the last
    began, whichever worker began it; the database asked at most every `ASK_EVERY_S`), its
    failures logged, never raised into the worker's loop. In the background (the worker's
    loop) the read runs on a thread of its own, so a long read (a first one: 30 days of
    events) or a slow Stripe never holds up the deliveries and the inbox; one read at a time
    per process. In the foreground (`liventix worker --once`) it runs in the call."""

    def __init__(
        self,
        engine: sa.Engine,
        gateway: StripeGateway,
        every: timedelta,
        *,
        background: bool,
    ) -> None:
        self.engine = engine
        self.gateway = gateway
        self.every = every
        self.background = background
        self.types = handled_types(gateway)
        # Called after every round of the worker (each wake-up): the database is asked
        # whether a read is due at most every ASK_EVERY_S of this process's own clock.
        self._ask_every = min(every.total_seconds(), ASK_EVERY_S)
        self._next_ask = 0.0
        self._thread: threading.Thread | None = None

    def __call__(self) -> CatchUpReport | None:
        """Read if due: the report (foreground), else None (not due, or in the background)."""
        if self._thread is not None and self._thread.is_alive():
            return None
        if time.monotonic() < self._next_ask:
            return None
        self._next_ask = time.monotonic() + self._ask_every
        if not self.background:
            return self._read()
        self._thread = threading.Thread(target=self._read, name="stripe-catch-up", daemon=True)
        self._thread.start()
        return None

    def join(self, timeout: float | None = None) -> bool:
        """Wait for a background read to end; whether none is running."""
        if self._thread is not None:
            self._thread.join(timeout)
        return self._thread is None or not self._thread.is_alive()

    def _read(self) -> CatchUpReport | None:
        try:
            report = catch_up(self.engine, self.gateway, every=self.every, types=self.types)
        except Exception:
            _log.exception("Stripe's events catch-up failed; the next interval tries again")
            return None
        if report.ran:
            _log.info(
                "Stripe's events caught up: %d page(s), %d new, %d duplicate(s), %d skipped%s",
                report.pages,
                report.new,
                report.duplicates,
                report.skipped,
                "" if report.interrupted is None else f" (interrupted: {report.interrupted})",
            )
        return report

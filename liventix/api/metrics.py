"""Prometheus metrics of the API: requests by route and status, their latency, postings made
through the API, idempotent replays and retried races; and, read from the database at each
scrape, the outbox's and the inbox's backlog and the age of their oldest pending item.

Each app has its own registry (several apps in one process, as in the tests, do not clash).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator

import sqlalchemy as sa
from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from starlette.types import ASGIApp, Message, Receive, Scope, Send

log = logging.getLogger(__name__)

# One function with the owner's rights answers the counts (never a row): the API's login
# role may read no tenant's deliveries and none of the inbox.
_BACKLOG = sa.text(
    "SELECT queue, channel, pending, oldest_age_s, deferred, deferred_oldest_age_s"
    " FROM messaging.backlog()"
)
CHANNELS = ("webhook", "email", "task")
_MAX_CACHED = 4096
"""Label sets whose instruments the middleware keeps at hand (methods x routes x statuses)."""


class OutboxCollector(Collector):
    """Backlog and oldest pending age of the outbox (per channel) and of the inbox."""

    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine

    def describe(self) -> Iterator[Metric]:
        """The families, without querying (the registry describes collectors on register)."""
        yield from self._families()

    def _families(self) -> tuple[GaugeMetricFamily, ...]:
        up = GaugeMetricFamily(
            "liventix_metrics_database_up", "1 if the database answered the metrics queries"
        )
        backlog = GaugeMetricFamily(
            "liventix_outbox_backlog",
            "Outbox deliveries pending or in flight, per channel",
            labels=["channel"],
        )
        age = GaugeMetricFamily(
            "liventix_outbox_oldest_pending_age_seconds",
            "Age of the oldest pending outbox delivery, per channel",
            labels=["channel"],
        )
        inbox = GaugeMetricFamily(
            "liventix_inbox_backlog", "Inbox events not handled yet (the deferred apart)"
        )
        inbox_age = GaugeMetricFamily(
            "liventix_inbox_oldest_pending_age_seconds",
            "Age of the oldest inbox event counted in liventix_inbox_backlog (the deferred apart)",
        )
        inbox_deferred = GaugeMetricFamily(
            "liventix_inbox_deferred",
            "Inbox events put off by a transient database failure (due again within seconds)",
        )
        inbox_deferred_age = GaugeMetricFamily(
            "liventix_inbox_deferred_oldest_age_seconds",
            "Age of the oldest inbox event counted in liventix_inbox_deferred (0 when none)",
        )
        return up, backlog, age, inbox, inbox_age, inbox_deferred, inbox_deferred_age

    def collect(self) -> Iterator[Metric]:
        """Query the database once per scrape."""
        up, backlog, age, inbox, inbox_age, inbox_deferred, inbox_deferred_age = self._families()
        try:
            with self.engine.connect() as conn:
                rows = {(r.queue, r.channel): r for r in conn.execute(_BACKLOG)}
        except sa.exc.DBAPIError:
            log.warning("metrics: the database did not answer")
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        for channel in CHANNELS:
            row = rows.get(("outbox", channel))
            backlog.add_metric([channel], 0 if row is None else int(row.pending))
            age.add_metric([channel], 0.0 if row is None else float(row.oldest_age_s))
        inbox_rows = [row for (queue, _), row in rows.items() if queue == "inbox"]
        inbox.add_metric([], sum(int(row.pending) for row in inbox_rows))
        inbox_age.add_metric([], max((float(row.oldest_age_s) for row in inbox_rows), default=0.0))
        inbox_deferred.add_metric([], sum(int(row.deferred) for row in inbox_rows))
        inbox_deferred_age.add_metric(
            [], max((float(row.deferred_oldest_age_s) for row in inbox_rows), default=0.0)
        )
        yield from (up, backlog, age, inbox, inbox_age, inbox_deferred, inbox_deferred_age)


class Metrics:
    """The app's registry and its instruments."""

    def __init__(self, engine: sa.Engine | None = None) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            "liventix_api_requests",
            "HTTP requests by method, route template and status",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "liventix_api_request_duration_seconds",
            "HTTP request latency by method and route template",
            ["method", "route"],
            registry=self.registry,
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
        )
        self.postings = Counter(
            "liventix_ledger_postings",
            "Ledger entries posted through the API (replays not counted), by kind",
            ["kind"],
            registry=self.registry,
        )
        self.replays = Counter(
            "liventix_api_idempotent_replays",
            "Requests answered from their Idempotency-Key's stored response",
            registry=self.registry,
        )
        self.retries = Counter(
            "liventix_api_retries",
            "Requests run again after a lost race (unique violation, serialization, deadlock)",
            registry=self.registry,
        )
        self.checkout_steps = Counter(
            "liventix_api_checkout_steps",
            "The checkout's hold and record steps, by step and way: `short` (one round trip "
            "to the database with the authentication and the commit) or `long` (the first "
            "checkout of a key in a process, several ticket types, the platform's key, a "
            "record that found something unexpected)",
            ["step", "way"],
            registry=self.registry,
        )
        if engine is not None:
            self.registry.register(OutboxCollector(engine))

    def posted(self, kind: str) -> None:
        """Count one posting of this kind (call after commit)."""
        self.postings.labels(kind=kind).inc()


class MetricsMiddleware:
    """Counts every HTTP request by method, route template (not the raw path) and status."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics
        self._children: dict[tuple[str, str, int], tuple[Counter, Histogram]] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Time the request and record its status once the response starts."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = [500]

        async def sending(message: Message) -> None:
            if message["type"] == "http.response.start":
                status[0] = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            route = scope.get("route")
            template = str(
                getattr(route, "path_format", None) or getattr(route, "path", "unmatched")
            )
            count, latency = self._instruments(str(scope.get("method", "")), template, status[0])
            count.inc()
            latency.observe(time.perf_counter() - started)

    def _instruments(self, method: str, route: str, status: int) -> tuple[Counter, Histogram]:
        """The request counter's and the latency histogram's children for these labels,
        looked up once (`labels()` takes a lock and builds its key on every call). Routes
        are templates and methods and statuses few, so the cache stays small; unmatched
        paths all count as one route."""
        key = (method, route, status)
        found = self._children.get(key)
        if found is None:
            found = (
                self.metrics.requests.labels(method=method, route=route, status=str(status)),
                self.metrics.latency.labels(method=method, route=route),
            )
            if len(self._children) < _MAX_CACHED:
                self._children[key] = found
        return found

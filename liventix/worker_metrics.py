"""A worker's own Prometheus metrics, served on a port of its own when configured
(`liventix worker --metrics-port`, `LIVENTIX_METRICS_PORT`): deliveries by channel and
result, attempt durations, the lag from a message's creation to its delivery attempt,
claims and their latency per queue (outbox, inbox), and, read at each scrape, the backlog:
what waits in the outbox and the inbox and the age of the oldest, the inbox's events put off
by a transient database failure (deferred) counted apart (`outbox.backlog`: counts only,
under any role). A read side: it reads the outbox's counts through its face."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import sqlalchemy as sa
from prometheus_client import CollectorRegistry, Counter, Histogram, start_http_server
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

import outbox

log = logging.getLogger(__name__)

_SECONDS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
_LAG = (0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 15.0, 60.0, 300.0, 1800.0, 3600.0, 86400.0)


class _Backlog(Collector):
    """The outbox's and inbox's backlog, read from the database at each scrape."""

    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine

    def collect(self) -> Iterator[Metric]:
        """Per queue and channel: the backlog proper (deliveries pending or being delivered,
        inbox events never tried or tried and failed) and its oldest item's age; the inbox's
        deferred events (put off by a transient failure, no attempt counted) apart, with
        their oldest's age."""
        pending = GaugeMetricFamily(
            "liventix_backlog_pending",
            "Deliveries pending or being delivered (outbox); events never tried or tried and"
            " failed (inbox), the deferred apart (liventix_backlog_deferred)",
            labels=["queue", "channel"],
        )
        oldest = GaugeMetricFamily(
            "liventix_backlog_oldest_age_seconds",
            "Age of the oldest item counted in liventix_backlog_pending (0 when none; the"
            " inbox's deferred events not included)",
            labels=["queue", "channel"],
        )
        deferred = GaugeMetricFamily(
            "liventix_backlog_deferred",
            "Inbox events put off by a transient database failure (due again within seconds),"
            " apart from the pending backlog",
            labels=["queue", "channel"],
        )
        deferred_oldest = GaugeMetricFamily(
            "liventix_backlog_deferred_oldest_age_seconds",
            "Age of the oldest inbox event counted in liventix_backlog_deferred (0 when none)",
            labels=["queue", "channel"],
        )
        try:
            with self.engine.connect() as conn:
                rows = outbox.backlog(conn)
        except sa.exc.DBAPIError:
            log.warning("the backlog could not be read for the metrics", exc_info=True)
            return
        for row in rows:
            pending.add_metric([row.queue, row.channel], row.pending)
            oldest.add_metric([row.queue, row.channel], row.oldest_age_s)
            if row.queue == "inbox":
                deferred.add_metric([row.queue, row.channel], row.deferred)
                deferred_oldest.add_metric([row.queue, row.channel], row.deferred_oldest_age_s)
        yield pending
        yield oldest
        yield deferred
        yield deferred_oldest


class WorkerMetrics:
    """The metrics of one worker process; give `on_outcome` and `on_claim` to its Worker."""

    def __init__(self, engine: sa.Engine, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        r = self.registry
        self.deliveries = Counter(
            "liventix_worker_deliveries",
            "Delivery attempts by channel and result",
            ["channel", "result"],
            registry=r,
        )
        self.attempt_seconds = Histogram(
            "liventix_worker_attempt_seconds",
            "How long one delivery attempt took",
            ["channel"],
            buckets=_SECONDS,
            registry=r,
        )
        self.lag_seconds = Histogram(
            "liventix_worker_delivery_lag_seconds",
            "From a message's creation to this attempt at delivering it",
            ["channel"],
            buckets=_LAG,
            registry=r,
        )
        self.claimed = Counter(
            "liventix_worker_claimed", "Items claimed, per queue", ["queue"], registry=r
        )
        self.claim_seconds = Histogram(
            "liventix_worker_claim_seconds",
            "How long a claim's transaction took, per queue",
            ["queue"],
            buckets=_SECONDS,
            registry=r,
        )
        r.register(_Backlog(engine))

    def on_outcome(self, outcome: outbox.Outcome) -> None:
        """Count one attempt."""
        channel = outcome.delivery.channel
        result = "succeeded" if outcome.succeeded else "failed"
        self.deliveries.labels(channel, result).inc()
        self.attempt_seconds.labels(channel).observe(outcome.duration_ms / 1000)
        lag = (outcome.started_at - outcome.delivery.message_created_at).total_seconds()
        self.lag_seconds.labels(channel).observe(max(lag, 0.0))

    def on_claim(self, queue: str, count: int, seconds: float) -> None:
        """Count one claim and its latency."""
        self.claimed.labels(queue).inc(count)
        self.claim_seconds.labels(queue).observe(seconds)

    def serve(self, port: int, host: str = "127.0.0.1") -> int:
        """Serve the metrics over HTTP (`/metrics`) in a thread; the port bound."""
        server, _thread = start_http_server(port, host, registry=self.registry)
        return int(server.server_port)

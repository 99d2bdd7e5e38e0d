"""`liventix worker` and `liventix outbox ...`: delivering the outbox and handling the inbox,
and bringing dead deliveries back."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import timedelta

import click
import sqlalchemy as sa

import outbox
from liventix import logs
from liventix.cli.common import (
    EXIT_OK,
    PREPARED,
    STRIPE_CALLS,
    Command,
    Group,
    engine,
    load_settings,
    settings_epilog,
)
from liventix.database import make_engine, prepare
from liventix.stripe_catchup import CatchUpStep
from liventix.stripe_gateway import StripeGateway
from liventix.wiring import periodic_step, wire
from liventix.worker_metrics import WorkerMetrics

WORKER_READS = (
    *PREPARED,
    *STRIPE_CALLS,
    "LIVENTIX_SMTP_HOST",
    "LIVENTIX_SMTP_PORT",
    "LIVENTIX_SMTP_SECURITY",
    "LIVENTIX_SMTP_USERNAME",
    "LIVENTIX_SMTP_PASSWORD",
    "LIVENTIX_SMTP_SENDER",
    "LIVENTIX_SMTP_CA_FILE",
    "LIVENTIX_WEBHOOK_ALLOW",
    "LIVENTIX_LOG_FORMAT",
    "LIVENTIX_LOG_LEVEL",
    "LIVENTIX_METRICS_PORT",
    "LIVENTIX_CANCEL_GRACE",
    "LIVENTIX_STRIPE_CATCHUP_INTERVAL",
)


class RetrySchedule(click.ParamType[tuple[float, ...]]):
    """Comma-separated waits in seconds."""

    name = "SECONDS,..."

    def convert(
        self, value: object, param: click.Parameter | None, ctx: click.Context | None
    ) -> tuple[float, ...]:
        if isinstance(value, tuple):
            return value
        try:
            waits = tuple(float(part) for part in str(value).split(","))
        except ValueError:
            self.fail(f"not a comma-separated list of seconds: {value}", param, ctx)
        if not waits or any(not 0 <= w < float("inf") for w in waits):
            self.fail(f"every wait must be a number of seconds, 0 or more: {value}", param, ctx)
        return waits


@click.command("worker", cls=Command, epilog=settings_epilog(WORKER_READS))
@click.option(
    "--batch-size",
    type=click.IntRange(min=1),
    default=100,
    show_default=True,
    help="deliveries claimed at once",
)
@click.option(
    "--concurrency",
    type=click.IntRange(min=1),
    default=16,
    show_default=True,
    help="parallel sends per batch",
)
@click.option(
    "--inbox-concurrency",
    type=click.IntRange(min=1),
    default=32,
    show_default=True,
    help="inbox events prepared at once (each waiting on Stripe, holding no connection)",
)
@click.option(
    "--inbox-finishes",
    type=click.IntRange(min=1),
    default=8,
    show_default=True,
    help="of those, how many are in their finishing transaction at once (a connection each)",
)
@click.option(
    "--poll",
    type=click.FloatRange(min=0),
    default=1.0,
    show_default=True,
    help="seconds between polls",
)
@click.option(
    "--lease",
    type=click.FloatRange(min=0, min_open=True),
    default=10.0,
    show_default=True,
    help="seconds a claim holds without renewal (renewed every third of it while sending)",
)
@click.option(
    "--timeout",
    type=click.FloatRange(min=0, min_open=True),
    default=10.0,
    show_default=True,
    help="HTTP request timeout in seconds",
)
@click.option(
    "--retry-schedule",
    type=RetrySchedule(),
    default=None,
    help="comma-separated waits in seconds for webhooks, e-mails, inbox events and tasks"
    " without a policy of their own (default: 5,300,1800,7200,18000,36000,36000; the Stripe"
    " tasks keep theirs)",
)
@click.option(
    "--metrics-port",
    type=click.IntRange(0, 65535),
    default=None,
    metavar="PORT",
    help="serve the worker's Prometheus metrics on this port, /metrics (default "
    "LIVENTIX_METRICS_PORT; unset: none; 0: any free port)",
)
@click.option("--metrics-host", default="127.0.0.1", show_default=True, help="the metrics' address")
@click.option("--once", is_flag=True, help="one round, then exit")
@click.option(
    "--no-periodic",
    is_flag=True,
    help="only deliver and handle the inbox: leave expiries and releases to another process",
)
def worker(
    *,
    batch_size: int,
    concurrency: int,
    inbox_concurrency: int,
    inbox_finishes: int,
    poll: float,
    lease: float,
    timeout: float,
    retry_schedule: tuple[float, ...] | None,
    metrics_port: int | None,
    metrics_host: str,
    once: bool,
    no_periodic: bool,
) -> int:
    """Deliver the outbox (webhooks, e-mails) and handle the inbox until SIGTERM.

    SIGTERM finishes what is in flight and stops. Unless --no-periodic, the worker also
    expires holds, releases the escrows that are due and, every
    LIVENTIX_STRIPE_CATCHUP_INTERVAL seconds, reads Stripe's events the inbox missed."""
    settings = load_settings()
    logs.configure(settings.log_format, settings.log_level)
    worker_settings = outbox.WorkerSettings(
        batch_size=batch_size,
        concurrency=concurrency,
        inbox_concurrency=inbox_concurrency,
        inbox_finishes=inbox_finishes,
        poll_interval=poll,
        lease=timedelta(seconds=lease),
        request_timeout=timeout,
        retry=outbox.RetryPolicy(schedule=retry_schedule or outbox.DEFAULT_SCHEDULE),
        smtp=settings.smtp(),
        webhook_allow=settings.webhook_allow,
    )
    # Room for every sending or inbox thread's connection at once, the loop's, a heartbeat's
    # and the metrics' (each holds one at a time: none waits on the pool holding another).
    wanted = max(concurrency, worker_settings.finishing_bound)
    app = make_engine(prepare(settings), max_overflow=max(20, wanted + 4 - 10))
    gateway = StripeGateway(settings.stripe())
    wire(app, gateway)
    metrics = _metrics(app, metrics_port, settings.metrics_port, metrics_host)
    dispatcher = outbox.Worker(
        app,
        worker_settings,
        on_outcome=None if metrics is None else metrics.on_outcome,
        on_claim=None if metrics is None else metrics.on_claim,
    )
    grace = timedelta(seconds=settings.cancel_grace)
    periodic = (lambda: None) if no_periodic else periodic_step(app, cancel_grace=grace)
    if not no_periodic and settings.stripe_catchup_interval > 0 and settings.stripe_configured():
        periodic = _with_catch_up(
            periodic,
            CatchUpStep(
                app,
                gateway,
                timedelta(seconds=settings.stripe_catchup_interval),
                background=not once,
            ),
        )
    if once:
        periodic()
        done = dispatcher.run_once()
        dispatcher.close()
        click.echo(f"worker {dispatcher.name}: {done} item(s)")
        return EXIT_OK
    dispatcher.install_signal_handlers()
    click.echo(f"worker {dispatcher.name}: running")
    dispatcher.run(extra=periodic)
    click.echo(f"worker {dispatcher.name}: stopped")
    return EXIT_OK


def _with_catch_up(
    periodic: Callable[[], object], catch_up: Callable[[], object]
) -> Callable[[], object]:
    """The periodic step, then Stripe's events caught up when due (the read's own interval;
    in the loop on a thread of its own: `CatchUpStep`)."""

    def step() -> object:
        done = periodic()
        catch_up()
        return done

    return step


def _metrics(
    engine: sa.Engine, port: int | None, configured: int | None, host: str
) -> WorkerMetrics | None:
    """The worker's metrics, served on `port` (else the configured one), or None."""
    port = configured if port is None else port
    if port is None:
        return None
    metrics = WorkerMetrics(engine)
    bound = metrics.serve(port, host)
    click.echo(f"worker metrics: http://{host}:{bound}/metrics")
    return metrics


@click.group("outbox", cls=Group)
def group() -> None:
    """The outbox: deliveries of messages to webhooks and e-mail."""


@group.command("requeue", epilog=settings_epilog(PREPARED))
@click.option("--delivery", type=int, default=None, metavar="ID", help="one delivery's id")
@click.option("--endpoint", type=click.UUID, default=None, metavar="ID", help="an endpoint's id")
def requeue(delivery: int | None, endpoint: uuid.UUID | None) -> int:
    """Bring dead deliveries back (all, one, or an endpoint's)."""
    with engine().begin() as conn:
        count = outbox.requeue(conn, delivery_id=delivery, endpoint_id=endpoint)
    click.echo(f"requeued {count} delivery(ies)")
    return EXIT_OK

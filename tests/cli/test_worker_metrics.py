"""`liventix worker --metrics-port`: the worker serves its own Prometheus metrics over HTTP
(deliveries by channel and result, attempt durations, lag, claims and their latency, the
outbox's and inbox's backlog), as a real process delivering real e-mails to an SMTP server
on 127.0.0.1."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator

import httpx
import pytest
import sqlalchemy as sa
from prometheus_client import generate_latest
from sqlalchemy.engine import make_url

import outbox
from liventix.database import make_engine
from liventix.testing.smtp import Mailbox, smtp_server
from liventix.worker_metrics import WorkerMetrics
from tests.outbox_core.support import publish_step

WAIT = 120.0


@pytest.fixture
def mailbox() -> Iterator[tuple[Mailbox, int]]:
    box = Mailbox()
    with smtp_server(box) as (port, _):
        yield box, port


@pytest.fixture
def app_engine(db_url: str) -> Iterator[sa.Engine]:
    engine = make_engine(db_url, poolclass=sa.pool.NullPool)
    try:
        yield engine
    finally:
        engine.dispose()


def _publish(engine: sa.Engine, count: int) -> None:
    with engine.begin() as conn:
        for seq in range(count):
            email = outbox.Email(to=f"buyer{seq}@example.com", subject="Ticket", body="Seat")
            publish_step(conn, "metrics", seq, emails=[email])


def _sample(text: str, name: str, **labels: str) -> float | None:
    """The value of one sample in Prometheus' text format, or None."""
    wanted = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    for line in text.splitlines():
        match = re.match(r"^([a-z_]+)(?:\{(.*)\})? (\S+)$", line)
        if match and match.group(1) == name:
            got = ",".join(sorted((match.group(2) or "").split(","))) if match.group(2) else ""
            if got == wanted:
                return float(match.group(3))
    return None


def test_the_backlog_is_read_at_each_scrape(app_engine: sa.Engine) -> None:
    metrics = WorkerMetrics(app_engine)
    before = generate_latest(metrics.registry).decode()
    assert _sample(before, "liventix_backlog_pending", queue="outbox", channel="email") is None
    _publish(app_engine, 3)
    after = generate_latest(metrics.registry).decode()
    assert _sample(after, "liventix_backlog_pending", queue="outbox", channel="email") == 3
    age = _sample(after, "liventix_backlog_oldest_age_seconds", queue="outbox", channel="email")
    assert age is not None and age >= 0


def test_a_worker_process_serves_its_metrics(
    pg_server_url: str,
    db_url: str,
    app_engine: sa.Engine,
    mailbox: tuple[Mailbox, int],
) -> None:
    box, smtp_port = mailbox
    _publish(app_engine, 2)
    env = {
        **os.environ,
        "DATABASE_URL": pg_server_url,
        "LIVENTIX_DB_NAME": str(make_url(db_url).database),
        "LIVENTIX_SMTP_PORT": str(smtp_port),
        "LIVENTIX_LOG_FORMAT": "json",
        "PYTHONUNBUFFERED": "1",
    }
    env.pop("LIVENTIX_PGDATA", None)
    worker = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "liventix",
            "worker",
            "--metrics-port",
            "0",
            "--no-periodic",
            "--poll",
            "0.2",
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert worker.stdout is not None
        first = worker.stdout.readline()
        match = re.match(r"^worker metrics: (http://127\.0\.0\.1:\d+/metrics)$", first.strip())
        assert match, first
        url = match.group(1)
        deadline = time.monotonic() + WAIT
        while True:
            text = httpx.get(url, timeout=5).text
            done = _sample(
                text, "liventix_worker_deliveries_total", channel="email", result="succeeded"
            )
            if done == 2:
                break
            assert worker.poll() is None, "the worker exited"
            assert time.monotonic() < deadline, text
            time.sleep(0.2)
        assert len(box.messages) == 2
        assert _sample(text, "liventix_worker_claimed_total", queue="outbox") == 2
        claims = _sample(text, "liventix_worker_claim_seconds_count", queue="outbox")
        assert claims is not None and claims >= 1
        assert _sample(text, "liventix_worker_delivery_lag_seconds_count", channel="email") == 2
        assert _sample(text, "liventix_worker_attempt_seconds_count", channel="email") == 2
        assert _sample(text, "liventix_backlog_pending", queue="outbox", channel="email") is None
    finally:
        worker.send_signal(signal.SIGTERM)
        try:
            worker.wait(timeout=60)
        except subprocess.TimeoutExpired:
            worker.kill()
            worker.wait()

"""What the outbox's tests share: the payload models they publish, the webhook receiver
(`liventix.testing.Receiver`, with its reply policies), an SMTP mailbox, worker processes
started through the CLI, and waiting helpers that are always bounded in time.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import sqlalchemy as sa
from pydantic import BaseModel

import outbox
from liventix.testing.servers import Hook

# What the tests import from here, the receiver's own (explicit re-exports).
from liventix.testing.servers import Mailbox as Mailbox  # noqa: PLC0414
from liventix.testing.servers import Policy as Policy  # noqa: PLC0414
from liventix.testing.servers import Receiver as Receiver  # noqa: PLC0414
from liventix.testing.servers import Reply as Reply  # noqa: PLC0414
from liventix.testing.servers import always as always  # noqa: PLC0414
from tests.support import LiventixProcess

ORG = uuid.UUID("00000000-0000-0000-0000-0000000000aa")
OTHER_ORG = uuid.UUID("00000000-0000-0000-0000-0000000000bb")


class TicketIssued(BaseModel):
    """Payload of `test.ticket_issued`."""

    ticket_id: str
    amount: int


class Step(BaseModel):
    """Payload of `test.step`: the `seq`-th message about aggregate `aggregate`."""

    aggregate: str
    seq: int


outbox.register_message_type("test.ticket_issued", TicketIssued)
outbox.register_message_type("test.step", Step)

# The tests' receivers listen on 127.0.0.1, which webhooks may reach only when allowed.
LOOPBACK = outbox.parse_allow("127.0.0.1/32")
LOOPBACK_ENV = "127.0.0.1/32"

# Fast retries so a test sees a whole schedule in well under a second.
FAST = outbox.WorkerSettings(
    webhook_allow=LOOPBACK,
    poll_interval=0.05,
    retry=outbox.RetryPolicy(schedule=(0.05, 0.05, 0.05)),
    request_timeout=5.0,
    prune_every=3600.0,
)


def fast_retry(*waits: float) -> outbox.RetryPolicy:
    """A retry policy with the given waits and no jitter."""
    return outbox.RetryPolicy(schedule=tuple(waits), jitter=0.0)


def publish_step(
    conn: sa.Connection,
    aggregate: str,
    seq: int,
    *,
    org_id: uuid.UUID | None = ORG,
    dedup_key: str | None = None,
    emails: Sequence[outbox.Email] = (),
) -> uuid.UUID:
    """Publish `test.step` number `seq` of `aggregate` on the caller's transaction."""
    return outbox.publish(
        conn,
        type="test.step",
        payload=Step(aggregate=aggregate, seq=seq),
        aggregate_type="step",
        aggregate_id=aggregate,
        org_id=org_id,  # type: ignore[arg-type]  # None: to show it refused
        dedup_key=dedup_key,
        emails=emails,
    )


# --- waiting -------------------------------------------------------------------------------


def wait_until(
    condition: Callable[[], bool], timeout: float, what: str, interval: float = 0.02
) -> None:
    """Return once `condition()` holds; fail the test after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(interval)


def drain(worker: outbox.Worker, condition: Callable[[], bool], timeout: float, what: str) -> None:
    """Run `worker` round after round until `condition()` holds, at most `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        worker.run_once()
        if condition():
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.01)


# --- the database --------------------------------------------------------------------------


def rows(engine: sa.Engine, sql: str, **params: Any) -> list[sa.Row[Any]]:
    """Every row of a query, in its own transaction."""
    with engine.begin() as conn:
        return list(conn.execute(sa.text(sql), params).all())


def scalar(engine: sa.Engine, sql: str, **params: Any) -> Any:
    """The single value of a query, in its own transaction."""
    with engine.begin() as conn:
        return conn.execute(sa.text(sql), params).scalar_one()


def statuses(engine: sa.Engine) -> Counter[str]:
    """How many deliveries are in each status."""
    return Counter(
        {
            r.status: r.n
            for r in rows(
                engine, "SELECT status, count(*) AS n FROM messaging.deliveries GROUP BY status"
            )
        }
    )


def all_succeeded(engine: sa.Engine, expected: int) -> Callable[[], bool]:
    """A condition: exactly `expected` deliveries exist and every one succeeded."""

    def check() -> bool:
        return statuses(engine) == Counter({"succeeded": expected})

    return check


# --- the HTTP receiver: liventix.testing's one webhook receiver ---------------------------------

Request = Hook
"""One request as the receiver saw it (`liventix.testing.Hook`)."""


# --- worker processes ----------------------------------------------------------------------


class WorkerProcess(LiventixProcess):
    """`python -m liventix worker ...` as its own OS process, its output collected."""

    def __init__(self, env: Mapping[str, str], args: Sequence[str]) -> None:
        super().__init__(["worker", *args], env)

    def wait_ready(self, timeout: float = 120.0) -> None:
        """Return once the worker said it is running (its signal handlers are installed).
        Generous: on two shared cores with the suite's other process busy, a worker's start-up
        (Python, imports, its connections) took over 30 s."""
        self.wait_for(": running", timeout)


MakeWorker = Callable[..., outbox.Worker]
"""make_worker(name=None, **WorkerSettings overrides) -> an in-process worker."""

SpawnWorker = Callable[..., WorkerProcess]
"""spawn_worker(*cli args, env=None) -> a started worker process."""


def worker_env(server_url: str, database: str, **extra: str) -> dict[str, str]:
    """The environment of a CLI process using the test's database on the test's server."""
    env = dict(os.environ)
    env.update(
        DATABASE_URL=server_url,
        LIVENTIX_DB_NAME=database,
        LIVENTIX_WEBHOOK_ALLOW=LOOPBACK_ENV,
        PYTHONUNBUFFERED="1",
        **extra,
    )
    return env


def run_cli(env: Mapping[str, str], *args: str, timeout: float = 30.0) -> str:
    """Run `python -m liventix <args>` to completion; its output (fails on a non-zero exit)."""
    done = subprocess.run(
        [sys.executable, "-m", "liventix", *args],
        env=dict(env),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout

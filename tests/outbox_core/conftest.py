"""Fixtures for the outbox's tests: the webhook receiver and the SMTP sink of
`liventix.testing`, in-process workers, worker processes and the CLI's environment. Every
process and thread they start is stopped at the end of the test, whatever happened."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url

import outbox
from liventix.testing.servers import smtp_server
from tests.outbox_core.support import (
    FAST,
    Mailbox,
    MakeWorker,
    Receiver,
    SpawnWorker,
    WorkerProcess,
    always,
    worker_env,
)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """The webhook receiver (`liventix.testing.Receiver`) on 127.0.0.1, answering 200 "ok"
    until told otherwise."""
    server = Receiver()
    server.policy = always(200, body=b"ok")
    server.start()
    try:
        yield server
    finally:
        server.close()


@pytest.fixture
def mailbox() -> Iterator[tuple[Mailbox, int]]:
    """A real SMTP server on 127.0.0.1 (`liventix.testing.smtp_server`): its mailbox, keeping
    every message, and its port."""
    box = Mailbox()
    with smtp_server(box) as (port, _):
        yield box, port


@pytest.fixture
def make_worker(engine: sa.Engine) -> Iterator[MakeWorker]:
    """Build in-process workers on the test's database: make_worker(**settings overrides)."""
    made: list[outbox.Worker] = []

    def make(name: str | None = None, **overrides: Any) -> outbox.Worker:
        worker = outbox.Worker(engine, replace(FAST, **overrides), name=name)
        made.append(worker)
        return worker

    try:
        yield make
    finally:
        for worker in made:
            worker.stop()
            worker.close()


@pytest.fixture
def cli_env(pg_server_url: str, db_url: str) -> dict[str, str]:
    """The environment under which `python -m liventix ...` uses the test's database."""
    database = make_url(db_url).database
    assert database is not None
    return worker_env(pg_server_url, database)


@pytest.fixture
def spawn_worker(cli_env: dict[str, str]) -> Iterator[SpawnWorker]:
    """Start `python -m liventix worker <args>` processes; all are killed at the end."""
    started: list[WorkerProcess] = []

    def spawn(*args: str, env: dict[str, str] | None = None) -> WorkerProcess:
        process = WorkerProcess(env or cli_env, args)
        started.append(process)
        return process

    try:
        yield spawn
    finally:
        for process in started:
            process.close()

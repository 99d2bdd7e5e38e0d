"""Fixtures for the outbox's tests: a recording HTTP receiver, an SMTP server, in-process
workers, worker processes and the CLI's environment. Every process and thread they start is
stopped at the end of the test, whatever happened."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import pytest
import sqlalchemy as sa
from aiosmtpd.controller import Controller
from sqlalchemy.engine import make_url

import outbox
from tests.outbox_core.support import (
    FAST,
    Mailbox,
    MakeWorker,
    Receiver,
    SpawnWorker,
    WorkerProcess,
    free_port,
    worker_env,
)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """An HTTP receiver on 127.0.0.1 answering 200 until told otherwise."""
    server = Receiver()
    server.start()
    try:
        yield server
    finally:
        server.close()


@pytest.fixture
def mailbox() -> Iterator[tuple[Mailbox, int]]:
    """A real SMTP server (aiosmtpd) on 127.0.0.1: its mailbox and its port."""
    box = Mailbox()
    controller = Controller(box, hostname="127.0.0.1", port=free_port())
    controller.start()
    try:
        yield box, controller.port
    finally:
        controller.stop()


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

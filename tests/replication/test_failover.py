"""Failover with real processes: a primary with a synchronous standby (`liventix db standby`),
the API (`liventix serve`) and an outbox worker (`liventix worker`) on the pair's multi-host
URL, and clients posting entries and holds over HTTP, each under its own Idempotency-Key. The
primary is killed (`pg_ctl stop -m immediate`) while they post, the standby promoted
(`pg_ctl promote`); the clients retry what failed under the same key, the API and the
worker find the new primary by themselves.

At the end: every acknowledged posting (and hold) is there exactly once and nothing else is;
no entry is unbalanced or partial; every hold's `ledger.hold.created` webhook arrived, and
its duplicates (a delivery resent after the failover) carry the same `webhook-id`; the trial
balance and every report (`liventix report all`, a fresh CLI process) show no difference.
The counts of each run are printed (`-s` shows them).
"""

from __future__ import annotations

import threading
import time
import uuid
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from sqlalchemy.pool import NullPool

import ledger
from liventix import replication
from liventix.api import create_key
from liventix.database import create_database, make_engine, upgrade
from liventix.testing.servers import Receiver
from tests.replication.support import (
    DATABASE,
    Pair,
    run_cli,
    serve_api,
    start_pair,
    stop_pair,
)
from tests.support import LiventixProcess, free_port

CLIENTS = 4
BEFORE = 15
"""Operations each client has acknowledged before the primary is killed."""
AFTER = 15
"""Operations each client does once the standby is promoted."""
PLATFORM = uuid.UUID("00000000-0000-0000-0000-000000000001")
IDLE_API = "failover-idle-api"
"""The second API process's application_name (libpq's PGAPPNAME), to count its connections."""


@pytest.fixture(scope="module")
def pair() -> Iterator[Pair]:
    """A primary and its synchronous standby."""
    made = start_pair(synchronous=True)
    try:
        yield made
    finally:
        stop_pair(made)


@dataclass
class Ack:
    """One operation a client had acknowledged: its key, kind, the id answered, how many
    attempts it took, whether the answer was a replay."""

    key: str
    kind: str
    id: str
    attempts: int
    replayed: bool
    path: str = ""
    body: dict[str, Any] = field(default_factory=dict)


@dataclass
class Clients:
    """The posting clients and what they saw."""

    url: str
    token: str
    accounts: tuple[str, str]
    acks: list[Ack] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    failures: list[str] = field(default_factory=list)
    promoted: threading.Event = field(default_factory=threading.Event)
    done_before: threading.Barrier = field(init=False)

    def __post_init__(self) -> None:
        self.done_before = threading.Barrier(CLIENTS + 1)

    def op(self, client: httpx.Client, key: str, kind: str, amount: int) -> Ack:
        """Send one operation until it is acknowledged, under one key."""
        debit, credit = self.accounts
        money = {"amount": amount, "currency": "USD"}
        if kind == "entry":
            path = "/v1/entries"
            body: dict[str, Any] = {
                "lines": [
                    {"account_id": debit, "side": "debit", "amount": money},
                    {"account_id": credit, "side": "credit", "amount": money},
                ],
                "external_ref": key,
            }
        else:
            path = "/v1/holds"
            body = {"debit_account_id": debit, "credit_account_id": credit, "amount": money}
        deadline = time.monotonic() + 60
        attempts = 0
        while time.monotonic() < deadline:
            attempts += 1
            try:
                response = client.post(path, json=body, headers={"Idempotency-Key": key})
            except httpx.TransportError as error:
                self.failures.append(f"{key}: {type(error).__name__}")
                time.sleep(0.1)
                continue
            if response.status_code in {200, 201}:
                replayed = response.headers.get("Idempotency-Replayed") == "true"
                return Ack(key, kind, response.json()["id"], attempts, replayed, path, body)
            # The database unavailable (503) while the standby is promoted: retry, same key.
            assert response.status_code == 503, (key, response.status_code, response.text)
            self.failures.append(f"{key}: {response.status_code}")
            time.sleep(0.1)
        raise AssertionError(f"{key} not acknowledged in 60 s")

    def run(self, n: int) -> None:
        """Client `n`: BEFORE operations; then on without a pause until the standby is
        promoted (the primary dies under them), and AFTER more."""
        headers = {"Authorization": f"Bearer {self.token}"}
        with httpx.Client(base_url=self.url, headers=headers, timeout=15.0) as client:
            i = after = 0
            while after < AFTER:
                if i == BEFORE:
                    self.done_before.wait(timeout=120)
                if i >= BEFORE and self.promoted.is_set():
                    after += 1
                kind = "hold" if i % 2 else "entry"
                ack = self.op(client, f"c{n}-{i}-{uuid.uuid4().hex[:8]}", kind, 100 + i)
                with self.lock:
                    self.acks.append(ack)
                i += 1


def _set_up(pair: Pair) -> tuple[str, str]:
    """The database, migrated; the platform, an organizer and its key; returns (url, token)."""
    create_database(pair.primary_url, DATABASE)
    url = pair.url()
    upgrade(url)
    engine = make_engine(url, pool_size=2)
    try:
        with engine.begin() as conn:
            ledger.open_organization(conn, PLATFORM, "Liventix", is_platform=True)
            org = uuid.uuid4()
            ledger.open_organization(conn, org, "Failover Hall")
            token = create_key(conn, org, description="failover test").token
    finally:
        engine.dispose()
    return url, token


def test_failover_loses_no_acknowledged_posting_and_no_webhook(pair: Pair) -> None:
    began = time.monotonic()
    url, token = _set_up(pair)
    receiver = Receiver().start()
    port = free_port()
    # The worker starts while the API does (each takes seconds on a loaded machine).
    worker = LiventixProcess(
        ["worker", "--poll", "0.1", "--lease", "2", "--no-periodic", "--retry-schedule", "0.2"],
        pair.env(),
    )
    try:
        api = serve_api(pair, port)
    except BaseException:
        worker.stop()
        raise
    # A second API process, busy before the kill and idle through the failover: its pool
    # keeps connections to the dead primary until a request comes.
    idle_port = free_port()
    try:
        idle_api = serve_api(pair, idle_port, PGAPPNAME=IDLE_API)
    except BaseException:
        api.stop()
        worker.stop()
        raise
    try:
        worker.wait_for(": running")
        base = f"http://127.0.0.1:{port}"
        with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {token}"}) as c:
            accounts = tuple(
                c.post(
                    "/v1/accounts",
                    json={"code": code, "type": "asset", "currency": "USD"},
                    headers={"Idempotency-Key": f"open-{code}"},
                ).json()["id"]
                for code in ("cash", "receivable")
            )
            hook = c.post(
                "/v1/webhook-endpoints",
                json={"url": receiver.url, "event_types": ["ledger.hold.created"]},
                headers={"Idempotency-Key": "endpoint"},
            )
            assert hook.status_code == 201, hook.text
        idle = httpx.Client(
            base_url=f"http://127.0.0.1:{idle_port}",
            headers={"Authorization": f"Bearer {token}"},
            timeout=15.0,
        )
        # More than one connection in its pool: the first found lost is not the only one
        # the pool kept (the reads must overlap; tried again if they did not).
        for _ in range(5):
            _busy(idle, accounts[0])
            if _connections(url, IDLE_API) >= 2:
                break
        assert _connections(url, IDLE_API) >= 2
        clients = Clients(base, token, (accounts[0], accounts[1]))
        posting = time.monotonic()
        threads = [threading.Thread(target=clients.run, args=(n,)) for n in range(CLIENTS)]
        for thread in threads:
            thread.start()
        clients.done_before.wait(timeout=120)
        # The clients are posting again: kill the primary under them, as a crash would.
        time.sleep(0.2)
        killed = time.monotonic()
        try:
            replication.stop_server(pair.primary_dir, "immediate")
            # What `liventix db promote` runs (tests/replication/test_replica.py runs it).
            replication.promote(pair.standby_dir)
        finally:
            clients.promoted.set()
        promoted_after = time.monotonic() - killed
        for thread in threads:
            thread.join(timeout=180)
        assert not any(t.is_alive() for t in threads)
        # The clients were posting while no primary answered: some attempts failed (the
        # kill met them), so what follows checks a failover they went through.
        assert clients.failures, "no attempt failed: the clients did not meet the failover"

        acks = clients.acks
        posted = time.monotonic()
        holds = {a.id for a in acks if a.kind == "hold"}
        # The worker, on the new primary, delivers every hold's webhook.
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            delivered = {h.envelope()["data"]["hold_id"] for h in receiver.received()}
            if holds <= delivered:
                break
            time.sleep(0.2)

        _check_database(url, acks)
        # The answers stored under the keys before the kill are on the new primary: sent
        # again, each is replayed with the first result.
        with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {token}"}) as c:
            early = [a for a in acks if int(a.key.split("-")[1]) < BEFORE]
            for ack in early:
                again = c.post(ack.path, json=ack.body, headers={"Idempotency-Key": ack.key})
                assert again.headers.get("Idempotency-Replayed") == "true", again.text
                assert again.json()["id"] == ack.id
        # The idle API answers every request after the promotion: the connections its pool
        # kept from the dead primary are retired at the first one found lost, and that
        # request opens again on a new connection (liventix.database, the unit of work).
        for n in range(12):
            read = idle.get(f"/v1/accounts/{accounts[0]}")
            assert read.status_code == 200, (n, read.text)
        ids_by_hold: dict[str, set[str]] = defaultdict(set)
        for h in receiver.received():
            assert h.envelope()["type"] == "ledger.hold.created"
            ids_by_hold[h.envelope()["data"]["hold_id"]].add(h.webhook_id)
        assert set(ids_by_hold) == holds, "a webhook was lost, or one came for no hold"
        assert all(len(ids) == 1 for ids in ids_by_hold.values()), "a duplicate had a new id"
        # A fresh CLI process finds the new primary and reports no difference (exit 0).
        run_cli(pair.env(), "report", "all", "--differences-only", timeout=120)

        hooks = len(receiver.received())
        phases = (
            f"set-up {posting - began:.1f} s, posting {posted - posting:.1f} s, checks "
            f"{time.monotonic() - posted:.1f} s"
        )
        print(
            f"\nfailover: {len(acks)} acknowledged ({len(acks) - len(holds)} postings, "
            f"{len(holds)} holds), {sum(a.attempts > 1 for a in acks)} retried, "
            f"{sum(a.replayed for a in acks)} answered by a replay; {hooks} webhooks for "
            f"{len(holds)} messages ({hooks - len(holds)} duplicates); promoted "
            f"{promoted_after:.2f} s after the kill; failed attempts: {len(clients.failures)}; "
            f"{phases}"
        )
        idle.close()
    finally:
        api.stop()
        idle_api.stop()
        worker.stop()
        receiver.close()


def _connections(url: str, application: str) -> int:
    """How many connections an application has open on the primary."""
    engine = sa.create_engine(url, poolclass=NullPool)
    try:
        with engine.connect() as conn:
            return int(
                conn.execute(
                    sa.text("SELECT count(*) FROM pg_stat_activity WHERE application_name = :a"),
                    {"a": application},
                ).scalar_one()
            )
    finally:
        engine.dispose()


def _busy(client: httpx.Client, account: str) -> None:
    """Eight reads at once, twice, each answered: the API's pool opens several
    connections."""
    answers: list[int] = []

    def read() -> None:
        answers.append(client.get(f"/v1/accounts/{account}").status_code)

    for _ in range(2):
        threads = [threading.Thread(target=read) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
    assert answers == [200] * 16, answers


def _check_database(url: str, acks: list[Ack]) -> None:
    """Every acknowledged entry and hold exactly once, nothing else; every entry balanced."""
    engine = make_engine(url, pool_size=1)
    try:
        with engine.connect() as conn:
            entries = conn.execute(
                sa.text(
                    "SELECT id::text, idempotency_key FROM payments.entries"
                    " WHERE idempotency_key LIKE 'api:c%'"
                )
            ).all()
            holds = conn.execute(
                sa.text(
                    "SELECT id::text, idempotency_key FROM payments.holds"
                    " WHERE idempotency_key LIKE 'api:c%'"
                )
            ).all()
            unbalanced = conn.execute(
                sa.text(
                    "SELECT e.id FROM payments.entries e LEFT JOIN payments.lines l"
                    " ON l.entry_id = e.id GROUP BY e.id"
                    " HAVING count(l.id) < 2 OR sum(CASE l.side WHEN 'debit' THEN l.amount"
                    " ELSE -l.amount END) <> 0"
                )
            ).all()
            trial = ledger.trial_balance(conn)
    finally:
        engine.dispose()
    for kind, rows in (("entry", entries), ("hold", holds)):
        acked = {a.id: a.key for a in acks if a.kind == kind}
        found = {row[0]: row[1] for row in rows}
        assert len(found) == len(rows)
        # Exactly the acknowledged ones, each under its own key: none lost, none twice.
        assert found == {i: f"api:{k}" for i, k in acked.items()}, kind
    assert unbalanced == []
    assert trial.balanced

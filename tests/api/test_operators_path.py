"""The operator's whole path without Python or SQL: real `liventix` processes and HTTP on
127.0.0.1, from an empty server to a posted entry.

`liventix orgs create` registers the platform and an organizer (the first command creates
and migrates the database); `liventix keys create` makes the platform's key and the
organizer's keys (full, found by the organizer's name, and read-only for finance);
`liventix keys list` shows them; `liventix serve` serves the API, where
the read-only key reads and is refused a write, the full key registers a webhook endpoint,
opens accounts and posts an entry through the generated client (`liventix_client`,
imported from clients/python/ as committed) and reads it back there, and the platform's key
lists the organizations; `liventix keys revoke` ends a key.
"""

from __future__ import annotations

import importlib
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from importlib.metadata import version
from pathlib import Path
from typing import Any

import httpx
import pytest

from liventix.database import drop_database
from tests.support import free_port

START_TIMEOUT = 120.0
ORGANIZER = "Riverside Jazz Club"
CLIENT = Path(__file__).resolve().parents[2] / "clients" / "python"


@pytest.fixture
def lc() -> Iterator[Any]:
    """The generated package `liventix_client`, imported from clients/python/."""
    sys.path.insert(0, str(CLIENT))
    try:
        yield importlib.import_module("liventix_client")
    finally:
        sys.path.remove(str(CLIENT))


@pytest.fixture
def operator_env(pg_server_url: str, tmp_path: Path) -> Iterator[dict[str, str]]:
    """An operator's environment: a server, a database name that does not exist yet."""
    name = f"ops_{uuid.uuid4().hex}"
    env = {
        **os.environ,
        "DATABASE_URL": pg_server_url,
        "LIVENTIX_DB_NAME": name,
        "LIVENTIX_DATA_DIR": str(tmp_path / "data"),
        "LIVENTIX_SECRET_KEY": "operator-path-test-secret-key-0123456789abcdef",
        "LIVENTIX_WEBHOOK_ALLOW": "127.0.0.1/32",
        "PYTHONUNBUFFERED": "1",
    }
    env.pop("LIVENTIX_PGDATA", None)
    try:
        yield env
    finally:
        drop_database(pg_server_url, name)


def _liventix(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [sys.executable, "-m", "liventix", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert "Traceback" not in done.stderr, done.stderr
    return done


def _ok(env: dict[str, str], *args: str) -> str:
    done = _liventix(env, *args)
    assert done.returncode == 0, (args, done.stdout, done.stderr)
    return done.stdout


def _wait_until_healthy(url: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while True:
        assert process.poll() is None, "liventix serve exited"
        try:
            if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        assert time.monotonic() < deadline, "liventix serve did not answer"
        time.sleep(0.2)


def _post(client: httpx.Client, path: str, body: Any) -> httpx.Response:
    return client.post(path, json=body, headers={"Idempotency-Key": uuid.uuid4().hex})


def _made(response: httpx.Response, status: int = 201) -> Any:
    assert response.status_code == status, response.text
    return response.json()


def test_the_operator_path_without_python_or_sql(
    operator_env: dict[str, str], tmp_path: Path, lc: Any
) -> None:
    env = operator_env
    assert _ok(env, "--version") == f"liventix {version('liventix-payments')}\n"
    # The first command creates and migrates the database (`liventix db upgrade` would too).
    _ok(env, "orgs", "create", "Liventix", "--platform")
    org_id = _ok(env, "orgs", "create", ORGANIZER).strip()
    platform_key = _ok(env, "keys", "create", "--platform", "--description", "ops").strip()
    full_key = _ok(env, "keys", "create", "--org", ORGANIZER).strip()
    finance_key = _ok(env, "keys", "create", "--org", org_id, "--scope", "read_only").strip()
    assert all(k.startswith("lvx_") for k in (platform_key, full_key, finance_key))
    listed = [json.loads(line) for line in _ok(env, "keys", "list", "--json").splitlines()]
    assert [(k["organization"], k["scope"]) for k in listed] == [
        (None, "full"),
        (ORGANIZER, "full"),
        (ORGANIZER, "read_only"),
    ]

    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log_path = tmp_path / "serve.log"
    with log_path.open("wb") as log:
        server = subprocess.Popen(
            [sys.executable, "-m", "liventix", "serve", "--port", str(port), "--processes", "1"],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
    try:
        _wait_until_healthy(url, server)
        _over_http(
            lc,
            url,
            org_id,
            platform_key=platform_key,
            full_key=full_key,
            finance_key=finance_key,
        )
        finance_id = listed[2]["id"]
        assert _ok(env, "keys", "revoke", finance_id) == f"key {finance_id}: revoked\n"
        with httpx.Client(base_url=url, headers=_bearer(finance_key)) as finance:
            assert finance.get("/v1/accounts").status_code == 401
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=60)
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _post_entry(lc: Any, url: str, key: str, cash: str, sales: str) -> None:
    """The organizer posts a sale through the generated client and reads it back there."""
    m = importlib.import_module("liventix_client.models")
    post_entry = importlib.import_module("liventix_client.api.ledger.ledger_post_entry")
    get_entry = importlib.import_module("liventix_client.api.ledger.ledger_get_entry")
    usd = m.Money(amount=2_500, currency=m.MoneyCurrency.USD)
    body = m.PostEntryRequest(
        lines=[
            m.LineRequest(account_id=uuid.UUID(cash), side=m.LineRequestSide.DEBIT, amount=usd),
            m.LineRequest(account_id=uuid.UUID(sales), side=m.LineRequestSide.CREDIT, amount=usd),
        ],
        external_ref="first-sale",
    )
    with lc.AuthenticatedClient(base_url=url, token=key) as client:
        answer = post_entry.sync_detailed(client=client, body=body, idempotency_key="first-sale")
        assert answer.status_code == 201, answer.content
        entry = answer.parsed
        assert isinstance(entry, m.EntryResponse), entry
        assert answer.headers["location"] == f"/v1/entries/{entry.id}"
        found = get_entry.sync(entry.id, client=client)
        assert isinstance(found, m.EntryResponse), found
        assert (found.id, found.external_ref) == (entry.id, "first-sale")
        assert sorted((str(x.account_id), x.amount.amount) for x in found.lines) == sorted(
            [(cash, 2_500), (sales, 2_500)]
        )


def _over_http(
    lc: Any, url: str, org_id: str, *, platform_key: str, full_key: str, finance_key: str
) -> None:
    with httpx.Client(base_url=url, headers=_bearer(full_key), timeout=30) as organizer:
        endpoint = _made(
            _post(
                organizer,
                "/v1/webhook-endpoints",
                {"url": "http://127.0.0.1:9/hooks", "event_types": []},
            )
        )
        assert endpoint["org_id"] == org_id and endpoint["secret"]
        account = {"type": "asset", "currency": "USD"}
        cash = _made(_post(organizer, "/v1/accounts", {**account, "code": "cash"}))["id"]
        sales = _made(
            _post(organizer, "/v1/accounts", {**account, "code": "sales", "type": "revenue"})
        )["id"]
        lines = [
            {"account_id": cash, "side": "debit", "amount": {"amount": 2_500, "currency": "USD"}},
            {"account_id": sales, "side": "credit", "amount": {"amount": 2_500, "currency": "USD"}},
        ]
    _post_entry(lc, url, full_key, cash, sales)
    with httpx.Client(base_url=url, headers=_bearer(finance_key), timeout=30) as finance:
        balance = finance.get(f"/v1/accounts/{cash}/balance")
        assert balance.status_code == 200, balance.text
        assert balance.json()["posted"]["amount"] == 2_500
        refused = _post(finance, "/v1/entries", {"lines": lines})
        assert refused.status_code == 403
        assert refused.headers["content-type"] == "application/problem+json"
        assert refused.json()["type"] == "https://liventix.dev/problems/read-only-key"
        # `liventix serve` answers every request with its id, in problems too.
        assert refused.json()["request_id"] == refused.headers["request-id"]
        assert finance.get(f"/v1/accounts/{cash}/balance").json()["posted"]["amount"] == 2_500
    with httpx.Client(base_url=url, headers=_bearer(platform_key), timeout=30) as platform:
        names = {o["name"] for o in _made(platform.get("/v1/organizations"), 200)["data"]}
        assert names == {"Liventix", ORGANIZER}

"""Operations and the commands: health, readiness (at head, or not), Prometheus metrics; the
OpenAPI document in docs/ is the one the code generates; `liventix keys create/revoke`,
`liventix api openapi` and `liventix serve` (a real process)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url

from liventix.api import create_app, openapi_text
from liventix.cli import main
from liventix.database import create_database, database_url, drop_database, head_revision
from tests.api.support import Served, new_org, ok, open_account, post, transfer_body, uvicorn_thread
from tests.support import free_port

ROOT = Path(__file__).resolve().parents[2]


def test_health_and_readiness(served: Served) -> None:
    with served.client(None) as client:
        assert ok(client.get("/health")) == {"status": "ok"}
        assert ok(client.get("/ready")) == {"status": "ready", "revision": head_revision()}


def test_not_ready_on_a_database_never_migrated(pg_server_url: str) -> None:
    name = f"bare_{uuid.uuid4().hex}"
    create_database(pg_server_url, name)
    engine = sa.create_engine(database_url(pg_server_url, name))
    try:
        with uvicorn_thread(create_app(engine, gateway=None, stripe_webhook_secret=None)) as url:
            answer = httpx.get(f"{url}/ready")
            assert answer.status_code == 503
            assert answer.json()["type"] == "https://liventix.dev/problems/not-ready"
            assert httpx.get(f"{url}/health").status_code == 200
    finally:
        engine.dispose()
        drop_database(pg_server_url, name)


def test_metrics(served: Served) -> None:
    _org, key = new_org(served.engine)
    with served.client(key) as client:
        cash = open_account(client, "cash")
        sales = open_account(client, "sales", type="revenue")
        ok(post(client, "/v1/entries", transfer_body(cash, sales, 5)), 201)
        client.get(f"/v1/accounts/{uuid.uuid4()}")
        text = client.get("/metrics").text
    assert 'liventix_api_requests_total{method="POST",route="/v1/entries",status="201"}' in text
    assert (
        'liventix_api_requests_total{method="GET",route="/v1/accounts/{account_id}",status="404"}'
        in text
    )
    assert "liventix_api_request_duration_seconds_bucket" in text
    postings = [
        line
        for line in text.splitlines()
        if line.startswith('liventix_ledger_postings_total{kind="entry"}')
    ]
    assert postings and float(postings[0].split()[-1]) >= 1
    for family in (
        'liventix_outbox_backlog{channel="webhook"}',
        'liventix_outbox_oldest_pending_age_seconds{channel="email"}',
        "liventix_inbox_backlog",
        "liventix_metrics_database_up 1.0",
    ):
        assert family in text


def test_the_openapi_document_is_current(served: Served) -> None:
    kept = (ROOT / "docs" / "openapi.json").read_text()
    assert kept == openapi_text(), "run `liventix api openapi` and commit docs/openapi.json"
    with served.client(None) as client:
        assert ok(client.get("/openapi.json")) == json.loads(kept)


@pytest.fixture
def cli_env(served: Served, pg_server_url: str, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """The CLI's environment, pointed at the served database."""
    env = {
        "DATABASE_URL": pg_server_url,
        "LIVENTIX_DB_NAME": str(make_url(str(served.engine.url)).database),
        "STRIPE_WEBHOOK_SECRET": served.secret,
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return env


def test_keys_create_and_revoke(
    served: Served, cli_env: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    org, _key = new_org(served.engine)
    assert main(["keys", "create", "--org", str(org), "--description", "front end"]) == 0
    out = capsys.readouterr()
    token = out.out.strip()
    key_id = out.err.split()[1]
    with served.client(token) as client:
        assert client.get("/v1/accounts").status_code == 200
        assert main(["keys", "revoke", key_id]) == 0
        assert client.get("/v1/accounts").status_code == 401
    assert main(["keys", "revoke", key_id]) == 1
    assert main(["keys", "revoke", str(uuid.uuid4())]) == 2
    assert main(["keys", "create", "--org", str(uuid.uuid4())]) == 2
    capsys.readouterr()
    assert main(["keys", "create", "--platform"]) == 0
    platform = capsys.readouterr().out.strip()
    with served.client(platform) as client:
        assert client.get(f"/v1/orders/{uuid.uuid4()}").status_code == 404


def test_api_openapi_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "openapi.json"
    assert main(["api", "openapi", "--output", str(target)]) == 0
    assert target.read_text() == openapi_text()
    assert main(["api", "openapi", "--output", str(target)]) == 0
    assert capsys.readouterr().out.splitlines() == [f"wrote {target}", f"unchanged {target}"]


def test_liventix_serve(cli_env: dict[str, str]) -> None:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "liventix", "serve", "--port", str(port), "--log-level", "warning"],
        env={**os.environ, **cli_env},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        # Start-up migrates and spawns: on a loaded shared machine it took over 30 s.
        deadline = time.monotonic() + 120
        while True:
            try:
                answer = httpx.get(f"http://127.0.0.1:{port}/ready", timeout=5)
                break
            except httpx.TransportError:
                assert process.poll() is None, process.stdout.read() if process.stdout else ""
                assert time.monotonic() < deadline, "liventix serve did not start"
                time.sleep(0.1)
        assert answer.status_code == 200
        assert httpx.get(f"http://127.0.0.1:{port}/v1/accounts").status_code == 401
    finally:
        process.send_signal(signal.SIGTERM)
        # uvicorn shuts down gracefully, then re-raises the signal it caught.
        assert process.wait(timeout=15) in (0, -signal.SIGTERM)

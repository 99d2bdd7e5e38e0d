"""The API logged in as production logs in: a LOGIN role that is neither superuser nor
exempt from row-level security, granted membership in liventix_app and liventix_platform
(as docs/tenancy.md says). Writes, refusals stored under their key, replays,
readiness, metrics, Stripe's webhook and the platform's key all work with those grants, and
an organization's key still sees only its own rows."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator

import httpx
import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url
from sqlalchemy.pool import QueuePool

from liventix.api import create_app
from liventix.testing.stripe import signature_header
from tests.api.support import (
    WEBHOOK_SECRET,
    Served,
    money,
    new_org,
    ok,
    open_account,
    post,
    transfer_body,
    uvicorn_thread,
)


@pytest.fixture(scope="module")
def login_role_url(served: Served) -> Iterator[str]:
    """The API's URL, served with an engine logged in as a fresh production-like role."""
    name = f"liventix_api_{uuid.uuid4().hex[:10]}"
    url = make_url(str(served.engine.url))
    with served.engine.begin() as conn:
        conn.exec_driver_sql(f'CREATE ROLE "{name}" LOGIN IN ROLE liventix_app, liventix_platform')
        conn.exec_driver_sql(f'GRANT CONNECT ON DATABASE "{url.database}" TO "{name}"')
    engine = sa.create_engine(url.set(username=name), poolclass=QueuePool, pool_size=4)
    try:
        with engine.connect() as conn:
            me = conn.execute(
                sa.text("SELECT rolsuper, rolbypassrls FROM pg_roles WHERE rolname = current_user")
            ).one()
        assert tuple(me) == (False, False)
        app = create_app(engine, gateway=None, stripe_webhook_secret=WEBHOOK_SECRET)
        with uvicorn_thread(app) as served_url:
            yield served_url
    finally:
        engine.dispose()
        with served.engine.begin() as conn:
            conn.exec_driver_sql(f'DROP OWNED BY "{name}"')
            conn.exec_driver_sql(f'DROP ROLE "{name}"')


def test_the_api_works_with_the_documented_grants(served: Served, login_role_url: str) -> None:
    _a, key_a = new_org(served.engine, "A")
    _b, key_b = new_org(served.engine, "B")
    with (
        httpx.Client(base_url=login_role_url, headers={"Authorization": f"Bearer {key_a}"}) as a,
        httpx.Client(base_url=login_role_url, headers={"Authorization": f"Bearer {key_b}"}) as b,
    ):
        wallet = open_account(a, "wallet", type="liability", debits_must_not_exceed_credits=True)
        funding = open_account(a, "funding")
        shop = open_account(a, "shop", type="liability")
        refused = a.post(
            "/v1/entries", json=transfer_body(wallet, shop, 5), headers={"Idempotency-Key": "r"}
        )
        assert refused.status_code == 422
        again = a.post(
            "/v1/entries", json=transfer_body(wallet, shop, 5), headers={"Idempotency-Key": "r"}
        )
        assert again.headers["Idempotency-Replayed"] == "true"
        ok(post(a, "/v1/entries", transfer_body(funding, wallet, 50)), 201)
        assert ok(a.get(f"/v1/accounts/{wallet}/balance"))["posted"] == money(50)
        assert b.get(f"/v1/accounts/{wallet}").status_code == 404
        assert ok(b.get("/v1/accounts"))["data"] == []
        assert ok(a.get("/ready"))["status"] == "ready"
        assert "liventix_metrics_database_up 1.0" in a.get("/metrics").text
        bad = a.post("/v1/stripe/webhook", content=b"{}", headers={"Stripe-Signature": "t=1"})
        assert bad.status_code == 400
        # A signed event goes in through the database's own check (the login role may not
        # insert into the inbox), and the metrics count it though the role reads no row.
        body = json.dumps({"id": f"evt_{uuid.uuid4().hex}", "type": "ping", "data": {"object": {}}})
        stored = a.post(
            "/v1/stripe/webhook",
            content=body.encode(),
            headers={"Stripe-Signature": signature_header(body.encode(), WEBHOOK_SECRET)},
        )
        assert ok(stored)["duplicate"] is False
        backlog = [
            line
            for line in a.get("/metrics").text.splitlines()
            if line.startswith("liventix_inbox_backlog ")
        ]
        assert backlog and float(backlog[0].split()[1]) >= 1
    with httpx.Client(
        base_url=login_role_url, headers={"Authorization": f"Bearer {served.platform_key}"}
    ) as platform:
        assert ok(platform.get(f"/v1/accounts/{wallet}"))["code"] == "wallet"
        assert "steps" in ok(post(platform, "/v1/escrows/release-due"))

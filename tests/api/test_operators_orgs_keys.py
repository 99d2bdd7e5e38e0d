"""Organizations over HTTP (the platform's key only) and read-only keys: a read-only key
reads what its organization may and is refused every write with 403 `read-only-key`
(application/problem+json), writing nothing, whatever the route."""

from __future__ import annotations

import time
import uuid

import pytest
import sqlalchemy as sa

from liventix.api import keys
from liventix.api.app import openapi_document
from tests.api.support import Served, idem, new_org, ok, open_account, post, transfer_body

PROBLEM = "application/problem+json"


def _count(engine: sa.Engine, table: str) -> int:
    with engine.connect() as conn:
        return int(conn.execute(sa.text(f"SELECT count(*) FROM {table}")).scalar_one())


def test_the_platform_registers_lists_and_reads_organizations(served: Served) -> None:
    with served.client(served.platform_key) as platform:
        created = ok(post(platform, "/v1/organizations", {"name": "Harbour Hall"}), 201)
        assert created["name"] == "Harbour Hall" and created["is_platform"] is False
        org_id = created["id"]
        assert ok(platform.get(f"/v1/organizations/{org_id}")) == created
        seen: list[dict[str, object]] = []
        after: str | None = None
        while True:
            params = {"limit": "2", **({"starting_after": after} if after else {})}
            page = ok(platform.get("/v1/organizations", params=params))
            seen.extend(page["data"])
            if not page["has_more"]:
                break
            after = str(page["data"][-1]["id"])
        assert [o["id"] for o in seen].count(org_id) == 1
        assert sum(1 for o in seen if o["is_platform"]) == 1
        missing = platform.get(f"/v1/organizations/{uuid.uuid4()}")
        assert missing.status_code == 404
        assert missing.json()["type"].endswith("/organization-not-found")
    # The new organization is usable: a key for it works.
    with served.engine.begin() as conn:
        token = keys.create_key(conn, uuid.UUID(org_id)).token
    with served.client(token) as organizer:
        assert ok(organizer.get("/v1/accounts"))["data"] == []


def test_a_replayed_registration_registers_once(served: Served) -> None:
    headers = idem()
    with served.client(served.platform_key) as platform:
        first = post(platform, "/v1/organizations", {"name": "Once Only"}, **headers)
        again = post(platform, "/v1/organizations", {"name": "Once Only"}, **headers)
    assert first.status_code == again.status_code == 201
    assert again.headers["idempotency-replayed"] == "true"
    assert first.json() == again.json()
    with served.engine.connect() as conn:
        named = conn.execute(
            sa.text("SELECT count(*) FROM payments.organizations WHERE name = 'Once Only'")
        ).scalar_one()
    assert named == 1


@pytest.mark.parametrize(
    ("method", "path"),
    [("post", "/v1/organizations"), ("get", "/v1/organizations"), ("get", "/v1/organizations/x")],
)
def test_an_organizations_key_may_not_manage_organizations(
    served: Served, method: str, path: str
) -> None:
    _, token = new_org(served.engine, "Not The Platform")
    before = _count(served.engine, "payments.organizations")
    with served.client(token) as organizer:
        if path.endswith("/x"):
            path = f"/v1/organizations/{uuid.uuid4()}"
        response = (
            post(organizer, path, {"name": "Sneaky"}) if method == "post" else organizer.get(path)
        )
    assert response.status_code == 403
    assert response.headers["content-type"] == PROBLEM
    assert response.json()["type"].endswith("/platform-key-required")
    assert _count(served.engine, "payments.organizations") == before


@pytest.mark.parametrize("name", ["", "   ", "x" * 201])
def test_a_bad_name_is_a_422_that_writes_nothing(served: Served, name: str) -> None:
    before = _count(served.engine, "payments.organizations")
    with served.client(served.platform_key) as platform:
        response = post(platform, "/v1/organizations", {"name": name})
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == PROBLEM
    assert _count(served.engine, "payments.organizations") == before


def _read_only_key(served: Served, org: uuid.UUID) -> str:
    with served.engine.begin() as conn:
        created = keys.create_key(conn, org, scope="read_only", description="tests: finance")
    assert created.scope == "read_only"
    return created.token


def test_a_read_only_key_reads_and_is_refused_every_write(served: Served) -> None:
    org, full_token = new_org(served.engine, "Finance Reads")
    with served.client(full_token) as full:
        cash = open_account(full, "cash")
        sales = open_account(full, "sales", "revenue")
        ok(post(full, "/v1/entries", transfer_body(cash, sales, 1_000)), 201)
    read_only = _read_only_key(served, org)
    writes = [
        ("/v1/accounts", {"code": "more", "type": "asset", "currency": "USD"}),
        ("/v1/entries", transfer_body(cash, sales, 500)),
        ("/v1/webhook-endpoints", {"url": "http://127.0.0.1:9/hook"}),
        ("/v1/organizations", {"name": "Nope"}),
    ]
    before = _count(served.engine, "payments.entries")
    with served.client(read_only) as finance:
        balance = ok(finance.get(f"/v1/accounts/{cash}/balance"))
        assert balance["posted"]["amount"] == 1_000
        assert len(ok(finance.get("/v1/accounts"))["data"]) == 2
        assert ok(finance.get("/v1/reports/trial-balance"))["differences"] == 0
        for path, body in writes:
            refused = post(finance, path, body)
            assert refused.status_code == 403, (path, refused.text)
            assert refused.headers["content-type"] == PROBLEM
            problem = refused.json()
            assert problem["type"] == "https://liventix.dev/problems/read-only-key"
            assert problem["status"] == 403
    assert _count(served.engine, "payments.entries") == before
    with served.engine.connect() as conn:
        accounts = conn.execute(
            sa.text("SELECT count(*) FROM payments.accounts WHERE org_id = :o"), {"o": org}
        ).scalar_one()
    assert accounts == 2


def test_a_read_only_key_is_refused_even_a_replay_of_its_organizations_write(
    served: Served,
) -> None:
    """The idempotency scope is the organization: a read-only key must not get the answer a
    full key's write stored under the same Idempotency-Key."""
    org, full_token = new_org(served.engine, "Finance Replays")
    headers = idem()
    body = {"code": "cash", "type": "asset", "currency": "USD"}
    with served.client(full_token) as full:
        ok(post(full, "/v1/accounts", body, **headers), 201)
    with served.client(_read_only_key(served, org)) as finance:
        refused = post(finance, "/v1/accounts", body, **headers)
    assert refused.status_code == 403
    assert refused.json()["type"].endswith("/read-only-key")


def test_a_keys_scope_is_stored_with_it_and_authenticated_with_it(served: Served) -> None:
    org, _ = new_org(served.engine, "Scopes")
    with served.engine.begin() as conn:
        made = [keys.create_key(conn, org, scope="read_only") for _ in range(3)]
        made += [keys.create_key(conn, org) for _ in range(3)]
        listed = {k.id: k for k in keys.list_keys(conn, org_id=org)}
    for created in made:
        assert listed[created.id].scope == created.scope
        with served.engine.begin() as conn:
            principal, _ = keys.authenticate(conn, created.token)
            assert principal is not None and principal.key_scope == created.scope
            conn.rollback()
    with pytest.raises(ValueError, match="scope"), served.engine.begin() as conn:
        keys.create_key(conn, org, scope="admin")  # type: ignore[arg-type]
    # The database holds the scope to its two values, whoever writes it.
    with pytest.raises(sa.exc.IntegrityError), served.engine.begin() as conn:
        conn.execute(
            sa.text("UPDATE payments.api_keys SET scope = 'admin' WHERE id = :id"),
            {"id": made[0].id},
        )


def _last_used(engine: sa.Engine, key_id: uuid.UUID) -> object:
    with engine.connect() as conn:
        return conn.execute(
            sa.text("SELECT last_used_at FROM payments.api_keys WHERE id = :id"), {"id": key_id}
        ).scalar_one()


def test_a_keys_use_is_recorded_to_the_minute_even_by_a_read(served: Served) -> None:
    org, _ = new_org(served.engine, "Used")
    with served.engine.begin() as conn:
        used, unused = keys.create_key(conn, org), keys.create_key(conn, org)
    with served.client(used.token) as client:
        ok(client.get("/v1/accounts"))  # a read: its own transaction rolls back
    # Recorded beside the request, by a thread of the API's own: wait for it (bounded).
    deadline = time.monotonic() + 30
    while _last_used(served.engine, used.id) is None and time.monotonic() < deadline:
        time.sleep(0.05)
    first = _last_used(served.engine, used.id)
    assert first is not None
    assert _last_used(served.engine, unused.id) is None
    with served.engine.begin() as conn:
        listed = {k.id: k for k in keys.list_keys(conn, org_id=org)}
    assert listed[used.id].last_used_at == first and listed[unused.id].last_used_at is None

    prefix, secret = used.token.split("_")[1:]
    touch = sa.text("SELECT payments.touch_api_key(:prefix, :secret)")
    with served.engine.begin() as conn:  # within the minute: kept
        conn.execute(touch, {"prefix": prefix, "secret": secret})
    assert _last_used(served.engine, used.id) == first
    with served.engine.begin() as conn:
        conn.execute(
            sa.text("""UPDATE payments.api_keys SET last_used_at = last_used_at - interval '2 min'
                        WHERE id = :id"""),
            {"id": used.id},
        )
        conn.execute(touch, {"prefix": prefix, "secret": "0" * 48})  # a wrong secret: nothing
    aged = _last_used(served.engine, used.id)
    assert aged != first
    with served.engine.begin() as conn:
        conn.execute(touch, {"prefix": prefix, "secret": secret})
    assert _last_used(served.engine, used.id) != aged


def test_the_openapi_document_lists_the_read_only_problem_and_the_organizations() -> None:
    doc = openapi_document()
    paths = doc["paths"]
    assert {"post", "get"} <= set(paths["/v1/organizations"])
    assert "get" in paths["/v1/organizations/{org_id}"]
    assert "403" in paths["/v1/organizations"]["post"]["responses"]
    types = {p["type"] for p in doc["info"]["x-problem-types"]}
    assert "https://liventix.dev/problems/read-only-key" in types

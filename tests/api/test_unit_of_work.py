"""The unit of work a handler opens (`with uow:`), seen over HTTP on routes of a test app: the
transaction begins at `with uow:` under the key's role, `uow.commit(answer)` stores the answer
under the Idempotency-Key with the work, a write that leaves its block without committing keeps
nothing and stores nothing, two blocks are two transactions with nothing open between them,
and the connection is out of reach outside a block."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest
import sqlalchemy as sa
from fastapi import APIRouter

from liventix.api import create_app
from liventix.api.routing import WRITE, UnitOfWorkRoute
from liventix.api.unit_of_work import Uow
from tests.api.support import Served, new_org, ok, uvicorn_thread

_SCRATCH = "CREATE TABLE IF NOT EXISTS public.uow_probe (key text PRIMARY KEY, txid bigint)"


@dataclass
class Probe:
    """The test app's client (an organization's key) and the engine behind it."""

    client: httpx.Client
    engine: sa.Engine


def _router() -> APIRouter:
    router = APIRouter(prefix="/v1", route_class=UnitOfWorkRoute)

    def note(uow: Uow, key: str) -> int:
        txid: int = uow.conn.execute(
            sa.text("INSERT INTO public.uow_probe VALUES (:key, txid_current()) RETURNING txid"),
            {"key": key},
        ).scalar_one()
        return txid

    @router.post("/probe/commits", dependencies=WRITE)
    def commits(uow: Uow) -> dict[str, str]:
        with uow:
            role = str(uow.conn.execute(sa.text("SHOW role")).scalar_one())
            note(uow, f"commits-{uuid.uuid4()}")
            return uow.commit({"role": role, "id": str(uuid.uuid4())})

    @router.post("/probe/forgets", dependencies=WRITE)
    def forgets(uow: Uow, key: str) -> dict[str, str]:
        with uow:
            note(uow, key)
            return {"id": str(uuid.uuid4())}  # no uow.commit: nothing is kept

    @router.post("/probe/two-steps", dependencies=WRITE)
    def two_steps(uow: Uow, key: str) -> dict[str, object]:
        with uow:
            first = note(uow, f"{key}-1")
            uow.commit()
        try:
            _ = uow.conn
            between = "reachable"
        except RuntimeError:
            between = "closed"
        with uow:
            second = note(uow, f"{key}-2")
            return uow.commit({"two_transactions": first != second, "between": between})

    @router.get("/probe/outside")
    def outside(uow: Uow) -> dict[str, str]:
        return {"role": str(uow.conn.execute(sa.text("SHOW role")).scalar_one())}

    return router


@pytest.fixture(scope="module")
def probe(served: Served) -> Iterator[Probe]:
    """A test app with the probe routes, on the served API's database."""
    with served.engine.begin() as conn:
        conn.execute(sa.text(_SCRATCH))
        conn.execute(sa.text("GRANT ALL ON public.uow_probe TO PUBLIC"))
    app = create_app(served.engine, gateway=None, stripe_webhook_secret=None)
    app.include_router(_router())
    _, token = new_org(served.engine, "Unit of work probe")
    with (
        uvicorn_thread(app) as url,
        httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}) as client,
    ):
        yield Probe(client, served.engine)


def _kept(engine: sa.Engine, key: str) -> int:
    with engine.connect() as conn:
        found: int = conn.execute(
            sa.text("SELECT count(*) FROM public.uow_probe WHERE key LIKE :key"),
            {"key": f"{key}%"},
        ).scalar_one()
        return found


def test_commit_stores_the_answer_with_the_work_under_the_role(probe: Probe) -> None:
    key = {"Idempotency-Key": uuid.uuid4().hex}
    first = probe.client.post("/v1/probe/commits", headers=key)
    body = ok(first)
    assert body["role"] == "liventix_app"
    again = probe.client.post("/v1/probe/commits", headers=key)
    assert again.headers.get("Idempotency-Replayed") == "true"
    assert ok(again) == body  # the stored answer, not a second run


def test_a_write_that_does_not_commit_keeps_nothing_and_stores_nothing(probe: Probe) -> None:
    key = {"Idempotency-Key": uuid.uuid4().hex}
    mark = f"forgets-{uuid.uuid4()}"
    answer = probe.client.post("/v1/probe/forgets", params={"key": mark}, headers=key)
    assert answer.status_code == 500
    assert answer.json()["type"].endswith("/internal-error")
    assert _kept(probe.engine, mark) == 0
    retried = probe.client.post("/v1/probe/forgets", params={"key": mark}, headers=key)
    assert retried.status_code == 500
    assert "Idempotency-Replayed" not in retried.headers


def test_two_blocks_are_two_transactions_and_nothing_is_open_between(probe: Probe) -> None:
    mark = f"steps-{uuid.uuid4()}"
    answer = probe.client.post(
        "/v1/probe/two-steps", params={"key": mark}, headers={"Idempotency-Key": mark}
    )
    assert ok(answer) == {"two_transactions": True, "between": "closed"}
    assert _kept(probe.engine, mark) == 2


def test_the_connection_is_out_of_reach_outside_a_block(probe: Probe) -> None:
    answer = probe.client.get("/v1/probe/outside")
    assert answer.status_code == 500


def test_an_unknown_key_is_refused_when_the_block_opens(probe: Probe) -> None:
    answer = probe.client.post(
        "/v1/probe/commits",
        headers={"Idempotency-Key": uuid.uuid4().hex, "Authorization": "Bearer lvx_0_0"},
    )
    assert answer.status_code == 401

"""Routes of UUID path parameters served directly (`liventix.api.routing.uuid_table`): which
routes go that way, and that a request on it is answered as the router's way answers it."""

from __future__ import annotations

import uuid

from fastapi import APIRouter
from starlette.routing import BaseRoute

from liventix.api.routing import UnitOfWorkRoute, uuid_table
from liventix.api.unit_of_work import Uow
from tests.api.support import Served, new_org, ok, on_sale_event


def _routes() -> list[BaseRoute]:
    router = APIRouter(prefix="/v1", route_class=UnitOfWorkRoute)

    @router.get("/things/{thing_id:uuid}")
    def thing(thing_id: uuid.UUID, uow: Uow) -> dict[str, str]:
        return {}

    @router.get("/items/{name}")
    def by_name(name: str, uow: Uow) -> dict[str, str]:
        return {"name": name}

    @router.get("/items/{item_id:uuid}")  # by_name matches its paths first: never direct
    def item(item_id: uuid.UUID, uow: Uow) -> dict[str, str]:
        return {}

    @router.post("/things/{thing_id:uuid}/parts/{part_id:uuid}")
    def part(thing_id: uuid.UUID, part_id: uuid.UUID, uow: Uow) -> dict[str, str]:
        return {}

    @router.get("/fixed")
    def fixed(uow: Uow) -> dict[str, str]:
        return {}

    return list(router.routes)


def test_only_uuid_paths_the_router_would_pick_go_direct() -> None:
    routes = _routes()
    table = uuid_table(routes)
    assert set(table) == {
        ("GET", "/v1/things/{}"),
        ("POST", "/v1/things/{}/parts/{}"),
    }
    assert table["GET", "/v1/things/{}"] is routes[0]
    assert table["POST", "/v1/things/{}/parts/{}"] is routes[3]


def test_the_application_serves_its_reads_by_id_directly(served: Served) -> None:
    table = uuid_table(served.app.router.routes)
    assert ("GET", "/v1/events/{}") in table
    assert ("GET", "/v1/orders/{}") in table


def test_an_event_read_on_the_direct_path_answers_as_the_router_would(served: Served) -> None:
    _org, key = new_org(served.engine)
    with served.client(key) as client:
        event = on_sale_event(client, capacity=5)
        path = f"/v1/events/{event['id']}"
        assert ok(client.get(path), 200) == event
        # The same event by another spelling of its id goes the router's way, to the same.
        assert ok(client.get(path.upper().replace("/V1/EVENTS/", "/v1/events/")), 200) == event
        assert ok(client.get(path.replace("-", "")), 200) == event
        # Unknown, malformed, another organization's: as the router answers them.
        missing = client.get(f"/v1/events/{uuid.uuid4()}")
        assert missing.status_code == 404, missing.text
        assert missing.json()["request_id"] == missing.headers["Request-Id"]
        assert client.get(f"/v1/events/{event['id']}x").status_code == 404
        assert client.post(path).status_code == 405
        anonymous = served.client(None)
        assert anonymous.get(path).status_code == 401
        anonymous.close()
        _other, other_key = new_org(served.engine)
        with served.client(other_key) as other:
            assert other.get(path).status_code == 404
        text = client.get("/metrics").text
    assert 'route="/v1/events/{event_id}",status="200"' in text or (
        'route="/v1/events/{event_id:uuid}",status="200"' in text
    )

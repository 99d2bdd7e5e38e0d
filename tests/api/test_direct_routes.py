"""The fixed-path routes served directly (`liventix.api.routing.DirectRoutes`): which routes go
that way, and that a request on it is answered as the router's way answers it (the stored
answer, the refusals before the handler, a body the route does not validate itself, the
metrics' route label)."""

from __future__ import annotations

import uuid

from fastapi import APIRouter
from pydantic import BaseModel
from starlette.routing import BaseRoute

from liventix.api.routing import DirectRoutes, UnitOfWorkRoute, direct_table
from liventix.api.unit_of_work import Uow
from tests.api.support import Served, idem, new_org, ok, on_sale_event, post


class _Body(BaseModel):
    name: str


def _routes() -> list[BaseRoute]:
    router = APIRouter(prefix="/v1", route_class=UnitOfWorkRoute)

    @router.get("/items/{name}")
    def by_name(name: str, uow: Uow) -> dict[str, str]:
        return {"name": name}

    @router.get("/items/fixed")
    def fixed(uow: Uow) -> dict[str, str]:  # the router picks by_name first: never direct
        return {}

    @router.post("/items")
    def create(body: _Body, uow: Uow) -> dict[str, str]:
        return {}

    @router.get("/items/{item_id:uuid}/parts")
    def parts(item_id: uuid.UUID, uow: Uow) -> dict[str, str]:
        return {}

    return list(router.routes)


def test_only_fixed_paths_the_router_would_pick_go_direct() -> None:
    routes = _routes()
    table = direct_table(routes)
    assert set(table) == {("POST", "/v1/items")}
    assert table["POST", "/v1/items"] is routes[2]


def test_the_application_serves_its_hot_writes_directly(served: Served) -> None:
    table = direct_table(served.app.router.routes)
    assert ("POST", "/v1/checkouts") in table
    assert ("POST", "/v1/entries") in table
    assert all(not route.param_convertors for route in table.values())
    assert any(getattr(m, "cls", None) is DirectRoutes for m in served.app.user_middleware), (
        "DirectRoutes is installed"
    )


def test_a_checkout_on_the_direct_path_answers_as_the_router_would(served: Served) -> None:
    _org, key = new_org(served.engine)
    with served.client(key) as client:
        event = on_sale_event(client, capacity=5)
        type_id = event["ticket_types"][0]["id"]
        body = {
            "event_id": event["id"],
            "buyer_email": "direct@example.com",
            "items": [{"ticket_type_id": type_id, "quantity": 1}],
        }
        headers = idem()
        first = ok(post(client, "/v1/checkouts", body, **headers), 201)
        again = post(client, "/v1/checkouts", body, **headers)
        assert again.status_code == 201
        assert again.headers.get("Idempotency-Replayed") == "true"
        assert again.json() == first

        # Refused before the handler: no key, no bearer.
        assert client.post("/v1/checkouts", json=body).status_code == 400
        anonymous = served.client(None)
        assert post(anonymous, "/v1/checkouts", body, **idem()).status_code == 401
        anonymous.close()

        # A body the route does not validate itself goes FastAPI's way, read once.
        bad = post(client, "/v1/checkouts", {**body, "items": [{"quantity": 1}]}, **idem())
        assert bad.status_code == 422, bad.text
        assert "ticket_type_id" in bad.text
        wrong_type = client.post(
            "/v1/checkouts",
            content=b"not json",
            headers={"Content-Type": "application/json", **idem()},
        )
        assert 400 <= wrong_type.status_code < 500, wrong_type.text

        text = client.get("/metrics").text
    assert 'liventix_api_requests_total{method="POST",route="/v1/checkouts",status="201"}' in text
    assert 'liventix_api_requests_total{method="POST",route="/v1/checkouts",status="422"}' in text

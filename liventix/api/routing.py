"""Building blocks of the API's routers: the authenticated route (its handler gets a unit of
work it opens itself: `with uow:`), the documented `Authorization` and `Idempotency-Key`
headers, and the problem responses each route documents.

`UnitOfWorkRoute` runs a request through `liventix.api.pipeline`: the event loop checks what
needs no database; the parameters are validated (by the route when they are simple: UUID
path parameters and one JSON body model; else by FastAPI); the handler runs in a worker
thread with a `UnitOfWork`, and its answer is serialized as the route declares it. A write's
answer is the one its handler committed (`return uow.commit(answer)`), stored under its key.
"""

from __future__ import annotations

import contextvars
import functools
import json
import re
import uuid
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass
from typing import Any

import anyio.to_thread
from fastapi import APIRouter, Depends, Request
from fastapi._compat import ModelField
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import ResponseValidationError
from fastapi.routing import APIRoute
from pydantic import BaseModel
from starlette._utils import get_route_path
from starlette.convertors import UUIDConvertor
from starlette.responses import Response
from starlette.routing import BaseRoute, Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from liventix.api import failures
from liventix.api.idempotency import NOT_JSON
from liventix.api.pipeline import Handler, Runner
from liventix.api.route_docs import (
    READ_PROBLEMS,
    WRITE,
    WRITE_PROBLEMS,
    _documented_bearer,
    operation_id,
    problem_responses,
)
from liventix.api.unit_of_work import (
    DEFERRED,
    DOCUMENTATION_ONLY,
    Facts,
    UnitOfWork,
    current_unit_of_work,
)

__all__ = [
    "PLATFORM_ONLY_EXTENSION",
    "READ_ONLY_EXTENSION",
    "WRITE",
    "DirectRoutes",
    "UnitOfWorkRoute",
    "authenticated_router",
    "direct_table",
    "operation_id",
    "problem_responses",
    "uuid_table",
]

READ_ONLY_EXTENSION = "x-read-only"
"""The OpenAPI extension marking a route read-only: one REPEATABLE READ, READ ONLY
transaction, and no Idempotency-Key (see `liventix.api.unit_of_work`)."""
PLATFORM_ONLY_EXTENSION = "x-platform-only"

_SERVING: contextvars.ContextVar[tuple[Runner, Facts]] = contextvars.ContextVar("liventix_request")
"""The request being served and its runner, from the route's handler to its endpoint (one
task)."""


@dataclass(frozen=True)
class _LeanPlan:
    """A route's simple parameters (see `UnitOfWorkRoute._lean_plan`)."""

    path: tuple[tuple[str, str], ...]
    body: ModelField | None
    uow_names: tuple[str, ...]


def _json_content(request: Request) -> bool:
    """Whether the body is declared JSON, as FastAPI requires to parse it as JSON."""
    kind = request.headers.get("content-type", "").partition(";")[0].strip().lower()
    main, _, sub = kind.partition("/")
    return main == "application" and (sub == "json" or sub.endswith("+json"))


_REFUSING = (  # what FastAPI resolves that the lean path does not
    "query_params",
    "header_params",
    "cookie_params",
    "request_param_name",
    "websocket_param_name",
    "http_connection_param_name",
    "response_param_name",
    "background_tasks_param_name",
    "security_scopes_param_name",
)


class UnitOfWorkRoute(APIRoute):
    """An authenticated route whose handler opens its unit of work (see the module)."""

    def __init__(self, path: str, endpoint: Callable[..., Any], **kwargs: Any) -> None:
        route = self

        @functools.wraps(endpoint)
        async def in_worker_thread(**values: Any) -> Response:
            runner, facts = _SERVING.get()
            facts.started = True
            call = functools.partial(route._call, endpoint, values)
            return await runner.run(facts, call, route._serialize)

        super().__init__(path, in_worker_thread, **kwargs)
        self._endpoint = endpoint
        self._plan = self._lean_plan()

    direct: Callable[[Request], Coroutine[Any, Any, Response | bytes]]
    """The route's answer on `DirectRoutes`' path (set with its handler)."""

    def _lean_plan(self) -> _LeanPlan | None:
        """How to call the endpoint without FastAPI's resolution, when its parameters are
        simple: path parameters that are UUIDs, at most one JSON body (a model), the `Uow`,
        and dependencies that only document. None: FastAPI's way."""
        dependant = self.dependant
        if (
            any(getattr(dependant, name) for name in _REFUSING)
            or len(dependant.body_params) > 1
            or self._embed_body_fields
        ):
            return None
        uow_names: list[str] = []
        for sub in dependant.dependencies:
            if sub.call is current_unit_of_work and sub.name:
                uow_names.append(sub.name)
            elif sub.call not in DOCUMENTATION_ONLY or sub.name:
                return None
        if any(f.field_info.annotation is not uuid.UUID for f in dependant.path_params):
            return None
        body = dependant.body_params[0] if dependant.body_params else None
        if body is not None and not (
            isinstance(body.field_info.annotation, type)
            and issubclass(body.field_info.annotation, BaseModel)
        ):
            return None
        return _LeanPlan(
            path=tuple((f.name, f.alias) for f in dependant.path_params),
            body=body,
            uow_names=tuple(uow_names),
        )

    def _lean(self, facts: Facts) -> Handler | None:
        """The endpoint's call with its parameters validated here; None when they are not
        all valid, or not simple (FastAPI then validates, and answers the refusal)."""
        plan = getattr(self, "_plan", None)  # FastAPI builds the handler before __init__ ends
        if plan is None:
            return None
        request = facts.request
        values: dict[str, Any] = dict.fromkeys(plan.uow_names, DEFERRED)
        for name, alias in plan.path:
            value = request.path_params.get(alias)
            if not isinstance(value, uuid.UUID):
                return None
            values[name] = value
        if plan.body is not None:
            if not _json_content(request) or facts.parsed is NOT_JSON:
                return None
            value, errors = plan.body.validate(facts.parsed, {}, loc=("body",))
            if errors:
                return None
            values[plan.body.name] = value
        return functools.partial(self._call, self._endpoint, values)

    def _serialize(self, result: Any) -> Response:
        """The endpoint's answer as FastAPI would serialize it."""
        if isinstance(result, Response):
            return result
        if self.response_field is not None:
            value = result
            if type(result) is not self.response_field.field_info.annotation:
                # An instance of the declared model itself passes validation unchanged
                # (pydantic revalidates no instance): only other values are validated.
                value, errors = self.response_field.validate(result, {}, loc=("response",))
                if errors:
                    raise ResponseValidationError(errors=errors, body=result)
            content = self.response_field.serialize_json(
                value,
                include=self.response_model_include,
                exclude=self.response_model_exclude,
                by_alias=self.response_model_by_alias,
                exclude_unset=self.response_model_exclude_unset,
                exclude_defaults=self.response_model_exclude_defaults,
                exclude_none=self.response_model_exclude_none,
            )
        else:
            content = json.dumps(jsonable_encoder(result)).encode()
        return Response(
            content=content, status_code=self.status_code or 200, media_type="application/json"
        )

    def _call(
        self, endpoint: Callable[..., Any], values: dict[str, Any], uow: UnitOfWork
    ) -> Response:
        """Run the endpoint with `uow`; its answer (a write's: the one it committed)."""
        arguments = {name: uow if v is DEFERRED else v for name, v in values.items()}
        result = endpoint(**arguments)
        if uow.answer is not None:
            response = uow.answer
        elif uow.idempotency_key is not None and not isinstance(result, Response):
            raise RuntimeError(
                f"{self.path}: a write answers what it committed (`return uow.commit(...)`)"
            )
        else:
            response = self._serialize(result)
        for given in arguments.values():
            if isinstance(given, Response):  # FastAPI's sub-response: headers, a status
                response.headers.raw.extend(given.headers.raw)
                if given.status_code:
                    response.status_code = given.status_code
        return response

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        """FastAPI's handler, after the checks that need no database."""
        inner = super().get_route_handler()
        extra = self.openapi_extra or {}
        platform_only = bool(extra.get(PLATFORM_ONLY_EXTENSION))
        read_only = bool(extra.get(READ_ONLY_EXTENSION))
        idempotent = "POST" in (self.methods or ()) and not read_only
        route = self

        async def direct(request: Request) -> Response | bytes:
            """The answer when the request's parameters are simple; else the body read, for
            FastAPI's way (`DirectRoutes`)."""
            runner: Runner = request.app.state.runner
            facts = await runner.facts(
                request, idempotent=idempotent, platform_only=platform_only, read_only=read_only
            )
            if isinstance(facts, Response):
                return facts
            call = route._lean(facts)
            if call is None:
                return facts.body
            return await runner.run(facts, call, route._serialize)

        self.direct = direct

        async def handler(request: Request) -> Response:
            runner: Runner = request.app.state.runner
            facts = await runner.facts(
                request, idempotent=idempotent, platform_only=platform_only, read_only=read_only
            )
            if isinstance(facts, Response):
                return facts
            call = route._lean(facts)
            if call is not None:
                return await runner.run(facts, call, route._serialize)
            if facts.parsed is not NOT_JSON:
                # FastAPI reads a JSON body through Request.json(): it is parsed once.
                request._json = facts.parsed
            token = _SERVING.set((runner, facts))
            try:
                return await inner(request)
            except Exception as exc:
                if facts.started:
                    raise
                # Refused before the endpoint ran (validation, a body that is not JSON): the
                # key and its stored answer are still checked first, as for any request.
                return await anyio.to_thread.run_sync(runner.refuse, facts, exc)
            finally:
                _SERVING.reset(token)

        return handler


class DirectRoutes:
    """The innermost middleware: an authenticated route of a fixed path (`POST /v1/checkouts`)
    or of UUID path parameters only (`GET /v1/events/{event_id:uuid}`) is served straight by
    its handler, past Starlette's exception middleware, the router's search and FastAPI's
    exit stacks (a tenth of a checkout's API CPU, py-spy on bench.onsale; a fifth of a GET's).
    Metrics and limits still see every request; what escapes the handler is answered as the
    exception handlers would; parameters the route does not validate itself go FastAPI's
    way, the body replayed. Built on the first request: a path goes direct only when the
    router would pick its route (`direct_table`, `uuid_table`)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self._table: dict[tuple[str, str], UnitOfWorkRoute] | None = None
        self._shapes: dict[tuple[str, str], UnitOfWorkRoute] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve a fixed-path or UUID-path authenticated route directly; hand on the rest."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        table = self._table
        if table is None:
            routes = scope["app"].router.routes
            table = self._table = direct_table(routes)
            self._shapes = uuid_table(routes)
        path = get_route_path(scope)
        route = table.get((scope["method"], path))
        params: dict[str, Any] = {}
        if route is None and "-" in path:
            route = self._shapes.get((scope["method"], _UUID.sub(_SLOT, path)))
            found = None if route is None else route.path_regex.fullmatch(path)
            if found is None:
                route = None
            else:
                params = {name: uuid.UUID(value) for name, value in found.groupdict().items()}
        if route is None:
            await self.app(scope, receive, send)
            return
        scope["route"], scope["endpoint"], scope["path_params"] = route, route.endpoint, params
        request = Request(scope, receive, send)
        try:
            answer = await route.direct(request)
        except Exception as exc:
            answer = failures.translate(exc, request.url.path)
        if isinstance(answer, bytes):
            await self.app(scope, _replay(answer, receive), send)
            return
        await answer(scope, receive, send)


def _replay(body: bytes, receive: Receive) -> Receive:
    """A `receive` that hands on a body already read, then the client's own messages."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if sent:
            return await receive()
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return replay


def direct_table(routes: Sequence[BaseRoute]) -> dict[tuple[str, str], UnitOfWorkRoute]:
    """(method, path) of each fixed-path authenticated route that the router, searching
    `routes` in order, would pick for it."""
    table: dict[tuple[str, str], UnitOfWorkRoute] = {}
    for route in routes:
        if not isinstance(route, UnitOfWorkRoute) or route.param_convertors:
            continue
        for method in route.methods or ():
            scope = {"type": "http", "method": method, "path": route.path, "root_path": ""}
            first = next((r for r in routes if r.matches(scope)[0] is Match.FULL), None)
            if first is route:
                table.setdefault((method, route.path), route)
    return table


_UUID = re.compile(UUIDConvertor.regex)
_SLOT = "{}"


def uuid_table(routes: Sequence[BaseRoute]) -> dict[tuple[str, str], UnitOfWorkRoute]:
    """(method, shape) of each authenticated route whose path parameters are all UUIDs,
    that the router, searching `routes` in order, would pick for its paths: the shape is
    the path with every parameter as `{}` (`/v1/events/{}`), as a request's path is with
    every UUID in it so written. Which route the router picks for such a path does not
    depend on which UUIDs are in it (no route tells one UUID from another), so one
    sample path per route decides."""
    table: dict[tuple[str, str], UnitOfWorkRoute] = {}
    for route in routes:
        if not isinstance(route, UnitOfWorkRoute) or not route.param_convertors:
            continue
        if route._plan is None or not all(  # FastAPI's way (query parameters): the router's
            isinstance(c, UUIDConvertor) for c in route.param_convertors.values()
        ):
            continue
        sample = route.path_format.format(**{name: uuid.uuid4() for name in route.param_convertors})
        for method in route.methods or ():
            scope = {"type": "http", "method": method, "path": sample, "root_path": ""}
            first = next((r for r in routes if r.matches(scope)[0] is Match.FULL), None)
            if first is route:
                table.setdefault((method, _UUID.sub(_SLOT, sample)), route)
    return table


def authenticated_router(tags: Sequence[str], *, writes: bool = True) -> APIRouter:
    """A router under /v1 whose routes need an API key and open their units of work."""
    statuses = WRITE_PROBLEMS if writes else READ_PROBLEMS
    return APIRouter(
        prefix="/v1",
        tags=list(tags),
        route_class=UnitOfWorkRoute,
        generate_unique_id_function=operation_id,
        dependencies=[Depends(_documented_bearer)],
        responses=problem_responses(*statuses),
    )

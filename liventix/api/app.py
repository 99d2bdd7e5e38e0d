"""The FastAPI application: `create_app` assembles the routers, the request limits (body size
and JSON depth, checked before anything reads the body: `liventix.api.limits`), the metrics
middleware, the problem-details error handlers and the OpenAPI document (whose error responses
are `application/problem+json`, each problem type listed, each operation's limits written)."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response
from starlette.routing import BaseRoute, Match

import ticketing_fsm
from liventix.api import auth, limits, problems, static
from liventix.api.escrow import routes as escrow_routes
from liventix.api.ledger import categories as ledger_categories
from liventix.api.ledger import fx as ledger_fx
from liventix.api.ledger import monitors as ledger_monitors
from liventix.api.ledger import routes as ledger_routes
from liventix.api.ledger import seals as ledger_seals
from liventix.api.ledger import settlements as ledger_settlements
from liventix.api.metrics import Metrics, MetricsMiddleware
from liventix.api.ops import routes as ops_routes
from liventix.api.organizations import routes as organization_routes
from liventix.api.pipeline import Runner
from liventix.api.problems import ApiProblem
from liventix.api.reports import routes as report_routes
from liventix.api.request_id import RequestIdMiddleware
from liventix.api.routing import READ_ONLY_EXTENSION, DirectRoutes
from liventix.api.stripe_webhook import routes as stripe_routes
from liventix.api.tickets import routes as ticketing_routes
from liventix.api.unit_of_work import ApiRuntime
from liventix.api.webhooks import catalog as webhook_catalog
from liventix.api.webhooks import routes as webhook_routes
from liventix.database import head_revision
from liventix.stripe_events import register_webhook_secret

log = logging.getLogger(__name__)

API_VERSION = "1.0.0"
DEFAULT_MAX_IN_FLIGHT = 32
_HEADROOM = 2  # connections left for /ready and /metrics

DESCRIPTION = """\
The Liventix payments core over HTTP: the double-entry ledger, checkout and tickets, escrow,
webhook endpoints and their deliveries, reports.

* **Authentication**: `Authorization: Bearer lvx_<prefix>_<secret>`, an organization's key or
  the platform's (`liventix keys create --org ID | --platform`). An organization's key sees
  and writes only its organization's rows, enforced by PostgreSQL's row-level security: any id
  of another organization answers 404, exactly as an id that does not exist. The platform's
  key reads every organization's rows and writes as the platform organization.
* **One transaction per request**: nothing is half-written on any error.
* **Idempotency**: every POST that writes requires `Idempotency-Key`. The same key with the
  same request replays the first answer, status and body, with `Idempotency-Replayed: true`;
  with another request (body, method or path) it is 409 `idempotency-key-reused`. Successes
  and business refusals (a 4xx raised by the ledger, escrow, ticketing or the outbox) are
  stored under the key; invalid requests (400, 422 naming the field), authentication failures
  and server errors are not, so the key may be used again once the request is fixed. A
  read-only operation (`x-read-only`: the reports, `POST /v1/reports/stripe-reconciliation`
  included) takes no key: it runs in one REPEATABLE READ, READ ONLY transaction and changes
  nothing.
* **Reports** answer 200 whatever they find, with their count of `differences` in the body
  and in the `Report-Differences` header.
* **Limits**, checked before a body is read, authenticated or parsed: a request body is at
  most 64 KB unless its operation says otherwise (`x-max-body-bytes`: 1 MB for
  `POST /v1/entries`, 32 MB for the Stripe reconciliation, 256 KB for Stripe's webhook);
  a larger one is 413 `payload-too-large`, answered without reading the rest. JSON nests at
  most 32 arrays and objects deep (`x-max-json-depth`); a deeper body is 422
  `json-too-deep`. Metadata, as Stripe's: at most 50 keys of 40 characters, values of 500.
* **Money** is `{"amount": <integer of minor units>, "currency": "<ISO 4217>"}`; integers are
  exact at any size.
* **Errors** are RFC 9457 problem details (`application/problem+json`) with a stable `type`
  per error (listed in `x-problem-types`) and the ids involved as extension members.
"""


def _pool_capacity(engine: sa.Engine) -> int:
    pool = engine.pool
    size = getattr(pool, "size", None)
    overflow = getattr(pool, "_max_overflow", 0)
    if not callable(size) or overflow < 0:
        return DEFAULT_MAX_IN_FLIGHT
    return max(1, int(size()) + int(overflow) - _HEADROOM)


def create_app(
    engine: sa.Engine,
    *,
    gateway: ticketing_fsm.PaymentGateway | None,
    stripe_webhook_secret: str | None,
    max_in_flight: int | None = None,
    read_engine: sa.Engine | None = None,
) -> FastAPI:
    """The API on `engine`, creating PaymentIntents through `gateway` (a
    `ticketing_fsm.PaymentGateway`), verifying Stripe's webhooks with the secret.

    `read_engine` (a read replica's, from LIVENTIX_READ_URL) serves the reports and the list
    endpoints (`liventix.api.unit_of_work`); None: the primary serves every request.

    `max_in_flight` bounds the requests holding a connection at once (default: what the
    engine's pool holds, less a little headroom); the others wait their turn without holding
    a thread.
    """
    metrics = Metrics(engine)
    if stripe_webhook_secret:
        _register_webhook_secret(engine, stripe_webhook_secret)
    runtime = ApiRuntime(
        engine=engine,
        gateway=gateway,
        stripe_webhook_secret=stripe_webhook_secret,
        metrics=metrics,
        max_in_flight=max_in_flight or _pool_capacity(engine),
        read_engine=read_engine,
    )
    app = FastAPI(
        title="Liventix payments API",
        version=API_VERSION,
        description=DESCRIPTION,
        docs_url="/docs",
        redoc_url=None,
        # The request's span is RequestIdMiddleware's own, and the metrics are Prometheus'
        # (`liventix.api.metrics`). FastAPI's native telemetry would add a second span per
        # request, and asks OpenTelemetry for its three providers (reading the environment)
        # on every request even when none is configured: a twentieth of a checkout's API
        # CPU (py-spy on bench.onsale).
        telemetry={"tracing": False, "metrics": False, "logs": False},
    )
    app.state.runtime = runtime
    app.state.runner = Runner(runtime)
    app.state.head_revision = head_revision()
    for module in (
        ledger_routes,
        ledger_monitors,
        ledger_seals,
        ledger_settlements,
        ledger_categories,
        ledger_fx,
        ticketing_routes,
        escrow_routes,
        webhook_routes,
        report_routes,
        stripe_routes,
        ops_routes,
        organization_routes,
    ):
        # The slices' routes join the application's own list (their routers already carry
        # the prefix, tags, dependencies and responses): FastAPI's included routers match a
        # request twice, through a context per candidate route, a tenth of a checkout's CPU
        # in the API (measured with yappi on bench.onsale), where a route of the list
        # matches once, by its regular expression.
        app.router.routes.extend(module.router.routes)
    # Starlette wraps the last added outermost: the metrics count the limits' refusals too,
    # and the fixed-path routes served directly pass both first; the request id is outermost.
    app.add_middleware(DirectRoutes)
    app.add_middleware(limits.RequestLimits)
    app.add_middleware(MetricsMiddleware, metrics=metrics)
    # Outermost: every answer carries its request's id, problems and logs too.
    app.add_middleware(RequestIdMiddleware)
    _install_error_handlers(app)
    app.openapi = lambda: _openapi(app)  # type: ignore[method-assign]
    static.install(app)
    webhook_catalog.install(app)
    return app


def _register_webhook_secret(engine: sa.Engine, secret: str) -> None:
    """Register Stripe's webhook secret in the database, which checks every event the API
    stores against it, when this engine has the owner's rights (the embedded server, the
    demo, the tests). Under a login role that may not, the owner registers it
    (`liventix.database.prepare`, which `liventix serve` and `db migrate` run)."""
    try:
        with engine.begin() as conn:
            register_webhook_secret(conn, secret)
    except sa.exc.DBAPIError as exc:
        log.info(
            "Stripe's webhook secret not registered by the API (%s): the owner's is used",
            type(exc.orig).__name__,
        )


def _install_error_handlers(app: FastAPI) -> None:
    """Problem details for what escapes the units of work (routing, the open routes)."""

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        kind = {404: problems.NOT_FOUND, 405: problems.METHOD_NOT_ALLOWED}.get(
            exc.status_code,
            problems.ProblemType(exc.status_code, "http-error", str(exc.detail)),
        )
        headers = dict(exc.headers or {})
        if exc.status_code == 405:
            # Starlette names the methods of the first route on the path only.
            headers["Allow"] = ", ".join(_allowed_methods(app.router.routes, request))
        return problems.problem_response(
            kind, str(exc.detail), instance=request.url.path, headers=headers
        )

    async def validation_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        return problems.validation_problem(exc, request.url.path)

    async def api_problem(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, ApiProblem)
        return problems.api_problem(exc, request.url.path)

    async def internal(request: Request, exc: Exception) -> Response:
        log.error("internal error in %s %s", request.method, request.url.path, exc_info=exc)
        return problems.problem_response(problems.INTERNAL, instance=request.url.path)

    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_exception_handler(ApiProblem, api_problem)
    app.add_exception_handler(Exception, internal)


_METHODS = ("DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT")


def _allowed_methods(routes: list[BaseRoute], request: Request) -> list[str]:
    """Every method some route serves on the request's path (each asked whether it would
    take the request with that method: included routers answer for their routes)."""
    return [
        method
        for method in _METHODS
        if any(
            route.matches({**request.scope, "method": method})[0] is Match.FULL for route in routes
        )
    ]


def _problem_types() -> list[dict[str, Any]]:
    kinds = {
        k.type: k
        for k in [
            *problems.DOMAIN_PROBLEMS.values(),
            *problems.API_PROBLEMS,
            *limits.LIMIT_PROBLEMS,
            *auth.AUTH_PROBLEMS,
            *stripe_routes.STRIPE_WEBHOOK_PROBLEMS,
        ]
    }
    return [
        {"type": k.type, "status": k.status, "title": k.title}
        for k in sorted(kinds.values(), key=lambda k: (k.status, k.slug))
    ]


_PROBLEM_REF = {"$ref": "#/components/schemas/Problem"}
_REPLAYED = {
    "description": "`true` when this is the stored answer of an earlier request with the same "
    "Idempotency-Key (absent on the first answer)",
    "schema": {"type": "string", "enum": ["true"]},
}
_CHALLENGE = {"description": '`Bearer realm="liventix"`', "schema": {"type": "string"}}


def _openapi(app: FastAPI) -> dict[str, Any]:
    """FastAPI's document, with every error response as application/problem+json."""
    if app.openapi_schema is not None:
        return app.openapi_schema
    doc = get_openapi(
        title=app.title,
        version=app.version,
        description=app.description,
        routes=app.routes,
        tags=None,
    )
    for path, operations in doc.get("paths", {}).items():
        for method, operation in operations.items():
            _document_limits(path, method, operation)
            for status, response in operation.get("responses", {}).items():
                if (
                    method == "post"
                    and status.startswith("2")
                    and "security" in operation
                    and not operation.get(READ_ONLY_EXTENSION)
                ):
                    response["headers"] = {"Idempotency-Replayed": _REPLAYED}
                if status == "401":
                    response["headers"] = {"WWW-Authenticate": _CHALLENGE}
                if status.isdigit() and int(status) >= 400:
                    response["content"] = {problems.PROBLEM_MEDIA_TYPE: {"schema": _PROBLEM_REF}}
                    if status == "422":
                        response["description"] = (
                            "Invalid request (the problem names the field) or refused by a "
                            "business rule"
                        )
    schemas = doc.get("components", {}).get("schemas", {})
    for unused in ("HTTPValidationError", "ValidationError"):
        schemas.pop(unused, None)
    doc["info"]["x-problem-types"] = _problem_types()
    app.openapi_schema = doc
    return doc


_TOO_LARGE = {
    "description": "The body is larger than the operation takes (`x-max-body-bytes`); "
    "refused before it is read",
}


def _document_limits(path: str, method: str, operation: dict[str, Any]) -> None:
    """Write the body limits of an operation that takes a body into its document."""
    if method != "post":
        return
    limit = limits.body_limit(method, path)
    operation[limits.BODY_LIMIT_EXTENSION] = limit.max_bytes
    depth = limit.max_depth if limit.max_depth is not None else limits.MAX_JSON_DEPTH
    operation[limits.DEPTH_LIMIT_EXTENSION] = depth
    responses = operation.setdefault("responses", {})
    if responses.get("413", {}).get("description") in (None, "Problem"):
        responses["413"] = {**responses.get("413", {}), **_TOO_LARGE}
    body = operation.get("requestBody")
    if isinstance(body, dict):
        said = str(body.get("description") or "").rstrip()
        rule = (
            f"At most {limit.max_bytes:,} bytes, arrays and objects nested at most {depth} "
            "deep: a larger body is refused with 413 before it is read, a deeper one with "
            + ("400" if limit.max_depth is None else "422 `json-too-deep`")
            + " before it is parsed."
        )
        body["description"] = f"{said}\n\n{rule}" if said else rule


def openapi_document() -> dict[str, Any]:
    """The OpenAPI document, built without a database (nothing connects)."""
    engine = sa.create_engine("postgresql+psycopg://openapi@localhost/openapi")
    try:
        app = create_app(engine, gateway=None, stripe_webhook_secret=None, max_in_flight=1)
        return app.openapi()
    finally:
        engine.dispose()


def openapi_text() -> str:
    """The OpenAPI document as it is kept in the repository (docs/openapi.json)."""
    return json.dumps(openapi_document(), indent=2, ensure_ascii=False) + "\n"


def write_openapi(path: Path) -> bool:
    """Write the document to `path`; True if it changed."""
    text = openapi_text()
    if path.exists() and path.read_text() == text:
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return True

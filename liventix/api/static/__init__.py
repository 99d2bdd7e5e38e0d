"""The API's own documentation, served offline: Swagger UI at `/docs` and ReDoc at `/redoc`
from the assets vendored beside this module (see its README.md: versions and licences), the
named operationIds (`ledger.post_entry`: `liventix.api.routing.operation_id`) and the
`Location` header of every 201 in the OpenAPI document.

`install(app)` is called once, when the application is assembled, after its routes and its
OpenAPI builder are in place."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.routing import APIRoute
from starlette.requests import Request
from starlette.responses import HTMLResponse
from starlette.routing import Mount
from starlette.staticfiles import StaticFiles

from liventix.api.routing import operation_id

ASSETS = Path(__file__).resolve().parent
ASSETS_URL = "/docs/assets"
DOCS_URL = "/docs"
REDOC_URL = "/redoc"

_LOCATION = {
    "description": "The path of the object created (its GET)",
    "schema": {"type": "string", "examples": ["/v1/entries/4f0c2b9e-6b1f-4c1e-9a55-0d5b3c1f2a7e"]},
}


def _pages(app: FastAPI) -> list[APIRoute]:
    openapi_url = app.openapi_url or "/openapi.json"
    title = app.title

    async def swagger_ui(request: Request) -> HTMLResponse:
        """Swagger UI on the API's OpenAPI document."""
        return get_swagger_ui_html(
            openapi_url=openapi_url,
            title=f"{title}: Swagger UI",
            swagger_js_url=f"{ASSETS_URL}/swagger-ui/swagger-ui-bundle.js",
            swagger_css_url=f"{ASSETS_URL}/swagger-ui/swagger-ui.css",
            swagger_favicon_url=f"{ASSETS_URL}/swagger-ui/favicon-32x32.png",
        )

    async def redoc(request: Request) -> HTMLResponse:
        """ReDoc on the API's OpenAPI document."""
        return get_redoc_html(
            openapi_url=openapi_url,
            title=f"{title}: ReDoc",
            redoc_js_url=f"{ASSETS_URL}/redoc/redoc.standalone.js",
            redoc_favicon_url=f"{ASSETS_URL}/swagger-ui/favicon-32x32.png",
            with_google_fonts=False,
        )

    return [
        APIRoute(DOCS_URL, swagger_ui, methods=["GET"], include_in_schema=False),
        APIRoute(REDOC_URL, redoc, methods=["GET"], include_in_schema=False),
    ]


def _named_operations(app: FastAPI) -> None:
    """Every operation named `<area>.<handler>` (the slices' routers already do; the open
    routes, health and Stripe's webhook, are named here)."""
    for route in app.router.routes:
        if isinstance(route, APIRoute) and route.include_in_schema:
            route.operation_id = operation_id(route)


def _with_locations(build: Callable[[], dict[str, Any]]) -> Callable[[], dict[str, Any]]:
    """The OpenAPI builder, with `Location` documented on every 201."""

    def openapi() -> dict[str, Any]:
        doc = build()
        for operations in doc.get("paths", {}).values():
            for operation in operations.values():
                created = operation.get("responses", {}).get("201")
                if isinstance(created, dict):
                    created.setdefault("headers", {})["Location"] = _LOCATION
        return doc

    return openapi


def install(app: FastAPI) -> None:
    """Serve `/docs` and `/redoc` from the vendored assets (in place of FastAPI's pages,
    which load them from a CDN), name every operation, and document `Location`."""
    ours = {DOCS_URL, REDOC_URL, app.swagger_ui_oauth2_redirect_url}
    app.router.routes[:] = [r for r in app.router.routes if getattr(r, "path", None) not in ours]
    app.router.routes.extend(_pages(app))
    for package in ("swagger-ui", "redoc"):  # only the vendored files, not this module
        files = StaticFiles(directory=ASSETS / package, check_dir=True)
        app.router.routes.append(Mount(f"{ASSETS_URL}/{package}", app=files))
    _named_operations(app)
    app.openapi = _with_locations(app.openapi)  # type: ignore[method-assign]

"""Operations: liveness (`/health`), readiness (`/ready`: the database answers and is at the
newest migration) and Prometheus metrics (`/metrics`). No API key."""

from __future__ import annotations

import sqlalchemy as sa
from fastapi import APIRouter, Request
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from liventix.api import problems
from liventix.api.ops import schemas as m
from liventix.api.problems import ApiProblem
from liventix.api.routing import problem_responses
from liventix.api.unit_of_work import ApiRuntime

router = APIRouter(tags=["operations"])


@router.get("/health")
async def health() -> m.HealthResponse:
    """The process answers."""
    return m.HealthResponse(status="ok")


def _revision(runtime: ApiRuntime) -> str | None:
    try:
        with runtime.engine.connect() as conn:
            found: str | None = conn.execute(
                sa.text("SELECT version_num FROM alembic_version")
            ).scalar_one_or_none()
            return found
    except sa.exc.ProgrammingError as exc:  # no alembic_version: never migrated
        raise ApiProblem(problems.NOT_READY, "the database was never migrated") from exc
    except sa.exc.DBAPIError as exc:
        raise ApiProblem(problems.NOT_READY, "the database does not answer") from exc


@router.get("/ready", responses=problem_responses(503))
async def ready(request: Request) -> m.ReadyResponse:
    """The database answers and its schema is at the newest migration."""
    runtime: ApiRuntime = request.app.state.runtime
    head: str = request.app.state.head_revision
    current = await run_in_threadpool(_revision, runtime)
    if current != head:
        raise ApiProblem(
            problems.NOT_READY, f"the database is at {current}, the code at {head}", head=head
        )
    return m.ReadyResponse(status="ready", revision=head)


@router.get(
    "/metrics",
    response_class=Response,
    responses={
        200: {
            "description": "Prometheus text exposition",
            "content": {CONTENT_TYPE_LATEST.split(";")[0]: {"schema": {"type": "string"}}},
        }
    },
)
async def metrics(request: Request) -> Response:
    """Requests by route and status, latency, postings, replays, the outbox's backlog."""
    runtime: ApiRuntime = request.app.state.runtime
    data = await run_in_threadpool(generate_latest, runtime.metrics.registry)
    return Response(content=data, media_type=CONTENT_TYPE_LATEST)

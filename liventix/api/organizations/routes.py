"""Organizations over HTTP (the platform's key only; 403 `platform-key-required` for an
organization's): `POST /v1/organizations` registers an organizer, `GET /v1/organizations`
lists them (the platform included) oldest first, `GET /v1/organizations/{id}` reads one. The
platform organization itself is registered by its operator (`liventix orgs create
--platform`), never over HTTP."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import Query

import ledger
from liventix.api.organizations import read_side
from liventix.api.organizations import schemas as m
from liventix.api.routing import (
    PLATFORM_ONLY_EXTENSION,
    WRITE,
    authenticated_router,
    problem_responses,
)
from liventix.api.unit_of_work import Uow

router = authenticated_router(["organizations"])

_PLATFORM_ONLY = {PLATFORM_ONLY_EXTENSION: True}
_FORBIDDEN = problem_responses(403)


def _view(org: read_side.Organization) -> m.OrganizationResponse:
    return m.OrganizationResponse(
        id=org.id, name=org.name, is_platform=org.is_platform, created_at=org.created_at
    )


@router.post(
    "/organizations",
    status_code=201,
    dependencies=WRITE,
    openapi_extra=_PLATFORM_ONLY,
    responses=_FORBIDDEN,
)
def create_organization(body: m.CreateOrganizationRequest, uow: Uow) -> m.OrganizationResponse:
    """Register an organization (an organizer); its id is made here."""
    with uow:
        org_id = ledger.open_organization(uow.conn, uuid.uuid4(), body.name)
        found = read_side.get(uow.conn, org_id)
        assert found is not None  # written just now, in this transaction
        return uow.commit(_view(found), location=f"/v1/organizations/{org_id}")


@router.get("/organizations", openapi_extra=_PLATFORM_ONLY, responses=_FORBIDDEN)
def list_organizations(
    uow: Uow,
    limit: Annotated[int, Query(ge=1, le=100)] = 100,
    starting_after: Annotated[
        uuid.UUID | None, Query(description="the last organization of the previous page")
    ] = None,
) -> m.OrganizationList:
    """Every organization, the platform included, oldest first."""
    with uow:
        found = read_side.page(uow.conn, after=starting_after, limit=limit + 1)
    return m.OrganizationList(data=[_view(o) for o in found[:limit]], has_more=len(found) > limit)


@router.get("/organizations/{org_id:uuid}", openapi_extra=_PLATFORM_ONLY, responses=_FORBIDDEN)
def get_organization(org_id: uuid.UUID, uow: Uow) -> m.OrganizationResponse:
    """One organization."""
    with uow:
        found = read_side.get(uow.conn, org_id)
    if found is None:
        raise ledger.OrganizationNotFound(org_id=str(org_id))
    return _view(found)

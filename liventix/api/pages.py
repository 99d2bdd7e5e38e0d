"""The API's lists, Stripe's way: every list answers `{"object": "list", "data": [...],
"has_more": bool}` and takes `limit` and one cursor, `starting_after`: the `id` of the last
object of the previous page (opaque to the client: it is passed back as it was received).

A list asks for `limit + 1` rows to know whether there are more; the cursor's object is
looked up (under the request's role, so only a visible object is a cursor) for its keyset
position. A cursor that is not an id of the list's objects, or names none the key can see,
is a 422 naming `query.starting_after`: a typed refusal, never a 5xx and never an empty page
that looks like the end.

A 201 names what it created in `Location`: `uow.commit(answer, location=...)` stores it with
the answer, so a replay names it too."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Annotated, Any, Generic, Literal, TypeVar

from fastapi import Query
from pydantic import BaseModel, ConfigDict, Field

from liventix.api import problems
from liventix.api.problems import ApiProblem

T = TypeVar("T")

MAX_LIMIT = 100
DEFAULT_LIMIT = 50
CURSOR_FIELD = "query.starting_after"

Limit = Annotated[
    int,
    Query(ge=1, le=MAX_LIMIT, description=f"Objects per page, 1 to {MAX_LIMIT}"),
]
StartingAfter = Annotated[
    str | None,
    Query(
        max_length=64,
        description="The cursor: the `id` of the last object of the previous page; the page "
        "starts right after it",
    ),
]


class ListObject(BaseModel, Generic[T]):
    """A page of a list: `has_more` says whether another page follows (ask for it with
    `starting_after` set to the `id` of the last object of `data`)."""

    # Every answer carries `object`: required in the document, as in Stripe's.
    model_config = ConfigDict(json_schema_serialization_defaults_required=True)

    object: Literal["list"] = "list"
    data: list[T]
    has_more: bool = Field(description="Whether more objects follow this page")


def page_of(rows: Sequence[T], limit: int) -> tuple[list[T], bool]:
    """The first `limit` of `rows` (fetched as `limit + 1`) and whether there are more."""
    return list(rows[:limit]), len(rows) > limit


def bad_cursor(detail: str) -> ApiProblem:
    """The typed refusal of a cursor (422 naming `query.starting_after`)."""
    return ApiProblem(problems.VALIDATION, f"starting_after: {detail}", field=CURSOR_FIELD)


def bad_filter(name: str, detail: str) -> ApiProblem:
    """The typed refusal of a list's filter (422 naming the query parameter)."""
    return ApiProblem(problems.VALIDATION, f"{name}: {detail}", field=f"query.{name}")


def uuid_cursor(starting_after: str | None) -> uuid.UUID | None:
    """The cursor of a list of objects with UUID ids; a 422 if it is not one."""
    if starting_after is None:
        return None
    try:
        return uuid.UUID(starting_after)
    except ValueError as exc:
        raise bad_cursor("not the id of an object of this list") from exc


def int_cursor(starting_after: str | None) -> int | None:
    """The cursor of a list of objects with integer ids; a 422 if it is not one."""
    if starting_after is None:
        return None
    if not starting_after.isascii() or not starting_after.isdigit():
        raise bad_cursor("not the id of an object of this list")
    value = int(starting_after)
    if not 0 < value < 2**63:
        raise bad_cursor("not the id of an object of this list")
    return value


def keyset(found: tuple[datetime, uuid.UUID] | None) -> tuple[datetime, uuid.UUID]:
    """The keyset position of a cursor's object; a 422 if the key sees no such object."""
    if found is None:
        raise bad_cursor("no object of this list with this id is visible to this key")
    return found


def page_filter(alias: str, after: tuple[datetime, uuid.UUID] | None) -> tuple[str, dict[str, Any]]:
    """SQL continuing a (created_at, id) keyset after `after` (nothing for the first page)."""
    if after is None:
        return "", {}
    return (
        f" AND ({alias}.created_at, {alias}.id) > (CAST(:after_at AS timestamptz),"
        " CAST(:after_id AS uuid))",
        {"after_at": after[0], "after_id": after[1]},
    )


def org_filter(alias: str, org_id: uuid.UUID | None) -> tuple[str, dict[str, Any]]:
    """SQL keeping an organization's rows (nothing for the platform's key)."""
    if org_id is None:
        return "", {}
    return f" AND {alias}.org_id = :org", {"org": org_id}

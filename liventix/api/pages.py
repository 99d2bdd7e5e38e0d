"""Keyset pagination of the API's lists: opaque cursors over (created_at, id), and the
SQL filters of a page and of an organization."""

from __future__ import annotations

import base64
import binascii
import json
import uuid
from datetime import datetime
from typing import Any

from liventix.api import problems
from liventix.api.problems import ApiProblem


def encode_cursor(created_at: datetime, row_id: object) -> str:
    """An opaque cursor for the keyset (created_at, id)."""
    raw = json.dumps([created_at.isoformat(), str(row_id)], separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(cursor: str | None) -> tuple[datetime, str] | None:
    """The keyset position of a cursor; a 422 naming `after` if it is not one of ours."""
    if cursor is None:
        return None
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        created, row_id = json.loads(base64.urlsafe_b64decode(padded.encode()))
        at = datetime.fromisoformat(created)
        if at.tzinfo is None:
            raise ValueError("naive")
        return at, str(uuid.UUID(row_id))
    except (ValueError, TypeError, binascii.Error, UnicodeDecodeError) as exc:
        raise ApiProblem(
            problems.VALIDATION, "after: not a cursor this API issued", field="query.after"
        ) from exc


def page_filter(alias: str, after: tuple[datetime, str] | None) -> tuple[str, dict[str, Any]]:
    if after is None:
        return "", {}
    return (
        f" AND ({alias}.created_at, {alias}.id) > (CAST(:after_at AS timestamptz),"
        " CAST(:after_id AS uuid))",
        {"after_at": after[0], "after_id": after[1]},
    )


def org_filter(alias: str, org_id: uuid.UUID | None) -> tuple[str, dict[str, Any]]:
    if org_id is None:
        return "", {}
    return f" AND {alias}.org_id = :org", {"org": org_id}

"""Webhook endpoints of an organization: register, rotate the signing secret, enable, disable.

Every function runs on the caller's transaction and never commits.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Connection, text

from outbox.addresses import NO_ALLOW, AllowList, check_url
from outbox.errors import EndpointNotFound
from outbox.sealing import seal, unseal
from outbox.signing import new_secret


@dataclass(frozen=True)
class Endpoint:
    """A registered endpoint (its secrets are read separately)."""

    id: uuid.UUID
    org_id: uuid.UUID
    url: str
    event_types: tuple[str, ...]
    enabled: bool
    disabled_reason: str | None
    failing_since: datetime | None
    created_at: datetime


def register_endpoint(
    conn: Connection,
    org_id: uuid.UUID,
    url: str,
    event_types: Sequence[str] = (),
    *,
    secret: str | None = None,
    description: str = "",
    allow: AllowList = NO_ALLOW,
) -> tuple[uuid.UUID, str]:
    """Register an endpoint; return its id and its signing secret (shown once).

    The URL must be http(s) to a public address or a name not internal by its form
    (`outbox.addresses`); `allow` lists the networks let through anyway (loopback for a
    demo or a test). Raises InvalidEndpoint, or its leaf TargetRefused naming the reason."""
    check_url(url, allow)
    secret = secret or new_secret()
    endpoint_id: uuid.UUID = conn.execute(
        text("""INSERT INTO messaging.endpoints (org_id, url, event_types, description)
                VALUES (:org, :url, :types, :description) RETURNING id"""),
        {"org": org_id, "url": url, "types": list(event_types), "description": description},
    ).scalar_one()
    conn.execute(
        text("""INSERT INTO messaging.endpoint_secrets (endpoint_id, org_id, secret)
                VALUES (:id, :org, :secret)"""),
        {"id": endpoint_id, "org": org_id, "secret": seal(secret)},
    )
    return endpoint_id, secret


def get_endpoint(conn: Connection, endpoint_id: uuid.UUID) -> Endpoint:
    """The endpoint, if this organization can see it."""
    row = conn.execute(
        text("""SELECT id, org_id, url, event_types, enabled, disabled_reason, failing_since,
                       created_at
                  FROM messaging.endpoints WHERE id = :id"""),
        {"id": endpoint_id},
    ).first()
    if row is None:
        raise EndpointNotFound(endpoint_id=str(endpoint_id))
    return Endpoint(
        id=row.id,
        org_id=row.org_id,
        url=row.url,
        event_types=tuple(row.event_types),
        enabled=row.enabled,
        disabled_reason=row.disabled_reason,
        failing_since=row.failing_since,
        created_at=row.created_at,
    )


def list_endpoints(conn: Connection, org_id: uuid.UUID) -> list[Endpoint]:
    """The organization's endpoints, oldest first."""
    ids = conn.execute(
        text("SELECT id FROM messaging.endpoints WHERE org_id = :org ORDER BY created_at, id"),
        {"org": org_id},
    ).scalars()
    return [get_endpoint(conn, i) for i in ids]


def rotate_secret(
    conn: Connection,
    endpoint_id: uuid.UUID,
    *,
    grace: timedelta = timedelta(hours=24),
    secret: str | None = None,
) -> str:
    """Give the endpoint a new secret; the current ones keep signing for `grace`."""
    endpoint = get_endpoint(conn, endpoint_id)
    conn.execute(
        text("""UPDATE messaging.endpoint_secrets SET expires_at = now() + :grace
                 WHERE endpoint_id = :id
                   AND (expires_at IS NULL OR expires_at > now() + :grace)"""),
        {"id": endpoint_id, "grace": grace},
    )
    secret = secret or new_secret()
    conn.execute(
        text("""INSERT INTO messaging.endpoint_secrets (endpoint_id, org_id, secret)
                VALUES (:id, :org, :secret)"""),
        {"id": endpoint_id, "org": endpoint.org_id, "secret": seal(secret)},
    )
    return secret


def active_secrets(conn: Connection, endpoint_id: uuid.UUID) -> list[str]:
    """The secrets that sign now: the current one and those still in their grace period
    (stored sealed; the owner's connection reads them, the application's roles cannot)."""
    return [
        unseal(s)
        for s in conn.execute(
            text("""SELECT secret FROM messaging.endpoint_secrets
                     WHERE endpoint_id = :id AND (expires_at IS NULL OR expires_at > now())
                     ORDER BY id DESC"""),
            {"id": endpoint_id},
        ).scalars()
    ]


def set_enabled(
    conn: Connection, endpoint_id: uuid.UUID, enabled: bool, reason: str | None = None
) -> None:
    """Enable or disable an endpoint (a disabled one gets no new deliveries)."""
    done = conn.execute(
        text("""UPDATE messaging.endpoints
                   SET enabled = :enabled, disabled_reason = :reason,
                       failing_since = CASE WHEN :enabled THEN NULL ELSE failing_since END
                 WHERE id = :id"""),
        {"id": endpoint_id, "enabled": enabled, "reason": None if enabled else reason},
    ).rowcount
    if not done:
        raise EndpointNotFound(endpoint_id=str(endpoint_id))

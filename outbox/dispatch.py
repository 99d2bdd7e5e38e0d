"""The delivery queue's SQL: claim due deliveries under a lease, record attempts and their
outcome, disable failing endpoints, requeue dead deliveries, prune old messages.

Claiming uses `FOR UPDATE SKIP LOCKED` so workers never take the same delivery; a delivery is
claimable only when no earlier delivery of the same target (endpoint or recipient) and
aggregate is still open, which keeps each aggregate's deliveries in order per target. A
claimed delivery whose lease lapses (its worker died) is claimable again. Each outcome is
written only if the attempt number still matches (a fencing token), so a worker that lost its
lease cannot overwrite the newer attempt.

Every join of the claim names the organization (`org_id` beside each id), so under Citus it
runs on each shard without a trip to another (docs/scaling.md step 4: one claim per shard).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, text

from outbox.message_types import EndpointDisabled
from outbox.publishing import publish

# A claim's lease counts from the claim's moment (clock_timestamp(), once per statement),
# not from the start of the caller's transaction (now()): a claim made late in a longer
# transaction still leases for the whole of :lease. The renewal too.
_CLAIM = text("""
    WITH due AS (
        SELECT d.id, d.org_id FROM messaging.deliveries d
         WHERE ((d.status = 'pending' AND d.next_attempt_at <= now())
             OR (d.status = 'delivering' AND d.lease_expires_at <= now()))
           AND NOT EXISTS (
                SELECT FROM messaging.deliveries e
                 WHERE e.target = d.target AND e.aggregate_key = d.aggregate_key
                   AND e.org_id = d.org_id
                   AND e.id < d.id AND e.status IN ('pending', 'delivering'))
         ORDER BY d.next_attempt_at, d.id
         LIMIT :limit
           FOR UPDATE SKIP LOCKED
    )
    UPDATE messaging.deliveries d
       SET status = 'delivering', attempts = d.attempts + 1,
           lease_expires_at = (SELECT clock_timestamp()) + :lease, leased_by = :worker
      FROM due
     WHERE d.id = due.id AND d.org_id = due.org_id
    RETURNING d.id, d.attempts, d.channel, d.endpoint_id, d.recipient, d.subject, d.body,
              d.org_id, d.message_id,
              (SELECT m.type FROM messaging.messages m
                WHERE m.id = d.message_id AND m.org_id = d.org_id) AS type,
              (SELECT m.payload FROM messaging.messages m
                WHERE m.id = d.message_id AND m.org_id = d.org_id) AS payload,
              (SELECT m.created_at FROM messaging.messages m
                WHERE m.id = d.message_id AND m.org_id = d.org_id) AS message_created_at,
              (SELECT e.url FROM messaging.endpoints e
                WHERE e.id = d.endpoint_id AND e.org_id = d.org_id) AS url,
              ARRAY(SELECT s.secret FROM messaging.endpoint_secrets s
                     WHERE s.endpoint_id = d.endpoint_id AND s.org_id = d.org_id
                       AND (s.expires_at IS NULL OR s.expires_at > now())
                     ORDER BY s.id DESC) AS secrets
""")


@dataclass(frozen=True)
class Claimed:
    """A delivery a worker holds under lease, with what it needs to send it."""

    id: int
    attempt: int
    channel: str
    message_id: uuid.UUID
    type: str
    payload: Any
    message_created_at: datetime
    org_id: uuid.UUID | None
    endpoint_id: uuid.UUID | None
    url: str | None
    secrets: tuple[str, ...]
    recipient: str | None
    subject: str | None
    body: str | None


@dataclass(frozen=True)
class Outcome:
    """What one attempt gave: success, or a failure with its details."""

    delivery: Claimed
    started_at: datetime
    duration_ms: int
    succeeded: bool
    status_code: int | None = None
    response_body: str | None = None
    error: str | None = None
    retry_after: float | None = None
    gone: bool = False
    permanent: bool = False
    """A failure no retry can mend (a task's `PermanentFailure`): dead at once."""


def claim(conn: Connection, worker: str, limit: int, lease: timedelta) -> list[Claimed]:
    """Claim up to `limit` due deliveries for `worker` under a lease."""
    rows = conn.execute(_CLAIM, {"limit": limit, "lease": lease, "worker": worker}).all()
    return [
        Claimed(
            id=r.id,
            attempt=r.attempts,
            channel=r.channel,
            message_id=r.message_id,
            type=r.type,
            payload=r.payload,
            message_created_at=r.message_created_at,
            org_id=r.org_id,
            endpoint_id=r.endpoint_id,
            url=r.url,
            secrets=tuple(r.secrets),
            recipient=r.recipient,
            subject=r.subject,
            body=r.body,
        )
        for r in sorted(rows, key=lambda r: r.id)
    ]


def renew_leases(
    conn: Connection, worker: str, ids: list[int], attempts: list[int], lease: timedelta
) -> int:
    """Extend the leases `worker` still holds on these deliveries (at these attempts)."""
    return conn.execute(
        text("""UPDATE messaging.deliveries d
                   SET lease_expires_at = (SELECT clock_timestamp()) + :lease
                  FROM unnest(CAST(:ids AS bigint[]), CAST(:attempts AS int[])) AS x(id, attempt)
                 WHERE d.id = x.id AND d.attempts = x.attempt AND d.leased_by = :worker
                   AND d.status = 'delivering'"""),
        {"ids": ids, "attempts": attempts, "worker": worker, "lease": lease},
    ).rowcount


_ATTEMPT = text("""
    INSERT INTO messaging.attempts (delivery_id, org_id, attempt, worker, started_at,
                                    duration_ms, status_code, response_body, error, succeeded)
    VALUES (:id, :org, :attempt, :worker, :started_at, :duration_ms, :status_code,
            :response_body, :error, :succeeded)
""")

_SUCCEEDED = text("""
    UPDATE messaging.deliveries
       SET status = 'succeeded', finished_at = now(), lease_expires_at = NULL, last_error = NULL
     WHERE id = :id AND attempts = :attempt AND status = 'delivering'
""")

# A failed delivery's next try counts from its record's moment (clock_timestamp(), once per
# statement), as the leases above and the inbox's failures do, not from the start of the
# caller's transaction (now()): a record written late in its transaction (after a lock
# waited for, or other work of the caller's) still waits the whole delay, a Retry-After too.
_RETRY = text("""
    UPDATE messaging.deliveries
       SET status = 'pending',
           next_attempt_at = (SELECT clock_timestamp()) + make_interval(secs => :delay),
           lease_expires_at = NULL, last_error = :error
     WHERE id = :id AND attempts = :attempt AND status = 'delivering'
""")

_DEAD = text("""
    UPDATE messaging.deliveries
       SET status = 'dead', finished_at = now(), lease_expires_at = NULL, last_error = :error
     WHERE id = :id AND attempts = :attempt AND status = 'delivering'
""")


def record(
    conn: Connection,
    worker: str,
    outcomes: list[Outcome],
    delays: dict[int, float | None],
    disable_after: timedelta,
) -> list[uuid.UUID]:
    """Write every attempt and each delivery's new state; disable endpoints that are gone or
    failing for too long. `delays` maps a failed delivery to its wait (None: dead).
    Returns the endpoints disabled."""
    if not outcomes:
        return []
    conn.execute(
        _ATTEMPT,
        [
            {
                "id": o.delivery.id,
                "org": o.delivery.org_id,
                "attempt": o.delivery.attempt,
                "worker": worker,
                "started_at": o.started_at,
                "duration_ms": o.duration_ms,
                "status_code": o.status_code,
                "response_body": o.response_body,
                "error": o.error,
                "succeeded": o.succeeded,
            }
            for o in outcomes
        ],
    )
    ok = [{"id": o.delivery.id, "attempt": o.delivery.attempt} for o in outcomes if o.succeeded]
    if ok:
        conn.execute(_SUCCEEDED, ok)
    failed = [o for o in outcomes if not o.succeeded]
    retry = [o for o in failed if delays.get(o.delivery.id) is not None]
    dead = [o for o in failed if delays.get(o.delivery.id) is None]
    if retry:
        conn.execute(
            _RETRY,
            [
                {
                    "id": o.delivery.id,
                    "attempt": o.delivery.attempt,
                    "delay": delays[o.delivery.id],
                    "error": _describe(o),
                }
                for o in retry
            ],
        )
    if dead:
        conn.execute(
            _DEAD,
            [
                {"id": o.delivery.id, "attempt": o.delivery.attempt, "error": _describe(o)}
                for o in dead
            ],
        )

    # Endpoint health: a success clears failing_since; a failure starts it.
    healthy = sorted(
        {o.delivery.endpoint_id for o in outcomes if o.succeeded and o.delivery.endpoint_id}
    )
    failing = sorted(
        {o.delivery.endpoint_id for o in failed if o.delivery.endpoint_id} - set(healthy)
    )
    if healthy:
        conn.execute(
            text("""UPDATE messaging.endpoints SET failing_since = NULL
                     WHERE id = ANY (:ids) AND failing_since IS NOT NULL"""),
            {"ids": healthy},
        )
    if failing:
        conn.execute(
            text("""UPDATE messaging.endpoints SET failing_since = now()
                     WHERE id = ANY (:ids) AND failing_since IS NULL"""),
            {"ids": failing},
        )
    gone = sorted({o.delivery.endpoint_id for o in failed if o.gone and o.delivery.endpoint_id})
    too_long = (
        conn.execute(
            text("""SELECT id FROM messaging.endpoints
                 WHERE id = ANY (:ids) AND enabled AND failing_since <= now() - :period"""),
            {"ids": failing, "period": disable_after},
        )
        .scalars()
        .all()
        if failing
        else []
    )
    disabled: list[uuid.UUID] = []
    for endpoint_id in gone:
        disabled += disable_endpoint(conn, endpoint_id, "the endpoint answered 410 Gone")
    for endpoint_id in too_long:
        if endpoint_id not in gone:
            disabled += disable_endpoint(
                conn, endpoint_id, f"no success for more than {disable_after}"
            )
    return disabled


def _describe(o: Outcome) -> str:
    if o.error:
        return o.error
    return f"HTTP {o.status_code}"


def disable_endpoint(conn: Connection, endpoint_id: uuid.UUID, reason: str) -> list[uuid.UUID]:
    """Disable an endpoint, cancel its open deliveries and publish `endpoint.disabled` to
    its organization. Returns [endpoint_id] if it was enabled, else []."""
    row = conn.execute(
        text("""UPDATE messaging.endpoints SET enabled = false, disabled_reason = :reason
                 WHERE id = :id AND enabled RETURNING org_id, url"""),
        {"id": endpoint_id, "reason": reason},
    ).first()
    if row is None:
        return []
    conn.execute(
        text("""UPDATE messaging.deliveries
                   SET status = 'cancelled', finished_at = now(), lease_expires_at = NULL,
                       last_error = :reason
                 WHERE endpoint_id = :id AND status IN ('pending', 'delivering')"""),
        {"id": endpoint_id, "reason": f"endpoint disabled: {reason}"},
    )
    publish(
        conn,
        type="endpoint.disabled",
        payload=EndpointDisabled(endpoint_id=str(endpoint_id), url=row.url, reason=reason),
        aggregate_type="endpoint",
        aggregate_id=str(endpoint_id),
        org_id=row.org_id,
    )
    return [endpoint_id]


def requeue(
    conn: Connection,
    *,
    delivery_id: int | None = None,
    endpoint_id: uuid.UUID | None = None,
) -> int:
    """Bring dead (and cancelled) deliveries back to pending, due now; returns how many.

    With neither argument, every dead delivery is requeued."""
    count = conn.execute(
        text("""UPDATE messaging.deliveries
                   SET status = 'pending', attempts = 0, next_attempt_at = now(),
                       finished_at = NULL, lease_expires_at = NULL, leased_by = NULL
                 WHERE status IN ('dead', 'cancelled')
                   AND (CAST(:delivery AS bigint) IS NULL OR id = :delivery)
                   AND (CAST(:endpoint AS uuid) IS NULL OR endpoint_id = :endpoint)
                   AND (CAST(:delivery AS bigint) IS NOT NULL OR status = 'dead'
                        OR CAST(:endpoint AS uuid) IS NOT NULL)"""),
        {"delivery": delivery_id, "endpoint": endpoint_id},
    ).rowcount
    if count:
        conn.execute(text("SELECT pg_notify('messaging_deliveries', '')"))
    return count


def prune(conn: Connection, retention: timedelta) -> int:
    """Delete messages older than `retention` whose every delivery succeeded; returns how
    many. Dead, cancelled and still open deliveries keep their message."""
    return conn.execute(
        text("""DELETE FROM messaging.messages m
                 WHERE m.created_at < now() - :retention
                   AND NOT EXISTS (SELECT FROM messaging.deliveries d
                                    WHERE d.message_id = m.id AND d.status <> 'succeeded')"""),
        {"retention": retention},
    ).rowcount

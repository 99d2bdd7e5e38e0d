"""Publishing on the caller's transaction: the message, its fan-out to the organization's
matching webhook endpoints, and its e-mails, in the same transaction as what caused them.

If the caller's transaction rolls back, the message never existed; if it commits, workers
will deliver it (the insert trigger's NOTIFY reaches them at commit, never before).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence

from pydantic import BaseModel
from sqlalchemy import Connection, text

from outbox.message_types import Email, validated_payload

_INSERT_MESSAGE = text("""
    INSERT INTO messaging.messages (id, org_id, type, aggregate_type, aggregate_id, payload,
                                    dedup_key)
    VALUES (:id, :org, :type, :aggregate_type, :aggregate_id, CAST(:payload AS jsonb), :dedup)
    ON CONFLICT (coalesce(org_id, '00000000-0000-0000-0000-000000000000'::uuid), dedup_key)
        WHERE dedup_key IS NOT NULL DO NOTHING
    RETURNING id
""")

# One webhook delivery per enabled endpoint of the organization that wants this type.
_FAN_OUT = text("""
    INSERT INTO messaging.deliveries (message_id, org_id, channel, endpoint_id, target,
                                      aggregate_key)
    SELECT :id, e.org_id, 'webhook', e.id, 'endpoint:' || e.id, :aggregate_key
      FROM messaging.endpoints e
     WHERE e.org_id = :org AND e.enabled
       AND (cardinality(e.event_types) = 0 OR :type = ANY (e.event_types))
     ORDER BY e.id
""")

_TASK = text("""
    INSERT INTO messaging.deliveries (message_id, org_id, channel, target, aggregate_key)
    VALUES (:id, :org, 'task', 'task:' || :type, :aggregate_key)
""")

_EMAIL = text("""
    INSERT INTO messaging.deliveries (message_id, org_id, channel, recipient, subject, body,
                                      target, aggregate_key)
    VALUES (:id, :org, 'email', :to, :subject, :body, 'email:' || lower(:to), :aggregate_key)
""")


def publish(
    conn: Connection,
    *,
    type: str,
    payload: BaseModel,
    aggregate_type: str,
    aggregate_id: str,
    org_id: uuid.UUID | None,
    dedup_key: str | None = None,
    emails: Sequence[Email] = (),
    task: bool = False,
) -> uuid.UUID:
    """Write a message (and its deliveries) on the caller's open transaction; return its id.

    The message fans out to the organization's endpoints that want its type, to each e-mail,
    and, with `task`, to the task registered for its type (run by a worker, at least once,
    with the message id as its idempotency key). With a `dedup_key` already used, nothing
    is written and the first message's id returned.
    """
    data = validated_payload(type, payload)
    message_id = uuid.uuid4()
    row = conn.execute(
        _INSERT_MESSAGE,
        {
            "id": message_id,
            "org": org_id,
            "type": type,
            "aggregate_type": aggregate_type,
            "aggregate_id": aggregate_id,
            "payload": json.dumps(data, separators=(",", ":")),
            "dedup": dedup_key,
        },
    ).first()
    if row is None:
        existing: uuid.UUID = conn.execute(
            text("""SELECT id FROM messaging.messages
                     WHERE dedup_key = :k AND org_id IS NOT DISTINCT FROM :org"""),
            {"k": dedup_key, "org": org_id},
        ).scalar_one()
        return existing
    aggregate_key = f"{aggregate_type}:{aggregate_id}"
    if org_id is not None:
        conn.execute(
            _FAN_OUT,
            {"id": message_id, "org": org_id, "type": type, "aggregate_key": aggregate_key},
        )
    if task:
        conn.execute(
            _TASK, {"id": message_id, "org": org_id, "type": type, "aggregate_key": aggregate_key}
        )
    for email in emails:
        conn.execute(
            _EMAIL,
            {
                "id": message_id,
                "org": org_id,
                "to": email.to,
                "subject": email.subject,
                "body": email.body,
                "aggregate_key": aggregate_key,
            },
        )
    return message_id

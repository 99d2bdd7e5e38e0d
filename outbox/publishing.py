"""Publishing on the caller's transaction: the message, its fan-out to the organization's
matching webhook endpoints, and its e-mails, in the same transaction as what caused them.

If the caller's transaction rolls back, the message never existed; if it commits, workers
will deliver it (the insert trigger's NOTIFY reaches them at commit, never before).

`publish_many` writes several messages and all their deliveries in one statement (one round
trip), as publishing them one by one with `publish` would, in the same order: a use case
that tells of several things at once (an order paid and its tickets issued) pays one round
trip, not three or four per message. Each statement is one organization's (its endpoints and
earlier messages read with `org_id` = that organization: docs/scaling.md): messages of
several organizations take one round trip per organization, each organization's deliveries
in the order given, the organizations in the order they first appear. The writing is the SQL
function `messaging.publish_many` (migrations/sql/messaging.sql), which `publish_sql` also
calls from a caller's statement that makes the rows its messages tell of (the payment's).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from pydantic import BaseModel
from sqlalchemy import Connection, text

from outbox.message_types import Email, validated_payload
from pgdriver import array_literal, fetch

# `messaging.publish_many`'s arguments after the organization, in order: (its name here, its
# type). The messages' arrays, in their position's order, then their e-mails', in their
# message's and their own position's order (`mail_of`: the message's position).
_MESSAGE_ARGUMENTS = (
    ("ids", "uuid[]"),
    ("orgs", "uuid[]"),
    ("types", "text[]"),
    ("aggregate_types", "text[]"),
    ("aggregate_ids", "text[]"),
    ("payloads", "jsonb[]"),
    ("dedups", "text[]"),
    ("tasks", "boolean[]"),
)
_MAIL_ARGUMENTS = (
    ("mail_of", "bigint[]"),
    ("mail_to", "text[]"),
    ("mail_subject", "text[]"),
    ("mail_body", "text[]"),
)


def publish_sql(arrays: str, org: str) -> str:
    """The outbox's publishing for a caller's statement, so that a use case whose statement
    makes what its messages tell of publishes them in the same round trip: a query (for a
    common table expression of the caller's) of one row, `written`, the number of messages
    written. `arrays`, the name of the caller's relation holding the arrays themselves, made
    by the caller in the messages' order: at most one row, its columns named as
    `messaging.publish_many`'s arguments after the organization (ids, orgs, types,
    aggregate_types, aggregate_ids, payloads, dedups, tasks, mail_of, mail_to, mail_subject,
    mail_body); no row, nothing published. `org`, the organization every message is (an SQL
    expression: its endpoints are read with it). The caller makes each payload as the type's
    model would dump it (`validated_payload`); nothing here checks it. The writing is
    `messaging.publish_many`'s, as for `publish_many`: a function, so that its statements
    are planned and initialised apart from the caller's (a statement rechecked by
    EvalPlanQual initialises every subplan it holds: session 30's publishing spliced into
    the payment's statement as CTEs made a hot ticket type's payment dearer)."""
    columns = ", ".join(f"r.{a}" for a, _t in _MESSAGE_ARGUMENTS + _MAIL_ARGUMENTS)
    return f"""
        SELECT count(w.id) AS written
          FROM {arrays} r
         CROSS JOIN LATERAL messaging.publish_many({org}, {columns}) AS w(id)"""


# The messages, then their deliveries, as `publish` called once per message would write and
# order them: `messaging.publish_many` (migrations/sql/messaging.sql), whose plan the session
# keeps. The arrays are sent as literals the statement casts: psycopg's dumping of these
# twelve lists was ~280 us of the payment's client CPU, the literals ~12 us (session 29).
# On the driver cursor (`pgdriver`): SQLAlchemy's statement handling cost a third of the
# publishing's client CPU on the payment's path.
_PUBLISH = (
    "SELECT w.id FROM messaging.publish_many(CAST(%(org)s AS uuid), "
    + ", ".join(f"CAST(%({a})s AS {t})" for a, t in _MESSAGE_ARGUMENTS + _MAIL_ARGUMENTS)
    + ") AS w(id)"
)

_EXISTING = text("""
    SELECT i.n, m.id
      FROM unnest(CAST(:orgs AS uuid[]), CAST(:dedups AS text[])) WITH ORDINALITY
           AS i(org_id, dedup_key, n)
      JOIN messaging.messages m
        ON m.dedup_key = i.dedup_key AND m.org_id = CAST(:org AS uuid)
       AND m.org_id = i.org_id
""")


_MESSAGE_ORG = text("SELECT org_id FROM messaging.messages WHERE id = :id")


def message_org(conn: Connection, message_id: uuid.UUID) -> tuple[bool, uuid.UUID | None]:
    """Whether the message exists, and the organization it was published for (None: the
    platform's). A task checks it against what its payload names: a task row is the
    publisher's word, and the message's organization is what row-level security let it
    write."""
    row = conn.execute(_MESSAGE_ORG, {"id": message_id}).first()
    return (False, None) if row is None else (True, row.org_id)


@dataclass(frozen=True)
class Message:
    """One message to publish with `publish_many` (the arguments `publish` takes)."""

    type: str
    payload: BaseModel
    aggregate_type: str
    aggregate_id: str
    org_id: uuid.UUID
    dedup_key: str | None = None
    emails: Sequence[Email] = ()
    task: bool = False


def publish_many(conn: Connection, messages: Sequence[Message]) -> list[uuid.UUID]:
    """Write several messages and their deliveries on the caller's open transaction, in one
    round trip; return their ids, in order. The same as `publish` called for each message
    in turn: a `dedup_key` used before (earlier in the batch included) writes nothing and
    gives the first message's id. Every payload is checked before anything is written."""
    if not messages:
        return []
    payloads = [
        json.dumps(validated_payload(m.type, m.payload), separators=(",", ":")) for m in messages
    ]
    ids = [uuid.uuid4() for _ in messages]
    by_org: dict[uuid.UUID, list[int]] = {}
    for n, m in enumerate(messages):
        by_org.setdefault(m.org_id, []).append(n)
    found: dict[int, uuid.UUID] = {}
    for org, indexes in by_org.items():
        batch = [(ids[n], messages[n], payloads[n]) for n in indexes]
        for k, first in _publish_for(conn, org, batch).items():
            found[indexes[k]] = first
    return [found.get(n, i) for n, i in enumerate(ids)]


def _publish_for(
    conn: Connection, org: uuid.UUID, batch: Sequence[tuple[uuid.UUID, Message, str]]
) -> dict[int, uuid.UUID]:
    """Publish one organization's messages (`_PUBLISH`); for each deduplicated one, its
    position in `batch` mapped to the first message's id. The ids given are kept."""
    mail_of: list[int] = []
    mail_to: list[str] = []
    mail_subject: list[str] = []
    mail_body: list[str] = []
    for n, (_, m, _) in enumerate(batch, start=1):
        for email in m.emails:
            mail_of.append(n)
            mail_to.append(email.to)
            mail_subject.append(email.subject)
            mail_body.append(email.body)
    arrays: dict[str, list[object]] = {
        "ids": [i for i, _, _ in batch],
        "orgs": [m.org_id for _, m, _ in batch],
        "types": [m.type for _, m, _ in batch],
        "aggregate_types": [m.aggregate_type for _, m, _ in batch],
        "aggregate_ids": [m.aggregate_id for _, m, _ in batch],
        "payloads": [p for _, _, p in batch],
        "dedups": [m.dedup_key for _, m, _ in batch],
        "tasks": [m.task for _, m, _ in batch],
        "mail_of": list(mail_of),
        "mail_to": list(mail_to),
        "mail_subject": list(mail_subject),
        "mail_body": list(mail_body),
    }
    # As array literals, which the statement casts: psycopg's dumping of these twelve lists
    # was ~280 us of the payment's client CPU, the literals ~12 us (session 29).
    params = {"org": org, **{name: array_literal(v) for name, v in arrays.items()}}
    written = {row.id for row in fetch(conn, _PUBLISH, params)}
    if len(written) == len(batch):
        return {}
    # Deduplicated: each such message is the one first written under its key (now visible,
    # in this transaction or committed before it).
    skipped = [n for n, (i, _, _) in enumerate(batch) if i not in written]
    return {
        skipped[int(r.n) - 1]: r.id
        for r in conn.execute(
            _EXISTING,
            {
                "org": org,
                "orgs": [batch[n][1].org_id for n in skipped],
                "dedups": [batch[n][1].dedup_key for n in skipped],
            },
        )
    }


def publish(
    conn: Connection,
    *,
    type: str,
    payload: BaseModel,
    aggregate_type: str,
    aggregate_id: str,
    org_id: uuid.UUID,
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
    (message_id,) = publish_many(
        conn,
        [
            Message(
                type=type,
                payload=payload,
                aggregate_type=aggregate_type,
                aggregate_id=aggregate_id,
                org_id=org_id,
                dedup_key=dedup_key,
                emails=emails,
                task=task,
            )
        ],
    )
    return message_id

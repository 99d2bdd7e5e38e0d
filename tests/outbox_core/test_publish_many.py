"""`publish_many`: several messages and their deliveries in one statement per organization,
written exactly as `publish` called once per message writes them (the same rows, each
organization's deliveries in the same order), deduplicated by key as `publish` is, and
nothing written when a payload is bad."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

import pytest
import sqlalchemy as sa

import outbox
from tests.escrow_core.support import driver_statements
from tests.outbox_core.support import ORG, OTHER_ORG, Step, TicketIssued, rows, scalar

outbox.register_message_type("test.batch_task", Step)
outbox.register_task("test.batch_task", lambda _id, _payload: None, replace=True)


def _endpoint(
    conn: sa.Connection, org: uuid.UUID, types: Sequence[str] = (), *, enabled: bool = True
) -> uuid.UUID:
    """An endpoint row as the fan-out reads it (publishing never calls it)."""
    found: uuid.UUID = conn.execute(
        sa.text("""INSERT INTO messaging.endpoints (org_id, url, event_types, enabled)
                   VALUES (:org, 'https://hooks.example.com/' || gen_random_uuid(),
                           CAST(:types AS text[]), :enabled)
                   RETURNING id"""),
        {"org": org, "types": list(types), "enabled": enabled},
    ).scalar_one()
    return found


# An organization with no endpoint: its message has no delivery.
NO_ENDPOINT_ORG = uuid.UUID("00000000-0000-0000-0000-0000000000cc")


def _batch(tag: str) -> list[outbox.Message]:
    """Messages of every shape: two orgs and one with no endpoint, types some endpoints
    filter out, a task, no e-mail, one, two."""
    mail = [outbox.Email(to=f"Ann.{tag}@Example.com", subject="Hello", body="first")]
    return [
        outbox.Message("test.step", Step(aggregate=f"{tag}-a", seq=1), "step", f"{tag}-a", ORG),
        outbox.Message(
            "test.ticket_issued",
            TicketIssued(ticket_id=f"{tag}-t", amount=2_500),
            "ticket",
            f"{tag}-t",
            ORG,
            emails=[*mail, outbox.Email(to=f"bob.{tag}@example.com", subject="Hi", body="2nd")],
        ),
        outbox.Message(
            "test.step", Step(aggregate=f"{tag}-b", seq=1), "step", f"{tag}-b", OTHER_ORG
        ),
        outbox.Message(
            "test.step", Step(aggregate=f"{tag}-c", seq=1), "step", f"{tag}-c", NO_ENDPOINT_ORG
        ),
        outbox.Message(
            "test.batch_task",
            Step(aggregate=f"{tag}-a", seq=2),
            "step",
            f"{tag}-a",
            ORG,
            emails=mail,
            task=True,
        ),
    ]


def _written(engine: sa.Engine, ids: Sequence[uuid.UUID], tag: str) -> list[tuple[Any, ...]]:
    """What the messages wrote, by organization, each in delivery id order (the queues are
    an organization's: the claim orders a target's deliveries within one), with the batch's
    tag taken out."""
    got = rows(
        engine,
        """SELECT m.type, m.org_id, m.aggregate_type, m.aggregate_id, m.payload, d.channel,
                  d.endpoint_id, d.recipient, d.subject, d.body, d.target, d.aggregate_key,
                  d.status, array_position(CAST(:ids AS uuid[]), m.id) AS n
             FROM messaging.messages m
             LEFT JOIN messaging.deliveries d ON d.message_id = m.id
            WHERE m.id = ANY(CAST(:ids AS uuid[]))
            ORDER BY m.org_id, d.id NULLS LAST, n""",
        ids=list(ids),
    )
    return [tuple(str(v).replace(tag, "TAG") for v in r) for r in got]


def test_a_batch_writes_what_publishing_each_message_in_turn_writes(engine: sa.Engine) -> None:
    with engine.begin() as conn:
        _endpoint(conn, ORG)
        _endpoint(conn, ORG, ["test.ticket_issued"])
        _endpoint(conn, ORG, ["test.other"])
        _endpoint(conn, ORG, enabled=False)
        _endpoint(conn, OTHER_ORG, ["test.step"])
    with engine.begin() as conn:
        one_by_one = [
            outbox.publish(
                conn,
                type=m.type,
                payload=m.payload,
                aggregate_type=m.aggregate_type,
                aggregate_id=m.aggregate_id,
                org_id=m.org_id,
                emails=m.emails,
                task=m.task,
            )
            for m in _batch("qone")
        ]
    with engine.begin() as conn:
        batched = outbox.publish_many(conn, _batch("qmany"))
    assert len(set(batched)) == 5
    expected = _written(engine, one_by_one, "qone")
    # Webhooks, task, e-mails: 1; 2 + 2 e-mails; 1 (the other org's); none (no endpoint);
    # 1 + the task + 1 e-mail.
    assert len([r for r in expected if r[5] != "None"]) == 9
    assert _written(engine, batched, "qmany") == expected


def test_a_batch_is_one_statement_per_organization(engine: sa.Engine) -> None:
    """One statement for one organization's messages (the payment's case), one per
    organization otherwise (each reads only its organization's rows: docs/scaling.md)."""
    with engine.begin() as conn:
        _endpoint(conn, ORG)
    one_org = [m for m in _batch("y") if m.org_id == ORG]
    assert len(one_org) == 3
    with engine.begin() as conn, driver_statements() as statements:
        outbox.publish_many(conn, one_org)
    assert len(statements) == 1  # counted at the driver: publishing runs on its cursor
    with engine.begin() as conn, driver_statements() as statements:
        outbox.publish_many(conn, _batch("x"))
    assert len(statements) == 3  # ORG, OTHER_ORG, NO_ENDPOINT_ORG
    assert scalar(engine, "SELECT count(*) FROM messaging.messages") == 8


def test_a_dedup_key_used_before_or_earlier_in_the_batch_writes_nothing_more(
    engine: sa.Engine,
) -> None:
    with engine.begin() as conn:
        _endpoint(conn, ORG)
        _endpoint(conn, OTHER_ORG)
        (first,) = outbox.publish_many(
            conn, [outbox.Message("test.step", Step(aggregate="o", seq=1), "step", "o", ORG, "k1")]
        )
    with engine.begin() as conn:
        ids = outbox.publish_many(
            conn,
            [
                outbox.Message("test.step", Step(aggregate="o", seq=1), "step", "o", ORG, "k1"),
                outbox.Message("test.step", Step(aggregate="o", seq=2), "step", "o", ORG, "k2"),
                outbox.Message("test.step", Step(aggregate="o", seq=3), "step", "o", ORG, "k2"),
                # Another organization's key space: a message of its own.
                outbox.Message(
                    "test.step", Step(aggregate="o", seq=1), "step", "o", OTHER_ORG, "k1"
                ),
                outbox.Message("test.step", Step(aggregate="o", seq=4), "step", "o", ORG),
            ],
        )
    assert ids[0] == first
    assert ids[2] == ids[1] != first
    assert len({first, ids[1], ids[3], ids[4]}) == 4
    assert scalar(engine, "SELECT count(*) FROM messaging.messages") == 4
    per_message = rows(
        engine,
        "SELECT message_id, count(*) AS n FROM messaging.deliveries GROUP BY message_id",
    )
    assert {r.message_id: r.n for r in per_message} == {
        first: 1,
        ids[1]: 1,
        ids[3]: 1,
        ids[4]: 1,
    }


def test_a_bad_payload_anywhere_in_the_batch_writes_nothing(engine: sa.Engine) -> None:
    with engine.begin() as conn:
        _endpoint(conn, ORG)
    batch = [
        *_batch("x"),
        outbox.Message("test.step", TicketIssued(ticket_id="t", amount=1), "step", "s", ORG),
    ]
    with engine.begin() as conn, pytest.raises(outbox.InvalidPayload):
        outbox.publish_many(conn, batch)
    with engine.begin() as conn, pytest.raises(outbox.UnknownMessageType):
        outbox.publish_many(
            conn,
            [*_batch("y"), outbox.Message("test.nope", Step(aggregate="a", seq=1), "s", "a", ORG)],
        )
    assert scalar(engine, "SELECT count(*) FROM messaging.messages") == 0
    assert scalar(engine, "SELECT count(*) FROM messaging.deliveries") == 0


def test_an_empty_batch_writes_nothing(engine: sa.Engine) -> None:
    with engine.begin() as conn:
        assert outbox.publish_many(conn, []) == []
    assert scalar(engine, "SELECT count(*) FROM messaging.messages") == 0


# Texts the array literals `publish_many` sends (pgdriver.array_literal) must escape.
_AWKWARD = ['q"uote', "back\\slash", "", "NULL", "a,b", "{brace}", "  spaced  ", "é€😀"]


def test_awkward_texts_are_written_as_given(engine: sa.Engine) -> None:
    """Every text a message carries (its aggregate id, its deduplication key, its e-mails'
    recipient, subject and body) is stored as given, whatever quotes, backslashes, braces,
    commas, blanks or "NULL" it holds: the statement takes them as array literals."""
    messages = [
        outbox.Message(
            "test.step",
            Step(aggregate=text, seq=n),
            "step",
            f"awk-{text}",
            ORG,
            emails=[outbox.Email(to=f"a{n}@example.com", subject=text, body=text)],
            dedup_key=f"awk:{text}",
        )
        for n, text in enumerate(_AWKWARD, start=1)
    ]
    with engine.begin() as conn:
        ids = outbox.publish_many(conn, messages)
    got = rows(
        engine,
        """SELECT m.aggregate_id, m.dedup_key, m.payload ->> 'aggregate', d.subject, d.body
             FROM messaging.messages m JOIN messaging.deliveries d ON d.message_id = m.id
            WHERE m.id = ANY(CAST(:ids AS uuid[])) AND d.channel = 'email'
            ORDER BY array_position(CAST(:ids AS uuid[]), m.id)""",
        ids=list(ids),
    )
    assert [tuple(r) for r in got] == [(f"awk-{t}", f"awk:{t}", t, t, t) for t in _AWKWARD]

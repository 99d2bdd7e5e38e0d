"""`messaging.publish_many`'s usual case (the payment's: every id given, no deduplication key,
no task) writes the messages and their deliveries in one statement (session 36), and writes
exactly what `publish` called once per message writes (the same rows, the deliveries in the
same order); a batch with a task or a key still takes the two statements."""

from __future__ import annotations

import uuid

import sqlalchemy as sa

import outbox
from tests.outbox_core.support import ORG, Step, TicketIssued, rows
from tests.outbox_core.test_publish_many import _endpoint, _written


def _usual(tag: str) -> list[outbox.Message]:
    """One organization's messages, no task, no key: webhooks some endpoints filter out, no
    e-mail, two, one."""
    return [
        outbox.Message("test.step", Step(aggregate=f"{tag}-a", seq=1), "step", f"{tag}-a", ORG),
        outbox.Message(
            "test.ticket_issued",
            TicketIssued(ticket_id=f"{tag}-t", amount=2_500),
            "ticket",
            f"{tag}-t",
            ORG,
            emails=[
                outbox.Email(to=f"Ann.{tag}@Example.com", subject="Hello", body="first"),
                outbox.Email(to=f"bob.{tag}@example.com", subject="Hi", body="2nd"),
            ],
        ),
        outbox.Message(
            "test.step",
            Step(aggregate=f"{tag}-a", seq=2),
            "step",
            f"{tag}-a",
            ORG,
            emails=[outbox.Email(to=f"cy.{tag}@example.com", subject="Yo", body="3rd")],
        ),
    ]


def _commands(conn: sa.Connection, ids: list[uuid.UUID]) -> list[tuple[bool, int]]:
    """Per delivery of the messages (by delivery id): whether its message was written by the
    same command (statement) as the delivery, and its message's position."""
    got = conn.execute(
        sa.text("""SELECT m.cmin = d.cmin AS same, array_position(CAST(:ids AS uuid[]), m.id) AS n
                     FROM messaging.deliveries d
                     JOIN messaging.messages m ON m.id = d.message_id AND m.org_id = d.org_id
                    WHERE m.id = ANY(CAST(:ids AS uuid[]))
                    ORDER BY d.id"""),
        {"ids": ids},
    ).all()
    return [(bool(r.same), int(r.n)) for r in got]


def test_the_usual_case_is_one_statement_and_writes_what_publish_writes(
    engine: sa.Engine,
) -> None:
    with engine.begin() as conn:
        _endpoint(conn, ORG)
        _endpoint(conn, ORG, ["test.ticket_issued"])
        _endpoint(conn, ORG, ["test.other"])
        _endpoint(conn, ORG, enabled=False)
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
            )
            for m in _usual("pone")
        ]
    with engine.begin() as conn:
        batched = outbox.publish_many(conn, _usual("pmany"))
        commands = _commands(conn, batched)
    # Webhooks and e-mails: 1; 2 + 2 e-mails; 1 + 1 e-mail; in the messages' order.
    assert commands == [(True, 1), (True, 2), (True, 2), (True, 2), (True, 2), (True, 3), (True, 3)]
    expected = _written(engine, one_by_one, "pone")
    assert len([r for r in expected if r[5] != "None"]) == 7
    assert _written(engine, batched, "pmany") == expected


def test_a_batch_with_a_task_or_a_key_writes_its_messages_first(engine: sa.Engine) -> None:
    """The task's guard reads its message (a row trigger), a key may name a message written
    before: the messages are written by a statement of their own, then the deliveries."""
    with engine.begin() as conn:
        _endpoint(conn, ORG)
    # test.batch_task: registered with its task by tests/outbox_core/test_publish_many.
    task = outbox.Message(
        "test.batch_task", Step(aggregate="k", seq=1), "step", "k", ORG, task=True
    )
    keyed = outbox.Message("test.step", Step(aggregate="k", seq=2), "step", "k", ORG, "pkey-1")
    # One endpoint: 1, 1 + 2, 1 + 1, then the task's message's webhook and task, or the
    # keyed message's webhook.
    for tag, extra, deliveries in (("ptask", task, 8), ("pkey", keyed, 7)):
        with engine.begin() as conn:
            ids = outbox.publish_many(conn, [*_usual(tag), extra])
            commands = _commands(conn, ids)
        assert len(commands) == deliveries, tag
        assert not any(same for same, _n in commands), tag
    assert len(rows(engine, "SELECT 1 FROM messaging.deliveries WHERE channel = 'task'")) == 1

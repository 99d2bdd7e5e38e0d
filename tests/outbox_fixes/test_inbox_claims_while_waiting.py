"""An event that comes while another's prepare waits on Stripe is claimed and finished
without waiting for it (Review2, session 37): the claiming loop, finding nothing due with
events in flight, waited for one of them to finish, so a second event stored meanwhile sat
behind a prepare that takes its timeouts, with 15 of 16 slots free.

No timing is asserted: the first prepare waits until the second event is handled (far
longer than that takes, however loaded the machine); a loop that does not claim the second
until the first is finished never gets there, and the first prepare then gives up, which the
test sees.
"""

from __future__ import annotations

import threading
import uuid
from dataclasses import replace

import sqlalchemy as sa

import outbox
from tests.outbox_core.support import FAST

SOURCE = "test"
TYPE = "test.two_step_waiting"
GIVE_UP = 30.0
"""How long the first prepare waits for the second event to be handled before giving up."""


def _store(engine: sa.Engine) -> str:
    event_id = f"evt_{uuid.uuid4().hex[:24]}"
    with engine.begin() as conn:
        assert outbox.store_event(conn, SOURCE, event_id, TYPE, {"id": event_id})
    return event_id


def _status(engine: sa.Engine, event_id: str) -> str:
    with engine.connect() as conn:
        return str(
            conn.execute(
                sa.text("SELECT status FROM messaging.inbox WHERE event_id = :id"), {"id": event_id}
            ).scalar_one()
        )


def test_an_event_stored_while_a_prepare_waits_is_handled_before_it_finishes(
    engine: sa.Engine,
) -> None:
    first = _store(engine)
    started = threading.Event()
    second_handled = threading.Event()
    waited: dict[str, bool] = {}

    def prepare(event: outbox.InboxEvent) -> str:
        if event.event_id == first:
            started.set()
            waited["second handled first"] = second_handled.wait(GIVE_UP)
        return "prepared"

    def handle(conn: sa.Connection, event: outbox.InboxEvent, data: str) -> None:
        if event.event_id != first:
            conn.info.setdefault("after_commit", []).append(second_handled.set)

    registry = outbox.InboxHandlers()
    registry.register(SOURCE, TYPE, outbox.InboxTwoStepHandler(prepare=prepare, handle=handle))

    @sa.event.listens_for(engine, "commit")
    def _after(conn: sa.Connection) -> None:
        for call in conn.info.pop("after_commit", []):
            call()

    looked_in_vain = threading.Event()

    def on_claim(queue: str, taken: int, seconds: float) -> None:
        if queue == "inbox" and taken == 0 and started.is_set():
            looked_in_vain.set()  # the loop found nothing due with the first in flight

    worker = outbox.Worker(
        engine, replace(FAST, inbox_concurrency=16), handlers=registry, on_claim=on_claim
    )
    loop = threading.Thread(target=worker.handle_inbox_once)
    loop.start()
    try:
        assert started.wait(GIVE_UP)  # the first is claimed, its prepare waiting
        assert looked_in_vain.wait(GIVE_UP)
        second = _store(engine)  # comes after the loop found nothing else due
        loop.join(GIVE_UP * 2)
        assert not loop.is_alive()
    finally:
        second_handled.set()
        loop.join(GIVE_UP)
        worker.close()
        sa.event.remove(engine, "commit", _after)
    assert waited == {"second handled first": True}
    assert (_status(engine, first), _status(engine, second)) == ("handled", "handled")

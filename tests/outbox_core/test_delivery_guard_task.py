"""The transfer task asks Stripe only for a transfer escrow recorded under the task's
message id (review D6): its amount, currency, organization and charge from escrow's request
and its escrow, its destination from the organizer's terms. A payload escrow never asked
for, or one that disagrees with the request, asks Stripe nothing."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
import sqlalchemy as sa

import escrow
import ledger
import outbox
from escrow.store import record_transfer_request
from liventix.stripe_gateway import StripeGateway, StripeSettings
from liventix.wiring import TransferDestinationChanged, TransferRequestMismatch, transfer_task

ORG = uuid.UUID("00000000-0000-0000-0000-0000000000c1")


class Recording(StripeGateway):
    """The gateway with its network call replaced by a record of what was asked (the test
    looks at whether Stripe was called, and with what)."""

    def __init__(self) -> None:
        super().__init__(StripeSettings(api_base="http://127.0.0.1:9"))
        self.asked: list[escrow.TransferRequested] = []

    def create_transfer(
        self, request: escrow.TransferRequested, idempotency_key: str
    ) -> tuple[str, int]:
        self.asked.append(request)
        raise RuntimeError("recorded; no network in this test")


@pytest.fixture
def asked(engine: sa.Engine) -> tuple[uuid.UUID, escrow.TransferRequested]:
    """A transfer escrow recorded under a message id, and the payload its task carries."""
    message_id = uuid.uuid4()
    with engine.begin() as conn:
        ledger.open_organization(conn, ORG, "Org C")
        escrow.set_policy(conn, ORG, escrow.Policy(connected_account="acct_organizer"))
        escrow_id = escrow.open_escrow(conn, ORG, "show", "USD", datetime(2026, 1, 1, tzinfo=UTC))
        accounts = [
            ledger.open_account(
                conn,
                ORG,
                ledger.OpenAccount(
                    idempotency_key=f"open-{code}", code=code, type="asset", currency="USD"
                ),
            ).id
            for code in ("guard-a", "guard-b")
        ]
        entry = ledger.post_entry(
            conn,
            ORG,
            ledger.PostEntry(
                idempotency_key="guard-entry",
                lines=[
                    ledger.Line(accounts[0], "debit", 5_000, "USD"),
                    ledger.Line(accounts[1], "credit", 5_000, "USD"),
                ],
            ),
        ).id
        record_transfer_request(
            conn,
            message_id,
            org_id=ORG,
            escrow_id=escrow_id,
            key="release",
            kind="release",
            entry_id=entry,
            currency="USD",
            amount=5_000,
            source_transaction=None,
        )
    payload = escrow.TransferRequested(
        escrow_id=str(escrow_id),
        org_id=str(ORG),
        event_id="show",
        amount=5_000,
        currency="USD",
        destination="acct_organizer",
    )
    return message_id, payload


def test_the_recorded_transfer_is_asked_as_escrow_recorded_it(
    engine: sa.Engine, asked: tuple[uuid.UUID, escrow.TransferRequested]
) -> None:
    message_id, payload = asked
    gateway = Recording()
    with pytest.raises(RuntimeError, match="recorded"):
        transfer_task(engine, gateway)(str(message_id), payload.model_dump())
    assert gateway.asked == [payload]


@pytest.mark.parametrize(
    "change",
    [
        {"amount": 500_000},
        {"destination": "acct_attacker", "amount": 4_000},
        {"currency": "EUR"},
        {"org_id": str(uuid.uuid4())},
        {"source_transaction": "ch_other"},
    ],
)
def test_a_payload_that_disagrees_with_the_request_asks_nothing(
    engine: sa.Engine, asked: tuple[uuid.UUID, escrow.TransferRequested], change: dict[str, Any]
) -> None:
    message_id, payload = asked
    gateway = Recording()
    forged = payload.model_copy(update=change)
    with pytest.raises(TransferRequestMismatch) as refused:
        transfer_task(engine, gateway)(str(message_id), forged.model_dump())
    assert gateway.asked == []
    # No retry can mend it: the worker ends the delivery dead at once.
    assert outbox.permanent(refused.value)
    assert set(refused.value.fields) == set(change)


def test_a_destination_alone_differing_is_not_permanent(
    engine: sa.Engine, asked: tuple[uuid.UUID, escrow.TransferRequested]
) -> None:
    """The destination is read from the organizer's terms as they are now, not recorded with
    the request: a payload naming another (forged, or the terms changed since the release
    asked) asks nothing, and keeps its retries; with the terms as the release read them, the
    same payload is asked."""
    message_id, payload = asked
    gateway = Recording()
    with engine.begin() as conn:
        escrow.set_policy(conn, ORG, escrow.Policy(connected_account="acct_new"))
    with pytest.raises(TransferDestinationChanged) as changed:
        transfer_task(engine, gateway)(str(message_id), payload.model_dump())
    assert (changed.value.asked, changed.value.now) == ("acct_organizer", "acct_new")
    assert not outbox.permanent(changed.value)
    assert gateway.asked == []
    with engine.begin() as conn:
        escrow.set_policy(conn, ORG, escrow.Policy(connected_account="acct_organizer"))
    with pytest.raises(RuntimeError, match="recorded"):
        transfer_task(engine, gateway)(str(message_id), payload.model_dump())
    assert gateway.asked == [payload]


def test_a_transfer_escrow_never_asked_for_asks_nothing(
    engine: sa.Engine, asked: tuple[uuid.UUID, escrow.TransferRequested]
) -> None:
    _, payload = asked
    gateway = Recording()
    with pytest.raises(TransferRequestMismatch) as refused:
        transfer_task(engine, gateway)(str(uuid.uuid4()), payload.model_dump())
    assert gateway.asked == []
    assert outbox.permanent(refused.value)

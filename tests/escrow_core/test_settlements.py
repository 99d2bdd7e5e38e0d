"""A transfer to the organizer settles exactly the entries it pays, end to end: a season of
checkouts (tickets issued), a refund, the release and its transfer, a payment after the
release and its own transfer. Finance then asks "which tickets did this transfer pay for?"
in Python and over the statement; a replayed (or reordered) `transfer.created` settles
nothing twice. What a transfer pays is read from the request escrow recorded when it asked
for it (named by the task's message id, Stripe's idempotency key, or the charge funding
it), never from its amount: two payments after the release of the same amount, whose
transfers' events arrive swapped, each settle their own payment."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url

import escrow
import ledger
import outbox
import ticketing_fsm as tk
from escrow import settlement as escrow_settlement
from escrow import store as escrow_store
from escrow import stripe_events
from liventix.reports import organizer
from tests.cli.runner import liventix
from tests.ticketing_core.support import Gateway, World, charge_of, open_world, pay, request


def _paid(engine: sa.Engine, gateway: Gateway, world: World, key: str, n: int) -> tk.Checkout:
    checkout = tk.start_checkout(engine, gateway, request(world, key, (n,)))
    with engine.begin() as conn:
        assert pay(conn, world, checkout, cause=f"evt-{key}") == "issued"
    return checkout


def _tickets(conn: sa.Connection, order_id: uuid.UUID) -> list[uuid.UUID]:
    return list(
        conn.execute(
            sa.text("SELECT id FROM ticketing.tickets WHERE order_id = :o ORDER BY id"),
            {"o": order_id},
        ).scalars()
    )


def _escrow_id(conn: sa.Connection, world: World) -> uuid.UUID:
    found: uuid.UUID = conn.execute(
        sa.text("SELECT id FROM payments.escrows WHERE org_id = :org"), {"org": world.org}
    ).scalar_one()
    return found


def test_a_season_transfer_pays_exactly_its_tickets(
    engine: sa.Engine, pg_server_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    gateway = Gateway()
    with engine.begin() as conn:
        policy = escrow.Policy(hold_period=timedelta(0), connected_account="acct_1")
        world = open_world(conn, capacities=(10,), prices=(2_500,), policy=policy)
    first = _paid(engine, gateway, world, "k1", 2)
    second = _paid(engine, gateway, world, "k2", 1)
    third = _paid(engine, gateway, world, "k3", 3)
    with engine.begin() as conn:
        assert escrow.refund_payment(
            conn, "re_1", second.payment_intent_id, 2_500, failed=False, cause="evt-re"
        )
        escrow_id = _escrow_id(conn, world)
        # The event is over: released at once (no hold period).
        conn.execute(
            sa.text("UPDATE payments.escrows SET event_ends_at = :t WHERE id = :id"),
            {"t": datetime.now(UTC) - timedelta(minutes=1), "id": escrow_id},
        )
        steps = escrow.release_due(conn)
        assert steps[-1] == (escrow_id, "release_requested")
        released = escrow.get_escrow(conn, escrow_id).released
    with engine.begin() as conn:
        assert escrow.transfer_created(conn, "tr_1", escrow_id, released, cause="transfer.created")
    with engine.begin() as conn:  # Stripe's event after the task's booking: nothing twice
        assert not escrow.transfer_created(conn, "tr_1", escrow_id, released, cause="again")

    with engine.begin() as conn:
        found = organizer.transfer_coverage(conn, "tr_1")
        assert found.settlement_id is not None
        settlement = ledger.get_settlement(conn, found.settlement_id)
        # The release's transfer settles the event's escrow account: sales less the refund.
        assert settlement.amount == found.settled == released == found.amount
        sales = [e for e in found.entries if e.kind == "sale"]
        refunds = [e for e in found.entries if e.kind == "refund"]
        assert {e.payment_id for e in sales} == {
            first.payment_intent_id,
            second.payment_intent_id,
            third.payment_intent_id,
        }
        assert [e.payment_id for e in refunds] == [second.payment_intent_id]
        assert sum(e.amount for e in found.entries) == released
        assert set(found.order_ids) == {first.order_id, second.order_id, third.order_id}
        assert len(found.ticket_ids) == 6
        assert set(found.ticket_ids) == {
            t for c in (first, second, third) for t in _tickets(conn, c.order_id)
        }
        count = conn.execute(sa.text("SELECT count(*) FROM payments.settlements")).scalar_one()
        assert count == 1
        # Every entry of the escrow account but the release is settled, once.
        account = ledger.find_account(conn, world.org, f"escrow:{world.event}:eur")
        assert account is not None
        left = ledger.unsettled_entries(conn, account)
        assert left == [ledger.entry_by_key(conn, world.org, f"escrow:release:{escrow_id}")]

    # A payment after the release is transferred on its own: its own settlement, its order.
    late = tk.start_checkout(engine, gateway, request(world, "k4", (1,)))
    with engine.begin() as conn:
        pay(conn, world, late, cause="evt-k4")
        late_share = int(
            conn.execute(
                sa.text("SELECT gross - platform_fee FROM payments.card_payments WHERE id = :id"),
                {"id": late.payment_intent_id},
            ).scalar_one()
        )
    with engine.begin() as conn:  # Stripe's event: the transfer names its charge
        _transfer_event(conn, "tr_2", escrow_id, late_share, source=late.payment_intent_id)
        found2 = organizer.transfer_coverage(conn, "tr_2")
        assert found2.settled == late_share
        assert found2.order_ids == [late.order_id]
        assert found2.ticket_ids == _tickets(conn, late.order_id)
        assert found2.settlement_id != found.settlement_id

        # The statement shows each transfer with its settlement.
        start = datetime.now(UTC) - timedelta(days=1)
        end = datetime.now(UTC) + timedelta(days=1)
        statement = organizer.organizer_statement(conn, world.org, start=start, end=end)
        shown = {t.transfer_id: (t.amount, t.settlement_id, t.settled) for t in statement.transfers}
        assert shown == {
            "tr_1": (released, found.settlement_id, released),
            "tr_2": (late_share, found2.settlement_id, late_share),
        }
        assert any(table[0] == "Transfers" for table in statement.tables())

    # The operator asks the same from the command line.
    monkeypatch.setenv("DATABASE_URL", pg_server_url)
    monkeypatch.setenv("LIVENTIX_DB_NAME", str(make_url(str(engine.url)).database))
    monkeypatch.setenv("LIVENTIX_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("LIVENTIX_PGDATA", raising=False)
    shown_cli = liventix("ledger", "transfer-coverage", "tr_1", "--json")
    assert shown_cli.exit_code == 0, shown_cli.output
    assert json.loads(shown_cli.stdout)["ticket_ids"] == [str(t) for t in found.ticket_ids]
    listed = liventix("ledger", "settlements", "--org", str(world.org))
    assert listed.exit_code == 0, listed.output
    assert str(found.settlement_id) in listed.stdout and str(found2.settlement_id) in listed.stdout
    missing = liventix("ledger", "transfer-coverage", "tr_missing")
    assert missing.exit_code == 2 and "no transfer tr_missing" in missing.stderr


def test_transfers_in_any_order_settle_what_each_paid(engine: sa.Engine) -> None:
    """A payment after the release is transferred before the release's own transfer is
    booked: each transfer still settles exactly its own entries (decided by what is posted,
    not by the escrow's state), and replays of both change nothing."""
    gateway = Gateway()
    with engine.begin() as conn:
        policy = escrow.Policy(hold_period=timedelta(0), connected_account="acct_1")
        world = open_world(conn, capacities=(10,), prices=(2_500,), policy=policy)
    sold = _paid(engine, gateway, world, "k1", 2)
    with engine.begin() as conn:
        escrow_id = _escrow_id(conn, world)
        conn.execute(
            sa.text("UPDATE payments.escrows SET event_ends_at = :t WHERE id = :id"),
            {"t": datetime.now(UTC) - timedelta(minutes=1), "id": escrow_id},
        )
        escrow.release_due(conn)
        released = escrow.get_escrow(conn, escrow_id).released
    late = _late_paid(engine, gateway, world, "k2")
    with engine.begin() as conn:
        late_share = int(
            conn.execute(
                sa.text("SELECT gross - platform_fee FROM payments.card_payments WHERE id = :id"),
                {"id": late.payment_intent_id},
            ).scalar_one()
        )
    charge = charge_of(late.payment_intent_id)
    for _ in range(2):
        with engine.begin() as conn:
            escrow.transfer_created(
                conn, "tr_late", escrow_id, late_share, cause="late", source_transaction=charge
            )
        with engine.begin() as conn:
            escrow.transfer_created(conn, "tr_rel", escrow_id, released, cause="release")
    with engine.begin() as conn:
        first = organizer.transfer_coverage(conn, "tr_rel")
        second = organizer.transfer_coverage(conn, "tr_late")
        assert (first.order_ids, first.settled) == ([sold.order_id], released)
        assert (second.order_ids, second.settled) == ([late.order_id], late_share)
        count = conn.execute(sa.text("SELECT count(*) FROM payments.settlements")).scalar_one()
        assert count == 2


def _late_paid(engine: sa.Engine, gateway: Gateway, world: World, key: str) -> tk.Checkout:
    """A checkout paid after the escrow's release (its share goes to the payable)."""
    checkout = tk.start_checkout(engine, gateway, request(world, key, (1,)))
    with engine.begin() as conn:
        pay(conn, world, checkout, cause=f"evt-{key}")
    return checkout


def _transfer_event(
    conn: sa.Connection,
    transfer_id: str,
    escrow_id: uuid.UUID,
    amount: int,
    *,
    source: str | None = None,
    idempotency_key: str | None = None,
) -> None:
    """Stripe's `transfer.created` for a transfer escrow asked for, handled as the inbox
    does: funded by the charge of payment `source` when given; `idempotency_key` is the
    key of the API request that made it, as Stripe's events carry it."""
    obj: dict[str, Any] = {
        "id": transfer_id,
        "object": "transfer",
        "amount": amount,
        "currency": "eur",
        "metadata": {escrow.META_ESCROW: str(escrow_id)},
        "source_transaction": None if source is None else charge_of(source),
    }
    event_id = f"evt_{uuid.uuid4().hex[:12]}"
    payload = {
        "id": event_id,
        "object": "event",
        "type": "transfer.created",
        "data": {"object": obj},
        "request": {"id": None, "idempotency_key": idempotency_key},
    }
    stripe_events.transfer_created(
        conn,
        outbox.InboxEvent(
            source="stripe",
            event_id=event_id,
            type="transfer.created",
            payload=payload,
            received_at=datetime.now(UTC),
            attempts=0,
        ),
    )


def _release_now(conn: sa.Connection, world: World) -> tuple[uuid.UUID, int]:
    """End the world's event and release its escrow (no hold period): (escrow, released)."""
    escrow_id = _escrow_id(conn, world)
    conn.execute(
        sa.text("UPDATE payments.escrows SET event_ends_at = :t WHERE id = :id"),
        {"t": datetime.now(UTC) - timedelta(minutes=1), "id": escrow_id},
    )
    escrow.release_due(conn)
    return escrow_id, escrow.get_escrow(conn, escrow_id).released


def _request_id(conn: sa.Connection, escrow_id: uuid.UUID, key: str) -> uuid.UUID:
    """The transfer request escrow recorded under `key` (the task's message id)."""
    found: uuid.UUID = conn.execute(
        sa.text("SELECT id FROM payments.transfer_requests WHERE escrow_id = :e AND key = :k"),
        {"e": escrow_id, "k": key},
    ).scalar_one()
    return found


def _share(conn: sa.Connection, payment_id: str) -> int:
    return int(
        conn.execute(
            sa.text("SELECT gross - platform_fee FROM payments.card_payments WHERE id = :id"),
            {"id": payment_id},
        ).scalar_one()
    )


def _covered(conn: sa.Connection, transfer_id: str) -> tuple[list[uuid.UUID], int]:
    found = organizer.transfer_coverage(conn, transfer_id)
    return found.order_ids, found.settled


def test_late_payments_of_one_amount_swapped_settle_their_own(engine: sa.Engine) -> None:
    """Two payments captured after the release, of the same amount: their transfers'
    `transfer.created` arrive swapped (the second payment's first) and twice each. Each
    settles its own payment's capture, told by the charge funding it (matching by amount
    settled the oldest such capture, the first payment's, for the second's transfer)."""
    gateway = Gateway()
    with engine.begin() as conn:
        policy = escrow.Policy(hold_period=timedelta(0), connected_account="acct_1")
        world = open_world(conn, capacities=(10,), prices=(2_500,), policy=policy)
    sold = _paid(engine, gateway, world, "k1", 2)  # the release carries two tickets' share
    with engine.begin() as conn:
        escrow_id, released = _release_now(conn, world)
    first = _late_paid(engine, gateway, world, "k2")
    second = _late_paid(engine, gateway, world, "k3")
    with engine.begin() as conn:
        share = _share(conn, first.payment_intent_id)
        assert share == _share(conn, second.payment_intent_id) != released
    for _ in range(2):
        with engine.begin() as conn:
            _transfer_event(conn, "tr_second", escrow_id, share, source=second.payment_intent_id)
        with engine.begin() as conn:
            _transfer_event(conn, "tr_first", escrow_id, share, source=first.payment_intent_id)
    with engine.begin() as conn:
        assert _covered(conn, "tr_second") == ([second.order_id], share)
        assert _covered(conn, "tr_first") == ([first.order_id], share)
        # The release's transfer, named by the idempotency key Stripe's event carries.
        release_request = _request_id(conn, escrow_id, "release")
    with engine.begin() as conn:
        _transfer_event(conn, "tr_rel", escrow_id, released, idempotency_key=str(release_request))
    with engine.begin() as conn:
        assert _covered(conn, "tr_rel") == ([sold.order_id], released)
        assert _covered(conn, "tr_second") == ([second.order_id], share)
        count = conn.execute(
            sa.text("SELECT count(*) FROM payments.settlements WHERE org_id = :o"),
            {"o": world.org},
        ).scalar_one()
        assert count == 3


@pytest.mark.parametrize("order", ["events first", "tasks first", "interleaved"])
def test_transfers_settle_the_same_whatever_arrives_first(engine: sa.Engine, order: str) -> None:
    """The release's transfer and a failed refund's return after it (neither funded by a
    charge) and a late payment's transfer, each told to escrow twice: by Stripe's event
    (here carrying no idempotency key) and by the task that asked for it (naming its
    request). Whatever the order, each ends settling exactly what its request pays; an
    event alone that cannot tell the release's transfer from the return's settles nothing
    until the task names it (never a guess)."""
    gateway = Gateway()
    with engine.begin() as conn:
        policy = escrow.Policy(hold_period=timedelta(0), connected_account="acct_1")
        world = open_world(conn, capacities=(10,), prices=(2_500,), policy=policy)
    sold = _paid(engine, gateway, world, "k1", 2)
    refunded = _paid(engine, gateway, world, "k2", 1)
    with engine.begin() as conn:  # refunded before the release; it fails after it
        assert escrow.refund_payment(
            conn, "re_1", refunded.payment_intent_id, 2_500, failed=False, cause="r1"
        )
    with engine.begin() as conn:
        escrow_id, released = _release_now(conn, world)
    late = _late_paid(engine, gateway, world, "k3")
    with engine.begin() as conn:
        assert escrow.refund_payment(
            conn, "re_1", refunded.payment_intent_id, 2_500, failed=True, cause="r2"
        )
    with engine.begin() as conn:
        rows = conn.execute(
            sa.text("""SELECT key, id, amount, source_transaction FROM payments.transfer_requests
                        WHERE escrow_id = :e"""),
            {"e": escrow_id},
        ).all()
    asked = {r.key: r for r in rows}
    assert set(asked) == {"release", late.payment_intent_id, "refund-failed:re_1"}
    names = {"release": "tr_rel", late.payment_intent_id: "tr_late", "refund-failed:re_1": "tr_ret"}
    events = [
        lambda conn, k=k: _transfer_event(
            conn,
            names[k],
            escrow_id,
            asked[k].amount,
            source=late.payment_intent_id if asked[k].source_transaction else None,
        )
        for k in asked
    ]
    tasks = [
        lambda conn, k=k: escrow.transfer_created(
            conn,
            names[k],
            escrow_id,
            asked[k].amount,
            cause="task",
            request_id=asked[k].id,
            source_transaction=asked[k].source_transaction,
        )
        for k in asked
    ]
    steps = {
        "events first": events + tasks,
        "tasks first": tasks + events,
        "interleaved": [x for pair in zip(events, reversed(tasks), strict=True) for x in pair],
    }[order]
    for step in steps:
        with engine.begin() as conn:
            step(conn)
    with engine.begin() as conn:
        orders, settled_amount = _covered(conn, "tr_rel")
        assert (sorted(orders), settled_amount) == (
            sorted([sold.order_id, refunded.order_id]),
            released,
        )
        assert _covered(conn, "tr_late") == ([late.order_id], asked[late.payment_intent_id].amount)
        returned = organizer.transfer_coverage(conn, "tr_ret")
        assert returned.settled == asked["refund-failed:re_1"].amount
        settled = conn.execute(
            sa.text("""SELECT t.id, r.key FROM payments.organizer_transfers t
                         JOIN payments.settlements s ON s.id = t.settlement_id
                         JOIN payments.transfer_requests r ON r.transfer_id = t.id
                        WHERE t.escrow_id = :e
                          AND s.metadata ->> 'transfer_request' = r.id::text"""),
            {"e": escrow_id},
        ).all()
        assert {(r.id, r.key) for r in settled} == {(v, k) for k, v in names.items()}


def test_what_a_transfer_request_pays_is_read_from_its_key() -> None:
    """The kinds a request records (pure: no database)."""
    escrow_id = uuid.UUID(int=7)
    pays = escrow_settlement.transfer_pays
    assert pays(escrow_id, "release") == ("release", f"escrow:release:{escrow_id}")
    assert pays(escrow_id, "refund-failed:re_9") == ("refund_failed", "stripe:refund-failed:re_9")
    assert pays(escrow_id, "pi_123") == ("capture", "stripe:capture:pi_123")


def test_an_unnamed_transfer_is_matched_only_without_doubt() -> None:
    """The last resort for a transfer nothing names: the escrow's only open request no
    charge funds, and only if it asks the transfer's amount; two open requests, or another
    amount, match nothing (pure: no database)."""

    def asked(amount: int) -> escrow_store.TransferRequest:
        return escrow_store.TransferRequest(
            id=uuid.uuid4(),
            escrow_id=uuid.UUID(int=7),
            kind="release",
            entry_id=uuid.uuid4(),
            amount=amount,
            source_transaction=None,
            transfer_id=None,
        )

    one = asked(900)
    sole = escrow_settlement.sole_unfunded
    assert sole([one], 900) == one.id
    assert sole([one], 901) is None
    assert sole([one, asked(900)], 900) is None
    assert sole([], 900) is None

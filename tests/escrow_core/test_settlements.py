"""A transfer to the organizer settles exactly the entries it pays, end to end: a season of
checkouts (tickets issued), a refund, the release and its transfer, a payment after the
release and its own transfer. Finance then asks "which tickets did this transfer pay for?"
in Python and over the statement; a replayed (or reordered) `transfer.created` settles
nothing twice."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url

import escrow
import ledger
import ticketing_fsm as tk
from liventix.reports import organizer
from tests.cli.runner import liventix
from tests.ticketing_core.support import Gateway, World, open_world, pay, request


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
    with engine.begin() as conn:
        assert escrow.transfer_created(conn, "tr_2", escrow_id, late_share, cause="t2")
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
    for _ in range(2):
        with engine.begin() as conn:
            escrow.transfer_created(conn, "tr_late", escrow_id, late_share, cause="late")
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

"""The season demo (`liventix season`): a small season balances, its counts add up, and the
same seed gives the same ledger on two fresh databases."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
import sqlalchemy as sa

import escrow
import outbox
from liventix.database import create_database, database_url, drop_database, make_engine
from liventix.season_demo import SeasonOptions, SeasonSummary, play_season
from outbox.message_types import task_for

TASKS = ("stripe.transfer.requested", "stripe.refund.requested")
SMALL = SeasonOptions(seed=7, orders=60)


@pytest.fixture(autouse=True)
def _restore_tasks() -> Iterator[None]:
    """The season wires the outbox's (process-wide) Stripe tasks: put back the session's."""
    before = {name: task_for(name) for name in TASKS}
    yield
    for name, task in before.items():
        if task is not None:
            outbox.register_task(name, task, replace=True)


def _quiet(line: str) -> None:
    pass


def test_a_small_season_balances_and_adds_up(engine: sa.Engine) -> None:
    summary = play_season(engine, SMALL, out=_quiet)

    assert summary.balanced
    assert summary.totals and all(d == c for d, c in summary.totals.values())
    assert sum(summary.orders.values()) == SMALL.orders
    assert summary.orders.get("paid", 0) > 0 and summary.orders.get("refunded", 0) > 0
    assert summary.orders.get("cancelled", 0) > 0  # expired or failed
    assert summary.tickets.get("checked_in", 0) > 0 and summary.tickets.get("refunded", 0) > 0
    assert summary.released_still_holding == 0
    assert summary.escrows.get("released", 0) > 0
    assert summary.transfers == _released_with_money(engine)
    assert summary.webhooks_delivered > 0 and summary.emails_delivered > 0
    assert summary.stripe_events_posted > SMALL.orders * 0.9
    with engine.connect() as conn:
        # Every delivery and inbox event was done; released escrows hold nothing.
        left = conn.execute(
            sa.text("""SELECT (SELECT count(*) FROM messaging.inbox
                                WHERE status NOT IN ('handled', 'ignored'))
                            + (SELECT count(*) FROM messaging.deliveries
                                WHERE status <> 'succeeded')""")
        ).scalar_one()
        assert left == 0
        emails = conn.execute(
            sa.text("SELECT count(*) FROM messaging.deliveries WHERE channel = 'email'")
        ).scalar_one()
        assert emails == summary.emails_delivered
        for escrow_id in conn.execute(sa.text("SELECT id FROM payments.escrows")).scalars():
            e = escrow.get_escrow(conn, escrow_id)
            if e.state == "released":
                assert e.held == 0
                assert escrow.ledger_escrow_balance(conn, e) == 0
        # Tickets sold match the ticket types' counters.
        sold, valid = conn.execute(
            sa.text("""SELECT (SELECT sum(sold) FROM ticketing.ticket_types),
                              (SELECT count(*) FROM ticketing.tickets
                                WHERE status IN ('issued', 'checked_in'))""")
        ).one()
        assert sold == valid


def _released_with_money(engine: sa.Engine) -> int:
    """Released escrows that had money to transfer (not the cancelled event's)."""
    with engine.connect() as conn:
        count: int = conn.execute(
            sa.text(
                "SELECT count(*) FROM payments.escrows WHERE state = 'released' AND released > 0"
            )
        ).scalar_one()
    return count


def _season_on_fresh_database(pg_server_url: str, template_db: str) -> SeasonSummary:
    name = f"test_season_{uuid.uuid4().hex}"
    create_database(pg_server_url, name, template=template_db)
    engine = make_engine(database_url(pg_server_url, name), pool_size=20, max_overflow=20)
    try:
        return play_season(engine, SeasonOptions(seed=11, orders=40), out=_quiet)
    finally:
        engine.dispose()
        drop_database(pg_server_url, name)


def test_the_same_seed_gives_the_same_ledger(pg_server_url: str, template_db: str) -> None:
    first = _season_on_fresh_database(pg_server_url, template_db)
    second = _season_on_fresh_database(pg_server_url, template_db)
    assert first.balanced and second.balanced
    assert first.fingerprint == second.fingerprint
    assert any(d or c for d, c in first.fingerprint.values())
    assert (first.orders, first.tickets, first.escrows, first.totals) == (
        second.orders,
        second.tickets,
        second.escrows,
        second.totals,
    )

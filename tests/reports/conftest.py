"""A small season for the reports: one organizer's event, three paid orders (one refunded
and booked, one checked in), the Stripe balance transactions that agree with it and the
database's clock between its phases; the CLI pointed at the test's database."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url

import ticketing_fsm as tk
from liventix.testing.stripe import charge_of, stripe_fee
from liventix.testing.stripe import shapes as so
from tests.ticketing_core.support import (
    Gateway,
    World,
    ask_stripe_for_refunds,
    book_refund,
    open_world,
    pay,
    request,
)


@dataclass
class Season:
    """The world, its orders and what Stripe's balance transactions say about it."""

    world: World
    orders: list[uuid.UUID]
    transactions: list[so.StripeObject] = field(default_factory=list)
    marks: dict[str, datetime] = field(default_factory=dict)
    """The database's clock before the season ("start"), between the sales and the refund
    ("sold") and after it ("end"): every entry is effective strictly between two marks."""

    def write_json(self, path: Path) -> Path:
        import json  # noqa: PLC0415

        path.write_text(json.dumps(self.transactions), encoding="utf-8")
        return path


def clock(engine: sa.Engine) -> datetime:
    """The database's clock now, read in a transaction of its own: later than every entry
    committed before, earlier than every entry of a transaction begun after."""
    with engine.connect() as conn:
        now: datetime = conn.execute(sa.text("SELECT clock_timestamp()")).scalar_one()
    return now


@pytest.fixture
def season(engine: sa.Engine) -> Season:
    gateway = Gateway()
    start = clock(engine)
    with engine.begin() as conn:
        world = open_world(conn, capacities=(20,), prices=(2_500,), currency="EUR")
    season = Season(world, [], marks={"start": start})
    for n, quantity in enumerate((2, 1, 3)):
        checkout = tk.start_checkout(engine, gateway, request(world, f"k{n}", (quantity,)))
        with engine.begin() as conn:
            pay(conn, world, checkout)
        season.orders.append(checkout.order_id)
        pi = checkout.payment_intent_id
        fee = stripe_fee(checkout.amount)
        season.transactions.append(
            so.balance_transaction(
                id=f"txn_{pi[3:]}",
                amount=checkout.amount,
                fee=fee,
                currency="eur",
                source=charge_of(pi),
                type="charge",
            )
        )
    season.marks["sold"] = clock(engine)
    with engine.begin() as conn:
        first = tk.tickets_of(conn, season.orders[0])[0]
        tk.refund_tickets(conn, world.org, season.orders[0], [first.id], idempotency_key="r1")
        (scanned,) = tk.tickets_of(conn, season.orders[1])
        tk.check_in(conn, world.org, scanned.code, "door-1")
    with engine.begin() as conn:
        for refund in ask_stripe_for_refunds(conn, gateway):
            book_refund(conn, refund)
            season.transactions.append(
                so.balance_transaction(
                    id=f"txn_{refund.id[3:]}",
                    amount=-refund.amount,
                    fee=0,
                    currency="eur",
                    source=refund.id,
                    type="refund",
                )
            )
    season.marks["end"] = clock(engine)
    return season


@pytest.fixture
def cli_env(
    engine: sa.Engine, pg_server_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[None]:
    """The CLI's settings name the test's database on the test's server."""
    monkeypatch.setenv("DATABASE_URL", pg_server_url)
    monkeypatch.setenv("LIVENTIX_DB_NAME", str(make_url(str(engine.url)).database))
    monkeypatch.setenv("LIVENTIX_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("LIVENTIX_PGDATA", raising=False)
    yield

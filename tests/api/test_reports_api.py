"""Finance's reports and statements over HTTP (`/v1/reports/...`), on a season of their own:
a database cloned for this module, served like the session's API, where two organizers sell
tickets through the API and Stripe (the fake) pays, refunds and keeps balance transactions.

Each report is checked against what the season did (prices, quantities, Stripe's own
balance transactions and fees, the moments between its parts), per organization's key and
for the platform's; each planted difference (made behind the domain's back by a superuser,
then undone) shows in the report's `differences` and its `Report-Differences` header of
that organization only. The Stripe reconciliation, balance sheet and income statement are
the platform's alone; an organization reads its own statement only; bad bodies and moments
are problems."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from fastapi import APIRouter

import ledger
import outbox
import ticketing_fsm
from liventix import reports
from liventix.api import create_app, create_key
from liventix.api.routing import UnitOfWorkRoute
from liventix.api.unit_of_work import Uow
from liventix.api.webhooks import routes as webhook_routes
from liventix.database import create_database, database_url, drop_database, make_engine
from liventix.stripe_gateway import StripeGateway, StripeSettings
from tests.api.support import (
    PLATFORM,
    WEBHOOK_SECRET,
    CheckoutStripe,
    Served,
    new_org,
    ok,
    on_sale_event,
    post,
    send_stripe_event,
    uvicorn_thread,
)

PROBLEMS = "https://liventix.dev/problems/"


@dataclass
class Organizer:
    """One organizer of the season: its key's client, event, orders and what Stripe holds."""

    id: uuid.UUID
    name: str
    client: httpx.Client
    hook: str
    price: int
    event: dict[str, Any] = field(default_factory=dict)
    orders: list[dict[str, Any]] = field(default_factory=list)
    buyers: list[str] = field(default_factory=list)
    transactions: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class Season:
    """The module's API, its two organizers and the platform's client."""

    served: Served
    a: Organizer
    b: Organizer
    platform: httpx.Client
    start: datetime
    """Before the first entry: Alpha's entries are effective in [start, mid), Beta's in
    [mid, end) (the database's clock, which stamps them)."""
    mid: datetime
    end: datetime

    @property
    def transactions(self) -> list[dict[str, Any]]:
        """Every balance transaction Stripe holds for the season."""
        return [*self.a.transactions, *self.b.transactions]


def _sell(served: Served, org: Organizer, quantity: int, stripe_fee: int) -> dict[str, Any]:
    """A checkout of `quantity` tickets, paid on Stripe and handled through the inbox."""
    buyer = f"{org.hook}-{len(org.buyers)}@example.com"
    started = ok(
        post(
            org.client,
            "/v1/checkouts",
            {
                "event_id": org.event["id"],
                "buyer_email": buyer,
                "items": [
                    {"ticket_type_id": org.event["ticket_types"][0]["id"], "quantity": quantity}
                ],
            },
        ),
        201,
    )
    intent = served.stripe.pay(started["payment_intent_id"], fee=stripe_fee)
    assert send_stripe_event(served, "payment_intent.succeeded", intent).status_code == 200
    served.handle_inbox()
    order: dict[str, Any] = ok(org.client.get(f"/v1/orders/{started['order_id']}"))
    assert order["status"] == "paid"
    charge = served.stripe.get(str(intent["latest_charge"]))
    org.transactions.append(served.stripe.get(str(charge["balance_transaction"])))
    org.buyers.append(buyer)
    org.orders.append(order)
    return order


def _organizer(served: Served, name: str, price: int) -> Organizer:
    org_id, key = new_org(served.engine, name)
    org = Organizer(org_id, name, served.client(key), f"reports-{uuid.uuid4().hex[:10]}", price)
    ok(
        post(
            org.client,
            "/v1/webhook-endpoints",
            {"url": served.stripe.hook_url(org.hook), "event_types": ["endpoint.disabled"]},
        ),
        201,
    )
    org.event = on_sale_event(org.client, capacity=10, price=price)
    return org


def _publish(engine: sa.Engine, org: Organizer, count: int) -> None:
    """`count` messages for the organizer's endpoint (left pending: no worker runs)."""
    with engine.begin() as conn:
        for _ in range(count):
            outbox.publish(
                conn,
                type="endpoint.disabled",
                payload=outbox.EndpointDisabled(endpoint_id="x", url="https://x", reason="test"),
                aggregate_type="test",
                aggregate_id=str(uuid.uuid4()),
                org_id=org.id,
            )


def _db_now(engine: sa.Engine) -> datetime:
    with engine.begin() as conn:
        now: datetime = conn.execute(sa.text("SELECT now()")).scalar_one()
    return now


@pytest.fixture(scope="module")
def season(pg_server_url: str, template_db: str, api_stripe: CheckoutStripe) -> Iterator[Season]:
    """Alpha sells 2 + 1 tickets at 25.00, refunds one (booked from Stripe's refund) and
    checks one in; then Beta sells 3 at 40.00. Alpha's endpoint has two pending webhooks,
    Beta's one."""
    name = f"reports_{uuid.uuid4().hex}"
    create_database(pg_server_url, name, template=template_db)
    engine = make_engine(database_url(pg_server_url, name), pool_size=10, max_overflow=10)
    gateway = StripeGateway(StripeSettings(api_base=api_stripe.url, max_network_retries=0))
    handlers = outbox.InboxHandlers()
    # Only the inbox's handlers: the outbox's tasks are registered process-wide by the
    # session's API (`liventix.wiring.wire`), and no task runs here.
    ticketing_fsm.register_stripe_handlers(gateway, handlers)
    try:
        with engine.begin() as conn:
            ledger.open_organization(conn, PLATFORM, "Liventix", is_platform=True)
            platform_key = create_key(conn, None, description="tests: platform").token
        app = create_app(engine, gateway=gateway, stripe_webhook_secret=WEBHOOK_SECRET)
        webhook_routes.allow_targets(app, outbox.parse_allow("127.0.0.1/32"))  # the stand-in
        with uvicorn_thread(app) as url:
            served = Served(url, engine, api_stripe, handlers, platform_key, app)
            a = _organizer(served, "Alpha Hall", 2_500)
            b = _organizer(served, "Beta Club", 4_000)
            start = _db_now(engine)
            first = _sell(served, a, 2, stripe_fee=175)
            second = _sell(served, a, 1, stripe_fee=103)
            # Alpha refunds one ticket of the first order. No worker runs its task: the test
            # plays Stripe's side, refunds the charge and says so.
            refunded = first["tickets"][0]
            ok(
                post(
                    a.client, f"/v1/orders/{first['id']}/refunds", {"ticket_ids": [refunded["id"]]}
                ),
                201,
            )
            intent = api_stripe.get(str(first["payment_intent_id"]))
            refund = api_stripe.add_refund(str(intent["latest_charge"]), a.price)
            assert send_stripe_event(served, "refund.updated", refund).status_code == 200
            served.handle_inbox()
            a.transactions.append(api_stripe.get(str(refund["balance_transaction"])))
            code = second["tickets"][0]["code"]
            ok(post(a.client, "/v1/tickets/check-in", {"code": code, "scanner": "door"}))
            mid = _db_now(engine)
            _sell(served, b, 3, stripe_fee=378)
            end = _db_now(engine)
            _publish(engine, a, 2)
            _publish(engine, b, 1)
            with served.client(platform_key) as platform:
                yield Season(served, a, b, platform, start, mid, end)
            a.client.close()
            b.client.close()
    finally:
        engine.dispose()
        drop_database(pg_server_url, name)


def _report(client: httpx.Client, name: str) -> dict[str, Any]:
    """A report's JSON; its header and body agree on the differences."""
    response = client.get(f"/v1/reports/{name}")
    body: dict[str, Any] = ok(response)
    assert response.headers["content-type"] == "application/json"
    assert body["name"] == name
    assert response.headers["Report-Differences"] == str(body["differences"])
    return body


@contextmanager
def _planted(
    engine: sa.Engine, change: str, undo: str, *, triggers: bool = True, **params: Any
) -> Iterator[None]:
    """A superuser's raw write behind the domain's back (with the triggers off, if asked:
    the ledger's would refuse it), undone after the block."""

    def run(statement: str) -> None:
        with engine.begin() as conn:
            if not triggers:
                conn.execute(sa.text("SET LOCAL session_replication_role = replica"))
            conn.execute(sa.text(statement), params)

    run(change)
    try:
        yield
    finally:
        run(undo)


def _expected_ledger(org: Organizer, refunded: int) -> dict[str, int]:
    """What the organizer's entries booked, from the season's prices and Stripe's figures:
    the default policy takes 5% (returned on refunds), the platform bears Stripe's fees."""
    sold = org.price * sum(len(o["tickets"]) for o in org.orders)
    kept = sold - org.price * refunded
    fee = kept * 5 // 100
    return {
        "escrow": kept - fee,
        "platform_fees": fee,
        "stripe_balance": sum(t["net"] for t in org.transactions),
        "stripe_fees": sum(t["fee"] for t in org.transactions),
    }


# -- trial balance ----------------------------------------------------------------------------


def test_trial_balance_of_each_organization_and_of_the_platform(season: Season) -> None:
    for org, refunded in ((season.a, 1), (season.b, 0)):
        want = _expected_ledger(org, refunded)
        escrow_code = f"escrow:{org.event['id']}:usd"
        mine = _report(org.client, "trial-balance")
        assert {r["org_id"] for r in mine["rows"]} == {str(org.id)}
        # The platform's accounts in the organizer's own entries, unnamed to its key.
        assert sorted((r["code"], r["debit"], r["credit"]) for r in mine["rows"]) == sorted(
            [
                (escrow_code, 0, want["escrow"]),
                ("(platform)", 0, want["platform_fees"]),
                ("(platform)", want["stripe_balance"], 0),
                ("(platform)", want["stripe_fees"], 0),
            ]
        )
        total = want["escrow"] + want["platform_fees"]
        assert total == want["stripe_balance"] + want["stripe_fees"]
        assert mine["totals"] == [{"currency": "USD", "debits": total, "credits": total}]
        assert mine["organizations"] == [
            {
                "org_id": str(org.id),
                "currency": "USD",
                "debits": total,
                "credits": total,
                "difference": 0,
            }
        ]
        assert (mine["balanced"], mine["differences"]) == (True, 0)
        # The ledger's own route answers the same rows and totals (the old shape, kept).
        plain = ok(org.client.get("/v1/trial-balance"))
        assert {k: mine[k] for k in plain} == plain

        everyone = _report(season.platform, "trial-balance")
        theirs = [r for r in everyone["rows"] if r["org_id"] == str(org.id)]
        assert sorted((r["code"], r["debit"], r["credit"]) for r in theirs) == sorted(
            [
                (escrow_code, 0, want["escrow"]),
                ("platform_fees:usd", 0, want["platform_fees"]),
                ("stripe_balance:usd", want["stripe_balance"], 0),
                ("stripe_fees:usd", want["stripe_fees"], 0),
            ]
        )
        assert mine["organizations"][0] in everyone["organizations"]
    assert {o["org_id"] for o in everyone["organizations"]} == {str(season.a.id), str(season.b.id)}
    assert everyone["differences"] == 0


def test_an_unbalanced_entry_is_a_difference_of_its_organization_only(season: Season) -> None:
    escrow_code = f"escrow:{season.b.event['id']}:usd"
    with _planted(
        season.served.engine,
        """UPDATE payments.lines SET amount = amount + 1
            WHERE id = (SELECT min(l.id) FROM payments.lines l
                          JOIN payments.accounts a ON a.id = l.account_id WHERE a.code = :code)""",
        """UPDATE payments.lines SET amount = amount - 1
            WHERE id = (SELECT min(l.id) FROM payments.lines l
                          JOIN payments.accounts a ON a.id = l.account_id WHERE a.code = :code)""",
        triggers=False,
        code=escrow_code,
    ):
        b = _report(season.b.client, "trial-balance")
        # Beta's (organization, currency) and its currency's totals: two differences.
        assert (b["differences"], b["balanced"]) == (2, False)
        assert [o["difference"] for o in b["organizations"]] == [-1]
        assert _report(season.a.client, "trial-balance")["differences"] == 0
        everyone = _report(season.platform, "trial-balance")
        assert everyone["differences"] == 2
        assert {o["org_id"]: o["difference"] for o in everyone["organizations"]} == {
            str(season.a.id): 0,
            str(season.b.id): -1,
        }
    assert _report(season.b.client, "trial-balance")["differences"] == 0


# -- escrow position --------------------------------------------------------------------------


def _escrow_row(org: Organizer, held: int, ledger_balance: int) -> dict[str, Any]:
    return {
        "org_id": str(org.id),
        "organizer": org.name,
        "event_id": org.event["id"],
        "currency": "USD",
        "state": "collecting",
        "escrow_held": held,
        "ledger_balance": ledger_balance,
        "difference": held - ledger_balance,
    }


def test_escrow_position_of_each_organization_and_of_the_platform(season: Season) -> None:
    a_held = _expected_ledger(season.a, 1)["escrow"]
    b_held = _expected_ledger(season.b, 0)["escrow"]
    assert (a_held, b_held) == (4_750, 11_400)
    a = _report(season.a.client, "escrow-position")
    assert (a["differences"], a["rows"]) == (0, [_escrow_row(season.a, a_held, a_held)])
    b = _report(season.b.client, "escrow-position")
    assert (b["differences"], b["rows"]) == (0, [_escrow_row(season.b, b_held, b_held)])
    # What the escrow API says it holds agrees.
    (escrow,) = ok(season.a.client.get("/v1/escrows"))["data"]
    assert escrow["held"] == {"amount": a_held, "currency": "USD"}
    everyone = _report(season.platform, "escrow-position")
    assert everyone["differences"] == 0
    assert sorted(everyone["rows"], key=lambda r: r["organizer"]) == [*a["rows"], *b["rows"]]


def test_an_escrow_off_its_ledger_account_is_a_difference_of_its_organization_only(
    season: Season,
) -> None:
    held = _expected_ledger(season.a, 1)["escrow"]
    with _planted(
        season.served.engine,
        "UPDATE payments.escrows SET held = held + 1 WHERE org_id = :org",
        "UPDATE payments.escrows SET held = held - 1 WHERE org_id = :org",
        org=season.a.id,
    ):
        a = _report(season.a.client, "escrow-position")
        assert (a["differences"], a["rows"]) == (1, [_escrow_row(season.a, held + 1, held)])
        assert _report(season.b.client, "escrow-position")["differences"] == 0
        assert _report(season.platform, "escrow-position")["differences"] == 1
    assert _report(season.a.client, "escrow-position")["differences"] == 0


# -- ticket tie-out ---------------------------------------------------------------------------


def _tie_out_row(
    org: Organizer, *, sold: int, refunded: int, checked_in: int, ledger_refunds: int
) -> dict[str, Any]:
    return {
        "org_id": str(org.id),
        "event_id": org.event["id"],
        "event": org.event["name"],
        "currency": "USD",
        "tickets_sold": sold,
        "tickets_refunded": refunded,
        "tickets_checked_in": checked_in,
        "tickets_sold_value": sold * org.price,
        "ledger_sales": sum(t["amount"] for t in org.transactions if t["amount"] > 0),
        "sales_difference": sold * org.price
        - sum(t["amount"] for t in org.transactions if t["amount"] > 0),
        "tickets_refunded_value": refunded * org.price,
        "ledger_refunds": ledger_refunds,
        "ledger_refunds_without_tickets": 0,
        "refunds_difference": refunded * org.price - ledger_refunds,
    }


def test_ticket_tie_out_of_each_organization_and_of_the_platform(season: Season) -> None:
    refunds = -sum(t["amount"] for t in season.a.transactions if t["amount"] < 0)
    assert refunds == season.a.price
    a_row = _tie_out_row(season.a, sold=3, refunded=1, checked_in=1, ledger_refunds=refunds)
    b_row = _tie_out_row(season.b, sold=3, refunded=0, checked_in=0, ledger_refunds=0)
    assert a_row["sales_difference"] == b_row["sales_difference"] == 0
    a = _report(season.a.client, "ticket-tie-out")
    assert (a["differences"], a["rows"]) == (0, [a_row])
    b = _report(season.b.client, "ticket-tie-out")
    assert (b["differences"], b["rows"]) == (0, [b_row])
    everyone = _report(season.platform, "ticket-tie-out")
    assert (everyone["differences"], everyone["rows"]) == (0, [a_row, b_row])


def test_a_ticket_refunded_without_a_ledger_refund_is_a_difference(season: Season) -> None:
    ticket = season.b.orders[0]["tickets"][0]["id"]
    with _planted(
        season.served.engine,
        "UPDATE ticketing.tickets SET status = 'refunded' WHERE id = :id",
        "UPDATE ticketing.tickets SET status = 'issued' WHERE id = :id",
        id=ticket,
    ):
        b = _report(season.b.client, "ticket-tie-out")
        assert b["differences"] == 1
        assert b["rows"] == [
            _tie_out_row(season.b, sold=3, refunded=1, checked_in=0, ledger_refunds=0)
        ]
        assert b["rows"][0]["refunds_difference"] == season.b.price
        assert _report(season.a.client, "ticket-tie-out")["differences"] == 0
        assert _report(season.platform, "ticket-tie-out")["differences"] == 1
    assert _report(season.b.client, "ticket-tie-out")["differences"] == 0


# -- outbox health ----------------------------------------------------------------------------


def _targets(report: dict[str, Any]) -> dict[tuple[str, str], tuple[int, int, int]]:
    """(channel, target) -> (pending, retrying, dead); the ages depend on the clock."""
    return {
        (r["channel"], r["target"]): (r["pending"], r["retrying"], r["dead"])
        for r in report["rows"]
    }


def test_outbox_health_shows_each_organization_its_own_deliveries(season: Season) -> None:
    reports = {}
    refund_task = ("task", "task:stripe.refund.requested")
    for org, webhooks, tasks in ((season.a, 2, {refund_task}), (season.b, 1, set())):
        report = _report(org.client, "outbox-health")
        found = _targets(report)
        hook = season.served.stripe.hook_url(org.hook)
        # Its endpoint's pending webhooks, its buyers' e-mails, its refund's task: nothing
        # of the other organizer's.
        assert set(found) == {
            ("webhook", hook),
            *(("email", f"email:{buyer}") for buyer in org.buyers),
            *tasks,
        }
        assert found[("webhook", hook)] == (webhooks, 0, 0)
        assert all(retrying == dead == 0 for _p, retrying, dead in found.values())
        assert report["differences"] == 0
        assert report["inbox"] == []  # Stripe's events are the platform's
        reports[org.id] = found
    everyone = _report(season.platform, "outbox-health")
    assert _targets(everyone) == {**reports[season.a.id], **reports[season.b.id]}


def test_dead_and_pending_inbox_events_are_the_platforms_to_see(season: Season) -> None:
    """Stripe's events that the inbox could not handle: the platform's key sees them per
    source and type (a dead one is a difference); an organization's key sees no inbox."""
    with _planted(
        season.served.engine,
        """INSERT INTO messaging.inbox (source, event_id, type, payload, status, attempts)
           VALUES ('stripe', 'evt_dead_report', 'charge.dispute.created', '{}', 'dead', 8),
                  ('stripe', 'evt_retry_report', 'charge.dispute.created', '{}', 'pending', 2),
                  ('stripe', 'evt_new_report', 'refund.updated', '{}', 'pending', 0)""",
        """DELETE FROM messaging.inbox
            WHERE event_id IN ('evt_dead_report', 'evt_retry_report', 'evt_new_report')""",
    ):
        everyone = _report(season.platform, "outbox-health")
        assert everyone["differences"] == 1
        found = {
            (r["source"], r["event_type"]): (r["pending"], r["retrying"], r["dead"])
            for r in everyone["inbox"]
        }
        assert found == {
            ("stripe", "charge.dispute.created"): (0, 1, 1),
            ("stripe", "refund.updated"): (1, 0, 0),
        }
        (dead,) = [r for r in everyone["inbox"] if r["dead"]]
        assert dead["oldest_dead_age_seconds"] is not None
        assert dead["oldest_open_age_seconds"] is not None  # the retrying one
        for org in (season.a, season.b):
            mine = _report(org.client, "outbox-health")
            assert (mine["differences"], mine["inbox"]) == (0, [])
    assert _report(season.platform, "outbox-health")["differences"] == 0


def test_a_dead_delivery_is_a_difference_of_its_organization_only(season: Season) -> None:
    hook = season.served.stripe.hook_url(season.a.hook)
    with _planted(
        season.served.engine,
        """UPDATE messaging.deliveries SET status = 'dead', attempts = 8
            WHERE id = (SELECT min(d.id) FROM messaging.deliveries d
                          JOIN messaging.endpoints e ON e.id = d.endpoint_id WHERE e.url = :url)""",
        """UPDATE messaging.deliveries SET status = 'pending', attempts = 0
            WHERE id = (SELECT min(d.id) FROM messaging.deliveries d
                          JOIN messaging.endpoints e ON e.id = d.endpoint_id WHERE e.url = :url)""",
        url=hook,
    ):
        a = _report(season.a.client, "outbox-health")
        assert a["differences"] == 1
        assert _targets(a)[("webhook", hook)] == (1, 0, 1)
        (row,) = [r for r in a["rows"] if r["target"] == hook]
        assert row["oldest_dead_age_seconds"] is not None
        assert _report(season.b.client, "outbox-health")["differences"] == 0
        assert _report(season.platform, "outbox-health")["differences"] == 1
    assert _report(season.a.client, "outbox-health")["differences"] == 0


# -- Stripe reconciliation --------------------------------------------------------------------


def _reconcile(client: httpx.Client, body: Any, **headers: str) -> httpx.Response:
    return client.post("/v1/reports/stripe-reconciliation", json=body, headers=headers)


def test_stripe_reconciliation_matches_stripes_own_transactions(season: Season) -> None:
    transactions = season.transactions
    nets = sum(t["net"] for t in transactions)
    # As a list, and as Stripe's list object with expanded sources: the same report.
    as_list_object = {
        "object": "list",
        "data": [{**t, "source": {"id": t["source"], "object": "charge"}} for t in transactions],
        "has_more": False,
        "url": "/v1/balance_transactions",
    }
    for body in (transactions, as_list_object):
        response = _reconcile(season.platform, body)
        report = ok(response)
        assert response.headers["Report-Differences"] == "0"
        assert "Idempotency-Replayed" not in response.headers
        assert report["differences"] == 0
        assert (report["matched"], report["missing_in_ledger"], report["missing_in_stripe"]) == (
            4,
            0,
            0,
        )
        assert report["balances"] == [
            {"currency": "USD", "ledger_balance": nets, "stripe_balance": nets, "difference": 0}
        ]
        assert [
            (r["status"], r["stripe_id"], r["source"], r["stripe_net"], r["ledger_net"])
            for r in report["rows"]
        ] == [("matched", t["id"], t["source"], t["net"], t["net"]) for t in transactions]
        assert all(r["entry_id"] for r in report["rows"])


def test_stripe_reconciliation_names_every_difference(season: Season) -> None:
    beta_charge, *_ = season.b.transactions
    alpha_second = season.a.transactions[1]
    stray = {**season.a.transactions[0], "id": "txn_stray_api_0001", "source": "ch_stray_api"}
    fee_off = {**alpha_second, "fee": alpha_second["fee"] + 1, "net": alpha_second["net"] - 1}
    sent = [
        fee_off if t["id"] == alpha_second["id"] else t
        for t in season.transactions
        if t["id"] != beta_charge["id"]
    ] + [stray]
    response = _reconcile(season.platform, sent)
    report = ok(response)
    statuses = {(r["status"], r["stripe_id"] or r["ledger_ref"]) for r in report["rows"]}
    assert statuses == {
        ("matched", season.a.transactions[0]["id"]),
        ("fee_mismatch", alpha_second["id"]),
        ("matched", season.a.transactions[2]["id"]),
        ("missing_in_ledger", stray["id"]),
        ("missing_in_stripe", beta_charge["id"]),
    }
    (mismatch,) = [r for r in report["rows"] if r["status"] == "fee_mismatch"]
    assert (mismatch["stripe_fee"], mismatch["ledger_fee"]) == (
        alpha_second["fee"] + 1,
        alpha_second["fee"],
    )
    ledger_balance = sum(t["net"] for t in season.transactions)
    stripe_balance = sum(t["net"] for t in sent)
    assert report["balances"] == [
        {
            "currency": "USD",
            "ledger_balance": ledger_balance,
            "stripe_balance": stripe_balance,
            "difference": ledger_balance - stripe_balance,
        }
    ]
    # Three transactions and the balance; still 200: the scheduler reads the count.
    assert report["differences"] == 4
    assert response.headers["Report-Differences"] == "4"
    assert (report["fee_mismatches"], report["amount_mismatches"]) == (1, 0)


def test_stripe_reconciliation_is_the_platforms_and_a_read(season: Season) -> None:
    for org in (season.a, season.b):
        refused = _reconcile(org.client, season.transactions)
        assert refused.status_code == 403
        assert refused.headers["content-type"] == "application/problem+json"
        assert refused.json()["type"] == PROBLEMS + "platform-key-required"
    with season.served.client(None) as anonymous:
        assert _reconcile(anonymous, season.transactions).status_code == 401
    # No Idempotency-Key is needed; one given is not a replay key: a read runs again.
    key = f"reconcile-{uuid.uuid4()}"
    first = _reconcile(season.platform, season.transactions, **{"Idempotency-Key": key})
    again = _reconcile(season.platform, season.transactions[:1], **{"Idempotency-Key": key})
    assert (ok(first)["differences"], ok(again)["differences"]) == (0, 4)
    assert "Idempotency-Replayed" not in again.headers
    with season.served.engine.connect() as conn:
        stored = conn.execute(
            sa.text("SELECT count(*) FROM payments.api_idempotency WHERE path LIKE '/v1/reports/%'")
        ).scalar_one()
    assert stored == 0


_ONE = {"id": "txn_bad", "currency": "usd", "amount": 100, "fee": 3, "net": 97}


@pytest.mark.parametrize(
    ("body", "kind", "field"),
    [
        (b"[{", "validation-error", "body"),
        ({"object": "list"}, "validation-error", "body.object.data"),
        ({"data": [_ONE]}, "validation-error", "body.object.object"),
        ("txn_1", "validation-error", "body"),
        ([{**_ONE, "amount": 1.5}], "validation-error", "body.list.0.amount"),
        ([{**_ONE, "amount": "100"}], "validation-error", "body.list.0.amount"),
        ([{**_ONE, "currency": "zzz"}], "validation-error", "body.list.0.currency"),
        ([{k: v for k, v in _ONE.items() if k != "net"}], "validation-error", "body.list.0.net"),
        ([{**_ONE, "created": 10**20}], "validation-error", "body.list.0.created"),
        ([_ONE, {**_ONE, "amount": 5}], "invalid-balance-transactions", None),
    ],
)
def test_bad_balance_transactions_are_problems(
    season: Season, body: Any, kind: str, field: str | None
) -> None:
    if isinstance(body, bytes):
        response = season.platform.post(
            "/v1/reports/stripe-reconciliation",
            content=body,
            headers={"Content-Type": "application/json"},
        )
    else:
        response = _reconcile(season.platform, body)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["type"] == PROBLEMS + kind
    assert problem["instance"] == "/v1/reports/stripe-reconciliation"
    if field is not None:
        assert problem["field"].startswith(field), problem
    else:
        assert problem["balance_transaction_id"] == "txn_bad"


# -- every report ---------------------------------------------------------------------------


REPORTS = ("trial-balance", "escrow-position", "ticket-tie-out", "outbox-health")


@pytest.mark.parametrize("name", REPORTS)
def test_reports_need_a_valid_key(season: Season, name: str) -> None:
    with season.served.client(None) as anonymous:
        refused = anonymous.get(f"/v1/reports/{name}")
    assert refused.status_code == 401
    assert refused.json()["type"] == PROBLEMS + "unauthenticated"
    with season.served.client("lvx_" + "a" * 12 + "_" + "b" * 48) as unknown:
        assert unknown.get(f"/v1/reports/{name}").status_code == 401


def test_every_table_the_reports_read_is_bounded_by_row_level_security(season: Season) -> None:
    """Run every report's builder in one transaction and ask PostgreSQL which tables it
    read (beside those its SQL names, some of which a season without holds never reaches):
    `liventix_app` may read each, only through a policy of its own."""
    # A new server process: its transaction's statistics count only what runs here.
    fresh = sa.create_engine(season.served.engine.url, poolclass=sa.NullPool)
    try:
        with fresh.begin() as conn:
            ledger.trial_balance(conn, season.a.id)
            reports.trial_balance(conn)
            reports.escrow_position(conn)
            reports.ticket_tie_out(conn)
            # What an organization's key gets: the inbox (the platform's) is not read for it.
            reports.outbox_health(conn, inbox=False)
            reports.stripe_reconciliation(conn, reports.parse_json(json.dumps(season.transactions)))
            reports.balance_sheet(conn, as_of=season.end)
            reports.income_statement(conn, start=season.start, end=season.end)
            reports.organizer_statement(conn, season.a.id, start=season.start, end=season.end)
            read = set(
                conn.execute(
                    sa.text("""SELECT schemaname || '.' || relname FROM pg_stat_xact_user_tables
                                WHERE seq_scan + coalesce(idx_scan, 0) > 0""")
                ).scalars()
            )
            named = {
                "payments.lines",
                "payments.accounts",
                "payments.entries",
                "payments.organizations",
                "payments.escrows",
                "payments.card_payments",
                "payments.card_refunds",
                "payments.holds",
                "payments.hold_resolutions",
                "ticketing.events",
                "ticketing.tickets",
                "messaging.deliveries",
                "messaging.endpoints",
            }
            bounded = set(
                conn.execute(
                    sa.text("""SELECT p.schemaname || '.' || p.tablename
                                 FROM pg_policies p
                                 JOIN pg_namespace n ON n.nspname = p.schemaname
                                 JOIN pg_class c
                                   ON c.relnamespace = n.oid AND c.relname = p.tablename
                                WHERE c.relrowsecurity AND 'liventix_app' = ANY (p.roles)""")
                ).scalars()
            )
            unreadable = {
                t
                for t in read | named
                if not conn.execute(
                    sa.text("SELECT has_table_privilege('liventix_app', :t, 'SELECT')"), {"t": t}
                ).scalar_one()
            }
    finally:
        fresh.dispose()
    assert named - {"payments.hold_resolutions"} <= read  # the statistics do see them
    assert unreadable == set()
    assert read | named <= bounded, (read | named) - bounded


def test_reports_read_one_snapshot_and_write_nothing(season: Season) -> None:
    """The unit of work behind the reports: REPEATABLE READ, READ ONLY, under the key's role;
    a read-only POST needs no Idempotency-Key; a write in it is refused by the database."""
    router = APIRouter(prefix="/v1", route_class=UnitOfWorkRoute)

    def settings(uow: Uow) -> dict[str, str]:
        with uow:
            return {
                name: str(uow.conn.execute(sa.text(f"SHOW {name}")).scalar_one())
                for name in ("transaction_isolation", "transaction_read_only", "role")
            }

    router.add_api_route("/probe", settings, methods=["GET"])
    router.add_api_route(
        "/probe/read-only", settings, methods=["POST"], openapi_extra={"x-read-only": True}
    )

    @router.post("/probe/write", openapi_extra={"x-read-only": True})
    def write(uow: Uow) -> dict[str, str]:
        with uow:
            uow.conn.execute(sa.text("CREATE TEMPORARY TABLE scratch (i int)"))
            return {}

    app = create_app(season.served.engine, gateway=None, stripe_webhook_secret=None)
    app.include_router(router)
    auth = {"Authorization": f"Bearer {season.a.client.headers['Authorization'][7:]}"}
    with uvicorn_thread(app) as url, httpx.Client(base_url=url, headers=auth) as client:
        assert ok(client.get("/v1/probe")) == {
            "transaction_isolation": "read committed",
            "transaction_read_only": "off",
            "role": "liventix_app",
        }
        assert ok(client.post("/v1/probe/read-only")) == {
            "transaction_isolation": "repeatable read",
            "transaction_read_only": "on",
            "role": "liventix_app",
        }
        refused = client.post("/v1/probe/write")
        assert refused.status_code == 500
        assert refused.json()["type"] == PROBLEMS + "internal-error"
        # The connection went back to the pool as it came: the next request reads committed.
        for _ in range(3):
            assert ok(client.get("/v1/probe"))["transaction_read_only"] == "off"


# -- the statements -------------------------------------------------------------------------


def _params(**moments: datetime) -> dict[str, str]:
    return {name.rstrip("_"): moment.isoformat() for name, moment in moments.items()}


def _statement(client: httpx.Client, path: str, **moments: datetime) -> dict[str, Any]:
    response = client.get(f"/v1/reports/{path}", params=_params(**moments))
    body: dict[str, Any] = ok(response)
    assert response.headers["Report-Differences"] == str(body["differences"])
    return body


def _sheet_owner(
    scope: str,
    org_id: Any,
    *,
    assets: int = 0,
    liabilities: int = 0,
    revenue: int = 0,
    expense: int = 0,
) -> dict[str, Any]:
    retained = revenue - expense
    return {
        "scope": scope,
        "org_id": str(org_id),
        "currency": "USD",
        "assets": assets,
        "liabilities": liabilities,
        "equity": 0,
        "revenue": revenue,
        "expense": expense,
        "retained_earnings": retained,
        "net": assets - liabilities - retained,
    }


def _platform_owner(*booked: dict[str, int]) -> dict[str, Any]:
    return _sheet_owner(
        "Liventix (platform)",
        PLATFORM,
        assets=sum(b["stripe_balance"] for b in booked),
        revenue=sum(b["platform_fees"] for b in booked),
        expense=sum(b["stripe_fees"] for b in booked),
    )


def test_balance_sheet_by_effective_date(season: Season) -> None:
    a, b = _expected_ledger(season.a, 1), _expected_ledger(season.b, 0)
    alpha = _sheet_owner(season.a.name, season.a.id, liabilities=a["escrow"])
    beta = _sheet_owner(season.b.name, season.b.id, liabilities=b["escrow"])

    now = _statement(season.platform, "balance-sheet")  # as of now: the whole season
    assert now["owners"] == [_platform_owner(a, b), alpha, beta]
    assert sum(o["net"] for o in now["owners"]) == 0
    (total,) = now["totals"]
    assert (total["assets"], total["liabilities"], total["difference"]) == (
        a["stripe_balance"] + b["stripe_balance"],
        a["escrow"] + b["escrow"],
        0,
    )
    assert now["differences"] == 0
    assert {(x["code"], x["balance"]) for x in now["lines"] if x["org_id"] == str(season.b.id)} == {
        (f"escrow:{season.b.event['id']}:usd", b["escrow"])
    }

    before_beta = _statement(season.platform, "balance-sheet", as_of=season.mid)
    assert before_beta["owners"] == [_platform_owner(a), alpha]
    assert before_beta["differences"] == 0
    before_all = _statement(season.platform, "balance-sheet", as_of=season.start)
    assert (before_all["totals"], before_all["owners"], before_all["lines"]) == ([], [], [])


def test_income_statement_by_period(season: Season) -> None:
    a, b = _expected_ledger(season.a, 1), _expected_ledger(season.b, 0)
    for start, end, booked, moved in (
        # Every entry's debits: the captures' gross, and what was refunded.
        (season.start, season.mid, [a], 3 * season.a.price + season.a.price),
        (season.mid, season.end, [b], 3 * season.b.price),
    ):
        report = _statement(season.platform, "income-statement", from_=start, to=end)
        revenue = sum(x["platform_fees"] for x in booked)
        expense = sum(x["stripe_fees"] for x in booked)
        assert report["owners"] == [
            {
                "scope": "Liventix (platform)",
                "org_id": str(PLATFORM),
                "currency": "USD",
                "revenue": revenue,
                "expense": expense,
                "net_income": revenue - expense,
            }
        ]
        assert report["totals"] == [
            {
                "currency": "USD",
                "revenue": revenue,
                "expense": expense,
                "net_income": revenue - expense,
                "debits": moved,
                "credits": moved,
                "difference": 0,
            }
        ]
        assert report["differences"] == 0
    # No period: the 30 days up to now, the whole season.
    whole = _statement(season.platform, "income-statement")
    assert whole["owners"][0]["revenue"] == a["platform_fees"] + b["platform_fees"]
    assert whole["start"] < season.start.isoformat()


def _movement(category: str, entries: int = 0, escrow: int = 0) -> dict[str, Any]:
    return {
        "currency": "USD",
        "category": category,
        "entries": entries,
        "escrow": escrow,
        "payable": 0,
        "receivable": 0,
        "total": escrow,
    }


def test_organizer_statement_of_alpha(season: Season) -> None:
    price, sold, refunded = season.a.price, 3, 1
    held = _expected_ledger(season.a, refunded)["escrow"]
    fee = sold * price * 5 // 100
    mine = _statement(
        season.a.client,
        f"organizers/{season.a.id}/statement",
        from_=season.start,
        to=season.end,
    )
    assert (mine["organizer"], mine["org_id"], mine["differences"]) == (
        season.a.name,
        str(season.a.id),
        0,
    )
    assert mine["balances"] == [
        {"currency": "USD", "kind": "escrow", "opening": 0, "movements": held, "closing": held},
        {"currency": "USD", "kind": "payable", "opening": 0, "movements": 0, "closing": 0},
        {"currency": "USD", "kind": "receivable", "opening": 0, "movements": 0, "closing": 0},
        {"currency": "USD", "kind": "total", "opening": 0, "movements": held, "closing": held},
    ]
    refund_fee = refunded * price * 5 // 100  # the platform's fee goes back with the refund
    assert mine["movements"] == [
        _movement("sales", 2, sold * price - fee),
        _movement("refunds", 1, -(refunded * price - refund_fee)),
        *(
            _movement(c)
            for c in (
                "disputes",
                "releases",
                "transfers",
                "transfer_reversals",
                "cancellations",
                "other",
            )
        ),
    ]
    assert mine["sales"] == [
        {
            "currency": "USD",
            "captures": 2,
            "gross": sold * price,
            "platform_fee": fee,
            "stripe_fee": sum(t["fee"] for t in season.a.transactions),
            "stripe_fee_borne": 0,  # the platform bears Stripe's fee by default
            "organizer_share": sold * price - fee,
            "ledger_sales": sold * price - fee,  # what the sales moved: tied out
            "difference": 0,
        }
    ]
    assert mine["tie_out"] == [
        {
            "currency": "USD",
            "code": f"escrow:{season.a.event['id']}:usd",
            "kind": "escrow",
            "opening": 0,
            "movements": held,
            "closing": held,
            "ledger_closing": held,
            "difference": 0,
        }
    ]
    # The platform's key reads the same statement.
    assert (
        _statement(
            season.platform,
            f"organizers/{season.a.id}/statement",
            from_=season.start,
            to=season.end,
        )
        == mine
    )


def test_organizer_statement_periods_of_beta(season: Season) -> None:
    path = f"organizers/{season.b.id}/statement"
    before = _statement(season.b.client, path, from_=season.start, to=season.mid)
    assert (before["balances"], before["movements"], before["sales"], before["tie_out"]) == (
        [],
        [],
        [],
        [],
    )
    held = _expected_ledger(season.b, 0)["escrow"]
    for period in ({"from_": season.mid, "to": season.end}, {}):  # no period: the last 30 days
        after = _statement(season.b.client, path, **period)
        assert after["balances"][-1] == {
            "currency": "USD",
            "kind": "total",
            "opening": 0,
            "movements": held,
            "closing": held,
        }
        assert after["movements"][0] == _movement("sales", 1, held)
        assert after["differences"] == 0
    later = _statement(season.b.client, path, from_=season.end, to=season.end + timedelta(days=1))
    assert later["balances"][-1]["opening"] == later["balances"][-1]["closing"] == held
    assert later["movements"][0] == _movement("sales")


def test_statements_and_their_tenancy(season: Season) -> None:
    for org in (season.a, season.b):
        for path in ("balance-sheet", "income-statement"):
            refused = org.client.get(f"/v1/reports/{path}")
            assert refused.status_code == 403, path
            assert refused.json()["type"] == PROBLEMS + "platform-key-required"
    # An organization asks for its own statement only: another's is not found, exactly as
    # one that does not exist.
    theirs = season.a.client.get(f"/v1/reports/organizers/{season.b.id}/statement")
    nobody = season.a.client.get(f"/v1/reports/organizers/{uuid.uuid4()}/statement")
    unknown = season.platform.get(f"/v1/reports/organizers/{uuid.uuid4()}/statement")
    for refused in (theirs, nobody, unknown):
        assert refused.status_code == 404
        assert refused.headers["content-type"] == "application/problem+json"
        assert refused.json()["type"] == PROBLEMS + "organization-not-found"
    assert season.b.name not in theirs.text
    assert ok(season.b.client.get(f"/v1/reports/organizers/{season.b.id}/statement"))


@pytest.mark.parametrize(
    ("path", "params", "kind", "field"),
    [
        (
            "income-statement",
            {"from": "2026-02-01T00:00:00Z", "to": "2026-01-01T00:00:00Z"},
            "invalid-period",
            None,
        ),
        (
            "income-statement",
            {"from": "2026-01-01T00:00:00Z", "to": "2026-01-01T00:00:00Z"},
            "invalid-period",
            None,
        ),
        ("income-statement", {"from": "2026-01-01T00:00:00"}, "validation-error", "query.from"),
        ("income-statement", {"to": "yesterday"}, "validation-error", "query.to"),
        ("balance-sheet", {"as_of": "1700000000"}, "validation-error", "query.as_of"),
        (
            "organizers/{a}/statement",
            {"to": "2026-01-01T00:00:00Z", "from": "2026-03-01T00:00:00+01:00"},
            "invalid-period",
            None,
        ),
        ("organizers/{a}/statement", {"from": "2026-01-01"}, "validation-error", "query.from"),
    ],
)
def test_bad_moments_are_problems(
    season: Season, path: str, params: dict[str, str], kind: str, field: str | None
) -> None:
    response = season.platform.get(f"/v1/reports/{path.format(a=season.a.id)}", params=params)
    assert response.status_code == 422, response.text
    problem = response.json()
    assert problem["type"] == PROBLEMS + kind
    if field is not None:
        assert problem["field"] == field
    else:
        assert set(problem) >= {"start", "end"}


def test_a_line_dated_apart_from_its_entry_is_a_difference_in_every_statement(
    season: Season,
) -> None:
    """Alpha's first sale's escrow line is moved to 2999 (its entry stays in the season)."""
    first_sale = 2 * season.a.price - 2 * season.a.price * 5 // 100
    line = """(SELECT min(l.id) FROM payments.lines l
                 JOIN payments.accounts a ON a.id = l.account_id WHERE a.code = :code)"""
    with _planted(
        season.served.engine,
        f"UPDATE payments.lines SET effective_at = '2999-01-01Z' WHERE id = {line}",
        f"""UPDATE payments.lines l SET effective_at = e.effective_at FROM payments.entries e
             WHERE e.id = l.entry_id AND l.id = {line}""",
        triggers=False,
        code=f"escrow:{season.a.event['id']}:usd",
    ):
        path = f"organizers/{season.a.id}/statement"
        alpha = _statement(season.a.client, path, from_=season.start, to=season.end)
        assert alpha["differences"] == 1
        (tie_out,) = alpha["tie_out"]
        assert (tie_out["closing"] - tie_out["ledger_closing"], tie_out["difference"]) == (
            first_sale,
            first_sale,
        )
        beta = _statement(season.b.client, f"organizers/{season.b.id}/statement")
        assert beta["differences"] == 0
        sheet = _statement(season.platform, "balance-sheet", as_of=season.end)
        assert (sheet["differences"], sheet["totals"][0]["difference"]) == (1, first_sale)
        income = _statement(season.platform, "income-statement", from_=season.start, to=season.end)
        assert (income["differences"], income["totals"][0]["difference"]) == (1, first_sale)
    restored = _statement(season.a.client, f"organizers/{season.a.id}/statement")
    assert restored["differences"] == 0

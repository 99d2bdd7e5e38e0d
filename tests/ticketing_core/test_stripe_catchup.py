"""Stripe's events caught up from Stripe's own list when their webhooks never arrive (issue 11,
promise 9): `liventix.stripe_catchup` reads `GET /v1/events` from the stand-in over HTTP (the
application's gateway, the stripe library) into the inbox, keyed as webhooks are, and the
inbox's handlers process them as they do webhooks.

The headline: a buyer pays within the hold, the sweeper's cancel is refused (the intent
succeeded), and `payment_intent.succeeded` is never delivered: after a catch-up and the
worker the tickets are issued and escrow credited. The same end state whatever the order of
the catch-up and a late webhook, duplicates included; a refund's events lost likewise; a read
interrupted by Stripe resumes from the cursor; a malformed item is skipped and counted; the
worker (`liventix worker --once`, a real process) reads when its interval is due.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url

import outbox
import ticketing_fsm as tk
from liventix import reports
from liventix.stripe_catchup import (
    TAKEN_OVER,
    CatchUpReport,
    CatchUpStep,
    catch_up,
    handled_types,
)
from liventix.stripe_gateway import StripeGateway, StripeSettings
from liventix.testing.stripe import Recorded, StripeObject
from tests.ticketing_core.cancels import run_cancel_tasks
from tests.ticketing_core.support import (
    Gateway,
    World,
    checkout_two,
    counters,
    drain,
    statuses,
    ticketing_handlers,
)
from tests.ticketing_core.test_cancel_first import (
    PAID_IN_TIME,
    _check_all,
    _end_state,
    _liventix,
)
from tests.ticketing_core.test_paid_within_hold import _hold_ended


def _paid_in_time_and_refused(
    engine: sa.Engine, gateway: Gateway, world: World
) -> tuple[tk.Checkout, StripeObject]:
    """A checkout paid at Stripe 30 s before its hold ended (a minute ago), swept, the cancel
    refused (succeeded): its `payment_intent.succeeded` (returned) is in Stripe's log only."""
    checkout = checkout_two(engine, gateway, world, "k1")
    paid = gateway.account.succeed(checkout.payment_intent_id)
    ended = _hold_ended(engine, checkout.order_id, timedelta(minutes=1))
    paid = gateway.account.backdate_event(str(paid["id"]), ended - 30)
    with engine.begin() as conn:
        assert tk.expire_holds(conn) == 1
    assert run_cancel_tasks(engine, gateway.stripe) == 1
    assert gateway.intents[checkout.payment_intent_id].status == "succeeded"
    with engine.connect() as conn:
        assert tk.get_order(conn, checkout.order_id).status == "awaiting_payment"
        assert (counters(conn, world.ga).held, counters(conn, world.ga).sold) == (2, 0)
    return checkout, paid


def _catch_up(engine: sa.Engine, gateway: Gateway, **options: object) -> CatchUpReport:
    return catch_up(engine, gateway.stripe, types=handled_types(gateway.stripe), **options)  # type: ignore[arg-type]


def _deliver(engine: sa.Engine, event: StripeObject) -> bool:
    """The webhook, late: stored as the endpoint stores a verified event."""
    with engine.begin() as conn:
        return outbox.store_event(conn, "stripe", str(event["id"]), str(event["type"]), event)


def _inbox(engine: sa.Engine) -> list[tuple[str, str, str]]:
    with engine.connect() as conn:
        rows = conn.execute(
            sa.text("SELECT event_id, type, status FROM messaging.inbox ORDER BY event_id")
        ).all()
    return [(r.event_id, r.type, r.status) for r in rows]


def _tie_out_differences(engine: sa.Engine) -> list[tuple[int, int]]:
    with engine.connect() as conn:
        rows = reports.ticket_tie_out(conn).rows
    return [(r.sales_difference, r.refunds_difference) for r in rows]


# -- the headline --------------------------------------------------------------------------


def test_an_in_time_payment_never_delivered_is_caught_up(
    engine: sa.Engine, gateway: Gateway, world: World
) -> None:
    checkout, paid = _paid_in_time_and_refused(engine, gateway, world)
    handlers = ticketing_handlers(gateway)
    assert drain(engine, handlers) == []  # nothing delivered: nothing to handle
    report = _catch_up(engine, gateway)
    assert (report.ran, report.pages, report.new, report.duplicates, report.skipped) == (
        True,
        1,
        1,
        0,
        0,
    )
    assert report.interrupted is None
    assert report.caught_up_to == paid["created"]
    assert _inbox(engine) == [(paid["id"], "payment_intent.succeeded", "pending")]
    assert drain(engine, handlers) == ["handled"]
    assert _end_state(engine, world, checkout) == PAID_IN_TIME
    with engine.connect() as conn:
        assert tk.get_order(conn, checkout.order_id).paid == 5_000
        assert set(statuses(conn, checkout.order_id)) == {"issued"}
    assert _tie_out_differences(engine) == [(0, 0)]
    _check_all(engine)


# -- any order, duplicates included (promise 9) ---------------------------------------------


@pytest.mark.parametrize(
    "steps", ["catch-up,webhook", "webhook,catch-up", "catch-up,catch-up", "webhook,webhook"]
)
def test_the_catch_up_and_the_late_webhook_end_alike_in_any_order(
    engine: sa.Engine, gateway: Gateway, world: World, steps: str
) -> None:
    checkout, paid = _paid_in_time_and_refused(engine, gateway, world)
    handlers = ticketing_handlers(gateway)
    stored = []
    for step in steps.split(","):
        if step == "webhook":
            stored.append(_deliver(engine, paid))
        else:
            report = _catch_up(engine, gateway)
            stored.append(report.new == 1)
            assert report.new + report.duplicates == 1
        drain(engine, handlers)
    assert stored == [True, False]  # the second, whichever it is, a duplicate
    assert _inbox(engine) == [(paid["id"], "payment_intent.succeeded", "handled")]
    assert _end_state(engine, world, checkout) == PAID_IN_TIME
    assert _tie_out_differences(engine) == [(0, 0)]
    _check_all(engine)


def test_a_refund_whose_events_never_arrive_is_caught_up(
    engine: sa.Engine, gateway: Gateway, world: World
) -> None:
    """A paid order (its payment delivered), then refunded in Stripe's Dashboard: the
    refund's `refund.updated` and `charge.refunded` are never delivered. The catch-up brings
    them (the payment's event a duplicate) and the worker refunds the order."""
    handlers = ticketing_handlers(gateway)
    checkout = checkout_two(engine, gateway, world, "k1")
    _deliver(engine, gateway.account.succeed(checkout.payment_intent_id))
    assert drain(engine, handlers) == ["handled"]
    refund = gateway.account.create_refund(
        payment_intent_id=checkout.payment_intent_id,
        amount=5_000,
        metadata={},
        idempotency_key="dashboard",
    )
    lost = gateway.account.refund_events(refund, stale_first=False, with_charge=True)
    report = _catch_up(engine, gateway)
    assert (report.new, report.duplicates) == (len(lost), 1)
    assert set(drain(engine, handlers)) == {"handled"}
    with engine.connect() as conn:
        order = tk.get_order(conn, checkout.order_id)
        assert (order.status, order.refunded) == ("refunded", 5_000)
        assert set(statuses(conn, checkout.order_id)) == {"refunded"}
    assert _catch_up(engine, gateway).new == 0  # again: nothing new, nothing moves
    assert drain(engine, handlers) == []
    assert _tie_out_differences(engine) == [(0, 0)]
    _check_all(engine)


# -- paging, resuming, skipping ---------------------------------------------------------------


def _payouts(gateway: Gateway, base: int, n: int) -> list[StripeObject]:
    """`n` payout events Stripe created at base, base + 1, ... (never delivered)."""
    return [
        gateway.account.backdate_event(str(gateway.account.payout("EUR", 100 + i)["id"]), base + i)
        for i in range(n)
    ]


def _base(engine: sa.Engine) -> int:
    with engine.connect() as conn:
        return int(
            conn.execute(sa.text("SELECT extract(epoch FROM now())::bigint - 3600")).scalar_one()
        )


def test_a_read_pages_through_stripes_list(engine: sa.Engine, gateway: Gateway) -> None:
    events = _payouts(gateway, _base(engine), 5)
    report = _catch_up(engine, gateway, page_size=2)
    assert (report.pages, report.new, report.duplicates, report.interrupted) == (3, 5, 0, None)
    assert {e for e, _, _ in _inbox(engine)} == {str(e["id"]) for e in events}
    assert report.caught_up_to == events[-1]["created"]
    # The next read starts at the cursor less the overlap (5 minutes): all five again.
    again = _catch_up(engine, gateway, page_size=2)
    assert (again.start, again.new, again.duplicates) == (events[-1]["created"] - 300, 0, 5)


def test_an_event_listed_late_within_the_overlap_is_caught(
    engine: sa.Engine, gateway: Gateway
) -> None:
    """Stripe's list is by `created` and eventually consistent: an event created a minute
    before the newest already read shows up in the list only after that read. The next read
    takes the 5 minutes before the cursor again and finds it; the cursor does not go back."""
    base = _base(engine)
    read = _payouts(gateway, base, 3)
    first = _catch_up(engine, gateway)
    assert (first.new, first.caught_up_to) == (3, base + 2)
    late = _payouts(gateway, base + 2 - 60, 1)[0]  # logged after the read, created before
    assert str(late["id"]) not in {e for e, _, _ in _inbox(engine)}
    second = _catch_up(engine, gateway)
    assert (second.new, second.duplicates, second.caught_up_to) == (1, 3, base + 2)
    assert {e for e, _, _ in _inbox(engine)} == {str(e["id"]) for e in [*read, late]}


def test_a_read_interrupted_by_stripe_resumes_from_the_cursor(
    engine: sa.Engine, gateway: Gateway
) -> None:
    base = _base(engine)
    events = _payouts(gateway, base, 5)
    gateway.account.fail_list("/v1/events", after=1)  # page 2 answers 500
    first = _catch_up(engine, gateway, page_size=2)
    assert (first.pages, first.new, first.caught_up_to) == (1, 2, None)
    assert first.interrupted is not None and "outage" in first.interrupted
    # The newest two stored, with the cursor: the read got down to base + 3.
    assert {e for e, _, _ in _inbox(engine)} == {str(e["id"]) for e in events[3:]}
    with engine.connect() as conn:
        cursor = conn.execute(
            sa.text("SELECT walk_below, walk_top, caught_up_to FROM messaging.inbox_cursors")
        ).one()
    assert tuple(cursor) == (base + 3, base + 4, None)
    seen = len(gateway.account.requests("GET", "/v1/events"))
    second = _catch_up(engine, gateway, page_size=2)
    # Resumed at and below base + 3 (that second again), not from the newest.
    asked = gateway.account.requests("GET", "/v1/events")[seen]
    assert asked.query.get("created[lte]") == str(base + 3)
    assert (second.new, second.duplicates, second.interrupted) == (3, 1, None)
    assert second.caught_up_to == base + 4
    assert {e for e, _, _ in _inbox(engine)} == {str(e["id"]) for e in events}


def test_a_read_from_a_later_moment_does_not_move_a_cursor_never_caught_up(
    engine: sa.Engine, gateway: Gateway
) -> None:
    """`--since` an hour ago on a cursor no read has finished: the events since are stored,
    but the cursor stays unset (the 29 days before were not read), so the next read still
    starts as far back as Stripe lists and finds the older event."""
    base = _base(engine)  # an hour ago
    older = gateway.account.backdate_event(
        str(gateway.account.payout("EUR", 100)["id"]), base - 86_400
    )
    recent = _payouts(gateway, base, 2)
    since = _catch_up(engine, gateway, since=base)
    assert (since.new, since.caught_up_to) == (2, None)
    whole = _catch_up(engine, gateway)
    assert (whole.new, whole.duplicates, whole.caught_up_to) == (1, 2, recent[-1]["created"])
    assert str(older["id"]) in {e for e, _, _ in _inbox(engine)}


def test_a_malformed_event_is_skipped_and_counted(
    engine: sa.Engine, gateway: Gateway, caplog: pytest.LogCaptureFixture
) -> None:
    base = _base(engine)
    good = _payouts(gateway, base, 2)
    bad: list[StripeObject] = [
        {
            "id": "evt_no_object",
            "object": "event",
            "type": "payout.paid",
            "created": base + 1,
            "data": {"object": "po_123"},
        },
        {
            "id": "evt_no_created",
            "object": "event",
            "type": "payout.paid",
            "created": base + 0.5,
            "data": {"object": {"id": "po_1", "object": "payout"}},
        },
        {
            "id": "evt_nul",
            "object": "event",
            "type": "payout.paid",
            "created": base,
            "data": {"object": {"id": "po_\u0000", "object": "payout"}},
        },
    ]
    for item in bad:
        gateway.account.log_event(item)
    with caplog.at_level(logging.WARNING, logger="liventix.stripe_catchup"):
        report = _catch_up(engine, gateway, page_size=2)
    assert (report.new, report.skipped, report.interrupted) == (2, 3, None)
    assert {e for e, _, _ in _inbox(engine)} == {str(e["id"]) for e in good}
    skipped = [r.getMessage() for r in caplog.records if "skipped" in r.getMessage()]
    assert len(skipped) == 3 and all(any(b["id"] in m for b in bad) for m in skipped)
    assert report.caught_up_to == base + 1


def test_a_slow_stripe_fails_the_read_within_the_gateways_timeout(
    engine: sa.Engine, gateway: Gateway
) -> None:
    """A list that hangs past the gateway's bounded timeout stops the read (nothing stored,
    no transaction left open); the next read stores everything."""
    _payouts(gateway, _base(engine), 1)
    gateway.account.fail_list("/v1/events", hang=True)
    impatient = StripeGateway(
        StripeSettings(api_base=gateway.account.url, max_network_retries=0, timeout_s=0.5)
    )
    slow = catch_up(engine, impatient, types=handled_types(impatient))
    assert (slow.pages, slow.new, slow.interrupted is not None) == (0, 0, True)
    assert _inbox(engine) == []
    assert _catch_up(engine, gateway).new == 1


def _done(engine: sa.Engine, gateway: Gateway) -> CatchUpReport:
    """Reads until one is not interrupted (an outage planned for another read may remain)."""
    for _ in range(3):
        report = _catch_up(engine, gateway)
        if report.interrupted is None:
            return report
    raise AssertionError("three reads interrupted")


def test_two_reads_from_one_start_never_mix_on_the_cursor(
    engine: sa.Engine, gateway: Gateway
) -> None:
    """Review1's M1: a worker's read A (page 1 stored, page 2 asked) and an operator's read B
    (`--since`, the same start) at once, then a Stripe outage. B's claim takes the cursor
    over: A's page 2 is stored but moves the cursor no more and A stops; B's walk is resumed,
    so the events created while A read (between A's newest and B's oldest) are read. With
    the reads' pages mixed in one walk (A's oldest under B's newest) the cursor moved past
    them and no read ever listed them."""
    base = _base(engine)
    _payouts(gateway, base - 1000, 1)
    assert _catch_up(engine, gateway).caught_up_to == base - 1000
    start = base - 1000 - 300
    olds = _payouts(gateway, base, 4)  # o1..o4 at base .. base + 3
    asked, answer, calls = threading.Event(), threading.Event(), [0]

    def hold_as_page_2(request: Recorded) -> None:
        if request.path == "/v1/events":
            calls[0] += 1
            if calls[0] == 2:  # A's page 2, until B has read
                asked.set()
                answer.wait(120)

    gateway.account.watch(hold_as_page_2)
    reports: list[CatchUpReport] = []
    a = threading.Thread(
        target=lambda: reports.append(_catch_up(engine, gateway, page_size=2)), daemon=True
    )
    a.start()
    assert asked.wait(60)  # A stored page 1 (o4, o3) and asks for page 2
    middle = _payouts(gateway, base + 1000, 4)  # created while A reads
    _payouts(gateway, base + 2000, 2)  # n1, n2
    gateway.account.fail_list("/v1/events", after=1)  # B: page 1 (n2, n1), then the outage
    b = _catch_up(engine, gateway, page_size=2, since=start)
    assert (b.start, b.pages, b.interrupted is not None) == (start, 1, True)
    gateway.account.fail_list("/v1/events", after=1)  # A: page 2 (o2, o1), then the outage
    answer.set()
    a.join(60)
    assert not a.is_alive() and len(reports) == 1
    # A stored its page 2 but stopped there: the cursor is B's.
    assert (reports[0].pages, reports[0].interrupted) == (2, TAKEN_OVER)
    held = {e for e, _, _ in _inbox(engine)}
    assert {str(e["id"]) for e in olds} <= held
    finished = _done(engine, gateway)  # resumes B's walk: down from n1 to the start
    assert (finished.start, finished.caught_up_to) == (start, base + 2001)
    _done(engine, gateway)  # and once more, as the worker goes on
    held = {e for e, _, _ in _inbox(engine)}
    assert {str(e["id"]) for e in middle} <= held, "events created while A read are lost"


@pytest.mark.parametrize("role", ["liventix_app", "liventix_platform"])
@pytest.mark.parametrize(
    "statement",
    [
        "SELECT * FROM messaging.inbox_cursors",
        "UPDATE messaging.inbox_cursors SET caught_up_to = 4102444800",
        "INSERT INTO messaging.inbox_cursors (source, caught_up_to) VALUES ('x', 4102444800)",
        "DELETE FROM messaging.inbox_cursors",
    ],
)
def test_the_applications_roles_cannot_touch_the_cursor(
    engine: sa.Engine, role: str, statement: str
) -> None:
    """The cursor is the owner's alone, as the inbox's secrets: a holder of the application's
    connection moving it forward would have the catch-up skip the events it hides."""
    with engine.begin() as conn:
        assert outbox.claim_inbox_cursor(conn, "stripe", timedelta(0)) is not None
    with engine.begin() as conn:
        conn.exec_driver_sql(f"SET LOCAL ROLE {role}")
        with pytest.raises(sa.exc.ProgrammingError, match="permission denied"):
            conn.exec_driver_sql(statement)


# -- where it runs: the worker's periodic step and the CLI ------------------------------------


def _wait_for_a_lock_on(engine: sa.Engine, table: str) -> None:
    """Until another session waits for a lock in a statement on `table` (bounded)."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        with engine.connect() as look:
            waiting = look.execute(
                sa.text("""SELECT count(*) FROM pg_stat_activity
                            WHERE wait_event_type = 'Lock' AND query LIKE :q"""),
                {"q": f"%{table}%"},
            ).scalar_one()
        if waiting:
            return
        time.sleep(0.01)
    raise AssertionError(f"no session waited for a lock on {table}")


@pytest.mark.parametrize("first_read", [True, False], ids=["first-read", "later-read"])
def test_two_workers_due_at_once_read_once(engine: sa.Engine, first_read: bool) -> None:
    """Two workers' steps due at the same moment: the second waits on the first's claim of
    the cursor's row (its insert, the first time) and, once the first commits, finds the
    read begun: one read per interval however many workers."""
    every = timedelta(minutes=5)
    if not first_read:
        with engine.begin() as conn:
            assert outbox.claim_inbox_cursor(conn, "stripe", every) is not None
            conn.execute(sa.text("UPDATE messaging.inbox_cursors SET read_at = '-infinity'"))
    answers: list[object] = []

    def second() -> None:
        with engine.begin() as conn:
            answers.append(outbox.claim_inbox_cursor(conn, "stripe", every))

    with engine.connect() as first, first.begin():
        assert outbox.claim_inbox_cursor(first, "stripe", every) is not None
        thread = threading.Thread(target=second)
        thread.start()
        _wait_for_a_lock_on(engine, "messaging.inbox_cursors")
    thread.join(timeout=60)
    assert answers == [None]


def _gets(gateway: Gateway) -> int:
    return len(gateway.account.requests("GET", "/v1/events"))


def test_the_worker_catches_up_when_its_interval_is_due(
    engine: sa.Engine, db_url: str, gateway: Gateway, world: World
) -> None:
    checkout, _paid = _paid_in_time_and_refused(engine, gateway, world)
    url = gateway.account.url

    def worker(**env: str) -> str:
        return _liventix(db_url, url, "worker", "--once", **env)

    worker(LIVENTIX_STRIPE_CATCHUP_INTERVAL="0")  # off: Stripe's list never read
    assert _gets(gateway) == 0
    with engine.connect() as conn:
        assert tk.get_order(conn, checkout.order_id).status == "awaiting_payment"
    worker()  # the default interval: never read yet, so due
    assert _gets(gateway) == 1
    assert _end_state(engine, world, checkout) == PAID_IN_TIME
    worker()  # read a moment ago: not due
    assert _gets(gateway) == 1
    with engine.begin() as conn:
        conn.execute(
            sa.text("UPDATE messaging.inbox_cursors SET read_at = read_at - interval '301 s'")
        )
    worker()
    assert _gets(gateway) == 2
    _check_all(engine)


def test_the_workers_loop_reads_on_a_thread_of_its_own(engine: sa.Engine, gateway: Gateway) -> None:
    """In the worker's loop the read runs beside it: the step comes back while Stripe's list
    is still answering (held here), no second read begins meanwhile, and the read stores the
    events once Stripe answers. (In the foreground the step would wait for the answer.)"""
    _payouts(gateway, _base(engine), 3)
    arrived, answer = threading.Event(), threading.Event()

    def hold(asked: Recorded) -> None:
        if asked.path == "/v1/events":
            arrived.set()
            answer.wait(120)

    gateway.account.watch(hold)
    patient = StripeGateway(
        StripeSettings(api_base=gateway.account.url, max_network_retries=0, timeout_s=120)
    )
    step = CatchUpStep(engine, patient, timedelta(minutes=5), background=True)
    came_back = threading.Event()

    def call() -> None:
        step()
        came_back.set()

    threading.Thread(target=call, daemon=True).start()
    assert came_back.wait(60)  # the step is back ...
    assert arrived.wait(60) and not answer.is_set()  # ... while Stripe has not answered
    assert step() is None and len(gateway.account.requests("GET", "/v1/events")) == 1
    answer.set()
    assert step.join(60)
    assert len(_inbox(engine)) == 3


def test_the_cli_catches_up_and_says_what_it_stored(
    engine: sa.Engine, db_url: str, gateway: Gateway
) -> None:
    base = _base(engine)
    _payouts(gateway, base, 3)
    out = _liventix(db_url, gateway.account.url, "stripe", "catch-up")
    assert "1 page(s), 3 new event(s), 0 duplicate(s), 0 skipped" in out
    out = _liventix(db_url, gateway.account.url, "stripe", "catch-up", "--since", str(base + 1))
    assert "1 page(s), 0 new event(s), 2 duplicate(s), 0 skipped" in out
    # The same moment in ISO 8601 (no time zone: UTC), as liventix report takes it.
    iso = datetime.fromtimestamp(base + 2, UTC).replace(tzinfo=None).isoformat()
    out = _liventix(db_url, gateway.account.url, "stripe", "catch-up", "--since", iso)
    assert "1 page(s), 0 new event(s), 1 duplicate(s), 0 skipped" in out


def test_the_cli_says_when_stripe_stopped_the_read(engine: sa.Engine, db_url: str) -> None:
    """Stripe unreachable (nothing listens at its address): exit 1, one line on stderr saying
    the next run resumes, nothing stored."""
    url = make_url(db_url)
    env = {
        **os.environ,
        "DATABASE_URL": url.set(database="postgres").render_as_string(hide_password=False),
        "LIVENTIX_DB_NAME": str(url.database),
        "STRIPE_API_BASE": "http://127.0.0.1:9",
    }
    done = subprocess.run(
        [sys.executable, "-m", "liventix", "stripe", "catch-up"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 1, done.stdout + done.stderr
    assert "0 page(s), 0 new event(s)" in done.stdout
    assert "liventix stripe catch-up: interrupted, the next run resumes" in done.stderr
    assert _inbox(engine) == []

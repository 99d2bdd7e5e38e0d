"""The capture as one call (`escrow.capture_call`, `payments.capture_card_payment`): decided
in Python from what the escrow's last capture read on the connection, checked on the
locked rows, written only in the usual case.

- It books what `capture_payment` books (the same lines, counters, audit row and record),
  and its entry is the very request `ledger.post_entry` would post: posted again through
  the ledger's door under the same key, it is a replay (the request's hash is the ledger's).
- Anything else writes nothing and says why: no escrow yet ('long', and nothing known to
  call with before a capture read it), the payment booked before ('booked'), the terms
  changed since they were read ('stale': forgotten, read again by the long way), an escrow
  whose capture is not the machine's staying capture ('long').
"""

from __future__ import annotations

import uuid
from typing import Any

import sqlalchemy as sa

import escrow
import ledger
import pgdriver
from escrow import decisions as escrow_decisions
from escrow import payments as escrow_payments
from escrow import store as escrow_store
from tests.escrow_core.support import (
    audit,
    captured,
    escrow_of,
    lines_by_ref,
    new_organizer,
    recorded_payment,
    row,
)


def _call(conn: sa.Connection, payment: escrow.CapturedPayment, cause: str = "evt") -> Any:
    """The call alone, in the caller's transaction: its one row and the call."""
    call = escrow.capture_call(conn, payment, cause=cause)
    assert call is not None
    (answer,) = pgdriver.fetch(conn, f"SELECT * FROM {call.sql}", call.params)
    return answer, call


def _version(conn: sa.Connection, org: object) -> int:
    found: int = row(
        conn, "SELECT version FROM payments.escrows WHERE org_id = :org", org=org
    ).version
    return found


def _recorded(conn: sa.Connection, payment: escrow.CapturedPayment) -> int:
    found: int = row(
        conn,
        "SELECT count(*) AS n FROM payments.card_payments WHERE id = :id",
        id=payment.payment_id,
    ).n
    return found


def test_the_call_books_what_the_long_way_books_and_the_ledger_replays_its_entry(
    engine: sa.Engine,
) -> None:
    with engine.begin() as conn:
        org = new_organizer(conn, escrow.Policy(platform_fee_bps=500))
        first = captured(org, gross=10_000, stripe_fee=320)
        assert escrow.capture_call(conn, first, cause="evt_1") is None  # nothing read yet
        assert escrow.capture_payment(conn, first, cause="evt_1")  # opens the escrow
        second = captured(org, gross=5_000, stripe_fee=175)
        assert escrow.capture_payment(conn, second, cause="evt_2")  # reads its facts
        third = captured(org, gross=5_000, stripe_fee=175)
        answer, call = _call(conn, third, "evt_3")
        assert answer.capture_outcome == "captured"
        assert escrow.capture_answer(conn, call, answer.capture_outcome) is True

        # The same request through the ledger's door: a replay of the call's entry.
        policy, _stored, ids = escrow_store.known_capture_facts(conn, third) or (None, 0, {})
        assert policy is not None
        booking = escrow_decisions.capture_booking(third, policy)
        request = escrow_payments._entry(
            third,
            [ledger.Line(ids[(g.owner, g.code)], g.side, g.amount, "USD") for g in booking.legs],
        )
        again = ledger.post_entry(conn, org, request)
        assert again.replayed and again.id == answer.capture_entry

    with engine.connect() as conn:
        refs = ["txn_" + p.payment_id[3:] for p in (second, third)]
        assert lines_by_ref(conn, org, refs[1]) == lines_by_ref(conn, org, refs[0])
        e = escrow_of(conn, third)
        assert (e.state, e.captured, e.held, e.version) == ("collecting", 20_000, 19_000, 3)
        assert e.held == escrow.ledger_escrow_balance(conn, e)
        assert audit(conn, e.id) == [("collecting", "collecting", "capture")] * 3
        recorded = recorded_payment(conn, third.payment_id)
        assert tuple(recorded) == (org, e.id, third.charge_id, 5_000, 250, 175, False, True, True)
        assert ledger.trial_balance(conn).balanced


def test_a_duplicate_stale_terms_and_a_moved_escrow_write_nothing(engine: sa.Engine) -> None:
    with engine.begin() as conn:
        org = new_organizer(conn)
        first = captured(org, gross=10_000, stripe_fee=320)
        escrow.capture_payment(conn, first, cause="evt_1")
        escrow.capture_payment(conn, captured(org, gross=1_000, stripe_fee=59), cause="evt_2")
        # A duplicate of a payment booked: 'booked', nothing written.
        answer, call = _call(conn, first)
        assert answer.capture_outcome == "booked"
        assert escrow.capture_answer(conn, call, answer.capture_outcome) is False
        version = _version(conn, org)

    # The terms changed since the connection read them: 'stale', forgotten.
    with engine.begin() as other:
        escrow.set_policy(other, org, escrow.Policy(platform_fee_bps=900))
    fresh = captured(org, gross=2_000, stripe_fee=88)
    with engine.begin() as conn:
        answer, call = _call(conn, fresh)
        assert answer.capture_outcome == "stale"
        assert (_recorded(conn, fresh), _version(conn, org)) == (0, version)
        assert escrow.capture_answer(conn, call, answer.capture_outcome) is None
        assert escrow.capture_call(conn, fresh, cause="evt") is None  # forgotten
        assert escrow.capture_payment(conn, fresh, cause="evt_3")  # the long way, read again
        assert (
            row(
                conn,
                "SELECT platform_fee FROM payments.card_payments WHERE id = :id",
                id=fresh.payment_id,
            ).platform_fee
            == 180
        )

    # An escrow the machine's capture would move (cancelled): 'long', nothing written (and
    # the change undone: the connection closes without committing).
    with engine.connect() as conn:
        conn.execute(
            sa.text("UPDATE payments.escrows SET state = 'cancelled' WHERE org_id = :org"),
            {"org": org},
        )
        late = captured(org, gross=3_000, stripe_fee=117)
        answer = _call(conn, late)[0]
        assert answer.capture_outcome == "long"
        assert _recorded(conn, late) == 0


def test_no_escrow_yet_is_the_long_way(engine: sa.Engine) -> None:
    with engine.begin() as conn:
        org = new_organizer(conn)
        escrow.capture_payment(conn, captured(org, gross=1_000, stripe_fee=59), cause="e1")
        escrow.capture_payment(conn, captured(org, gross=1_000, stripe_fee=59), cause="e2")
        other_event = captured(org, gross=1_000, stripe_fee=59, event_id="ev2")
        # Nothing known for another event's escrow: no call at all.
        assert escrow.capture_call(conn, other_event, cause="e3") is None
        # Known terms, but its escrow gone (as for an event not yet captured): 'long'.
        conn.execute(
            sa.text("UPDATE payments.escrows SET event_id = 'moved' WHERE org_id = :org"),
            {"org": org},
        )
        answer = _call(conn, captured(org, gross=1_000, stripe_fee=59))[0]
        assert answer.capture_outcome == "long"


def test_an_account_id_not_its_organizations_any_more_is_stale(engine: sa.Engine) -> None:
    """What the connection remembers is checked: an id that is not the organization's (as
    after a database emptied and filled again) writes nothing, and the long way reads
    the accounts again."""
    with engine.begin() as conn:
        org = new_organizer(conn)
        escrow.capture_payment(conn, captured(org, gross=1_000, stripe_fee=59), cause="e1")
        escrow.capture_payment(conn, captured(org, gross=1_000, stripe_fee=59), cause="e2")
        payment = captured(org, gross=2_000, stripe_fee=88)
        known = escrow_store.known_capture_facts(conn, payment)
        assert known is not None
        policy, stored, ids = known
        for owner in ("platform", "organizer"):
            wrong = {k: (uuid.uuid4() if k[0] == owner else v) for k, v in ids.items()}
            conn.connection.info["escrow.capture_facts"][
                (payment.org_id, payment.event_id, payment.currency)
            ] = (policy, stored, wrong)
            answer, call = _call(conn, payment)
            assert answer.capture_outcome == "stale", owner
            assert _recorded(conn, payment) == 0
            assert escrow.capture_answer(conn, call, answer.capture_outcome) is None
        assert escrow.capture_payment(conn, payment, cause="e3")
        assert _call(conn, captured(org, gross=500, stripe_fee=45))[0].capture_outcome == (
            "captured"
        )
        assert ledger.trial_balance(conn).balanced


def test_the_apis_role_is_not_granted_the_call(engine: sa.Engine) -> None:
    """The call runs with its caller's rights and only the platform's role can do what it
    does (the API's role reads escrows, never writes them): it is granted to
    `liventix_platform` only. The API's role calling it is refused at the call (42501,
    permission denied for the function), before any row is read or written; the platform's
    role is granted it."""
    with engine.connect() as conn:
        org = new_organizer(conn)
        escrow.capture_payment(conn, captured(org, gross=1_000, stripe_fee=59), cause="e1")
        escrow.capture_payment(conn, captured(org, gross=1_000, stripe_fee=59), cause="e2")
        granted = {
            r.role: r.granted
            for r in conn.execute(
                sa.text(
                    "SELECT r.role, has_function_privilege(r.role, p.oid, 'EXECUTE') AS granted"
                    "  FROM pg_proc p, unnest(ARRAY['liventix_app', 'liventix_platform'])"
                    "       AS r(role)"
                    " WHERE p.oid = 'payments.capture_card_payment'::regproc"
                )
            )
        }
        assert granted == {"liventix_app": False, "liventix_platform": True}
        payment = captured(org, gross=2_000, stripe_fee=88)
        call = escrow.capture_call(conn, payment, cause="e3")
        assert call is not None  # the connection remembers the terms: the call is taken
        before = _version(conn, org)
        conn.commit()
        conn.execute(sa.text("SET LOCAL ROLE liventix_app"))
        refused: BaseException | None = None
        try:
            pgdriver.fetch(conn, f"SELECT * FROM {call.sql}", call.params)
        except Exception as exc:  # the driver's own error or SQLAlchemy's wrapping it
            refused = exc
        assert refused is not None, "the API's role ran the capture call"
        orig = getattr(refused, "orig", refused)
        assert getattr(orig, "sqlstate", None) == "42501", refused
        assert "permission denied for function capture_card_payment" in str(refused)
        conn.rollback()
        assert _version(conn, org) == before
        assert _recorded(conn, payment) == 0


def test_the_calls_lists_go_as_array_literals_the_server_reads_back(engine: sa.Engine) -> None:
    # The call's lists are sent as PostgreSQL array literals (cheaper than psycopg's list
    # dumping): each element quoted, quotes and backslashes escaped, None as NULL; the
    # server reads back exactly the values given, as text and as the call's types.
    texts = ['a"b', "c\\d", "", "NULL", "x,y", "{z}", None]
    ids = [uuid.uuid4(), uuid.uuid4()]
    amounts = [1, -2, 9_223_372_036_854_775_807]
    with engine.connect() as conn:
        (got,) = pgdriver.fetch(
            conn,
            "SELECT %(t)s::text[] AS t, %(u)s::uuid[] AS u, %(b)s::bigint[] AS b",
            {
                "t": pgdriver.array_literal(texts),
                "u": pgdriver.array_literal(ids),
                "b": pgdriver.array_literal(amounts),
            },
        )
    assert (got.t, got.u, got.b) == (texts, ids, amounts)

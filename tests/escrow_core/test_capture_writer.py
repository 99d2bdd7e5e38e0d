"""The capture's ledger entry by its own writer (`payments.post_capture_entry`, called by
`payments.capture_card_payment`): the escrow, the organizer's one regular account, beside the
platform's high-volume accounts, posted in three statements instead of the ledger door's
(`payments.post_entry`) general judging.

- A usual capture posts through the writer alone: the door is not called.
- It writes what the door's usual way writes for the same request (the entry, its lines and
  positions, the key and its answer, the escrow account's move): both are run on the same
  state, each undone after.
- Anything else writes nothing and answers NULL (the capture then asks the door, which
  judges it as before): an unbalanced entry, a line not positive, on no side, of another
  currency, an account of another organization or twice, the key empty or already there, the
  reference used, a closed high-volume account, a caller neither the owner nor the platform.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
import sqlalchemy as sa

import escrow
import ledger
import pgdriver
from tests.escrow_core.support import PLATFORM, captured, new_organizer, row

_WRITER = (
    "SELECT payments.post_capture_entry(:org, :key, :hash, CAST(:accounts AS uuid[]),"
    " CAST(:sides AS text[]), CAST(:amounts AS bigint[]), CAST(:currencies AS text[]),"
    " :description, :external_ref, :regular, CAST(:high_volume AS uuid[])) AS entry"
)


def _items(literal: str) -> list[str]:
    """The elements of a one-dimensional array literal as `escrow` renders them."""
    return [item.strip('"') for item in literal.strip("{}").split(",")]


def _warm(engine: sa.Engine) -> tuple[uuid.UUID, escrow.CapturedPayment]:
    """An organizer whose escrow two captures opened and read (so the connection knows the
    facts a capture call needs), and a third payment not yet captured."""
    with engine.begin() as conn:
        org = new_organizer(conn, escrow.Policy(platform_fee_bps=500))
        assert escrow.capture_payment(conn, captured(org, gross=10_000, stripe_fee=320), cause="e1")
        assert escrow.capture_payment(conn, captured(org, gross=5_000, stripe_fee=175), cause="e2")
    return org, captured(org, gross=5_000, stripe_fee=175)


def _writer_args(conn: sa.Connection, payment: escrow.CapturedPayment) -> dict[str, Any]:
    """The writer's arguments for the payment, as the capture passes them."""
    call = escrow.capture_call(conn, payment, cause="evt")
    assert call is not None
    p = call.params
    (regular,) = _items(p["capture_organizer_accounts"])
    return {
        "org": p["capture_org"],
        "key": p["capture_key"],
        "hash": p["capture_hash"],
        "accounts": _items(p["capture_accounts"]),
        "sides": _items(p["capture_sides"]),
        "amounts": [int(a) for a in _items(p["capture_amounts"])],
        "currencies": _items(p["capture_currencies"]),
        "description": p["capture_description"],
        "external_ref": p["capture_external_ref"],
        "regular": regular,
        "high_volume": _items(p["capture_platform_accounts"]),
    }


def _calls(conn: sa.Connection) -> dict[str, int]:
    """The ledger functions' calls in this transaction (track_functions set before)."""
    return {
        name: calls
        for name, calls in conn.execute(
            sa.text(
                "SELECT funcname, calls FROM pg_stat_xact_user_functions"
                " WHERE schemaname = 'payments'"
                " AND funcname IN ('post_entry', 'post_capture_entry')"
            )
        ).all()
    }


def _written(conn: sa.Connection, org: uuid.UUID, key: str) -> dict[str, Any]:
    """What a posting under the key wrote, ids and times aside: the entry, its lines in
    request order (with the lines' positions), the key's row, the accounts' positions."""
    entry = row(
        conn,
        "SELECT id, kind, description, metadata, external_ref, effective_at = created_at AS at,"
        " reverses_entry_id, hold_id FROM payments.entries"
        " WHERE org_id = :org AND idempotency_key = :key",
        org=org,
        key=key,
    )
    lines = conn.execute(
        sa.text(
            "SELECT org_id, account_id, side, amount, currency, account_version,"
            " account_posted_debits, account_posted_credits,"
            " effective_at = (SELECT e.created_at FROM payments.entries e"
            "                  WHERE e.id = l.entry_id AND e.org_id = l.entry_org_id) AS at"
            " FROM payments.lines l WHERE l.entry_id = :id AND l.entry_org_id = :org"
            " ORDER BY l.id"
        ),
        {"id": entry.id, "org": org},
    ).all()
    key_row = row(
        conn,
        "SELECT operation, request_hash, status,"
        " result = jsonb_build_object('id', CAST(:id AS text)) AS answers_entry"
        " FROM payments.idempotency_keys WHERE org_id = :org AND key = :key",
        org=org,
        key=key,
        id=entry.id,
    )
    accounts = conn.execute(
        sa.text(
            "SELECT a.id, a.posted_debits, a.posted_credits, a.version FROM payments.accounts a"
            " WHERE a.id IN (SELECT l.account_id FROM payments.lines l"
            "                 WHERE l.entry_id = :id AND l.entry_org_id = :org) ORDER BY a.id"
        ),
        {"id": entry.id, "org": org},
    ).all()
    return {
        "entry": tuple(entry)[1:],
        "lines": [tuple(line) for line in lines],
        "key": tuple(key_row),
        "accounts": [tuple(a) for a in accounts],
    }


@contextmanager
def _undone(conn: sa.Connection) -> Iterator[None]:
    """A savepoint rolled back after the block."""
    savepoint = conn.begin_nested()
    try:
        yield
    finally:
        savepoint.rollback()


def _nothing_written(conn: sa.Connection, args: dict[str, Any]) -> tuple[int, int, int]:
    """The organization's entries, keys and the escrow account's version."""
    found = row(
        conn,
        "SELECT (SELECT count(*) FROM payments.entries WHERE org_id = :org) AS entries,"
        " (SELECT count(*) FROM payments.idempotency_keys WHERE org_id = :org) AS keys,"
        " (SELECT version FROM payments.accounts WHERE org_id = :org AND id = :regular)"
        " AS version",
        org=args["org"],
        regular=args["regular"],
    )
    return found.entries, found.keys, found.version


def test_a_usual_capture_posts_through_the_writer_alone(engine: sa.Engine) -> None:
    org, third = _warm(engine)
    with engine.begin() as conn:
        conn.execute(sa.text("SET LOCAL track_functions = 'all'"))
        call = escrow.capture_call(conn, third, cause="evt_3")
        assert call is not None
        (answer,) = pgdriver.fetch(conn, f"SELECT * FROM {call.sql}", call.params)
        assert answer.capture_outcome == "captured"
        assert _calls(conn) == {"post_capture_entry": 1}
        entry = row(
            conn,
            "SELECT id FROM payments.entries WHERE org_id = :org AND external_ref = :ref",
            org=org,
            ref=third.balance_transaction_id,
        ).id
        assert entry == answer.capture_entry
    with engine.connect() as conn:
        assert ledger.trial_balance(conn).balanced


def test_the_writer_writes_what_the_doors_usual_way_writes(engine: sa.Engine) -> None:
    org, third = _warm(engine)
    with engine.begin() as conn:
        args = _writer_args(conn, third)
        with _undone(conn):
            conn.execute(sa.text("SET LOCAL track_functions = 'all'"))
            assert conn.execute(sa.text(_WRITER), args).scalar_one() is not None
            by_writer = _written(conn, org, args["key"])
        with _undone(conn):
            answer = conn.execute(
                sa.text(
                    "SELECT * FROM payments.post_entry(:org, :key, :hash,"
                    " CAST(:accounts AS uuid[]), CAST(:sides AS text[]),"
                    " CAST(:amounts AS bigint[]), CAST(:currencies AS text[]), :description,"
                    " NULL, NULL, :external_ref)"
                ),
                args,
            ).one()
            assert (answer.status, answer.replayed) == ("succeeded", False)
            by_door = _written(conn, org, args["key"])
    assert by_writer == by_door
    # The capture's shape: the escrow account's line with its position, the platform's
    # high-volume ones without.
    orgs = {line[0] for line in by_writer["lines"]}
    assert orgs == {org, PLATFORM}
    assert [line[5] is None for line in by_writer["lines"]] == [
        account != args["regular"] for account in args["accounts"]
    ]


def _variants(args: dict[str, Any], other_account: str) -> dict[str, dict[str, Any]]:
    """Requests the writer must leave to the door, each one change from `args`."""
    amounts = args["amounts"]
    first_hv = args["high_volume"][0]
    return {
        "unbalanced": {**args, "amounts": [amounts[0] + 1, *amounts[1:]]},
        "not positive": {
            **args,
            "amounts": [-a if i < 2 else a for i, a in enumerate(amounts)],
            "sides": [
                ("credit" if s == "debit" else "debit") if i < 2 else s
                for i, s in enumerate(args["sides"])
            ],
        },
        "no side": {**args, "sides": ["sideways", *args["sides"][1:]]},
        "another currency": {**args, "currencies": ["EUR"] * len(args["currencies"])},
        "a line short": {
            **args,
            **{k: args[k][:-1] for k in ("accounts", "sides", "amounts", "currencies")},
        },
        "an account twice": {
            **args,
            "accounts": [a if a != args["high_volume"][1] else first_hv for a in args["accounts"]],
        },
        "another organization's account": {
            **args,
            "accounts": [other_account if a == args["regular"] else a for a in args["accounts"]],
            "regular": other_account,
        },
        "the key empty": {**args, "key": ""},
        # a raw call's extreme amounts: judged, not overflowed (a bigint sum would raise)
        "a line of -2**63": {**args, "amounts": [-(2**63), *amounts[1:]]},
        "every line of 2**63 - 1": {**args, "amounts": [2**63 - 1] * len(amounts)},
        "a line of 2**40": {
            **args,
            "amounts": [
                a + 2**40
                if i in (args["sides"].index("debit"), args["sides"].index("credit"))
                else a
                for i, a in enumerate(amounts)
            ],
        },
    }


def test_anything_else_writes_nothing_and_is_left_to_the_door(engine: sa.Engine) -> None:
    org, third = _warm(engine)
    with engine.begin() as conn:
        other = new_organizer(conn, name="Other Club")
        assert escrow.capture_payment(conn, captured(other, gross=1_000, stripe_fee=59), cause="o")
        other_account = row(
            conn,
            "SELECT id FROM payments.accounts WHERE org_id = :org AND NOT high_volume"
            " ORDER BY id LIMIT 1",
            org=other,
        ).id
        args = _writer_args(conn, third)
        before = _nothing_written(conn, args)
        for name, variant in _variants(args, str(other_account)).items():
            # each variant is not the usual entry by exactly its change
            assert variant != args, name
            with _undone(conn):
                assert conn.execute(sa.text(_WRITER), variant).scalar_one() is None, name
                assert _nothing_written(conn, args) == before, name

        # A reference used before, and a key already there (a replay: the door answers it).
        earlier_ref = row(
            conn,
            "SELECT external_ref, idempotency_key FROM payments.entries WHERE org_id = :org"
            " ORDER BY created_at LIMIT 1",
            org=org,
        )
        for name, variant in {
            "the reference used": {**args, "external_ref": earlier_ref.external_ref},
            "the key there": {**args, "key": earlier_ref.idempotency_key},
        }.items():
            with _undone(conn):
                assert conn.execute(sa.text(_WRITER), variant).scalar_one() is None, name
                assert _nothing_written(conn, args) == before, name

        # A closed high-volume account of the platform's: left to the door, which refuses it.
        with _undone(conn):
            ledger.close_account(
                conn,
                PLATFORM,
                ledger.CloseAccount(f"close-{uuid.uuid4()}", uuid.UUID(args["high_volume"][0])),
            )
            after_close = _nothing_written(conn, args)
            assert conn.execute(sa.text(_WRITER), args).scalar_one() is None
            assert _nothing_written(conn, args) == after_close

        # Who acts: the platform's role without a proof, or the owner with a proof of no one,
        # is not the writer's caller.
        with _undone(conn):
            conn.execute(sa.text("SET LOCAL ROLE liventix_platform"))
            assert conn.execute(sa.text(_WRITER), args).scalar_one() is None
        with _undone(conn):
            conn.execute(sa.text("SELECT set_config('liventix.actor_proof', 'forged', true)"))
            assert conn.execute(sa.text(_WRITER), args).scalar_one() is None
        assert _nothing_written(conn, args) == before

        # The platform's proof: its caller.
        with _undone(conn):
            conn.execute(sa.text("SELECT payments._act_as('platform')"))
            conn.execute(sa.text("SET LOCAL ROLE liventix_platform"))
            assert conn.execute(sa.text(_WRITER), args).scalar_one() is not None
        # The same request as it is: the writer posts it.
        assert conn.execute(sa.text(_WRITER), args).scalar_one() is not None


@pytest.mark.parametrize("closed", ["escrow account", "platform account"])
def test_a_closed_account_is_refused_by_the_door_as_before(engine: sa.Engine, closed: str) -> None:
    org, third = _warm(engine)
    with engine.begin() as conn:
        args = _writer_args(conn, third)
        account = args["regular"] if closed == "escrow account" else args["high_volume"][-1]
        owner = org if closed == "escrow account" else PLATFORM
        ledger.close_account(
            conn, owner, ledger.CloseAccount(f"close-{uuid.uuid4()}", uuid.UUID(account))
        )
        conn.execute(sa.text("SET LOCAL track_functions = 'all'"))
        call = escrow.capture_call(conn, third, cause="evt_3")
        assert call is not None
        (answer,) = pgdriver.fetch(conn, f"SELECT * FROM {call.sql}", call.params)
        assert (answer.capture_outcome, answer.refusal_code) == ("failed", "account_closed")
        assert answer.refusal_details == {"account_id": account}
        assert _calls(conn) == {"post_capture_entry": 1, "post_entry": 1}

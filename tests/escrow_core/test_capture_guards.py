"""One definition of each ledger guard across the engine's writers: the capture's writer
(`payments.post_capture_entry`) and the door (`payments.post_entry`: its usual way, 3a, and its
step 3) judge the same request the same way with each guard broken in turn.

For every guard (who acts; the regular row's currency, closed, overflow, both overdraft flags
counting pending holds; the high-volume row's currency, closed, large line unrolled, both
limits; an account named twice among the high-volume ones), on the same state:

- the writer answers NULL having written nothing;
- the door's fast ways leave it too (its long way, `ledger_write`, is asked, or it refuses
  who acts before either way), except an account named twice, which its step 3 posts;
- the capture's path (the writer, then the door when it answered NULL) ends in the same
  answer and the same rows (entry, lines with positions, key, accounts) as the door alone.

Each guard is one SQL function inlined where it is used: a rule changed in one place alone
(a writer posting what the door's ways leave, or the reverse) fails here. And the guards cost
no call: none of them is counted as a function call by a capture, a hot sale or a two-line
posting.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable
from typing import Any

import pytest
import sqlalchemy as sa

import ledger
from tests.escrow_core.support import PLATFORM, row
from tests.escrow_core.test_capture_writer import _WRITER, _undone, _warm, _writer_args

_DOOR = (
    "SELECT * FROM payments.post_entry(:org, :key, :hash, CAST(:accounts AS uuid[]),"
    " CAST(:sides AS text[]), CAST(:amounts AS bigint[]), CAST(:currencies AS text[]),"
    " :description, NULL, NULL, :external_ref)"
)

_GUARDS = ("_regular_row_takes", "_high_volume_row_takes", "_closed_high_volume", "_owner_role")

_ROLE = "_role"
"""A request's key naming the role its calls are made as (not a parameter)."""

Break = Callable[[sa.Connection, dict[str, Any]], dict[str, Any]]
"""Breaks one guard on the connection's state or in the request; answers the request."""


def _calls(conn: sa.Connection) -> dict[str, int]:
    """The payments functions' calls counted so far in this transaction."""
    return dict(
        conn.execute(
            sa.text(
                "SELECT funcname, calls FROM pg_stat_xact_user_functions"
                " WHERE schemaname = 'payments'"
            )
        ).all()
    )


def _as_writer(conn: sa.Connection) -> None:
    """The engine's rights for the test's direct changes of an account (payments.writer)."""
    conn.execute(sa.text("SET LOCAL payments.writer = 'on'"))


def _set(conn: sa.Connection, account: str, assignments: str, **values: Any) -> None:
    _as_writer(conn)
    conn.execute(
        sa.text(f"UPDATE payments.accounts SET {assignments} WHERE id = :account"),
        {"account": account, **values},
    )
    conn.execute(sa.text("SET LOCAL payments.writer = 'off'"))


def _regular_line(args: dict[str, Any]) -> tuple[str, int]:
    """The escrow's line: its side and amount."""
    i = args["accounts"].index(args["regular"])
    return args["sides"][i], args["amounts"][i]


def _positions(conn: sa.Connection, account: str) -> Any:
    return row(
        conn,
        "SELECT posted_debits, posted_credits FROM payments.accounts WHERE id = :id",
        id=account,
    )


def _regular_currency(conn: sa.Connection, args: dict[str, Any]) -> dict[str, Any]:
    # the entry in another currency than the escrow's (and the platform's)
    return {**args, "currencies": ["EUR"] * len(args["currencies"])}


def _regular_closed(conn: sa.Connection, args: dict[str, Any]) -> dict[str, Any]:
    _set(conn, args["regular"], "closed = true")
    return args


def _regular_overflow(conn: sa.Connection, args: dict[str, Any]) -> dict[str, Any]:
    side, amount = _regular_line(args)
    column = "posted_credits" if side == "credit" else "posted_debits"
    other = "posted_debits" if side == "credit" else "posted_credits"
    # one unit too many on the line's side (the other side raised too, so no flag judges it)
    _set(conn, args["regular"], f"{column} = :at, {other} = :at", at=2**63 - amount)
    return args


def _regular_debits_flag(conn: sa.Connection, args: dict[str, Any]) -> dict[str, Any]:
    # debits must not exceed credits: they do not when posted, only with the pending debits
    side, amount = _regular_line(args)
    assert side == "credit"
    now = _positions(conn, args["regular"])
    assert now.posted_debits <= now.posted_credits + amount
    pending = now.posted_credits + amount - now.posted_debits + 1
    _set(
        conn,
        args["regular"],
        "debits_must_not_exceed_credits = true, pending_debits = :pending",
        pending=pending,
    )
    return args


def _regular_credits_flag(conn: sa.Connection, args: dict[str, Any]) -> dict[str, Any]:
    # credits must not exceed debits: they do not when posted, only with the pending credits
    side, amount = _regular_line(args)
    assert side == "credit"
    now = _positions(conn, args["regular"])
    _set(
        conn,
        args["regular"],
        "credits_must_not_exceed_debits = true, posted_debits = :debits, pending_credits = 1",
        debits=now.posted_credits + amount,
    )
    return args


def _high_volume_currency(conn: sa.Connection, args: dict[str, Any]) -> dict[str, Any]:
    # the platform's fee revenue in euros in place of its dollars' (the lines stay in USD)
    fee = args["high_volume"][-1]
    euros = ledger.open_account(
        conn,
        PLATFORM,
        ledger.OpenAccount(
            f"eur-{uuid.uuid4()}",
            f"eur-{uuid.uuid4().hex[:8]}",
            "revenue",
            "EUR",
            high_volume=True,
        ),
    ).id
    swap = {fee: str(euros)}
    return {
        **args,
        "accounts": [swap.get(a, a) for a in args["accounts"]],
        "high_volume": [swap.get(a, a) for a in args["high_volume"]],
    }


def _high_volume_closed(conn: sa.Connection, args: dict[str, Any]) -> dict[str, Any]:
    _set(conn, args["high_volume"][-1], "closed = true")
    return args


def _high_volume_large_unrolled(conn: sa.Connection, args: dict[str, Any]) -> dict[str, Any]:
    _set(conn, args["high_volume"][-1], "large_unrolled = true")
    return args


def _high_volume_debits_limit(conn: sa.Connection, args: dict[str, Any]) -> dict[str, Any]:
    _set(conn, args["high_volume"][0], "posted_debits = :at", at=2**61)
    return args


def _high_volume_credits_limit(conn: sa.Connection, args: dict[str, Any]) -> dict[str, Any]:
    _set(conn, args["high_volume"][-1], "posted_credits = :at", at=2**61)
    return args


def _high_volume_twice(conn: sa.Connection, args: dict[str, Any]) -> dict[str, Any]:
    # the last high-volume line on the first's account, named twice in p_high_volume
    first, last = args["high_volume"][0], args["high_volume"][-1]
    return {
        **args,
        "accounts": [first if a == last else a for a in args["accounts"]],
        "high_volume": [first if a == last else a for a in args["high_volume"]],
    }


def _who_acts(conn: sa.Connection, args: dict[str, Any]) -> dict[str, Any]:
    # the platform's role without the platform's proof: neither the owner nor the platform
    return {**args, _ROLE: "liventix_platform"}


_BROKEN: dict[str, Break] = {
    "regular: currency": _regular_currency,
    "regular: closed": _regular_closed,
    "regular: overflow": _regular_overflow,
    "regular: debits flag counting pending debits": _regular_debits_flag,
    "regular: credits flag counting pending credits": _regular_credits_flag,
    "high-volume: currency": _high_volume_currency,
    "high-volume: closed": _high_volume_closed,
    "high-volume: large line unrolled": _high_volume_large_unrolled,
    "high-volume: debits limit": _high_volume_debits_limit,
    "high-volume: credits limit": _high_volume_credits_limit,
    "high-volume: an account named twice": _high_volume_twice,
    "who acts": _who_acts,
}
# Posted by the door's step 3 (each account's lines summed), as the long way would: the
# writer's contract is one line per account.
_DOOR_POSTS_FAST = {"high-volume: an account named twice"}


def _params_only(request: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in request.items() if k != _ROLE}


def _state(conn: sa.Connection, args: dict[str, Any]) -> dict[str, Any]:
    """What the request left, ids and times aside: the entry, its lines with positions, the
    key's row, the accounts of the request and the escrow."""
    conn.execute(sa.text("RESET ROLE"))
    entry = conn.execute(
        sa.text(
            "SELECT id, kind, description, metadata, external_ref FROM payments.entries"
            " WHERE org_id = :org AND idempotency_key = :key"
        ),
        _params_only(args),
    ).first()
    lines = (
        conn.execute(
            sa.text(
                "SELECT org_id, account_id, side, amount, currency, account_version,"
                " account_posted_debits, account_posted_credits FROM payments.lines"
                " WHERE entry_id = :id AND entry_org_id = :org ORDER BY id"
            ),
            {"id": entry.id, "org": args["org"]},
        ).all()
        if entry is not None
        else []
    )
    key = conn.execute(
        sa.text(
            "SELECT operation, request_hash, status, result - 'id' AS result"
            " FROM payments.idempotency_keys WHERE org_id = :org AND key = :key"
        ),
        _params_only(args),
    ).first()
    accounts = conn.execute(
        sa.text(
            "SELECT id, posted_debits, posted_credits, pending_debits, pending_credits,"
            " version, closed FROM payments.accounts WHERE id = ANY (CAST(:ids AS uuid[]))"
            " ORDER BY id"
        ),
        {"ids": sorted({*args["accounts"], args["regular"]})},
    ).all()
    return {
        "entry": None if entry is None else tuple(entry)[1:],
        "lines": [tuple(line) for line in lines],
        "key": None if key is None else tuple(key),
        "accounts": [tuple(a) for a in accounts],
    }


def _params(conn: sa.Connection, request: dict[str, Any]) -> dict[str, Any]:
    """The request's parameters, its role set for the call."""
    if _ROLE in request:
        conn.execute(sa.text(f"SET LOCAL ROLE {request[_ROLE]}"))
    return {k: v for k, v in request.items() if k != _ROLE}


def _door(conn: sa.Connection, args: dict[str, Any]) -> tuple[Any, ...]:
    """The door's answer, or the refusal it raised (SQLSTATE and message)."""
    savepoint = conn.begin_nested()
    try:
        answer = conn.execute(sa.text(_DOOR), _params(conn, args)).one()
    except sa.exc.DBAPIError as error:
        savepoint.rollback()
        return ("raised", getattr(error.orig, "sqlstate", None), str(error.orig).split("\n")[0])
    savepoint.commit()
    return (answer.status, answer.replayed, answer.code, answer.details)


def _capture_path(conn: sa.Connection, args: dict[str, Any]) -> tuple[Any, Any]:
    """As the capture asks: the writer, then the door when it answered NULL."""
    savepoint = conn.begin_nested()
    try:
        entry = conn.execute(sa.text(_WRITER), _params(conn, args)).scalar_one()
    except sa.exc.DBAPIError as error:
        savepoint.rollback()
        return "raised", ("raised", getattr(error.orig, "sqlstate", None), str(error.orig))
    savepoint.commit()
    if entry is not None:
        return entry, ("succeeded", False, None, None)
    return None, _door(conn, args)


@pytest.mark.parametrize("guard", list(_BROKEN))
def test_each_guard_broken_is_judged_alike_by_the_writer_and_the_door(
    engine: sa.Engine, guard: str
) -> None:
    _, third = _warm(engine)
    with engine.begin() as conn:
        conn.execute(sa.text("SET LOCAL track_functions = 'all'"))
        args = _writer_args(conn, third)
        # The request as it is: the writer posts what the door's usual way posts.
        with _undone(conn):
            entry, answer = _capture_path(conn, args)
            assert entry is not None, answer
            usual = _state(conn, args)
        with _undone(conn):
            before = _calls(conn).get("ledger_write", 0)
            assert _door(conn, args)[:3] == ("succeeded", False, None)
            assert _calls(conn).get("ledger_write", 0) == before
            assert _state(conn, args) == usual

        # The guard broken, the same state for both.
        with _undone(conn):
            request = _BROKEN[guard](conn, args)
            nothing = _state(conn, request)
            with _undone(conn):
                answer = conn.execute(sa.text(_WRITER), _params(conn, request)).scalar_one()
                assert answer is None, guard
                assert _state(conn, request) == nothing, guard
            with _undone(conn):
                entry, by_capture = _capture_path(conn, request)
                assert entry is None, guard
                after_capture = _state(conn, request)
            with _undone(conn):
                before = _calls(conn).get("ledger_write", 0)
                by_door = _door(conn, request)
                # left by the fast ways: the long way asked (a call is counted when it
                # returns), or a refusal raised (by the long way, or who acts before any way)
                left = _calls(conn).get("ledger_write", 0) > before or by_door[0] == "raised"
                after_door = _state(conn, request)
    assert by_capture == by_door, guard
    assert after_capture == after_door, guard
    assert left == (guard not in _DOOR_POSTS_FAST), (guard, by_door)


def test_the_guards_are_inlined_not_called(engine: sa.Engine) -> None:
    """A capture (the writer), a hot sale (post_entry's 3a with a high-volume line) and a
    two-line posting count no call of any guard function: the planner inlined them."""
    org, third = _warm(engine)
    with engine.begin() as conn:
        conn.execute(sa.text("SET LOCAL track_functions = 'all'"))
        args = _writer_args(conn, third)
        regular = [
            ledger.open_account(
                conn,
                org,
                ledger.OpenAccount(f"acct-{n}-{uuid.uuid4()}", f"acct-{n}", "asset", "USD"),
            ).id
            for n in range(2)
        ]
        fee = args["high_volume"][-1]
        before = _calls(conn)
        assert conn.execute(sa.text(_WRITER), args).scalar_one() is not None
        for lines in (
            [(regular[0], "debit", 1_000), (regular[1], "credit", 950), (fee, "credit", 50)],
            [(regular[0], "debit", 700), (regular[1], "credit", 700)],
        ):
            answer = conn.execute(
                sa.text(_DOOR),
                {
                    "org": org,
                    "key": f"k-{uuid.uuid4()}",
                    "hash": "h",
                    "accounts": [str(a) for a, _, _ in lines],
                    "sides": [s for _, s, _ in lines],
                    "amounts": [m for _, _, m in lines],
                    "currencies": ["USD"] * len(lines),
                    "description": "",
                    "external_ref": None,
                },
            ).one()
            assert (answer.status, answer.code) == ("succeeded", None)
        calls = {
            name: count - before.get(name, 0)
            for name, count in _calls(conn).items()
            if count != before.get(name, 0)
        }
        assert calls.get("post_capture_entry") == 1
        assert calls.get("post_entry") == 2
        assert "ledger_write" not in calls
        assert {name: calls[name] for name in _GUARDS if name in calls} == {}
    with engine.connect() as conn:
        assert ledger.trial_balance(conn).balanced


def test_the_high_volume_rows_are_judged_after_the_regular_rows_lock(engine: sa.Engine) -> None:
    """A high-volume account's large line unrolled by a transaction that held the escrow's
    lock, committed while the writer waited for it: the writer sees it (as the door, which
    reads those rows after its lock) and leaves the request, writing nothing."""
    _, third = _warm(engine)
    with engine.connect() as conn:
        args = _writer_args(conn, third)
        conn.rollback()
    fee = args["high_volume"][-1]
    holder = engine.connect()
    try:
        holder.execute(
            sa.text("SELECT FROM payments.accounts WHERE id = :id FOR NO KEY UPDATE"),
            {"id": args["regular"]},
        )
        _set(holder, fee, "large_unrolled = true")
        answers: list[Any] = []
        pids: list[int] = []

        def write() -> None:
            with engine.begin() as conn:
                pids.append(conn.execute(sa.text("SELECT pg_backend_pid()")).scalar_one())
                answers.append(conn.execute(sa.text(_WRITER), args).scalar_one())
                answers.append(_state(conn, args))

        writer = threading.Thread(target=write)
        writer.start()
        holder_pid = holder.execute(sa.text("SELECT pg_backend_pid()")).scalar_one()
        with engine.connect() as watcher:
            # until the writer waits for the holder's lock (no time is asserted)
            while not (
                pids
                and watcher.execute(
                    sa.text("SELECT :holder = ANY (pg_blocking_pids(:pid))"),
                    {"holder": holder_pid, "pid": pids[0]},
                ).scalar_one()
            ):
                watcher.rollback()
                assert writer.is_alive()
                threading.Event().wait(0.01)
        holder.commit()
        writer.join()
    finally:
        holder.close()
    entry, state = answers
    assert entry is None
    assert state["entry"] is None and state["key"] is None and state["lines"] == []

"""The checkout's opening read (the order under the key, the event FOR SHARE, the prices) rides
on the round trip that begins the hold's transaction and authenticates it
(`keys.authenticate(..., then=tk.opening_statement(...))`, what the checkout route sends with
`UnitOfWork.send_with_opening`): it reads for the organization the key proved, so that
another organization's key, or a key that does not authenticate, reads nothing (even on a
login role that row-level security does not bind: the tests' owner), and `reserve_checkout`
then holds with one statement more, none before it."""

from __future__ import annotations

from typing import Any

import psycopg
import pytest
import sqlalchemy as sa

import ticketing_fsm as tk
from liventix.api import create_key, keys
from tests.ticketing_core.support import open_world, request
from ticketing_fsm.store import checkout as store


def _counting(monkeypatch: Any) -> list[str]:
    """The statements psycopg's cursors send from now on."""
    sent: list[str] = []
    original = psycopg.Cursor.execute

    def counting(self: psycopg.Cursor[Any], query: Any, *args: Any, **kwargs: Any) -> Any:
        sent.append(str(query))
        return original(self, query, *args, **kwargs)

    monkeypatch.setattr(psycopg.Cursor, "execute", counting)
    return sent


def test_the_opening_rides_on_the_authentication_for_the_keys_organization(
    engine: sa.Engine, monkeypatch: Any
) -> None:
    with engine.begin() as conn:
        world = open_world(conn, capacities=(5, 5), prices=(2_500, 4_000))
        token = create_key(conn, world.org, description="opening").token
        other = open_world(conn, capacities=(1,))
        others_token = create_key(conn, other.org, description="other").token
    asked = request(world, "api:open-1", (2, 1))
    statement = tk.opening_statement(asked.event_id, asked.idempotency_key, asked.items)

    # A wrong secret: no principal and nothing sent back.
    wrong = token[:-1] + ("0" if token[-1] != "0" else "1")
    with engine.connect() as conn:
        answers: list[Any] = []
        principal, _ = keys.authenticate(conn, wrong, None, then=statement, answers=answers)
        assert (principal, answers) == (None, [])
        conn.rollback()

    # Another organization's key: authenticated, and it read nothing of the event.
    with engine.connect() as conn:
        answers = []
        principal, _ = keys.authenticate(conn, others_token, None, then=statement, answers=answers)
        assert principal is not None and principal.org_id == other.org
        (result,) = answers
        assert store.opened(conn, result, world.org) is None  # not this organization's read
        row = store.opened(conn, result, other.org)
        assert row is not None and (row.event_id, row.type_ids) == (None, None)
        conn.rollback()

    # The order's key: the event and its prices read in the authentication's round trip, and
    # the hold (with its commit) is the one statement sent after it.
    with engine.connect() as conn:
        answers = []
        principal, _ = keys.authenticate(conn, token, None, then=statement, answers=answers)
        assert principal is not None and principal.org_id == world.org
        (result,) = answers
        row = store.opened(conn, result, world.org)
        assert row is not None
        assert (row.event_id, row.order_id, row.currency) == (world.event, None, "EUR")
        assert list(row.type_ids) == sorted(world.types)
        assert sorted(row.prices) == [2_500, 4_000]
        sent = _counting(monkeypatch)
        pending = tk.reserve_checkout(conn, asked, sent=result)
        conn.commit()
    assert isinstance(pending, tk.PendingCheckout)
    assert pending.amount == 2 * 2_500 + 4_000
    assert not any("ticketing.events" in s for s in sent), sent  # no opening read again

    # The same key again: the opening finds the order stored under it.
    with engine.connect() as conn:
        answers = []
        keys.authenticate(conn, token, None, then=statement, answers=answers)
        row = store.opened(conn, answers[0], world.org)
        assert row is not None and row.order_id == pending.order_id
        again = tk.reserve_checkout(conn, asked, sent=answers[0])
        conn.rollback()
    assert isinstance(again, tk.PendingCheckout) and again.order_id == pending.order_id


def test_a_key_in_the_opening_is_a_literal(engine: sa.Engine) -> None:
    """A quote in the checkout's key stays in the literal."""
    with engine.begin() as conn:
        world = open_world(conn, capacities=(5,))
        token = create_key(conn, world.org, description="quote").token
    asked = request(world, "api:it's'; DROP TABLE x; --", (1,))
    with engine.begin() as conn:
        first = tk.reserve_checkout(conn, asked)
    assert isinstance(first, tk.PendingCheckout)
    statement = tk.opening_statement(asked.event_id, asked.idempotency_key, asked.items)
    with engine.connect() as conn:
        answers: list[Any] = []
        keys.authenticate(conn, token, None, then=statement, answers=answers)
        row = store.opened(conn, answers[0], world.org)
        conn.rollback()
    assert row is not None and row.order_id == first.order_id


def test_an_idempotency_key_holding_a_nul_is_refused_not_cut(engine: sa.Engine) -> None:
    """libpq's escaping of a literal stops at a NUL: the authentication's one round trip
    would look the key up cut short ("k" for "k\\x00x"), another request's key. It goes the
    usual way instead, whose driver refuses the text. (Over HTTP no header holds a NUL.)"""
    with engine.begin() as conn:
        world = open_world(conn, capacities=(1,))
        token = create_key(conn, world.org, description="nul").token
    with engine.connect() as conn:
        with pytest.raises(sa.exc.DataError, match="NUL"):
            keys.authenticate(conn, token, "api:nul\x00cut")
        conn.rollback()

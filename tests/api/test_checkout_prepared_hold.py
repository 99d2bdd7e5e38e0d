"""The HTTP checkout's hold prepared (issue 11): BEGIN, the authentication and the hold as
prepared statements, and the COMMIT, in one libpq pipeline ended by one Sync: one round trip
as before (`keys._open_pipelined`, the hold's `store.checkout.HoldStatement`), prepared once
per connection. The same refusals as the simple query's (tests/api/test_checkout_one_round_
trip.py): the statement does nothing for a key that did not authenticate, another
organization's key, a read-only key, or a key with an answer stored. A statement deallocated
behind the pipeline's back (psycopg's DEALLOCATE ALL after a rollback) or prepared before a
migration changed its function's result columns (0A000: refused at every execution until
prepared again) is prepared again and the pipeline sent again, once; over HTTP too, on the
API's one pooled connection."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

import ticketing_fsm as tk
from liventix.api import create_key, idempotency, keys
from tests.api.one_connection import OneConnectionApi, api_on_one_connection
from tests.api.support import on_sale_event
from tests.ticketing_core.support import World, open_world, request

_HOLD = "ticketing_open_and_hold_%"
_OPEN = "liventix_authenticate_%"
_RECORD = "api_stored_after_%"


def _prepared(engine: sa.Engine) -> dict[str, int]:
    """The pipelines' prepared statements on the pool's connection: kind (open, hold, record)
    -> times run."""
    with engine.connect() as conn:
        rows = conn.exec_driver_sql(
            "SELECT name, generic_plans + custom_plans FROM pg_prepared_statements"
            " WHERE name LIKE %(hold)s OR name LIKE %(open)s OR name LIKE %(record)s",
            {"hold": _HOLD, "open": _OPEN, "record": _RECORD},
        ).all()
        conn.commit()  # a rollback would make psycopg deallocate its own statements
    kinds = {"ticketing": "hold", "liventix": "open", "api": "record"}
    return {kinds[r[0].split("_")[0]]: int(r[1]) for r in rows}


def _held(engine: sa.Engine, type_id: uuid.UUID) -> int:
    with engine.connect() as conn:
        return int(
            conn.execute(
                sa.text("SELECT held FROM ticketing.ticket_types WHERE id = :id"), {"id": type_id}
            ).scalar_one()
        )


def _send(
    engine: sa.Engine, token: str, header_key: str | None, planned: tk.PlannedHold
) -> tuple[keys.Principal | None, keys.StoredAnswer | None, list[Any], Any]:
    """The hold's round trip as the API sends it (the hold with the COMMIT: pipelined);
    then the connection's transaction rolled back (the commit in the round trip is all that
    can keep anything)."""
    with engine.connect() as conn:
        answers: list[Any] = []
        principal, stored = keys.authenticate(
            conn, token, header_key, then=planned.statement, answers=answers, commit=True
        )
        result = None
        if answers:
            result = tk.planned_hold_result(conn, planned, answers[0])
        conn.rollback()
    return principal, stored, answers, result


def _plan(world: World, key: str, n: int) -> tk.PlannedHold:
    planned = tk.plan_hold(request(world, key, (n,)), go=keys.FRESH_WRITE)
    assert planned is not None
    assert isinstance(planned.statement, keys.PreparedThen)
    return planned


def test_the_pipelined_hold_holds_only_for_a_fresh_write_of_the_planned_org(
    one_connection: sa.Engine,
) -> None:
    engine = one_connection
    with engine.begin() as conn:
        world = open_world(conn, capacities=(5,))
        token = create_key(conn, world.org, description="one").token
        read_only = create_key(conn, world.org, description="ro", scope="read_only").token
        other = open_world(conn, capacities=(1,))
        others_token = create_key(conn, other.org, description="other").token
    type_id = world.types[0]
    planned = _plan(world, "api:pipe-1", 2)

    wrong = token[:-1] + ("0" if token[-1] != "0" else "1")
    assert _send(engine, wrong, "pipe-1", planned)[:3] == (None, None, [])
    # Prepared on the first use (before: the simple query, nothing prepared).
    assert _prepared(engine) == {"open": 1, "hold": 1}
    principal, _, answers, result = _send(engine, others_token, "pipe-1", planned)
    assert principal is not None and principal.org_id == other.org
    assert len(answers) == 1 and result is None
    principal, _, answers, result = _send(engine, read_only, "pipe-1", planned)
    assert principal is not None and principal.read_only
    assert len(answers) == 1 and result is None
    with engine.begin() as conn:
        conn.execute(
            sa.text("""INSERT INTO payments.api_idempotency
                           (scope, key, method, path, request_sha256, status, content_type,
                            response)
                       VALUES (:scope, 'pipe-1', 'POST', '/v1/checkouts', 'x', 409,
                               'application/problem+json', '{}')"""),
            {"scope": str(world.org)},
        )
    principal, stored, answers, result = _send(engine, token, "pipe-1", planned)
    assert principal is not None and stored is not None and stored.status == 409
    assert len(answers) == 1 and result is None
    assert _held(engine, type_id) == 0

    principal, stored, answers, pending = _send(engine, token, "pipe-2", planned)
    assert principal is not None and stored is None
    assert isinstance(pending, tk.PendingCheckout) and pending.order_id == planned.order_id
    assert (pending.amount, pending.currency) == (2 * 2_500, "EUR")
    assert _held(engine, type_id) == 2  # committed in the round trip
    # The same checkout again: found, nothing more held.
    _, _, _, found = _send(engine, token, "pipe-3", _plan(world, "api:pipe-1", 2))
    assert isinstance(found, tk.PendingCheckout) and found.order_id == pending.order_id
    assert found.hold_expires_at == pending.hold_expires_at
    with pytest.raises(tk.IdempotencyConflict):
        _send(engine, token, "pipe-4", _plan(world, "api:pipe-1", 1))
    with pytest.raises(tk.SoldOut):
        _send(engine, token, "pipe-5", _plan(world, "api:pipe-5", 4))
    assert _held(engine, type_id) == 2
    # Prepared once, run every time (the wrong secret's hold ran too, and did nothing).
    assert _prepared(engine) == {"open": 8, "hold": 8}


def test_a_statement_deallocated_behind_the_pipeline_is_prepared_again(
    one_connection: sa.Engine,
) -> None:
    engine = one_connection
    with engine.begin() as conn:
        world = open_world(conn, capacities=(10,))
        token = create_key(conn, world.org, description="one").token
    assert isinstance(
        _send(engine, token, "d-1", _plan(world, "api:d-1", 1))[3], tk.PendingCheckout
    )
    with engine.connect() as conn:  # as psycopg does after a rollback of its prepared ones
        conn.exec_driver_sql("DEALLOCATE ALL")
        conn.commit()
    assert _prepared(engine) == {}
    # Before: 26000 (invalid_sql_statement_name) raised.
    assert isinstance(
        _send(engine, token, "d-2", _plan(world, "api:d-2", 2))[3], tk.PendingCheckout
    )
    assert _prepared(engine) == {"open": 1, "hold": 1}
    # The hold's alone deallocated (the opening ran): the hold prepared again.
    with engine.connect() as conn:
        (name,) = conn.exec_driver_sql(
            "SELECT name FROM pg_prepared_statements WHERE name LIKE %(hold)s", {"hold": _HOLD}
        ).one()
        conn.exec_driver_sql(f"DEALLOCATE {name}")
        conn.commit()
    assert isinstance(
        _send(engine, token, "d-3", _plan(world, "api:d-3", 3))[3], tk.PendingCheckout
    )
    assert _prepared(engine) == {"open": 3, "hold": 1}
    assert _held(engine, world.types[0]) == 6


def _widen_the_hold(engine: sa.Engine) -> None:
    """A migration replacing `ticketing.open_and_hold_checkout` with one more result column,
    on a connection of `engine` (another than the hold's: psycopg deallocates every
    statement after a DROP on its own connection, which would test the deallocation)."""
    with engine.begin() as conn:
        definition = conn.exec_driver_sql(
            "SELECT pg_get_functiondef('ticketing.open_and_hold_checkout'::regproc)"
        ).scalar_one()
        widened = definition.replace("on_sale boolean)", "on_sale boolean, added integer)", 1)
        widened = widened.replace("RETURN QUERY SELECT *", "RETURN QUERY SELECT *, NULL::int", 1)
        assert widened.count("added integer") == 1 and "NULL::int" in widened
        conn.exec_driver_sql("DROP FUNCTION ticketing.open_and_hold_checkout")
        conn.exec_driver_sql(widened.replace("%", "%%"))


def test_a_hold_prepared_before_its_function_changed_columns_is_prepared_again(
    one_connection: sa.Engine, committing_engine: sa.Engine
) -> None:
    """PostgreSQL refuses a prepared statement whose result columns changed at every
    execution (0A000 "cached plan must not change result type", nothing run): deallocated,
    prepared again, the pipeline sent again, and the row read with its new columns."""
    engine = one_connection
    with engine.begin() as conn:
        world = open_world(conn, capacities=(10,))
        token = create_key(conn, world.org, description="one").token
    assert isinstance(
        _send(engine, token, "c-1", _plan(world, "api:c-1", 1))[3], tk.PendingCheckout
    )
    _widen_the_hold(committing_engine)  # another connection, as a migration's
    planned = _plan(world, "api:c-2", 2)
    _, _, answers, pending = _send(engine, token, "c-2", planned)  # before: 0A000 raised
    assert isinstance(pending, tk.PendingCheckout)
    assert answers[0].fname(answers[0].nfields - 1) == b"added"
    # The opening ran in the refused pipeline and again in the one sent again.
    assert _prepared(engine) == {"open": 3, "hold": 1}
    assert _held(engine, world.types[0]) == 3


@pytest.fixture
def api_one_connection(pg_server_url: str, template_db: str) -> Iterator[OneConnectionApi]:
    with api_on_one_connection(pg_server_url, template_db) as served:
        yield served


def _short_holds(client: httpx.Client) -> float:
    text = client.get("/metrics").text
    found = re.search(
        r'^liventix_api_checkout_steps_total\{step="hold",way="short"\} (\S+)$', text, re.M
    )
    return 0.0 if found is None else float(found[1])


def test_over_http_the_hold_is_prepared_and_survives_deallocation_and_migration(
    api_one_connection: OneConnectionApi,
) -> None:
    api, key, engine = api_one_connection.url, api_one_connection.key, api_one_connection.engine
    with httpx.Client(
        base_url=api, headers={"Authorization": f"Bearer {key}"}, timeout=60
    ) as client:
        event = on_sale_event(client, capacity=10)  # the key authenticated in this process
        type_id = event["ticket_types"][0]["id"]

        def checkout(idempotency_key: str, n: int) -> httpx.Response:
            body = {
                "event_id": event["id"],
                "buyer_email": "ann@example.com",
                "items": [{"ticket_type_id": type_id, "quantity": n}],
            }
            return client.post(
                "/v1/checkouts", json=body, headers={"Idempotency-Key": idempotency_key}
            )

        before = _short_holds(client)
        first = checkout("h-1", 1)
        assert first.status_code == 201, first.text
        # The hold's pipeline and the record's (with the answer stored): before, nothing
        # prepared.
        assert _prepared(engine) == {"open": 2, "hold": 1, "record": 1}
        with engine.connect() as conn:
            conn.exec_driver_sql("DEALLOCATE ALL")
            conn.commit()
        second = checkout("h-2", 2)
        assert second.status_code == 201, second.text
        migrating = sa.create_engine(engine.url, poolclass=sa.NullPool)
        try:
            _widen_the_hold(migrating)
        finally:
            migrating.dispose()
        third = checkout("h-3", 3)
        assert third.status_code == 201, third.text  # before: 500 (0A000), every hold after
        # Since the DEALLOCATE ALL: the second's two pipelines (the hold's found its opening
        # gone: both prepared again; the record's prepared with them), the third's hold sent
        # twice (its 0A000) and its record.
        assert _prepared(engine) == {"open": 5, "hold": 1, "record": 2}
        replayed = checkout("h-3", 3)
        assert replayed.status_code == 201 and replayed.json() == third.json()
        assert replayed.headers.get("Idempotency-Replayed") == "true"
        assert _short_holds(client) == before + 3  # the replay: answered as stored
        found = client.get(f"/v1/events/{event['id']}").json()
        assert found["ticket_types"][0]["held"] == 6


def test_the_pipelined_record_records_only_for_the_orders_organization_awaiting_payment(
    one_connection: sa.Engine,
) -> None:
    """The record's statement (`tk.record_awaiting_statement`) prepared in the pipeline, as
    the record step sends it (there with the answer stored after it): another organization's
    key records nothing; an order no longer awaiting payment, nothing."""
    engine = one_connection
    with engine.begin() as conn:
        world = open_world(conn, capacities=(5,))
        token = create_key(conn, world.org, description="record").token
        other = open_world(conn, capacities=(1,))
        others_token = create_key(conn, other.org, description="other").token
        first = tk.reserve_checkout(conn, request(world, "api:prec-1", (1,)))
        second = tk.reserve_checkout(conn, request(world, "api:prec-2", (1,)))
    assert isinstance(first, tk.PendingCheckout) and isinstance(second, tk.PendingCheckout)

    def record(as_token: str, pending: tk.PendingCheckout, intent_id: str) -> int:
        intent = tk.CreatedIntent(intent_id, f"{intent_id}_secret_x'y")
        _checkout, statement = tk.record_awaiting_statement(pending, intent)
        assert isinstance(statement, keys.PreparedThen)
        with engine.connect() as conn:
            answers: list[Any] = []
            principal, _ = keys.authenticate(
                conn, as_token, None, then=statement, answers=answers, commit=True
            )
            assert principal is not None and len(answers) == 1
            conn.rollback()
            return int(answers[0].ntuples)

    assert record(others_token, first, "pi_p1") == 0
    assert record(token, first, "pi_p1") == 1  # committed in the round trip
    assert record(token, first, "pi_p1") == 1  # the same intent again: the same row
    assert record(token, first, "pi_other") == 0  # another intent recorded first
    with engine.begin() as conn:
        tk.cancel_order(conn, world.org, second.order_id, cause="tests")
    assert record(token, second, "pi_p2") == 0
    with engine.connect() as conn:
        rows = conn.execute(
            sa.text("SELECT id, payment_intent_id, client_secret FROM ticketing.orders")
        ).all()
    recorded = {r.id: (r.payment_intent_id, r.client_secret) for r in rows}
    assert recorded[first.order_id] == ("pi_p1", "pi_p1_secret_x'y")
    assert recorded[second.order_id] == (None, None)
    with engine.connect() as conn:
        names = conn.exec_driver_sql("SELECT name FROM pg_prepared_statements").scalars().all()
        conn.commit()
    assert any(name.startswith("ticketing_record_awaiting_") for name in names)


def test_a_caller_varying_its_statement_cannot_prepare_without_bound(
    one_connection: sa.Engine,
) -> None:
    """`plan_hold`'s `go` is part of the prepared statement's text (another condition, another
    statement): once the connection holds `keys._KEPT_PREPARED` pipelined statements, a new
    one goes as the literal simple query, and holds the same (before: one more statement
    prepared per condition, without limit)."""
    engine = one_connection
    with engine.begin() as conn:
        world = open_world(conn, capacities=(100,))
        token = create_key(conn, world.org, description="one").token
    conditions = keys._KEPT_PREPARED + 4
    for n in range(conditions):
        go = keys.FRESH_WRITE + f" AND {n} = {n}".encode()
        planned = tk.plan_hold(request(world, f"api:v-{n}", (1,)), go=go)
        assert planned is not None
        assert isinstance(_send(engine, token, f"v-{n}", planned)[3], tk.PendingCheckout)
    with engine.connect() as conn:
        names = conn.exec_driver_sql(
            "SELECT count(*) FROM pg_prepared_statements"
            " WHERE name LIKE %(hold)s OR name LIKE %(open)s",
            {"hold": _HOLD, "open": _OPEN},
        ).scalar_one()
        conn.commit()
    assert names == keys._KEPT_PREPARED  # the opening and 15 holds; the other 5 not kept
    assert _held(engine, world.types[0]) == conditions


def test_a_statement_still_stale_after_the_last_pipeline_is_the_database_unavailable(
    one_connection: sa.Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A hold's statement found deallocated on the last pipeline ran nothing: raised as the
    database's failure (the unit of work's 503), as the opening's is, not as the handler's
    statement failing (`StatementFailed`: a 26000 answered 500)."""
    engine = one_connection
    with engine.begin() as conn:
        world = open_world(conn, capacities=(10,))
        token = create_key(conn, world.org, description="one").token
    assert isinstance(
        _send(engine, token, "s-1", _plan(world, "api:s-1", 1))[3], tk.PendingCheckout
    )
    with engine.connect() as conn:
        (name,) = conn.exec_driver_sql(
            "SELECT name FROM pg_prepared_statements WHERE name LIKE %(hold)s", {"hold": _HOLD}
        ).one()
        conn.exec_driver_sql(f"DEALLOCATE {name}")
        conn.commit()
    monkeypatch.setattr(keys, "_ATTEMPTS", 1)  # the first pipeline is the last
    with pytest.raises(sa.exc.DBAPIError) as raised:
        _send(engine, token, "s-2", _plan(world, "api:s-2", 2))
    assert getattr(raised.value.orig, "sqlstate", None) == "26000"
    assert _held(engine, world.types[0]) == 1


def test_a_connection_once_used_for_a_read_only_report_still_holds_in_one_pipeline(
    one_connection: sa.Engine,
) -> None:
    """SQLAlchemy's reset after a REPEATABLE READ read-only unit of work (the API's reports)
    leaves the driver an explicit READ COMMITTED: the opening sends the BEGIN psycopg would
    send, with those characteristics, instead of leaving the one round trip for good (before:
    every later hold on that connection went the long way, nothing prepared)."""
    engine = one_connection
    with engine.begin() as conn:
        world = open_world(conn, capacities=(10,))
        token = create_key(conn, world.org, description="one").token
    with engine.connect() as conn:
        conn.execution_options(isolation_level="REPEATABLE READ", postgresql_readonly=True)
        with conn.begin():
            assert conn.exec_driver_sql("SHOW transaction_read_only").scalar_one() == "on"
    with engine.connect() as conn:
        driver = conn.connection.driver_connection
        assert driver is not None and driver.isolation_level is not None  # the reset's
        conn.commit()
    assert isinstance(
        _send(engine, token, "r-1", _plan(world, "api:r-1", 2))[3], tk.PendingCheckout
    )
    assert _prepared(engine) == {"open": 1, "hold": 1}
    assert _held(engine, world.types[0]) == 2
    # A read-only unit of work's opening in one round trip keeps its characteristics.
    with engine.connect() as conn:
        conn.execution_options(isolation_level="REPEATABLE READ", postgresql_readonly=True)
        principal, _ = keys.authenticate(conn, token)
        assert principal is not None and principal.org_id == world.org
        assert conn.exec_driver_sql("SHOW transaction_isolation").scalar_one() == (
            "repeatable read"
        )
        assert conn.exec_driver_sql("SHOW transaction_read_only").scalar_one() == "on"
        conn.rollback()


class _Varying:
    """A statement with a prepared form whose text the caller varies."""

    def __init__(self, n: int) -> None:
        self.text = b"SELECT %d WHERE $1::int > 0" % n
        self.name = b"varying_%d" % n

    def __call__(self, escape: keys.Escape) -> bytes:
        return self.text.replace(b"$1::int", b"1")

    def parameters(self, encoding: str) -> list[bytes | None] | None:
        return [b"1"]


def test_the_stored_answers_prepared_forms_are_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    """`idempotency.store_after` keeps one prepared form per statement text, at most
    `_MOST_PREPARED_AFTER`: beyond, a new text goes in its literal form (before: one more
    entry per text, without bound; review 2 of session 35)."""
    kept: dict[bytes, tuple[bytes, bytes]] = {}
    monkeypatch.setattr(idempotency, "_PREPARED_AFTER", kept)
    forms = [
        idempotency._StoredAfter(_Varying(n), {}).prepared_form()
        for n in range(idempotency._MOST_PREPARED_AFTER + 4)
    ]
    assert all(f is not None for f in forms[: idempotency._MOST_PREPARED_AFTER])
    assert all(f is None for f in forms[idempotency._MOST_PREPARED_AFTER :])
    assert len(kept) == idempotency._MOST_PREPARED_AFTER
    again = idempotency._StoredAfter(_Varying(3), {}).prepared_form()  # a kept text: still
    assert again is not None and again.name == forms[3].name  # type: ignore[union-attr]

"""The hot triggers' WHENs are one call of an IMMUTABLE function of no argument, folded into a
constant where PostgreSQL compiles the WHEN (once per statement), so a posting no longer reads
the flags' test back from its stored text for each of the four triggers it fires.

The function is not immutable in truth: these tests hold that the flag is still read for
every statement, whether the statements come one by one or from one PL/pgSQL function's
cached plans in a loop (a value kept from one statement to the next would let a checked
statement through, or refuse the engine's own). Raw SQL by the tables' owner, in a
transaction rolled back."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
import sqlalchemy as sa

import ledger

HOT = {
    "lines_balanced": "payments._engine_unchecked()",
    "entries_have_lines": "payments._engine_unchecked()",
    "idempotency_keys_org": "payments._engine_unchecked()",
    "accounts_guard": "payments._writer_off()",
}

# Each flag's value for one statement, and what the statement meets: checked unless 'on'.
FLAGS = ["off", "on", "off", "on", "on", "", "off"]
EXPECTED = ["refused" if flag != "on" else "written" for flag in FLAGS]

# One statement per flag, from one function's cached plans: a key of an unknown status
# (idempotency_keys_status_check, judged by idempotency_keys_org) or an account's version
# moved outside the engine (LX002, accounts_guard).
_LOOP = """
CREATE FUNCTION pg_temp.attempts(p_what text, p_org uuid, p_account uuid, p_flags text[])
RETURNS text[] LANGUAGE plpgsql AS $$
DECLARE
    f text;
    i int := 0;
    v_out text[] := '{}';
BEGIN
    FOREACH f IN ARRAY p_flags LOOP
        i := i + 1;
        PERFORM set_config(CASE p_what WHEN 'key' THEN 'payments.engine_checked'
                                       ELSE 'payments.writer' END, f, true);
        BEGIN
            IF p_what = 'key' THEN
                INSERT INTO payments.idempotency_keys
                    (org_id, key, operation, request_hash, status, result)
                VALUES (p_org, 'folded-' || i, 'post_entries', 'h', 'maybe', '{}');
            ELSE
                UPDATE payments.accounts SET version = version + 1 WHERE id = p_account;
            END IF;
            v_out := v_out || 'written'::text;
        EXCEPTION WHEN check_violation OR SQLSTATE 'LX002' THEN
            v_out := v_out || 'refused'::text;
        END;
    END LOOP;
    RETURN v_out;
END
$$
"""


@pytest.fixture
def owner(engine: sa.Engine) -> Iterator[tuple[sa.Connection, uuid.UUID, uuid.UUID]]:
    """The owner's connection in a transaction rolled back at the end, an organization and
    one of its accounts."""
    org = uuid.uuid4()
    with engine.connect() as conn:
        conn.begin()
        ledger.open_organization(conn, org, "Folded")
        account = conn.execute(
            sa.text(
                "INSERT INTO payments.accounts (org_id, code, name, type, currency)"
                " VALUES (:org, 'folded', 'folded', 'asset', 'USD') RETURNING id"
            ),
            {"org": org},
        ).scalar_one()
        conn.execute(sa.text(_LOOP))
        try:
            yield conn, org, account
        finally:
            conn.rollback()


def test_the_hot_whens_are_one_immutable_call(engine: sa.Engine) -> None:
    """Each hot trigger's WHEN is the call alone, of a function of no argument declared
    IMMUTABLE (the planning step of the WHEN's compilation folds it)."""
    with engine.connect() as conn:
        rows = conn.execute(
            sa.text(
                "SELECT t.tgname, pg_get_triggerdef(t.oid) FROM pg_trigger t"
                " WHERE t.tgname = ANY (:names) AND NOT t.tgisinternal"
                "   AND t.tgrelid::regclass::text LIKE 'payments.%'"
            ),
            {"names": list(HOT)},
        ).all()
        functions = conn.execute(
            sa.text(
                "SELECT p.proname, p.provolatile, p.pronargs, l.lanname FROM pg_proc p"
                " JOIN pg_language l ON l.oid = p.prolang"
                " WHERE p.pronamespace = 'payments'::regnamespace"
                "   AND p.proname IN ('_engine_unchecked', '_writer_off')"
            )
        ).all()
    whens = {
        name: definition.split(" WHEN (", 1)[1].split(") EXECUTE", 1)[0]
        for name, definition in rows
    }
    assert whens == HOT
    assert sorted(tuple(f) for f in functions) == [
        ("_engine_unchecked", "i", 0, "plpgsql"),
        ("_writer_off", "i", 0, "plpgsql"),
    ]


@pytest.mark.parametrize("what", ["key", "account"])
def test_the_flag_is_read_for_every_statement_of_a_loop(
    owner: tuple[sa.Connection, uuid.UUID, uuid.UUID], what: str
) -> None:
    """The same statement run again from a function's cached plan meets the flag as it is
    then: checked, skipped, checked again."""
    conn, org, account = owner
    got = conn.execute(
        sa.text("SELECT pg_temp.attempts(:what, :org, :account, :flags)"),
        {"what": what, "org": org, "account": account, "flags": FLAGS},
    ).scalar_one()
    assert got == EXPECTED


@pytest.mark.parametrize("what", ["key", "account"])
def test_the_flag_is_read_for_every_statement_of_a_session(
    owner: tuple[sa.Connection, uuid.UUID, uuid.UUID], what: str
) -> None:
    """Statement after statement on one connection (one prepared statement each), the same."""
    conn, org, account = owner
    setting = "payments.engine_checked" if what == "key" else "payments.writer"
    got = []
    for i, flag in enumerate(FLAGS):
        conn.execute(
            sa.text("SELECT set_config(:name, :flag, true)"), {"name": setting, "flag": flag}
        )
        savepoint = conn.begin_nested()
        try:
            if what == "key":
                conn.execute(
                    sa.text(
                        "INSERT INTO payments.idempotency_keys"
                        " (org_id, key, operation, request_hash, status, result)"
                        " VALUES (:org, :key, 'post_entries', 'h', 'maybe', '{}')"
                    ),
                    {"org": org, "key": f"session-{i}"},
                )
            else:
                conn.execute(
                    sa.text("UPDATE payments.accounts SET version = version + 1 WHERE id = :id"),
                    {"id": account},
                )
        except sa.exc.DBAPIError as error:
            savepoint.rollback()
            state = getattr(error.orig, "sqlstate", None)
            assert state in ("23514", "LX002"), error
            got.append("refused")
        else:
            savepoint.commit()
            got.append("written")
    assert got == EXPECTED

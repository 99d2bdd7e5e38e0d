"""The folded-WHEN functions (`payments._engine_unchecked()`, `payments._writer_off()`, and any
sibling: a function declared IMMUTABLE whose body reads a setting) are used only in triggers'
WHENs, read from the migrated database's catalog.

IMMUTABLE is a lie these functions tell on purpose: a trigger's WHEN is compiled once per
statement (migrations/sql/payments_schema.sql, above `_engine_unchecked`), so the folded
value is the flag as the statement finds it. Anywhere else the same call is wrong: in a
query, a view or another function's body, a cached plan keeps the value folded when it was
planned; in an index expression, a generated column or a CHECK (IMMUTABLE lets them be
written) the value of the moment is stored and later trusted. So anything in the catalog
that refers to one, but a trigger's WHEN, is a mistake. Two nets: the dependencies
PostgreSQL records for every stored expression (views and rules, indexes, defaults and
generated columns, constraints and domains, policies, trigger WHENs, SQL-standard function
bodies, argument defaults), and the text of what it records none for (PL/pgSQL and quoted SQL
function bodies), beside the deparsed views, indexes, defaults, policies and constraints of
the brief's list. The second test proves each net flags a use of each kind, in the test's
rolled-back transaction, and lets a trigger's WHEN through."""

from __future__ import annotations

import re

import pytest
import sqlalchemy as sa

KNOWN = {"payments._engine_unchecked()", "payments._writer_off()"}

# IMMUTABLE functions of the project's schemas whose source reads a setting.
_FOLDED = """
SELECT p.oid, p.oid::regprocedure::text, p.proname
  FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
 WHERE p.provolatile = 'i'
   AND n.nspname NOT IN ('pg_catalog', 'information_schema')
   AND n.nspname NOT LIKE 'pg\\_toast%'
   AND p.prosrc ~* '(current_setting|pg_settings|\\mshow\\M)'
"""

# Every object that depends on one of them, described; a trigger's with its definition.
_DEPENDENTS = """
SELECT pg_describe_object(d.classid, d.objid, d.objsubid),
       CASE WHEN d.classid = 'pg_trigger'::regclass THEN pg_get_triggerdef(d.objid) END
  FROM pg_depend d
 WHERE d.refclassid = 'pg_proc'::regclass AND d.refobjid = ANY (:oids)
"""

# Function bodies kept as text (PostgreSQL records no dependency for them).
_BODIES = """
SELECT p.oid::regprocedure::text, p.prosrc
  FROM pg_proc p JOIN pg_language l ON l.oid = p.prolang
 WHERE l.lanname NOT IN ('internal', 'c') AND p.prosqlbody IS NULL AND NOT p.oid = ANY (:oids)
"""

# The deparsed text of the stored expressions of the brief's list, by kind.
_DEPARSED = """
SELECT 'view ' || schemaname || '.' || viewname, definition FROM pg_views
 WHERE schemaname NOT IN ('pg_catalog', 'information_schema')
UNION ALL
SELECT 'materialized view ' || schemaname || '.' || matviewname, definition FROM pg_matviews
UNION ALL
SELECT 'index ' || schemaname || '.' || indexname, indexdef FROM pg_indexes
 WHERE schemaname NOT IN ('pg_catalog', 'information_schema')
UNION ALL
SELECT 'default of ' || a.adrelid::regclass || '.' || c.attname, pg_get_expr(a.adbin, a.adrelid)
  FROM pg_attrdef a
  JOIN pg_attribute c ON c.attrelid = a.adrelid AND c.attnum = a.adnum
UNION ALL
SELECT 'policy ' || policyname || ' on ' || schemaname || '.' || tablename,
       concat_ws(' ', qual, with_check) FROM pg_policies
UNION ALL
SELECT 'constraint ' || conname, pg_get_constraintdef(oid) FROM pg_constraint
 WHERE contype = 'c' AND connamespace <> 'pg_catalog'::regnamespace
UNION ALL
SELECT 'trigger ' || tgname || ' on ' || tgrelid::regclass,
       pg_get_triggerdef(oid) FROM pg_trigger WHERE NOT tgisinternal
"""


def _mentions(names: list[str], text: str) -> bool:
    return any(re.search(rf"(?<![\w$]){re.escape(n)}(?![\w$])", text, re.I) for n in names)


def _outside_whens(text: str) -> str:
    """A trigger's definition without its WHEN clause (pg_get_triggerdef's layout)."""
    head, when, tail = text.partition(" WHEN (")
    if not when:
        return text
    return head + " " + tail.split(") EXECUTE ", 1)[1]


def misplaced(conn: sa.Connection) -> tuple[set[str], set[str]]:
    """The folded functions found, and every use of one outside a trigger's WHEN, each as
    "<net>: <object>"."""
    folded = conn.execute(sa.text(_FOLDED)).all()
    oids = [oid for oid, _, _ in folded]
    names = sorted({name for _, _, name in folded})
    found: set[str] = set()
    for what, trigger in conn.execute(sa.text(_DEPENDENTS), {"oids": oids}):
        if trigger is None or _mentions(names, _outside_whens(trigger)):
            found.add(f"depends: {what}")
    for what, body in conn.execute(sa.text(_BODIES), {"oids": oids}):
        if _mentions(names, body):
            found.add(f"body: {what}")
    for what, text in conn.execute(sa.text(_DEPARSED)):
        if _mentions(names, _outside_whens(text) if what.startswith("trigger ") else text):
            found.add(f"deparsed: {what}")
    return {signature for _, signature, _ in folded}, found


def test_the_folded_functions_are_used_only_in_triggers_whens(conn: sa.Connection) -> None:
    folded, found = misplaced(conn)
    assert folded >= KNOWN, "the catalog query no longer finds the folded functions"
    assert found == set()
    # The nets look where the functions are: the four hot triggers' WHENs.
    whens = conn.execute(
        sa.text(
            "SELECT count(*) FROM pg_depend WHERE classid = 'pg_trigger'::regclass"
            " AND refobjid IN ('payments._engine_unchecked()'::regprocedure,"
            "                  'payments._writer_off()'::regprocedure)"
        )
    ).scalar_one()
    assert whens == 4


_PROBE = "CREATE TABLE payments.lows_probe (id int PRIMARY KEY, n int)"
F = "payments._writer_off()"
G = "payments._engine_unchecked()"

# Each use, what the two nets call it (None: the net does not see this kind).
USES = {
    "view": (
        f"CREATE VIEW payments.lows_v AS SELECT {F} AS off",
        "rule _RETURN on view payments.lows_v",
        "view payments.lows_v",
    ),
    "materialized view": (
        f"CREATE MATERIALIZED VIEW payments.lows_mv AS SELECT {G} AS off",
        "rule _RETURN on materialized view payments.lows_mv",
        "materialized view payments.lows_mv",
    ),
    "plpgsql body": (
        "CREATE FUNCTION payments.lows_f() RETURNS boolean LANGUAGE plpgsql"
        f" AS $$ BEGIN RETURN {F}; END $$",
        None,
        None,
    ),
    "sql body": (
        f"CREATE FUNCTION payments.lows_f() RETURNS boolean LANGUAGE sql AS 'SELECT {G}'",
        None,
        None,
    ),
    "sql-standard body": (
        f"CREATE FUNCTION payments.lows_f() RETURNS boolean LANGUAGE sql RETURN {F}",
        "function payments.lows_f()",
        None,
    ),
    "argument default": (
        "CREATE FUNCTION payments.lows_f(b boolean DEFAULT payments._writer_off())"
        " RETURNS boolean LANGUAGE sql RETURN b",
        "function payments.lows_f(boolean)",
        None,
    ),
    "index expression": (
        f"CREATE INDEX lows_i ON payments.lows_probe ((n > 0 AND {F}))",
        "index payments.lows_i",
        "index payments.lows_i",
    ),
    "partial index": (
        f"CREATE INDEX lows_i ON payments.lows_probe (n) WHERE {G}",
        "index payments.lows_i",
        "index payments.lows_i",
    ),
    "default": (
        f"ALTER TABLE payments.lows_probe ADD COLUMN b boolean DEFAULT {F}",
        "default value for column b of table payments.lows_probe",
        "default of payments.lows_probe.b",
    ),
    "generated column": (
        f"ALTER TABLE payments.lows_probe ADD COLUMN b boolean GENERATED ALWAYS AS ({G}) STORED",
        "default value for column b of table payments.lows_probe",
        "default of payments.lows_probe.b",
    ),
    "check": (
        f"ALTER TABLE payments.lows_probe ADD CONSTRAINT lows_c CHECK ({F} OR n > 0)",
        "constraint lows_c on table payments.lows_probe",
        "constraint lows_c",
    ),
    "domain": (
        f"CREATE DOMAIN payments.lows_d AS int CONSTRAINT lows_c CHECK ({G} OR VALUE > 0)",
        "constraint lows_c",
        "constraint lows_c",
    ),
    "policy": (
        f"CREATE POLICY lows_p ON payments.lows_probe USING ({F})",
        "policy lows_p on table payments.lows_probe",
        "policy lows_p on payments.lows_probe",
    ),
}


@pytest.mark.parametrize("kind", list(USES))
def test_each_net_flags_a_use_outside_a_when(conn: sa.Connection, kind: str) -> None:
    """The check can fail: each kind of use, made in the test's transaction (rolled back),
    is flagged by the nets that see its kind."""
    ddl, depends, deparsed = USES[kind]
    conn.execute(sa.text(_PROBE))
    conn.execute(sa.text(ddl))
    _, found = misplaced(conn)
    expected = {f"depends: {depends}"} if depends else set()
    if deparsed:
        expected.add(f"deparsed: {deparsed}")
    if kind in ("plpgsql body", "sql body"):
        expected.add("body: payments.lows_f()")
    assert found == expected


def test_a_when_of_its_own_is_let_through(conn: sa.Connection) -> None:
    """A new trigger testing a flag in its WHEN, as the hot triggers do, is not flagged."""
    conn.execute(sa.text(_PROBE))
    conn.execute(
        sa.text(
            "CREATE TRIGGER lows_t AFTER UPDATE ON payments.lows_probe FOR EACH ROW"
            f" WHEN ({F} AND OLD.n IS DISTINCT FROM NEW.n)"
            " EXECUTE FUNCTION payments.guard_account_update()"
        )
    )
    assert misplaced(conn)[1] == set()


def test_a_sibling_is_found_by_what_it_reads(conn: sa.Connection) -> None:
    """A new IMMUTABLE function reading a setting is one of them: its use in a view is
    flagged without naming it anywhere in this test's lists."""
    conn.execute(
        sa.text(
            "CREATE FUNCTION payments.lows_flag() RETURNS text LANGUAGE sql IMMUTABLE"
            " AS $$ SELECT current_setting('payments.lows', true) $$"
        )
    )
    conn.execute(sa.text("CREATE VIEW payments.lows_v AS SELECT payments.lows_flag() AS flag"))
    folded, found = misplaced(conn)
    assert "payments.lows_flag()" in folded
    assert found == {
        "depends: rule _RETURN on view payments.lows_v",
        "deparsed: view payments.lows_v",
    }

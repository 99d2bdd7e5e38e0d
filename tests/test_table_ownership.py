"""Every table has one owner, and product code outside the owner neither writes it nor reads
it, except on the declared read side (issue 15 item 1).

The owners come from the migrations' SQL: one file per domain (`migrations/sql/*.sql`), each
file's `CREATE TABLE`s and `CREATE VIEW`s belonging to the package `OWNER_OF_SQL_FILE` names.
The product code (`PRODUCT`) is read with `ast`: every string constant that is not a
docstring (f-strings' literal parts included) is SQL text to search for `schema.table`; a
table preceded by `INSERT INTO`, `UPDATE`, `DELETE FROM`, `TRUNCATE`, `MERGE INTO` or
`COPY` is written, any other mention is read. A module outside the table's owner that
writes it is a violation; one that reads it is a violation unless it is on the read side
(`READ_SIDE`, each entry with its reason). What is still in the code is listed, with whose
it is to fix, in `KNOWN_VIOLATIONS`: the test fails for anything new, and for an entry
that is gone (so the list only shrinks).

Not seen: a table named in pieces (`f"{schema}.{name}"`), or through an SQLAlchemy `Table`
or `table` object (product code builds none: `test_product_code_defines_no_table_objects`).
"""

from __future__ import annotations

import ast
import fnmatch
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SQL_DIR = ROOT / "migrations" / "sql"
PRODUCT = ("pgdriver", "ledger", "outbox", "escrow", "ticketing_fsm", "liventix")

# Which package owns the tables a migration file creates (its name up to the first `_`).
OWNER_OF_SQL_FILE = {
    "payments": "ledger",  # payments_schema, payments_engine, payments_batches .sql: the ledger
    "escrow": "escrow",
    "ticketing": "ticketing_fsm",
    "messaging": "outbox",
    "api": "liventix/api",  # api_tenancy.sql: the API's keys and idempotency records
    "replication": "liventix",  # replication.sql: no table, the replica's receiver for the API
}

# Modules (glob patterns; a trailing `/` is a whole package) that may read every table, and
# why. Nothing here may write a table it does not own. (The CLI's report commands name no
# table: they go through `liventix.reports`.)
READ_SIDE = {
    "liventix/reports/": "the reports: statements and reconciliations across every package",
    "liventix/api/*/read_side.py": "each API slice's read-only queries behind its GET routes",
    "liventix/api/reports/": "the API's report routes: read-only, over the reports",
    "liventix/api/metrics.py": "Prometheus metrics: counts across packages, read-only",
    "liventix/demo/summary.py": "the demo's closing summary of what the season did, read-only",
}

# Still in the code: (module, table, "read" or "write") -> whose it is to fix, and how.
KNOWN_VIOLATIONS: dict[tuple[str, str, str], str] = {
    ("liventix/demo/ledger_story.py", "payments.accounts", "read"): (
        "lead (demo): the hold's expiry from the account's opening time; Account has no created_at"
    ),
}

_CREATE = re.compile(
    r"CREATE\s+(?:OR\s+REPLACE\s+)?(?:MATERIALIZED\s+)?(?:TABLE|VIEW)\s+"
    r"(?:IF\s+NOT\s+EXISTS\s+)?([a-z_]+\.[a-z_]+)",
    re.IGNORECASE,
)
_WRITE_VERBS = r"(?:INSERT\s+INTO|UPDATE|DELETE\s+FROM|TRUNCATE(?:\s+TABLE)?|MERGE\s+INTO|COPY)"


def owners() -> dict[str, str]:
    """Every table (and view) the migrations create, with the package that owns it."""
    found: dict[str, str] = {}
    for path in sorted(SQL_DIR.glob("*.sql")):
        owner = OWNER_OF_SQL_FILE[path.stem.split("_")[0]]
        for name in _CREATE.findall(path.read_text()):
            table = name.lower()
            assert found.get(table, owner) == owner, f"{table} created by two owners"
            found[table] = owner
    return found


@dataclass(frozen=True)
class Use:
    """A module's use of a table."""

    module: str
    table: str
    kind: str  # "read" or "write"


def _docstrings(tree: ast.AST) -> set[int]:
    ids: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                ids.add(id(body[0].value))
    return ids


def sql_texts(source: str) -> Iterator[str]:
    """The string constants of a module that are not docstrings (f-strings' literal parts
    joined, their expressions as a space)."""
    tree = ast.parse(source)
    skip = _docstrings(tree)
    inside_fstring: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.JoinedStr):
            parts = []
            for value in node.values:
                inside_fstring.add(id(value))
                text = value.value if isinstance(value, ast.Constant) else None
                parts.append(text if isinstance(text, str) else " ")
            yield "".join(parts)
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Constant)
            and isinstance(node.value, str)
            and id(node) not in skip | inside_fstring
        ):
            yield node.value


def uses(module: str, source: str, tables: dict[str, str]) -> set[Use]:
    """The tables a module's SQL text names, each as read or written."""
    found: set[Use] = set()
    names = "|".join(re.escape(t) for t in sorted(tables, key=len, reverse=True))
    # A name in backticks is Markdown prose (the documentation's generator), not SQL.
    mention = re.compile(rf"(?<![\w.`])({names})(?![\w`])", re.IGNORECASE)
    write = re.compile(rf"{_WRITE_VERBS}\s+(?:ONLY\s+)?({names})(?![\w])", re.IGNORECASE)
    for text in sql_texts(source):
        written = {m.lower() for m in write.findall(text)}
        for table in {m.lower() for m in mention.findall(text)}:
            found.add(Use(module, table, "write" if table in written else "read"))
    return found


def owns(owner: str, module: str) -> bool:
    return module == owner or module.startswith(owner + "/")


def _matches(module: str, side: str) -> bool:
    return fnmatch.fnmatch(module, side + "*" if side.endswith("/") else side)


def on_read_side(module: str) -> bool:
    return any(_matches(module, side) for side in READ_SIDE)


def violations(found: set[Use], tables: dict[str, str]) -> set[tuple[str, str, str]]:
    """The uses that break ownership: a write outside the owner, a read outside the owner
    and the read side."""
    bad = set()
    for use in found:
        owner = tables[use.table]
        if owns(owner, use.module):
            continue
        if use.kind == "read" and on_read_side(use.module):
            continue
        bad.add((use.module, use.table, use.kind))
    return bad


def product_modules() -> Iterator[tuple[str, str]]:
    for package in PRODUCT:
        for path in sorted((ROOT / package).rglob("*.py")):
            yield path.relative_to(ROOT).as_posix(), path.read_text()


def product_uses(tables: dict[str, str]) -> set[Use]:
    found: set[Use] = set()
    for module, source in product_modules():
        found |= uses(module, source, tables)
    return found


# -- the tests ------------------------------------------------------------------------------


def test_every_migration_file_has_an_owner_and_every_table_one_owner() -> None:
    tables = owners()
    assert {"payments.lines", "payments.card_payments", "ticketing.orders"} <= set(tables)
    assert tables["payments.entries"] == "ledger"
    assert tables["payments.escrows"] == "escrow"
    assert tables["ticketing.tickets"] == "ticketing_fsm"
    assert tables["messaging.inbox"] == "outbox"
    assert tables["payments.api_keys"] == "liventix/api"


def test_no_module_writes_or_reads_a_table_it_does_not_own() -> None:
    tables = owners()
    found = violations(product_uses(tables), tables)
    new = {v: "?" for v in sorted(found - set(KNOWN_VIOLATIONS))}
    gone = sorted(set(KNOWN_VIOLATIONS) - found)
    assert not new, f"tables used outside their owner (module, table, use): {new}"
    assert not gone, f"fixed, take them off KNOWN_VIOLATIONS: {gone}"


def test_the_read_side_exists() -> None:
    modules = [module for module, _source in product_modules()]
    for side in READ_SIDE:
        assert any(_matches(m, side) for m in modules), f"{side} is on the read side but gone"


def test_product_code_defines_no_table_objects() -> None:
    """SQLAlchemy `Table(...)` / `table(...)` objects would name tables where the text scan
    cannot see them."""
    defined = [
        module
        for module, source in product_modules()
        for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.Call)
        and getattr(node.func, "id", getattr(node.func, "attr", None)) in {"Table", "table"}
    ]
    assert defined == []


# -- the checker can fail -------------------------------------------------------------------

_FOREIGN_WRITE = '''
"""A module of ticketing that books money itself: it mentions payments.lines here, in a
docstring, which is not SQL."""
from sqlalchemy import text

BOOK = text("INSERT INTO payments.lines (entry_id, amount) VALUES (:e, :a)")
PEEK = f"SELECT gross FROM payments.card_payments WHERE id = {'%(id)s'}"
MINE = "UPDATE ticketing.orders SET status = 'paid'"
'''


def test_the_checker_sees_a_write_and_a_read_of_another_package() -> None:
    tables = owners()
    found = uses("ticketing_fsm/rogue.py", _FOREIGN_WRITE, tables)
    assert found == {
        Use("ticketing_fsm/rogue.py", "payments.lines", "write"),
        Use("ticketing_fsm/rogue.py", "payments.card_payments", "read"),
        Use("ticketing_fsm/rogue.py", "ticketing.orders", "write"),
    }
    assert violations(found, tables) == {
        ("ticketing_fsm/rogue.py", "payments.lines", "write"),
        ("ticketing_fsm/rogue.py", "payments.card_payments", "read"),
    }


@pytest.mark.parametrize(
    ("module", "expected"),
    [
        ("liventix/reports/rogue.py", {("liventix/reports/rogue.py", "payments.lines", "write")}),
        ("ledger/rogue.py", {("ledger/rogue.py", "payments.card_payments", "read")}),
    ],
)
def test_the_read_side_may_read_but_not_write(
    module: str, expected: set[tuple[str, str, str]]
) -> None:
    tables = owners()
    snippet = (
        'A = "SELECT * FROM payments.card_payments"\nB = "DELETE FROM payments.lines WHERE true"\n'
        if module.startswith("liventix")
        else 'A = "SELECT * FROM payments.card_payments"\nB = "SELECT * FROM payments.lines"\n'
    )
    assert violations(uses(module, snippet, tables), tables) == expected

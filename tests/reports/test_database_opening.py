"""Reports read the database they are pointed at, as it is: a mistyped database name, an
unmigrated database, or a data directory without a server is a setup error (exit 2) that
names the database and the server, password hidden, and creates or migrates nothing."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

from liventix.database import (
    DatabaseMissingError,
    DatabaseNotAtHeadError,
    NoEmbeddedServerError,
    create_database,
    current_revision,
    database_exists,
    database_url,
    drop_database,
    existing_database_url,
    head_revision,
    upgrade,
)
from liventix.settings import Settings
from tests.cli.runner import liventix

PASSWORD = "s3cret-not-shown"

READ_ONLY_COMMANDS = [
    ["report", "all"],
    ["report", "trial-balance"],
    ["report", "balance-sheet"],
    ["report", "organizer-statement", "--org", "Anyone"],
    ["ledger", "trial-balance"],
]


@pytest.fixture
def name(pg_server_url: str) -> Iterator[str]:
    """A database name nothing created (yet), dropped after the test should anything have."""
    name = f"typo_{uuid.uuid4().hex}"
    try:
        yield name
    finally:
        drop_database(pg_server_url, name)


@pytest.fixture
def settings_for(
    pg_server_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str
) -> Settings:
    """The CLI pointed at database `name` on the test's server, through a URL that carries a
    password (the server trusts local connections: the password is there to be hidden)."""
    with_password = make_url(pg_server_url).set(password=PASSWORD)
    monkeypatch.setenv("DATABASE_URL", with_password.render_as_string(hide_password=False))
    monkeypatch.setenv("LIVENTIX_DB_NAME", name)
    monkeypatch.setenv("LIVENTIX_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("LIVENTIX_PGDATA", raising=False)
    return Settings.from_env()


@pytest.mark.parametrize("argv", READ_ONLY_COMMANDS, ids=" ".join)
def test_a_database_that_does_not_exist_is_refused_not_created(
    argv: list[str],
    name: str,
    settings_for: Settings,
    pg_server_url: str,
) -> None:
    captured = liventix(*argv)
    assert captured.exit_code == 2, captured.output
    assert captured.stdout == ""
    words = [word for word in argv if not word.startswith("-")][:2]
    assert captured.stderr.startswith(f"liventix {' '.join(words)}: ")  # one line, no traceback
    assert captured.stderr.count("\n") == 1
    assert f"database {name!r} does not exist on server " in captured.stderr
    assert "***" in captured.stderr and PASSWORD not in captured.stderr
    assert not database_exists(pg_server_url, name)


def test_the_helper_raises_a_typed_error_naming_database_and_server(
    name: str, settings_for: Settings, pg_server_url: str
) -> None:
    with pytest.raises(DatabaseMissingError) as missing:
        existing_database_url(settings_for)
    assert missing.value.name == name
    assert PASSWORD not in missing.value.server
    assert make_url(missing.value.server).password == "***"
    assert not database_exists(pg_server_url, name)


def test_a_database_not_at_head_is_refused_not_migrated(
    name: str, settings_for: Settings, pg_server_url: str
) -> None:
    create_database(pg_server_url, name)
    url = database_url(pg_server_url, name)
    result = liventix("report", "all")
    assert result.exit_code == 2, result.output
    err = result.stderr
    assert f"database {name!r} on server " in err and "(never migrated)" in err
    assert PASSWORD not in err
    assert current_revision(url) is None  # still never migrated

    # At a revision this code does not have (a database an older code migrated): refused as
    # well, and left there.
    upgrade(url)
    behind = "0000_an_older_revision"
    engine = sa.create_engine(url, poolclass=NullPool)
    try:
        with engine.begin() as conn:
            conn.execute(sa.text("UPDATE alembic_version SET version_num = :v"), {"v": behind})
    finally:
        engine.dispose()
    with pytest.raises(DatabaseNotAtHeadError) as not_at_head:
        existing_database_url(settings_for)
    assert (not_at_head.value.current, not_at_head.value.head) == (behind, head_revision())
    result = liventix("ledger", "trial-balance")
    assert result.exit_code == 2, result.output
    assert f"at revision {behind}, not at this code's head" in result.stderr
    assert current_revision(url) == behind


def test_the_database_at_head_is_opened(
    name: str, settings_for: Settings, pg_server_url: str, template_db: str
) -> None:
    create_database(pg_server_url, name, template=template_db)
    url = existing_database_url(settings_for)
    assert make_url(url).database == name
    result = liventix("report", "trial-balance")
    assert result.exit_code == 0, result.output


def test_a_data_directory_without_a_server_is_refused_and_left_empty(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Run from another directory: no DATABASE_URL, and no embedded server under the data
    directory. Starting one would initialise a new, empty cluster there."""
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.delenv("LIVENTIX_PGDATA", raising=False)
    monkeypatch.delenv("LIVENTIX_DATA_DIR", raising=False)
    monkeypatch.chdir(tmp_path)
    with pytest.raises(NoEmbeddedServerError):
        existing_database_url(Settings.from_env())
    for argv in (["report", "all"], ["ledger", "trial-balance"]):
        result = liventix(*argv)
        assert result.exit_code == 2, result.output
        assert "no embedded PostgreSQL server in " in result.stderr
    assert list(tmp_path.iterdir()) == []

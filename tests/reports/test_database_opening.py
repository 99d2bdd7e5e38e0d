"""Reports read the database they are pointed at, as it is: a mistyped database name, an
unmigrated database, or a data directory without a server is a setup error (exit 2) that
names the database and the server, password hidden, and creates or migrates nothing."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic.script import ScriptDirectory
from sqlalchemy.engine import make_url

from liventix.cli import main
from liventix.database import (
    DatabaseMissingError,
    DatabaseNotAtHeadError,
    NoEmbeddedServerError,
    alembic_config,
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
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(argv) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert f"database {name!r} does not exist on server " in captured.err
    assert "***" in captured.err and PASSWORD not in captured.err
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
    name: str, settings_for: Settings, pg_server_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    create_database(pg_server_url, name)
    url = database_url(pg_server_url, name)
    assert main(["report", "all"]) == 2
    err = capsys.readouterr().err
    assert f"database {name!r} on server " in err and "(never migrated)" in err
    assert PASSWORD not in err
    assert current_revision(url) is None  # still never migrated

    # One revision behind the head: refused as well, and left there.
    script = ScriptDirectory.from_config(alembic_config())
    behind = script.get_revision(head_revision()).down_revision
    assert isinstance(behind, str)
    upgrade(url, behind)
    with pytest.raises(DatabaseNotAtHeadError) as not_at_head:
        existing_database_url(settings_for)
    assert (not_at_head.value.current, not_at_head.value.head) == (behind, head_revision())
    assert main(["ledger", "trial-balance"]) == 2
    assert f"at revision {behind}, not at this code's head" in capsys.readouterr().err
    assert current_revision(url) == behind


def test_the_database_at_head_is_opened(
    name: str, settings_for: Settings, pg_server_url: str, template_db: str
) -> None:
    create_database(pg_server_url, name, template=template_db)
    url = existing_database_url(settings_for)
    assert make_url(url).database == name
    assert main(["report", "trial-balance"]) == 0


def test_a_data_directory_without_a_server_is_refused_and_left_empty(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
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
        assert main(argv) == 2
        assert "no embedded PostgreSQL server in " in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []

"""Tests of the infrastructure around the ledger: settings, URLs, migrations, clones, the CLI."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

import ledger
from liventix.database import (
    UnsupportedDatabaseURLError,
    create_database,
    current_revision,
    database_exists,
    database_url,
    drop_database,
    head_revision,
    normalize_url,
)
from liventix.settings import Settings
from liventix.testing.scratch import Scratch
from tests.cli.runner import liventix


def test_settings_defaults(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    settings = Settings.from_env({})
    assert settings.database_url is None
    assert settings.data_dir == tmp_path / ".liventix"
    assert settings.pgdata == tmp_path / ".liventix" / "pgdata"
    assert settings.database_name == "liventix"


def test_settings_from_environment(tmp_path: Path) -> None:
    settings = Settings.from_env(
        {
            "DATABASE_URL": "postgres://u:p@db/x",
            "LIVENTIX_DATA_DIR": str(tmp_path / "data"),
            "LIVENTIX_PGDATA": str(tmp_path / "pg"),
            "LIVENTIX_DB_NAME": "other",
        }
    )
    assert settings.database_url == "postgres://u:p@db/x"
    assert settings.data_dir == tmp_path / "data"
    assert settings.pgdata == tmp_path / "pg"
    assert settings.database_name == "other"


def test_pgdata_follows_data_dir(tmp_path: Path) -> None:
    settings = Settings.from_env({"LIVENTIX_DATA_DIR": str(tmp_path)})
    assert settings.pgdata == tmp_path / "pgdata"


@pytest.mark.parametrize(
    "url",
    [
        "postgres://u:p%40ss@db:5433/x",
        "postgresql://u:p%40ss@db:5433/x",
        "postgresql+psycopg2://u:p%40ss@db:5433/x",
        "postgresql+psycopg://u:p%40ss@db:5433/x",
    ],
)
def test_normalize_url(url: str) -> None:
    assert normalize_url(url) == "postgresql+psycopg://u:p%40ss@db:5433/x"


def test_normalize_url_drops_empty_password_and_keeps_socket() -> None:
    url = normalize_url("postgresql://postgres:@/postgres?host=/tmp/pg")
    assert url == "postgresql+psycopg://postgres@/postgres?host=%2Ftmp%2Fpg"
    assert database_url(url, "liventix") == (
        "postgresql+psycopg://postgres@/liventix?host=%2Ftmp%2Fpg"
    )


@pytest.mark.parametrize("url", ["mysql://u@db/x", "sqlite://", "not a url"])
def test_normalize_url_rejects_other_databases(url: str) -> None:
    with pytest.raises(UnsupportedDatabaseURLError):
        normalize_url(url)


def test_template_is_at_head(pg_server_url: str, template_db: str) -> None:
    assert current_revision(database_url(pg_server_url, template_db)) == head_revision()


def test_clone_is_at_head(db_url: str) -> None:
    assert current_revision(db_url) == head_revision()


def _rows(conn: sa.Connection, table: str) -> int:
    count: int = conn.execute(sa.text(f"SELECT count(*) FROM {table}")).scalar_one()
    return count


def test_scratch_is_emptied_back_to_the_template(scratch: Scratch) -> None:
    engine = scratch.empty()
    org = uuid.uuid4()
    with engine.begin() as conn:
        ledger.open_organization(conn, org, "Scratch")
        ledger.open_account(conn, org, ledger.OpenAccount("scratch-cash", "cash", "asset", "USD"))
    with engine.connect() as conn:
        assert _rows(conn, "payments.accounts") == 1  # an append-only table, too
        currencies = _rows(conn, "payments.currencies")
    assert "payments.currencies" in scratch.kept and "payments.accounts" in scratch.emptied
    scratch.empty()
    with engine.connect() as conn:
        assert [t for t in scratch.emptied if _rows(conn, t)] == []
        assert _rows(conn, "payments.currencies") == currencies > 0  # the template's rows


def test_scratch_refuses_to_empty_when_the_templates_rows_changed(scratch: Scratch) -> None:
    engine = scratch.empty()
    with engine.begin() as conn:  # a currency no template has
        conn.execute(sa.text("INSERT INTO payments.currencies (code, exponent) VALUES ('ZZZ', 2)"))
    try:
        with pytest.raises(AssertionError, match="rows the template had changed"):
            scratch.empty()
    finally:
        with engine.begin() as conn:
            conn.execute(sa.text("SET LOCAL session_replication_role = replica"))
            conn.execute(sa.text("DELETE FROM payments.currencies WHERE code = 'ZZZ'"))
    scratch.empty()  # as the template has it again


def test_clones_are_independent(pg_server_url: str, template_db: str, engine: sa.Engine) -> None:
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE public.only_in_first (id int)")

    other = f"test_{uuid.uuid4().hex}"
    create_database(pg_server_url, other, template=template_db)
    try:
        for name in (other, template_db):
            probe = sa.create_engine(database_url(pg_server_url, name), poolclass=sa.NullPool)
            try:
                with probe.connect() as conn:
                    found = conn.scalar(sa.text("SELECT to_regclass('public.only_in_first')"))
                assert found is None, name
            finally:
                probe.dispose()
    finally:
        drop_database(pg_server_url, other)

    with engine.connect() as conn:
        assert conn.scalar(sa.text("SELECT to_regclass('public.only_in_first')")) is not None


@pytest.fixture
def cli_database(
    pg_server_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[str]:
    """Point the CLI at a database name that does not exist yet on the test server."""
    name = f"cli_{uuid.uuid4().hex}"
    monkeypatch.setenv("DATABASE_URL", pg_server_url)
    monkeypatch.setenv("LIVENTIX_DB_NAME", name)
    # Should anything fall back to the embedded server, keep it out of the work tree.
    monkeypatch.setenv("LIVENTIX_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("LIVENTIX_PGDATA", raising=False)
    try:
        yield name
    finally:
        drop_database(pg_server_url, name)


def test_cli_db_url_creates_and_migrates(cli_database: str, pg_server_url: str) -> None:
    result = liventix("db", "url")
    assert result.exit_code == 0, result.output
    url = result.stdout.strip()
    assert url == database_url(pg_server_url, cli_database)
    assert current_revision(url) == head_revision()

    # A second run finds the database ready and changes nothing.
    result = liventix("db", "url")
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == url


def test_cli_db_status_and_upgrade(cli_database: str, pg_server_url: str) -> None:
    result = liventix("db", "status")
    assert result.exit_code == 1, result.output
    out = result.stdout
    assert "(database missing)" in out
    assert not database_exists(pg_server_url, cli_database)

    create_database(pg_server_url, cli_database)
    result = liventix("db", "status")
    assert result.exit_code == 1, result.output
    assert "(never migrated)" in result.stdout

    result = liventix("db", "upgrade")
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == head_revision()

    result = liventix("db", "status")
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert f"head      {head_revision()}" in out
    assert "up to date" in out


@pytest.mark.parametrize(("argv", "status"), [([], 2), (["db"], 2), (["--help"], 0)])
def test_cli_usage(argv: list[str], status: int) -> None:
    result = liventix(*argv)
    assert result.exit_code == status
    assert "Usage: liventix" in result.output

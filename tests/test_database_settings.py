"""The benchmarks' server settings (`liventix.database.production_settings`) and the embedded
server started with them (`start_embedded_server(..., settings=...)`)."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import psutil  # type: ignore[import-untyped]
import pytest
import sqlalchemy as sa
from sqlalchemy.pool import NullPool

from liventix.database import (
    UnknownServerSettingError,
    configure_server,
    normalize_url,
    production_settings,
    start_embedded_server,
)

_GiB = 1 << 30


@pytest.mark.parametrize(
    ("memory", "shared", "cache", "maintenance"),
    [
        (4 * _GiB, "1024MB", "3072MB", "256MB"),
        (23 * _GiB, "5888MB", "17664MB", "1024MB"),
        (64 * _GiB, "8192MB", "49152MB", "1024MB"),
        (256 << 20, "128MB", "192MB", "64MB"),
    ],
)
def test_production_settings_follow_the_memory(
    memory: int, shared: str, cache: str, maintenance: str
) -> None:
    settings = production_settings(memory)
    assert settings["shared_buffers"] == shared
    assert settings["effective_cache_size"] == cache
    assert settings["maintenance_work_mem"] == maintenance
    assert settings["checkpoint_timeout"] == "15min"
    assert settings["max_wal_size"] == "8GB"


def test_production_settings_default_to_this_machine() -> None:
    assert production_settings()["shared_buffers"].endswith("MB")


def test_an_unknown_setting_is_refused_and_nothing_written(pg_server_url: str) -> None:
    with pytest.raises(UnknownServerSettingError) as refused:
        configure_server(pg_server_url, {"work_mem": "5MB", "no_such_setting": "1"})
    assert refused.value.name == "no_such_setting"
    engine = sa.create_engine(pg_server_url, poolclass=NullPool)
    try:
        with engine.connect() as conn:
            written = conn.execute(
                sa.text("SELECT count(*) FROM pg_file_settings WHERE name = 'work_mem'")
            ).scalar_one()
    finally:
        engine.dispose()
    assert written == 0


def test_the_embedded_server_starts_with_the_settings() -> None:
    """Restart-only settings (shared_buffers, cluster_name) take effect, a quote in a value
    is written as it is, and the handle still stops the restarted server."""
    tmp = Path(tempfile.mkdtemp(prefix="liventix-settings-"))
    tmp.chmod(0o755)
    settings = production_settings(_GiB) | {"cluster_name": "bench's"}
    server = start_embedded_server(tmp / "pgdata", cleanup_mode="delete", settings=settings)
    try:
        engine = sa.create_engine(normalize_url(server.get_uri("postgres")), poolclass=NullPool)
        try:
            with engine.connect() as conn:
                shown = {
                    name: conn.exec_driver_sql(f"SHOW {name}").scalar_one()
                    for name in (*settings, "full_page_writes", "fsync")
                }
        finally:
            engine.dispose()
        # The handle names the postmaster now running, the one its cleanup must stop.
        postmaster = int((tmp / "pgdata" / "postmaster.pid").read_text().split()[0])
        assert server.get_pid() == postmaster
        assert shown["shared_buffers"] == "256MB"
        assert shown["effective_cache_size"] == "768MB"
        assert shown["maintenance_work_mem"] == "64MB"
        assert shown["checkpoint_timeout"] == "15min"
        assert shown["max_wal_size"] == "8GB"
        assert shown["min_wal_size"] == "1GB"
        assert shown["checkpoint_completion_target"] == "0.9"
        assert shown["cluster_name"] == "bench's"
        # Durability stays at PostgreSQL's defaults.
        assert shown["full_page_writes"] == "on"
        assert shown["fsync"] == "on"
        process = psutil.Process(postmaster)
    finally:
        server.cleanup()
        shutil.rmtree(tmp, ignore_errors=True)
    process.wait(timeout=30)
    assert not (tmp / "pgdata").exists()

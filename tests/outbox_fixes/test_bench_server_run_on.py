"""What bench.api's and bench.outbox's JSON lines say of their server
(`bench.posting.server_run_on`): "production" or "postgresql_defaults" for a server of the
bench's own, "external" when DATABASE_URL names the server (its settings used as found, so
neither label would be true), and in every case the settings read from the server itself.
Before (d2c6819), "server_settings" said production for DATABASE_URL's server too."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from bench.posting import SHOWN_SETTINGS, server_run_on


def _url(engine: sa.Engine) -> str:
    return engine.url.render_as_string(hide_password=False)


def _shown(engine: sa.Engine) -> dict[str, str]:
    with engine.connect() as conn:
        return {n: str(conn.exec_driver_sql(f"SHOW {n}").scalar_one()) for n in SHOWN_SETTINGS}


def test_an_outside_server_is_reported_external_with_its_settings_as_found(
    engine: sa.Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DATABASE_URL", _url(engine))
    for tuned in (True, False):
        run_on = server_run_on(_url(engine), tuned=tuned)
        assert run_on["server_settings"] == "external"
        assert run_on["server_settings_found"] == _shown(engine)


def test_a_server_of_the_benchs_own_is_reported_by_its_flag(
    engine: sa.Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("DATABASE_URL", raising=False)
    assert server_run_on(_url(engine), tuned=True)["server_settings"] == "production"
    defaults = server_run_on(_url(engine), tuned=False)
    assert defaults["server_settings"] == "postgresql_defaults"
    assert defaults["server_settings_found"] == _shown(engine)

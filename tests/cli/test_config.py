"""Settings on pydantic-settings: one model for every variable, read from the environment and
`.env`, validated at start with one readable line (exit 2), shown by `liventix config show`
with secrets masked, and listed in docs/configuration.md, generated from the model and kept
current here."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from liventix import settings as settings_module
from liventix.cli.common import SETTINGS
from liventix.docs import DOCS, configuration_doc, operator_docs
from liventix.settings import Settings, SettingsInvalid, variables
from tests.cli.runner import liventix

SECRETS = {
    "DATABASE_URL": "postgresql://ops:db-password-1@db.internal/postgres",
    "LIVENTIX_SECRET_KEY": "sealing-key-value-2",
    "STRIPE_WEBHOOK_SECRET": "whsec_value_3",
    "STRIPE_API_KEY": "sk_live_value_4",
    "LIVENTIX_SMTP_PASSWORD": "smtp-password-5",
    "LIVENTIX_READ_URL": "postgresql://ops:read-password-6@replica.internal/postgres",
}


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """No setting in the environment, the working directory an empty temporary one."""
    for variable in variables():
        monkeypatch.delenv(variable.name, raising=False)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_docs_configuration_md_is_current() -> None:
    assert operator_docs() == {DOCS / "configuration.md": configuration_doc()}
    written = (DOCS / "configuration.md").read_text()
    assert written == configuration_doc(), "regenerate with `liventix docs`"
    for variable in variables():
        assert f"| `{variable.name}` |" in written


def test_one_model_lists_every_variable_the_help_shows() -> None:
    names = [v.name for v in variables()]
    assert len(names) == len(set(names))
    assert list(SETTINGS) == names
    assert {"DATABASE_URL", "LIVENTIX_SMTP_SECURITY", "LIVENTIX_METRICS_PORT"} <= set(names)
    assert {v.name for v in variables() if v.secret} == set(SECRETS)


def test_config_show_masks_every_secret_and_names_each_source(
    clean_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (clean_env / ".env").write_text(
        "LIVENTIX_SMTP_USERNAME=mailer\n"
        f"LIVENTIX_SMTP_PASSWORD={SECRETS['LIVENTIX_SMTP_PASSWORD']}\n"
        "LIVENTIX_SMTP_PORT=2525\n"
    )
    for name, value in SECRETS.items():
        if name != "LIVENTIX_SMTP_PASSWORD":
            monkeypatch.setenv(name, value)
    monkeypatch.setenv("LIVENTIX_SMTP_PORT", "587")  # the environment wins over .env
    monkeypatch.setenv("LIVENTIX_SMTP_SECURITY", "starttls")
    result = liventix("config", "show", "--json")
    assert result.exit_code == 0, result.output
    shown = json.loads(result.stdout)
    assert list(shown) == [v.name for v in variables()]
    for secret in ("db-password-1", *list(SECRETS.values())[1:]):
        assert secret not in result.stdout
        assert secret not in liventix("config", "show").stdout
    assert shown["DATABASE_URL"] == {
        "value": "postgresql://ops:***@db.internal/postgres",
        "source": "environment",
    }
    assert shown["STRIPE_API_KEY"] == {"value": "********", "source": "environment"}
    assert shown["LIVENTIX_SMTP_PASSWORD"] == {"value": "********", "source": ".env"}
    assert shown["LIVENTIX_SMTP_USERNAME"] == {"value": "mailer", "source": ".env"}
    assert shown["LIVENTIX_SMTP_PORT"] == {"value": "587", "source": "environment"}
    assert shown["LIVENTIX_SMTP_SECURITY"]["value"] == "starttls"
    assert shown["LIVENTIX_DB_NAME"] == {"value": "liventix", "source": "default"}
    assert shown["LIVENTIX_SECRET_KEY"]["value"] == "********"
    assert shown["LIVENTIX_DATA_DIR"]["value"] == str(clean_env / ".liventix")


def test_dot_env_is_read_and_the_environment_wins(
    clean_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (clean_env / ".env").write_text(
        "LIVENTIX_DB_NAME=from_file\nLIVENTIX_SMTP_HOST=smtp.example.com\nLIVENTIX_SMTP_PORT=\n"
    )
    monkeypatch.setenv("LIVENTIX_DB_NAME", "from_env")
    read = Settings.from_env()
    assert (read.database_name, read.smtp_host, read.smtp_port) == (
        "from_env",
        "smtp.example.com",
        25,  # empty counts as unset
    )
    # An explicit mapping is all there is: neither the environment nor .env.
    assert Settings.from_env({}).database_name == "liventix"


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({"LIVENTIX_SMTP_PORT": "70000"}, "LIVENTIX_SMTP_PORT: Input should be less than or equal"),
        ({"LIVENTIX_SMTP_SECURITY": "ssl"}, "LIVENTIX_SMTP_SECURITY: Input should be 'none'"),
        ({"LIVENTIX_LOG_FORMAT": "xml"}, "LIVENTIX_LOG_FORMAT: Input should be 'auto'"),
        ({"LIVENTIX_SMTP_CA_FILE": "/nonexistent/ca.pem"}, "no file /nonexistent/ca.pem"),
        ({"LIVENTIX_SMTP_PASSWORD": "pw"}, "is set without LIVENTIX_SMTP_USERNAME"),
        ({"LIVENTIX_WEBHOOK_ALLOW": "10.0.0.0/33"}, "LIVENTIX_WEBHOOK_ALLOW: CIDRs"),
    ],
)
def test_a_value_that_cannot_be_used_is_one_readable_line(
    environ: dict[str, str], message: str
) -> None:
    with pytest.raises(SettingsInvalid) as raised:
        Settings.from_env(environ)
    assert message in str(raised.value)
    assert "\n" not in str(raised.value)


def test_a_bad_secret_is_named_but_never_shown(
    clean_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LIVENTIX_SMTP_PASSWORD", "smtp-password-5")
    monkeypatch.setenv("LIVENTIX_SMTP_PORT", "twenty-five")
    monkeypatch.setenv("LIVENTIX_LOG_LEVEL", "LOUD")
    result = liventix("config", "show")
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr.startswith(
        "liventix config show: a setting in the environment cannot be used: "
        "LIVENTIX_SMTP_PORT: Input should be a valid integer"
    )
    assert "LIVENTIX_LOG_LEVEL" in result.stderr  # every variable at fault, on one line
    assert result.stderr.count("\n") == 1
    assert "smtp-password-5" not in result.stderr


# A password no path or other field can hold by chance ("pw" turned up in a temporary
# directory's random name, tmp.T1zpwrNcP0, in a fresh-clone CI run).
SMTP_SECRET = "smtp-secret-7Qx0-not-in-any-path"


def test_the_worker_gets_its_smtp_settings_from_the_model(tmp_path: Path) -> None:
    ca = tmp_path / "ca.pem"
    ca.write_text("not read here")
    read = Settings.from_env(
        {
            "LIVENTIX_SMTP_HOST": "smtp.example.com",
            "LIVENTIX_SMTP_PORT": "465",
            "LIVENTIX_SMTP_SECURITY": "tls",
            "LIVENTIX_SMTP_USERNAME": "mailer",
            "LIVENTIX_SMTP_PASSWORD": SMTP_SECRET,
            "LIVENTIX_SMTP_SENDER": "Box Office <tickets@example.com>",
            "LIVENTIX_SMTP_CA_FILE": str(ca),
        }
    )
    smtp = read.smtp()
    assert (smtp.host, smtp.port, smtp.security, smtp.username, smtp.password) == (
        "smtp.example.com",
        465,
        "tls",
        "mailer",
        SMTP_SECRET,
    )
    assert (smtp.sender, smtp.ca_file) == ("Box Office <tickets@example.com>", str(ca))
    assert SMTP_SECRET not in repr(read) and SMTP_SECRET not in repr(smtp)


def test_the_module_reads_no_environment_at_import() -> None:
    assert not hasattr(settings_module, "settings")  # no module-level instance

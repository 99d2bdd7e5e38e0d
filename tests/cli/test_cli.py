"""The command line's shape, the operators' interface: every command answers --help, with the
environment variables it reads; --version; usage errors are Click's (exit 2), setup errors one
line `liventix <command>: <what>` (exit 2) with no Python repr; `main` returns the status the
console script exits with; as a real process, shell completion and a closed pipe."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator
from importlib.metadata import version
from pathlib import Path

import click
import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url

from liventix import demo as season_demo
from liventix.cli import cli, main
from liventix.cli.common import EXIT_CLOSED_PIPE, SETTINGS
from tests.cli.runner import liventix

COMMANDS = [
    "db upgrade",
    "db url",
    "db standby",
    "db promote",
    "db status",
    "ledger expire-holds",
    "ledger roll-up",
    "ledger trial-balance",
    "ledger demo",
    "ledger seal",
    "ledger verify",
    "ledger categories",
    "ledger seed-categories",
    "ledger open-fx-liquidity",
    "ledger set-fx-rate",
    "ledger settlements",
    "ledger transfer-coverage",
    "worker",
    "outbox requeue",
    "escrow release-due",
    "tickets expire-holds",
    "stripe catch-up",
    "docs",
    "serve",
    "orgs create",
    "orgs list",
    "orgs show",
    "keys create",
    "keys list",
    "keys revoke",
    "api openapi",
    "api client",
    "config show",
    "report trial-balance",
    "report balance-sheet",
    "report income-statement",
    "report organizer-statement",
    "report escrow-position",
    "report stripe-reconciliation",
    "report ticket-tie-out",
    "report outbox-health",
    "report journal",
    "report account-balances",
    "report category-balances",
    "report fx-positions",
    "report all",
    "demo",
]
"""Every command the README and docs/ describe."""

NO_SETTINGS = {"docs", "api openapi", "api client", "db standby", "db promote"}
"""Commands that read no setting: they need no database."""


def _leaves(group: click.Group, prefix: tuple[str, ...] = ()) -> Iterator[str]:
    # Through Click's own lookup (list_commands, get_command): the root group loads a
    # command's module only when asked for it.
    ctx = click.Context(group)
    for name in group.list_commands(ctx):
        command = group.get_command(ctx, name)
        assert command is not None, name
        if isinstance(command, click.Group):
            yield from _leaves(command, (*prefix, name))
        else:
            yield " ".join((*prefix, name))


def test_the_commands_are_the_ones_described() -> None:
    assert sorted(_leaves(cli)) == sorted(COMMANDS)


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_answers_help_with_the_settings_it_reads(command: str) -> None:
    result = liventix(*command.split(), "--help")
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith(f"Usage: liventix {command} [OPTIONS]")
    assert result.stderr == ""
    if command in NO_SETTINGS:
        assert "Environment:" not in result.stdout
    else:
        assert "Environment:" in result.stdout
        assert "DATABASE_URL " in result.stdout


@pytest.mark.parametrize(
    "group",
    [
        "db",
        "ledger",
        "outbox",
        "escrow",
        "tickets",
        "stripe",
        "orgs",
        "keys",
        "api",
        "report",
        "config",
    ],
)
def test_every_group_answers_help_and_lists_its_commands(group: str) -> None:
    result = liventix(group, "--help")
    assert result.exit_code == 0, result.output
    listed = result.stdout.split("Commands:")[1]
    assert "..." not in listed  # every summary whole, wrapped
    for command in COMMANDS:
        words = command.split()
        if words[0] == group:
            assert f"  {words[1]} " in result.stdout


def test_the_root_help_lists_every_setting_and_completion() -> None:
    result = liventix("--help")
    assert result.exit_code == 0
    for name in SETTINGS:
        assert f"  {name} " in result.stdout
    assert "_LIVENTIX_COMPLETE=bash_source liventix" in result.stdout
    assert liventix("-h").stdout == result.stdout


def test_version() -> None:
    result = liventix("--version")
    assert (result.exit_code, result.stdout) == (0, f"liventix {version('liventix-payments')}\n")


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        ([], "Usage: liventix [OPTIONS] COMMAND"),
        (["db"], "Usage: liventix db [OPTIONS] COMMAND"),
        (["nope"], "No such command 'nope'"),
        (["keys", "create"], "give one of --org ID|NAME and --platform"),
        (["keys", "create", "--org", "acme", "--scope", "all"], "'all' is not one of"),
        (["keys", "revoke", "12"], "'12' is not a valid UUID"),
        (["report", "balance-sheet", "--as-of", "yesterday"], "not an ISO 8601 date or time"),
        (["report", "organizer-statement"], "Missing option '--org'"),
        (["report", "stripe-reconciliation"], "Missing option '--balance-transactions'"),
        (["worker", "--retry-schedule", "1,soon"], "not a comma-separated list of seconds"),
        (["worker", "--concurrency", "0"], "0 is not in the range x>=1"),
        (["serve", "--processes", "0"], "0 is not in the range x>=1"),
        (["demo", "--orders", "3"], "3 is not in the range x>=20"),
    ],
)
def test_usage_errors_exit_2_before_anything_runs(argv: list[str], message: str) -> None:
    result = liventix(*argv)
    assert result.exit_code == 2
    assert result.stdout == "" or not argv  # a bare group prints its help
    assert message in result.output
    assert "Traceback" not in result.output


@pytest.mark.parametrize(
    ("variable", "value"),
    [("LIVENTIX_SMTP_PORT", "twenty-five"), ("LIVENTIX_WEBHOOK_ALLOW", "10.0.0.0/33")],
)
def test_an_unusable_setting_is_one_line_naming_the_command(
    variable: str, value: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv(variable, value)
    monkeypatch.setenv("LIVENTIX_DATA_DIR", str(tmp_path))  # nothing may start a server there
    result = liventix("db", "status")
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr.startswith(
        "liventix db status: a setting in the environment cannot be used"
    )
    assert result.stderr.count("\n") == 1
    assert list(tmp_path.iterdir()) == []


def test_main_returns_the_status_the_console_script_exits_with(
    capsys: pytest.CaptureFixture[str],
) -> None:
    # `liventix = "liventix.cli:main"`: the console script exits with what main returns.
    assert main(["--help"]) == 0
    assert capsys.readouterr().out.startswith("Usage: liventix [OPTIONS] COMMAND")
    assert main([]) == 2
    assert main(["keys", "revoke", "not-an-id"]) == 2
    err = capsys.readouterr().err
    assert "Error: Invalid value for 'ID': 'not-an-id' is not a valid UUID." in err
    assert main(["api", "openapi", "--output", os.devnull]) == 0


@pytest.fixture
def cli_env(pg_server_url: str, db_url: str, tmp_path: Path) -> dict[str, str]:
    """The environment of a real `liventix` process on the test's database."""
    env = {
        **os.environ,
        "DATABASE_URL": pg_server_url,
        "LIVENTIX_DB_NAME": str(make_url(db_url).database),
        "LIVENTIX_DATA_DIR": str(tmp_path / "data"),
    }
    env.pop("LIVENTIX_PGDATA", None)
    return env


def _into_a_closed_pipe(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[bytes]:
    """Run `python -m liventix <args>` with stdout a pipe whose reader is gone before it
    starts: its first write fails (EPIPE), every time."""
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        return subprocess.run(
            [sys.executable, "-m", "liventix", *args],
            env=env,
            stdout=write_end,
            stderr=subprocess.PIPE,
            timeout=120,
            check=False,
        )
    finally:
        os.close(write_end)


@pytest.mark.parametrize(
    "argv",
    [["--help"], ["report", "--help"], ["report", "trial-balance"], ["report", "all"]],
    ids=" ".join,
)
def test_a_closed_pipe_ends_quietly(cli_env: dict[str, str], argv: list[str]) -> None:
    """`liventix report all | head -1`: the reader goes away, the command stops without a
    traceback, with the status of a process that SIGPIPE ended."""
    done = _into_a_closed_pipe(cli_env, *argv)
    assert done.stderr.decode() in ("", *_skipped_note(argv))
    assert done.returncode == EXIT_CLOSED_PIPE


def _skipped_note(argv: list[str]) -> tuple[str, ...]:
    # `report all` without Stripe's balance transactions says so on stderr, before or after
    # the pipe closed.
    if argv[-1] != "all":
        return ()
    return (
        "liventix report all: the Stripe reconciliation was skipped (no "
        "--balance-transactions): its differences are not counted\n",
    )


def test_python_dash_m_liventix_and_the_report_as_a_real_process(cli_env: dict[str, str]) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "liventix", "report", "trial-balance", "--format", "csv"],
        env=cli_env,
        capture_output=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(b"# ")
    assert done.stderr == b""


def test_shell_completion_is_clicks_own() -> None:
    def complete(env: dict[str, str]) -> str:
        return subprocess.run(
            [sys.executable, "-m", "liventix"],
            env={**os.environ, **env},
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        ).stdout

    script = complete({"_LIVENTIX_COMPLETE": "bash_source"})
    assert "_liventix_completion()" in script and "complete " in script
    words = {"_LIVENTIX_COMPLETE": "bash_complete", "COMP_WORDS": "liventix rep", "COMP_CWORD": "1"}
    assert complete(words).split() == ["plain,report"]
    options = complete(
        {
            "_LIVENTIX_COMPLETE": "bash_complete",
            "COMP_WORDS": "liventix report organizer-statement --f",
            "COMP_CWORD": "3",
        }
    )
    assert options.split() == ["plain,--format", "plain,--from"]


def test_no_python_repr_in_a_setup_error(
    monkeypatch: pytest.MonkeyPatch, pg_server_url: str, tmp_path: Path
) -> None:
    """A setup error names what it could not find as text: no `UUID('...')`, no exception
    repr, no traceback."""
    name = f"missing_{uuid.uuid4().hex}"
    monkeypatch.setenv("DATABASE_URL", pg_server_url)
    monkeypatch.setenv("LIVENTIX_DB_NAME", name)
    monkeypatch.setenv("LIVENTIX_DATA_DIR", str(tmp_path))
    result = liventix("ledger", "trial-balance")
    assert result.exit_code == 2
    assert result.stderr.startswith(
        f"liventix ledger trial-balance: database '{name}' does not exist"
    )
    for text in ("UUID(", "Traceback", "object at 0x", "Error(", "<"):
        assert text not in result.stderr


def test_sigterm_stops_the_demo_with_its_status_whatever_the_unwinding_raised(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """A SIGTERM that lands in the middle of a statement leaves its connection broken: the
    rollback on the way out raises a database error in place of the signal's SystemExit. The
    demo still exits 128 + SIGTERM, not as a failed season (2)."""

    def season_cut_by_sigterm(*args: object, **kwargs: object) -> None:
        try:
            os.kill(os.getpid(), signal.SIGTERM)  # the demo's handler raises SystemExit here
        finally:
            raise sa.exc.OperationalError("ROLLBACK", {}, Exception("connection is lost"))

    monkeypatch.setattr(season_demo, "play_and_reconcile", season_cut_by_sigterm)
    monkeypatch.setenv("LIVENTIX_DATA_DIR", str(tmp_path))
    before = signal.getsignal(signal.SIGTERM)
    result = liventix("demo", "--database", "not_the_app_db")
    assert result.exit_code == 128 + signal.SIGTERM, result.output
    assert signal.getsignal(signal.SIGTERM) is before  # the demo's handler is gone again

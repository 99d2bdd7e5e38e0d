"""`liventix ...` run in process through Click's CliRunner: the exit status, stdout and stderr
apart, exceptions other than the CLI's own exits raised in the test."""

from __future__ import annotations

from click.testing import CliRunner, Result

from liventix.cli import cli


def liventix(*args: str) -> Result:
    """Run `liventix <args>` in this process, with the process environment."""
    return CliRunner().invoke(cli, list(args), prog_name="liventix", catch_exceptions=False)

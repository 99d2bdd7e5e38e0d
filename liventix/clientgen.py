"""`liventix api client`: regenerate the typed Python client of the HTTP API
(`clients/python/`, the package `liventix_client`) from the API's OpenAPI document, with
openapi-python-client (PyPI; `pip install openapi-python-client`, a tool of the developer's
machine: the tests use the client as generated and committed, not the generator).

The document the client was generated from is kept beside it (`clients/python/openapi.json`),
so a test can tell when an operation the client calls has gone or changed. FastAPI loads only
when the command runs."""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import click

PACKAGE = "liventix_client"
DEFAULT_OUTPUT = Path("clients/python")
CONFIG = f"""\
project_name_override: liventix-client
package_name_override: {PACKAGE}
post_hooks:
  - "ruff check . --fix-only --quiet"
  - "ruff format . --quiet"
"""


class ClientError(click.ClickException):
    """The client could not be generated: one line on stderr, exit 2."""

    exit_code = 2

    def show(self, file: Any = None) -> None:
        """Print the one line on stderr."""
        click.echo(f"liventix api client: {self.format_message()}", err=True)


def _replaceable(output: Path) -> bool:
    """Whether `output` may be replaced: absent, empty, or a client generated before."""
    if not output.exists():
        return True
    return output.is_dir() and (not any(output.iterdir()) or (output / PACKAGE).is_dir())


def generate(output: Path, document: str) -> None:
    """Generate the client of `document` (OpenAPI JSON) into `output`, replacing it."""
    if importlib.util.find_spec("openapi_python_client") is None:
        raise ClientError(
            "openapi-python-client is not installed: pip install openapi-python-client"
        )
    if not _replaceable(output):
        raise ClientError(f"{output} holds something other than a generated client")
    with tempfile.TemporaryDirectory(prefix="liventix-client-") as scratch:
        work = Path(scratch)
        (work / "openapi.json").write_text(document)
        (work / "config.yaml").write_text(CONFIG)
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "openapi_python_client",
                "generate",
                "--path",
                str(work / "openapi.json"),
                "--output-path",
                str(work / "client"),
                "--config",
                str(work / "config.yaml"),
                "--meta",
                "uv",
                "--fail-on-warning",
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode != 0:
            said = (done.stderr or done.stdout).strip().splitlines()
            raise ClientError(f"openapi-python-client failed: {said[-1] if said else '?'}")
        shutil.copy(work / "openapi.json", work / "client" / "openapi.json")
        if output.exists():
            shutil.rmtree(output)
        output.parent.mkdir(parents=True, exist_ok=True)
        shutil.copytree(work / "client", output, ignore=shutil.ignore_patterns(".ruff_cache"))


@click.command("client")
@click.option(
    "--output",
    type=click.Path(file_okay=False, path_type=Path),
    default=DEFAULT_OUTPUT,
    show_default=True,
    help="the client's directory (replaced)",
)
def client(output: Path) -> int:
    """Regenerate the typed Python client (clients/python/) from the OpenAPI document.

    Needs openapi-python-client (pip install openapi-python-client); no database."""
    from liventix.api import openapi_text  # noqa: PLC0415

    generate(output, openapi_text())
    click.echo(f"wrote {output}")
    return 0

"""`liventix orgs ...`: organizations (the platform and the organizers), without Python or SQL."""

from __future__ import annotations

import json
import uuid
from typing import TYPE_CHECKING

import click

import ledger
from liventix.cli.common import (
    EXIT_OK,
    PREPARED,
    Failed,
    Group,
    aligned,
    engine,
    find_organization,
    settings_epilog,
)

if TYPE_CHECKING:
    from liventix.api.organizations.read_side import Summary


@click.group("orgs", cls=Group)
def group() -> None:
    """Organizations: the platform and the organizers (create, list, show)."""


@group.command("create", epilog=settings_epilog(PREPARED))
@click.argument("name")
@click.option("--platform", is_flag=True, help="register the platform itself (there is one)")
@click.option(
    "--id",
    "org_id",
    type=click.UUID,
    default=None,
    metavar="ID",
    help="its id (default: a new one); the same id and name again change nothing",
)
def create(name: str, platform: bool, org_id: uuid.UUID | None) -> int:
    """Register an organization and print its id.

    The platform (--platform) is registered once; an organizer as often as needed (names
    need not be unique, but `--org NAME` then asks for the id)."""
    if not name.strip():
        raise click.BadParameter("an organization needs a name", param_hint="NAME")
    with engine().begin() as conn:
        if platform:
            existing = ledger.platform_org(conn)
            if existing is not None and existing != org_id:
                raise Failed(f"the platform is registered already: {existing}")
        created = ledger.open_organization(
            conn, org_id or uuid.uuid4(), name.strip(), is_platform=platform
        )
    click.echo(str(created))
    return EXIT_OK


@group.command("list", epilog=settings_epilog(PREPARED))
@click.option("--json", "as_json", is_flag=True, help="one JSON object per line")
def list_(as_json: bool) -> int:
    """List the organizations, oldest first, with their active keys."""
    from liventix.api.organizations import read_side  # noqa: PLC0415 (loads FastAPI)

    with engine().begin() as conn:
        found = read_side.summaries(conn)
    if as_json:
        for summary in found:
            click.echo(json.dumps(_json(summary)))
        return EXIT_OK
    rows = (
        (s.org.id, s.org.name, _kind(s.org.is_platform), s.keys, s.org.created_at.isoformat())
        for s in found
    )
    click.echo(aligned(("ID", "NAME", "KIND", "KEYS", "CREATED"), rows))
    return EXIT_OK


@group.command("show", epilog=settings_epilog(PREPARED))
@click.argument("org", metavar="ID|NAME")
@click.option("--json", "as_json", is_flag=True, help="as one JSON object")
def show(org: str, as_json: bool) -> int:
    """Show one organization (by its id or its name)."""
    from liventix.api.organizations import read_side  # noqa: PLC0415

    with engine().begin() as conn:
        org_id, _ = find_organization(conn, org)
        [summary] = read_side.summaries(conn, org_id)
    if as_json:
        click.echo(json.dumps(_json(summary)))
        return EXIT_OK
    for label, value in (
        ("id", summary.org.id),
        ("name", summary.org.name),
        ("kind", _kind(summary.org.is_platform)),
        ("created", summary.org.created_at.isoformat()),
        ("active keys", summary.keys),
        ("accounts", summary.accounts),
    ):
        click.echo(f"{label:<12} {value}")
    return EXIT_OK


def _kind(is_platform: bool) -> str:
    return "platform" if is_platform else "organizer"


def _json(summary: Summary) -> dict[str, object]:
    return {
        "id": str(summary.org.id),
        "name": summary.org.name,
        "is_platform": summary.org.is_platform,
        "created_at": summary.org.created_at.isoformat(),
        "keys": summary.keys,
        "accounts": summary.accounts,
    }

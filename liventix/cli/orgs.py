"""`liventix orgs ...`: organizations (the platform and the organizers), without Python or SQL."""

from __future__ import annotations

import json
import uuid

import click
import sqlalchemy as sa

import ledger
from liventix.cli.common import (
    EXIT_OK,
    PREPARED,
    Failed,
    Group,
    engine,
    find_organization,
    settings_epilog,
    table,
)

_LIST = sa.text("""
    SELECT o.id, o.name, o.is_platform, o.created_at,
           (SELECT count(*) FROM payments.api_keys k
             WHERE k.org_id = o.id AND k.revoked_at IS NULL) AS keys
      FROM payments.organizations o
     ORDER BY o.created_at, o.id
""")
_ONE = sa.text("""
    SELECT o.id, o.name, o.is_platform, o.created_at,
           (SELECT count(*) FROM payments.api_keys k
             WHERE k.org_id = o.id AND k.revoked_at IS NULL) AS keys,
           (SELECT count(*) FROM payments.accounts a WHERE a.org_id = o.id) AS accounts
      FROM payments.organizations o WHERE o.id = :id
""")


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
    with engine().begin() as conn:
        rows = conn.execute(_LIST).all()
    if as_json:
        for r in rows:
            click.echo(json.dumps(_json(r)))
        return EXIT_OK
    click.echo(
        table(
            ("ID", "NAME", "KIND", "KEYS", "CREATED"),
            ((r.id, r.name, _kind(r.is_platform), r.keys, r.created_at.isoformat()) for r in rows),
        )
    )
    return EXIT_OK


@group.command("show", epilog=settings_epilog(PREPARED))
@click.argument("org", metavar="ID|NAME")
@click.option("--json", "as_json", is_flag=True, help="as one JSON object")
def show(org: str, as_json: bool) -> int:
    """Show one organization (by its id or its name)."""
    with engine().begin() as conn:
        org_id, _ = find_organization(conn, org)
        row = conn.execute(_ONE, {"id": org_id}).one()
    if as_json:
        click.echo(json.dumps({**_json(row), "accounts": row.accounts}))
        return EXIT_OK
    for label, value in (
        ("id", row.id),
        ("name", row.name),
        ("kind", _kind(row.is_platform)),
        ("created", row.created_at.isoformat()),
        ("active keys", row.keys),
        ("accounts", row.accounts),
    ):
        click.echo(f"{label:<12} {value}")
    return EXIT_OK


def _kind(is_platform: bool) -> str:
    return "platform" if is_platform else "organizer"


def _json(row: sa.Row[object]) -> dict[str, object]:
    return {
        "id": str(row.id),
        "name": row.name,
        "is_platform": row.is_platform,
        "created_at": row.created_at.isoformat(),
        "keys": row.keys,
    }

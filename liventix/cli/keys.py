"""`liventix keys ...`: API keys, stored hashed (the token is shown once): create, list,
revoke. `--org` takes an organization's id or its name."""

from __future__ import annotations

import json
import uuid
from datetime import datetime
from typing import TYPE_CHECKING

import click

from liventix.cli.common import (
    EXIT_NO,
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
    from liventix.api.keys import KeyInfo

_SCOPES = ("full", "read_only")


@click.group("keys", cls=Group)
def group() -> None:
    """API keys: create, list and revoke (stored hashed)."""


@group.command("create", epilog=settings_epilog(PREPARED))
@click.option("--org", default=None, metavar="ID|NAME", help="the organization the key acts for")
@click.option("--platform", is_flag=True, help="the platform's key")
@click.option(
    "--scope",
    type=click.Choice(_SCOPES),
    default="full",
    show_default=True,
    help="read_only: reads only, every write refused (finance)",
)
@click.option("--description", default="", help="what the key is for")
def create(org: str | None, platform: bool, scope: str, description: str) -> int:
    """Create an API key and print it (once: only its hash is kept).

    For an organization (which must exist: --org, its id or its name) or for the platform
    (--platform). The token goes to stdout, a line naming the key to stderr."""
    if (org is None) == (not platform):
        raise click.UsageError("give one of --org ID|NAME and --platform")
    from liventix.api import keys  # noqa: PLC0415 (FastAPI loads only for the commands that use it)

    with engine().begin() as conn:
        org_id = None if org is None else find_organization(conn, org)[0]
        created = keys.create_key(
            conn,
            org_id,
            description=description,
            scope="read_only" if scope == "read_only" else "full",
        )
    owner = "the platform" if created.org_id is None else f"organization {created.org_id}"
    click.echo(f"key {created.id} ({created.scope}) for {owner}:", err=True)
    click.echo(created.token)
    return EXIT_OK


@group.command("list", epilog=settings_epilog(PREPARED))
@click.option("--org", default=None, metavar="ID|NAME", help="only this organization's keys")
@click.option("--platform", is_flag=True, help="only the platform's keys")
@click.option("--all", "revoked", is_flag=True, help="revoked keys too")
@click.option("--json", "as_json", is_flag=True, help="one JSON object per line")
def list_(org: str | None, platform: bool, revoked: bool, as_json: bool) -> int:
    """List the API keys, oldest first, never their secrets.

    A key's prefix is the part of its token after `lvx_`, before the secret."""
    if org is not None and platform:
        raise click.UsageError("give at most one of --org ID|NAME and --platform")
    from liventix.api import keys  # noqa: PLC0415
    from liventix.api.organizations import read_side  # noqa: PLC0415

    with engine().begin() as conn:
        org_id = None if org is None else find_organization(conn, org)[0]
        found = keys.list_keys(conn, org_id=org_id, platform=platform, revoked=revoked)
        names = {s.org.id: s.org.name for s in read_side.summaries(conn)}
    if as_json:
        for k in found:
            click.echo(json.dumps(_json(k, names)))
        return EXIT_OK
    click.echo(
        aligned(
            (
                "ID",
                "PREFIX",
                "SCOPE",
                "ORGANIZATION",
                "CREATED",
                "LAST USED",
                "REVOKED",
                "DESCRIPTION",
            ),
            (
                (
                    k.id,
                    k.prefix,
                    k.scope,
                    "(platform)" if k.org_id is None else names.get(k.org_id),
                    k.created_at.isoformat(timespec="seconds"),
                    None
                    if k.last_used_at is None
                    else k.last_used_at.isoformat(timespec="seconds"),
                    None if k.revoked_at is None else k.revoked_at.isoformat(timespec="seconds"),
                    k.description or None,
                )
                for k in found
            ),
        )
    )
    return EXIT_OK


def _when(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat(timespec="seconds")


def _json(key: KeyInfo, names: dict[uuid.UUID, str]) -> dict[str, object]:
    return {
        "id": str(key.id),
        "org_id": None if key.org_id is None else str(key.org_id),
        "organization": None if key.org_id is None else names.get(key.org_id),
        "prefix": key.prefix,
        "scope": key.scope,
        "description": key.description,
        "created_at": key.created_at.isoformat(),
        "last_used_at": None if key.last_used_at is None else key.last_used_at.isoformat(),
        "revoked_at": None if key.revoked_at is None else key.revoked_at.isoformat(),
    }


@group.command("revoke", epilog=settings_epilog(PREPARED))
@click.argument("key_id", metavar="ID", type=click.UUID)
def revoke(key_id: uuid.UUID) -> int:
    """Revoke an API key at once.

    Exit 1 if it was already revoked, 2 if there is no such key."""
    from liventix.api import keys  # noqa: PLC0415

    try:
        with engine().begin() as conn:
            revoked = keys.revoke_key(conn, key_id)
    except keys.KeyNotFound as error:
        raise Failed(str(error)) from error
    click.echo(f"key {key_id}: {'revoked' if revoked else 'already revoked'}")
    return EXIT_OK if revoked else EXIT_NO

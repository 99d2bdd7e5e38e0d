"""`liventix orgs ...` and `liventix keys ...` on the test's database (Click's CliRunner, in
process): organizations registered, listed and shown by id or name; keys made for an
organization named by its id or its name, full or read-only, listed without their secrets,
revoked; every refusal one line on stderr with its exit status."""

from __future__ import annotations

import json
import uuid

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url

from liventix.api import keys
from tests.cli.runner import liventix


@pytest.fixture(autouse=True)
def on_the_test_database(
    monkeypatch: pytest.MonkeyPatch, pg_server_url: str, db_url: str, tmp_path: object
) -> None:
    monkeypatch.setenv("DATABASE_URL", pg_server_url)
    monkeypatch.setenv("LIVENTIX_DB_NAME", str(make_url(db_url).database))
    monkeypatch.setenv("LIVENTIX_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("LIVENTIX_PGDATA", raising=False)


def _ok(*args: str) -> str:
    result = liventix(*args)
    assert result.exit_code == 0, (args, result.output)
    return result.stdout


def _refused(status: int, *args: str) -> str:
    result = liventix(*args)
    assert result.exit_code == status, (args, result.output)
    assert result.stdout == ""
    assert result.stderr.count("\n") == 1, result.stderr
    for text in ("Traceback", "UUID(", "object at 0x"):
        assert text not in result.stderr
    return result.stderr


def test_organizations_are_registered_listed_and_shown(db_url: str) -> None:
    platform = uuid.UUID(_ok("orgs", "create", "Liventix", "--platform").strip())
    jazz = uuid.UUID(_ok("orgs", "create", "Riverside Jazz Club").strip())
    assert _refused(2, "orgs", "create", "Other", "--platform") == (
        f"liventix orgs create: the platform is registered already: {platform}\n"
    )
    # Registering the platform again under its own id and name changes nothing.
    assert _ok("orgs", "create", "Liventix", "--platform", "--id", str(platform)).strip() == str(
        platform
    )
    listed = [json.loads(line) for line in _ok("orgs", "list", "--json").splitlines()]
    assert [(o["id"], o["name"], o["is_platform"]) for o in listed] == [
        (str(platform), "Liventix", True),
        (str(jazz), "Riverside Jazz Club", False),
    ]
    table = _ok("orgs", "list").splitlines()
    assert table[0].split() == ["ID", "NAME", "KIND", "KEYS", "CREATED"]
    assert "platform" in table[1] and "organizer" in table[2]
    by_name = json.loads(_ok("orgs", "show", "Riverside Jazz Club", "--json"))
    by_id = json.loads(_ok("orgs", "show", str(jazz), "--json"))
    assert by_name == by_id
    assert (by_id["keys"], by_id["accounts"]) == (0, 0)
    assert "name         Riverside Jazz Club" in _ok("orgs", "show", str(jazz))
    engine = sa.create_engine(db_url)
    with engine.connect() as conn:
        count = conn.execute(sa.text("SELECT count(*) FROM payments.organizations")).scalar_one()
    engine.dispose()
    assert count == 2


def test_an_unknown_or_ambiguous_organization_is_one_line() -> None:
    _ok("orgs", "create", "Twins")
    _ok("orgs", "create", "Twins")
    missing = uuid.uuid4()
    assert _refused(2, "orgs", "show", str(missing)) == (
        f"liventix orgs show: no organization {missing}\n"
    )
    assert _refused(2, "keys", "create", "--org", "Nobody") == (
        "liventix keys create: no organization Nobody\n"
    )
    ambiguous = _refused(2, "keys", "create", "--org", "Twins")
    assert ambiguous.startswith(
        "liventix keys create: 2 organizations are named Twins: give its id"
    )
    blank = liventix("orgs", "create", "  ")
    assert blank.exit_code == 2 and "an organization needs a name" in blank.stderr


def test_keys_by_organization_name_full_and_read_only_listed_and_revoked() -> None:
    _ok("orgs", "create", "Liventix", "--platform")
    org = _ok("orgs", "create", "Harbour Hall").strip()
    made = liventix("keys", "create", "--org", "Harbour Hall", "--description", "box office")
    assert made.exit_code == 0
    full_token = made.stdout.strip()
    assert made.stderr.startswith("key ") and f"(full) for organization {org}" in made.stderr
    finance = liventix("keys", "create", "--org", org, "--scope", "read_only")
    finance_token = finance.stdout.strip()
    assert "(read_only)" in finance.stderr
    platform_token = _ok("keys", "create", "--platform").strip()
    for token in (full_token, finance_token):
        assert keys.parse_token(token) is not None

    listed = [json.loads(line) for line in _ok("keys", "list", "--json").splitlines()]
    assert [(k["organization"], k["scope"], k["description"]) for k in listed] == [
        ("Harbour Hall", "full", "box office"),
        ("Harbour Hall", "read_only", ""),
        (None, "full", ""),
    ]
    secrets = {t.split("_")[2] for t in (full_token, finance_token, platform_token)}
    everything = _ok("keys", "list") + _ok("keys", "list", "--json")
    assert not any(secret in everything for secret in secrets)
    assert [k["prefix"] for k in listed] == [
        t.split("_")[1] for t in (full_token, finance_token, platform_token)
    ]
    only_platform = _ok("keys", "list", "--platform", "--json").splitlines()
    assert [json.loads(k)["org_id"] for k in only_platform] == [None]
    assert len(_ok("keys", "list", "--org", "Harbour Hall", "--json").splitlines()) == 2

    finance_id = listed[1]["id"]
    assert _ok("keys", "revoke", finance_id) == f"key {finance_id}: revoked\n"
    again = liventix("keys", "revoke", finance_id)
    assert (again.exit_code, again.stdout) == (1, f"key {finance_id}: already revoked\n")
    assert len(_ok("keys", "list", "--json").splitlines()) == 2
    revoked = [json.loads(k) for k in _ok("keys", "list", "--all", "--json").splitlines()]
    assert [k["revoked_at"] is not None for k in revoked] == [False, True, False]
    table = _ok("keys", "list", "--all").splitlines()
    assert table[0].split() == [
        "ID",
        "PREFIX",
        "SCOPE",
        "ORGANIZATION",
        "CREATED",
        "LAST",
        "USED",
        "REVOKED",
        "DESCRIPTION",
    ]
    assert [k["last_used_at"] for k in revoked] == [None, None, None]  # none used yet
    assert "(platform)" in table[3]
    unknown = uuid.uuid4()
    assert _refused(2, "keys", "revoke", str(unknown)) == (
        f"liventix keys revoke: no API key {unknown}\n"
    )


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["keys", "create", "--platform", "--scope", "admin"], "'admin' is not one of"),
        (["keys", "list", "--platform", "--org", "x"], "give at most one of --org"),
        (["keys", "create"], "give one of --org ID|NAME and --platform"),
        (["orgs", "create"], "Missing argument 'NAME'"),
    ],
)
def test_usage_errors(argv: list[str], message: str) -> None:
    result = liventix(*argv)
    assert result.exit_code == 2
    assert message in result.stderr

"""`liventix ledger seal` and `liventix ledger verify [--org]` (issue 16 item 1) on the
test's own database, in process: seal, verify clean (exit 0), then a superuser's changed
amount named by verify with exit 1, for the whole ledger and for the organization by name;
the other organization's verification stays clean."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url

import ledger
from tests.cli.runner import liventix
from tests.ledger_core.conftest import ORG_A, ORG_B, OpenAccountFn, transfer


@pytest.fixture
def on_test_database(
    monkeypatch: pytest.MonkeyPatch, pg_server_url: str, db_url: str, tmp_path: Path
) -> None:
    """The CLI's settings name the test's database."""
    monkeypatch.setenv("DATABASE_URL", pg_server_url)
    monkeypatch.setenv("LIVENTIX_DB_NAME", str(make_url(db_url).database))
    monkeypatch.setenv("LIVENTIX_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("LIVENTIX_PGDATA", raising=False)


def test_seal_then_verify_clean_then_tampered(
    engine: sa.Engine, open_account: OpenAccountFn, on_test_database: None
) -> None:
    cash, sales = open_account(ORG_A, "cash", "asset"), open_account(ORG_A, "sales", "revenue")
    b_cash, b_sales = open_account(ORG_B, "cash", "asset"), open_account(ORG_B, "sales", "revenue")
    with engine.begin() as conn:
        entry = ledger.post_entry(conn, ORG_A, transfer("a", cash, sales, 10)).id
        ledger.post_entry(conn, ORG_B, transfer("b", b_cash, b_sales, 20))
    sealed = liventix("ledger", "seal")
    assert sealed.exit_code == 0, sealed.output
    assert sealed.stdout == "sealed 2 entries in 3 checkpoint(s)\n"
    clean = liventix("ledger", "verify")
    assert clean.exit_code == 0, clean.output
    assert clean.stdout.startswith("clean: 2 entries, 4 lines and 3 checkpoint(s)")

    with engine.begin() as conn:
        conn.execute(sa.text("SET LOCAL session_replication_role = replica"))
        line = conn.execute(
            sa.text(
                "UPDATE payments.lines SET amount = 1000 WHERE id = ("
                " SELECT min(id) FROM payments.lines WHERE entry_id = :e) RETURNING id"
            ),
            {"e": entry},
        ).scalar_one()
    tampered = liventix("ledger", "verify")
    assert tampered.exit_code == 1, tampered.output
    assert tampered.stdout.splitlines()[0] == (
        f"TAMPERED: line_changed: entry {entry}, line {line}"
    )
    by_name = liventix("ledger", "verify", "--org", "Org A", "--json")
    assert by_name.exit_code == 1
    assert json.loads(by_name.stdout)["mismatches"][0].startswith("line_changed")
    assert liventix("ledger", "verify", "--org", str(ORG_B)).exit_code == 0

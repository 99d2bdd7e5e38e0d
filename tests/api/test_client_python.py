"""The generated, typed Python client (`clients/python/`, `liventix api client`; issue 18
item 7), as committed: against the API served on 127.0.0.1 it opens accounts, posts entries
(Location names each), lists them page by page with `starting_after`, filters them, and reads
a refusal as a typed `Problem`; mypy --strict passes on the client and on code using it;
every operation it calls is still the API's (same method, path, parameters and body)."""

from __future__ import annotations

import importlib
import importlib.util
import json
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from liventix import clientgen
from liventix.api import openapi_document
from liventix.cli import main
from tests.api.support import Served, new_org

ROOT = Path(__file__).resolve().parents[2]
CLIENT = ROOT / "clients" / "python"


@pytest.fixture(scope="module")
def lc() -> Iterator[Any]:
    """The generated package `liventix_client`, imported from clients/python/."""
    sys.path.insert(0, str(CLIENT))
    try:
        yield importlib.import_module("liventix_client")
    finally:
        sys.path.remove(str(CLIENT))


def _api(lc: Any, module: str) -> Any:
    area = module.split("_", 1)[0]
    folder = {"tickets": "checkout_and_tickets"}.get(area, area)
    return importlib.import_module(f"{lc.__name__}.api.{folder}.{module}")


def _models(lc: Any) -> Any:
    return importlib.import_module(f"{lc.__name__}.models")


def test_post_entries_and_list_them_page_by_page(lc: Any, served: Served) -> None:
    _org, key = new_org(served.engine, "Client")
    m = _models(lc)
    open_account = _api(lc, "ledger_open_account")
    post_entry = _api(lc, "ledger_post_entry")
    list_entries = _api(lc, "ledger_list_entries")
    with lc.AuthenticatedClient(base_url=served.url, token=key) as client:
        accounts = []
        for code, kind in (("cash", m.OpenAccountRequestType.ASSET), ("sales", "revenue")):
            opened = open_account.sync(
                client=client,
                body=m.OpenAccountRequest(
                    code=code,
                    type_=m.OpenAccountRequestType(kind),
                    currency=m.OpenAccountRequestCurrency.USD,
                ),
                idempotency_key=f"open-{code}",
            )
            assert isinstance(opened, m.AccountResponse), opened
            accounts.append(opened.id)
        cash, sales = accounts
        posted = []
        for n in range(5):
            money = m.Money(amount=100 * (n + 1), currency=m.MoneyCurrency.USD)
            debit, credit = m.LineRequestSide.DEBIT, m.LineRequestSide.CREDIT
            answer = post_entry.sync_detailed(
                client=client,
                body=m.PostEntryRequest(
                    lines=[
                        m.LineRequest(account_id=cash, side=debit, amount=money),
                        m.LineRequest(account_id=sales, side=credit, amount=money),
                    ],
                    external_ref=f"sale-{n}",
                ),
                idempotency_key=f"sale-{n}",
            )
            assert answer.status_code == 201
            entry = answer.parsed
            assert isinstance(entry, m.EntryResponse), entry
            assert answer.headers["location"] == f"/v1/entries/{entry.id}"
            posted.append(entry.id)

        seen: list[uuid.UUID] = []
        pages = 0
        cursor = lc.types.UNSET
        while True:
            page = list_entries.sync(client=client, limit=2, starting_after=cursor)
            assert isinstance(page, m.EntryList), page
            seen += [e.id for e in page.data]
            pages += 1
            if not page.has_more:
                break
            cursor = str(page.data[-1].id)
        assert seen == posted
        assert pages == 3

        one = list_entries.sync(client=client, external_ref="sale-3")
        assert [e.id for e in one.data] == [posted[3]]
        refused = list_entries.sync(client=client, starting_after="not-a-cursor")
        assert isinstance(refused, m.Problem)
        assert refused.status == 422
        assert refused.additional_properties["field"] == "query.starting_after"


USAGE = """\
from __future__ import annotations

from liventix_client import AuthenticatedClient
from liventix_client.api.ledger import ledger_list_entries, ledger_post_entry
from liventix_client.models import (
    DryRunResponse,
    EntryList,
    EntryResponse,
    PostEntryRequest,
    Problem,
)

Answer = EntryResponse | DryRunResponse | Problem | None  # a dry run's 200 is DryRunResponse


def post(client: AuthenticatedClient, body: PostEntryRequest) -> Answer:
    return ledger_post_entry.sync(client=client, body=body, idempotency_key="k")


def count(client: AuthenticatedClient) -> int:
    page = ledger_list_entries.sync(client=client, limit=10)
    return len(page.data) if isinstance(page, EntryList) else 0
"""


def test_the_client_and_code_using_it_pass_mypy_strict(tmp_path: Path) -> None:
    config = tmp_path / "mypy.ini"
    config.write_text("[mypy]\nstrict = True\n")
    usage = tmp_path / "usage.py"
    usage.write_text(USAGE)
    wrong = tmp_path / "wrong.py"
    wrong.write_text(USAGE.replace('idempotency_key="k"', "idempotency_key=1"))
    checked = subprocess.run(
        [
            sys.executable,
            "-m",
            "mypy",
            "--strict",
            "--config-file",
            str(config),
            "--cache-dir",
            str(tmp_path / "cache"),
            str(CLIENT / "liventix_client"),
            str(usage),
        ],
        cwd=CLIENT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    # The check can fail: a wrong argument type is found.
    refused = subprocess.run(
        [
            sys.executable,
            "-m",
            "mypy",
            "--strict",
            "--config-file",
            str(config),
            "--cache-dir",
            str(tmp_path / "cache"),
            str(wrong),
        ],
        cwd=CLIENT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert refused.returncode == 1, refused.stdout + refused.stderr
    assert 'incompatible type "int"' in refused.stdout


def _operations(doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    found = {}
    for path, item in doc["paths"].items():
        for method, operation in item.items():
            found[operation["operationId"]] = {
                "method": method,
                "path": path,
                "parameters": sorted(
                    (p["in"], p["name"], p.get("required", False))
                    for p in operation.get("parameters", [])
                ),
                "body": operation.get("requestBody", {}).get("content"),
            }
    return found


def test_every_operation_of_the_client_is_still_the_apis() -> None:
    """The client may lag behind new operations, never behind a changed or removed one:
    `liventix api client` regenerates it."""
    generated_from = json.loads((CLIENT / "openapi.json").read_text())
    ours, now = _operations(generated_from), _operations(openapi_document())
    assert "ledger.post_entry" in ours
    changed = {k: v for k, v in ours.items() if now.get(k) != v}
    assert not changed, f"regenerate the client (liventix api client): {sorted(changed)}"


GENERATOR = importlib.util.find_spec("openapi_python_client") is not None


CACHES = {"__pycache__", ".ruff_cache", ".mypy_cache", ".pytest_cache"}
"""What tools leave in the client's directory (ignored by git): not the client."""


def _tree(root: Path) -> dict[str, bytes]:
    return {
        p.relative_to(root).as_posix(): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and not CACHES & set(p.relative_to(root).parts)
    }


def test_the_committed_client_is_the_generators_output(tmp_path: Path) -> None:
    """Regenerated from the document it was generated from, the client is the same, file for
    file (nobody edited it by hand); without the generator, the command says so in one
    line."""
    source = (CLIENT / "openapi.json").read_text()
    if not GENERATOR:
        with pytest.raises(clientgen.ClientError, match="openapi-python-client is not installed"):
            clientgen.generate(tmp_path / "client", source)
        return
    clientgen.generate(tmp_path / "client", source)
    assert _tree(tmp_path / "client") == _tree(CLIENT)


def test_liventix_api_client_writes_the_client_of_the_api(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    taken = tmp_path / "taken"
    taken.mkdir()
    (taken / "notes.txt").write_text("mine")
    expected = 0 if GENERATOR else 2
    assert main(["api", "client", "--output", str(taken)]) == 2
    assert "liventix api client:" in capsys.readouterr().err
    assert (taken / "notes.txt").read_text() == "mine"
    target = tmp_path / "fresh"
    assert main(["api", "client", "--output", str(target)]) == expected
    if GENERATOR:
        assert json.loads((target / "openapi.json").read_text()) == openapi_document()
        assert (target / "liventix_client" / "api" / "ledger" / "ledger_post_entry.py").exists()

"""Schemathesis against the live API, from the OpenAPI document kept in docs/: generated
requests (valid and invalid) to every operation, with an organization's key; no answer may
be a server error or break the documented schema (status, content type, body, headers).
Bounded: a few examples per operation and a time budget."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.api.support import Served, new_org, ok, on_sale_event, open_account, post

ROOT = Path(__file__).resolve().parents[2]
CHECKS = ",".join(
    (
        "not_a_server_error",
        "status_code_conformance",
        "content_type_conformance",
        "response_headers_conformance",
        "response_schema_conformance",
        "negative_data_rejection",
        "missing_required_header",
        "unsupported_method",
        "ignored_auth",
    )
)
# schemathesis's default statuses of a rejected invalid request, and the API's 413 for a body
# over its limit.
NEGATIVE_DATA_REJECTED = [
    "400", "401", "403", "404", "405", "406", "409", "413", "415", "422", "428", "429", "5xx",
]  # fmt: skip
# Longer runs: LIVENTIX_FUZZ_SECONDS=300 LIVENTIX_FUZZ_SEED=7 pytest tests/api -k schemathesis
MAX_TIME = int(os.environ.get("LIVENTIX_FUZZ_SECONDS") or 30)
SEED = os.environ.get("LIVENTIX_FUZZ_SEED") or "20261125"


def _schemathesis() -> list[str]:
    found = shutil.which("schemathesis") or shutil.which("st")
    if found is None:
        pytest.skip("schemathesis is not installed (pip install -e '.[dev]')")
    return [found]


def test_schemathesis_finds_no_server_error_and_no_schema_violation(
    served: Served, tmp_path: Path
) -> None:
    _org, key = new_org(served.engine, "Fuzzed")
    with served.client(key) as client:
        # Something to find: accounts, an entry, an event on sale.
        cash = open_account(client, "cash")
        sales = open_account(client, "sales", type="revenue")
        ok(
            post(
                client,
                "/v1/entries",
                {
                    "lines": [
                        {
                            "account_id": cash,
                            "side": "debit",
                            "amount": {"amount": 5, "currency": "USD"},
                        },
                        {
                            "account_id": sales,
                            "side": "credit",
                            "amount": {"amount": 5, "currency": "USD"},
                        },
                    ]
                },
            ),
            201,
        )
        on_sale_event(client)
    report = tmp_path / "report.json"
    # A body over its operation's limit is refused with 413 before it is read (documented in
    # the OpenAPI document's limits): a rejection, which schemathesis's default list for
    # negative_data_rejection lacks (its coverage phase sends arrays of maxItems + 1).
    config = tmp_path / "schemathesis.toml"
    config.write_text(
        "[checks.negative_data_rejection]\n"
        f"expected-statuses = {json.dumps(NEGATIVE_DATA_REJECTED)}\n"
    )
    command = [
        *_schemathesis(),
        "--config-file",
        str(config),
        "run",
        str(ROOT / "docs" / "openapi.json"),
        "--url",
        served.url,
        "--header",
        f"Authorization: Bearer {key}",
        "--checks",
        CHECKS,
        "--phases",
        "examples,coverage,fuzzing",
        "--max-examples",
        os.environ.get("LIVENTIX_FUZZ_EXAMPLES") or "8",
        "--max-time",
        str(MAX_TIME),
        "--workers",
        "1",
        "--seed",
        SEED,
        "--no-shrink",
        "--request-timeout",
        "10",
        "--report",
        "json",
        "--report-json-path",
        str(report),
        "--output-truncate",
        "true",
    ]
    done = subprocess.run(
        command,
        capture_output=True,
        text=True,
        timeout=MAX_TIME + 60,
        env={**os.environ, "SCHEMATHESIS_TELEMETRY": "false", "NO_COLOR": "1"},
        cwd=tmp_path,  # its replay cache (.schemathesis/) stays out of the repository
        check=False,
    )
    output = done.stdout[-20_000:] + done.stderr[-5_000:]
    assert done.returncode == 0, output
    assert "No issues found" in output or "passed" in output, output
    if report.exists():
        json.loads(report.read_text())
    print(output[-2_000:], file=sys.stderr)

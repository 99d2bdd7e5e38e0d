"""No input yields a 5xx (issue 13, item 4), over HTTP on 127.0.0.1: hypothesis posts
generated bad bodies to every POST operation of the OpenAPI document (deep nesting, control
characters, NUL, lone surrogates escaped and raw, huge and non-finite numbers, wrong types in
each of the operation's fields, bodies that are not UTF-8 or not JSON) and asserts a 4xx
problem and nothing written: every table of the payments, ticketing and messaging schemas
keeps its row count (the idempotency records excepted, where a refusal may be kept under its
key by design, but never a success). Every operation also refuses a body one byte over its
limit, announced and never sent.

Schemathesis (test_schemathesis.py) fuzzes from the schema, valid and invalid data alike;
this test aims at the inputs schemas do not describe. Bounded: a fixed number of examples,
derandomized; `LIVENTIX_NO5XX_EXAMPLES` runs more.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import re
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from liventix.api import limits, openapi_document
from tests.api import raw_http
from tests.api.support import Served, new_org

EXAMPLES = int(os.environ.get("LIVENTIX_NO5XX_EXAMPLES") or 240)
PROBLEM = "application/problem+json"
WEBHOOK = "/v1/stripe/webhook"


@dataclass(frozen=True)
class Operation:
    """A POST operation of the document: its path template, fields, and flags."""

    path: str
    fields: tuple[str, ...]
    path_params: tuple[tuple[str, str], ...]  # (name, type)
    read_only: bool

    def url(self) -> str:
        """The path with ids nobody has (nothing is found, nothing is written)."""
        path = self.path
        for name, kind in self.path_params:
            value = "987654321" if kind == "integer" else str(uuid.uuid4())
            path = path.replace("{" + name + "}", value)
        return path


def _operations() -> list[Operation]:
    doc = openapi_document()
    schemas = doc["components"]["schemas"]
    found = []
    for path, operations in doc["paths"].items():
        operation = operations.get("post")
        if operation is None:
            continue
        schema = (
            operation.get("requestBody", {})
            .get("content", {})
            .get("application/json", {})
            .get("schema", {})
        )
        ref = schema.get("$ref", "")
        fields = tuple(schemas[ref.rsplit("/", 1)[-1]].get("properties", {})) if ref else ()
        params = tuple(
            (p["name"], str(p["schema"].get("type", "string")))
            for p in operation.get("parameters", [])
            if p["in"] == "path"
        )
        found.append(Operation(path, fields, params, bool(operation.get("x-read-only"))))
    return found


OPERATIONS = _operations()


# -- the bodies ---------------------------------------------------------------------------------

hostile_text = st.text(
    alphabet=st.one_of(
        st.characters(categories=["Cc"]),  # NUL and the other control characters
        st.characters(categories=["Cs"]),  # lone surrogates
        st.sampled_from('[]{}"\\é\U0001f3b5a'),
    ),
    min_size=1,
    max_size=12,
)
huge_numbers = st.one_of(
    st.integers(min_value=2**63, max_value=10**60),
    st.integers(max_value=-(2**63) - 1, min_value=-(10**60)),
    st.sampled_from([10**4000, -(10**4000)]),
)
leaves = st.one_of(st.none(), st.booleans(), st.integers(), hostile_text, huge_numbers, st.floats())
any_json = st.recursive(
    leaves,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(hostile_text, inner, max_size=3),
    max_leaves=8,
)


def _encode(value: Any, raw: bool) -> bytes:
    """JSON text of `value`: escaped (`\\u0000`, `\\ud800`, NaN) or raw (control characters
    as they are, a lone surrogate as the bytes UTF-8 forbids)."""
    text = json.dumps(value, ensure_ascii=not raw, allow_nan=True)
    return text.encode("utf-8", "surrogatepass")


@st.composite
def mutated(draw: st.DrawFn, operation: Operation) -> bytes:
    """An object of the operation's own fields, one at least of a wrong or hostile value."""
    names = list(operation.fields) or ["id"]
    chosen = draw(st.lists(st.sampled_from(names), min_size=1, max_size=len(names), unique=True))
    body = {name: draw(any_json) for name in chosen}
    return _encode(body, draw(st.booleans()))


def _nested(depth: int, kind: str) -> bytes:
    if kind == "array":
        return b"[" * depth + b"]" * depth
    if kind == "object":
        return b'{"a":' * depth + b"1" + b"}" * depth
    return b"[" * depth  # never closed


deep = st.builds(
    _nested,
    st.integers(min_value=limits.MAX_JSON_DEPTH + 1, max_value=100_000),
    st.sampled_from(["array", "object", "open"]),
)
special_numbers = st.sampled_from(
    [b"NaN", b"Infinity", b"-Infinity", b"1e999", b"-1e999", b"9" * 5000, b"1e-999"]
).map(lambda n: b'{"amount":' + n + b',"metadata":{"n":' + n + b"}}")
not_json = st.one_of(
    st.binary(max_size=64),
    st.sampled_from([b"", b"{", b"[1,]", b"\xff\xfe\x00", b"\xed\xa0\x80", b'{"a":"\xc3"}']),
)


def bodies(operation: Operation) -> st.SearchStrategy[bytes]:
    """Every kind of bad body for one operation."""
    return st.one_of(
        mutated(operation),
        deep,
        special_numbers,
        not_json,
        any_json.map(lambda v: _encode(v, raw=False)),
        any_json.map(lambda v: _encode(v, raw=True)),
    )


# -- what was written ---------------------------------------------------------------------------

_TABLES = sa.text("""
    SELECT schemaname, tablename FROM pg_tables
     WHERE schemaname IN ('payments', 'ticketing', 'messaging')
       AND tablename <> 'api_idempotency'
     ORDER BY 1, 2
""")


def _snapshot(engine: sa.Engine) -> dict[str, int]:
    """Row counts of every table, and the idempotency records of successes."""
    with engine.connect() as conn:
        tables = [f'"{s}"."{t}"' for s, t in conn.execute(_TABLES)]
        counts = ", ".join(f"(SELECT count(*) FROM {t}) AS c{i}" for i, t in enumerate(tables))
        row = conn.execute(sa.text(f"SELECT {counts}")).one()
        kept = conn.execute(
            sa.text("SELECT count(*) FROM payments.api_idempotency WHERE status < 400")
        ).scalar_one()
    return {**dict(zip(tables, row, strict=True)), "api_idempotency (successes)": kept}


def _signed(body: bytes, secret: str) -> str:
    now = int(time.time())
    mac = hmac.new(secret.encode(), f"{now}.".encode() + body, hashlib.sha256)
    return f"t={now},v1={mac.hexdigest()}"


@pytest.fixture(scope="module")
def org_key(served: Served) -> str:
    _org, key = new_org(served.engine, "Fuzzed for 5xx")
    return key


@pytest.fixture
def client(served: Served, org_key: str) -> Iterator[httpx.Client]:
    with served.client(org_key) as client:
        yield client


def _send(
    served: Served, client: httpx.Client, operation: Operation, body: bytes
) -> httpx.Response:
    headers = {
        "Content-Type": "application/json",
        "Idempotency-Key": f"no5xx-{uuid.uuid4().hex}",
    }
    if operation.path == WEBHOOK:
        # Signed: the body gets past the signature to what reads it.
        headers["Stripe-Signature"] = _signed(body, served.secret)
    return client.post(operation.url(), content=body, headers=headers)


def test_no_generated_body_gets_a_5xx_or_writes_anything(
    served: Served, client: httpx.Client
) -> None:
    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(st.data())
    def check(data: st.DataObject) -> None:
        operation = data.draw(st.sampled_from(OPERATIONS), label="operation")
        body = data.draw(bodies(operation), label="body")
        before = _snapshot(served.engine)
        answer = _send(served, client, operation, body)
        summary = (operation.path, body[:200], answer.status_code, answer.text[:300])
        assert answer.status_code < 500, summary
        if not operation.read_only:
            assert 400 <= answer.status_code < 500, summary
            assert answer.headers["content-type"] == PROBLEM, summary
            problem = answer.json()
            assert problem["status"] == answer.status_code, summary
            assert re.match(r"^https://liventix\.dev/problems/[a-z0-9-]+$", problem["type"])
        assert _snapshot(served.engine) == before, summary

    check()


@pytest.mark.parametrize("operation", OPERATIONS, ids=[o.path for o in OPERATIONS])
def test_every_operation_refuses_a_body_one_byte_over_its_limit(
    served: Served, org_key: str, operation: Operation
) -> None:
    limit = limits.body_limit("POST", operation.path).max_bytes
    answer = raw_http.request(
        served.url,
        "POST",
        operation.url(),
        {
            "Authorization": f"Bearer {org_key}",
            "Content-Type": "application/json",
            "Idempotency-Key": f"no5xx-{uuid.uuid4().hex}",
            "Content-Length": str(limit + 1),
        },
    )
    assert answer.status == 413, answer.body
    assert answer.headers["content-type"] == PROBLEM
    assert answer.json()["max_bytes"] == limit

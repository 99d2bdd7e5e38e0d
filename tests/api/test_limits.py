"""Limits on every input, before the body is read or parsed (over HTTP on 127.0.0.1): a body
over its route's limit is 413 before authentication (announced and never sent, or chunked and
never ended), JSON nested deeper than 32 is 422 `json-too-deep` before authentication and
parsing (100,000 deep was a 500), metadata as Stripe's, each limit in the OpenAPI document,
and `Allow` naming every method of a path. The depth scan itself against a recursive count,
by hypothesis."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from liventix.api import limits, openapi_document
from liventix.json_limits import MAX_JSON_DEPTH, json_depth
from tests.api import raw_http
from tests.api.support import Served, idem, new_org, ok, open_account, post, transfer_body

PROBLEMS = "https://liventix.dev/problems/"


def _depth(value: Any) -> int:
    if isinstance(value, dict):
        return 1 + max((_depth(v) for v in value.values()), default=0)
    if isinstance(value, list):
        return 1 + max((_depth(v) for v in value), default=0)
    return 0


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(alphabet=st.sampled_from('[]{}"\\ab')),
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(
            st.text(alphabet=st.sampled_from('[]{}"\\ab'), max_size=4), inner, max_size=4
        )
    ),
    max_leaves=40,
)


@settings(max_examples=300, deadline=None)
@given(json_values, st.sampled_from(["utf-8", "utf-16", "utf-32"]), st.booleans())
def test_the_depth_scan_counts_as_a_parser_nests(value: Any, encoding: str, indent: bool) -> None:
    text = json.dumps(value, indent=1 if indent else None, ensure_ascii=False)
    assert json_depth(text.encode(encoding)) == _depth(value)
    assert json_depth(text) == _depth(value)


def test_the_depth_scan_on_bodies_that_are_not_json() -> None:
    assert json_depth(b"[" * 100_000) == 100_000
    assert json_depth(b'["' + b"[" * 100 + b"]") == 1  # an unterminated string
    assert json_depth(b'["\\\\", [[[]]]]') == 4  # an escaped backslash ends no string
    assert json_depth(b'["\\"[[[[", []]') == 2  # an escaped quote ends none either
    assert json_depth(b"") == 0
    assert json_depth(b"\xff[[") == 2  # not UTF-8: counted all the same
    assert json_depth(b"\xff\xfe[[") == 0  # UTF-16 (its BOM): one character, no bracket


@pytest.fixture
def client(served: Served) -> httpx.Client:
    _org, key = new_org(served.engine, "Limited")
    return served.client(key)


def test_a_body_over_the_limit_is_413_before_authentication(served: Served) -> None:
    # No API key, and the body is announced but never sent: only the limit can answer.
    answer = raw_http.request(
        served.url,
        "POST",
        "/v1/accounts",
        {"Content-Type": "application/json", "Content-Length": str(10 * 1024 * 1024)},
    )
    assert answer.status == 413, answer.body
    problem = answer.json()
    assert problem["type"] == PROBLEMS + "payload-too-large"
    assert problem["max_bytes"] == limits.DEFAULT_MAX_BODY_BYTES
    assert answer.headers["content-type"] == "application/problem+json"


def test_a_chunked_body_is_cut_off_at_the_limit(served: Served) -> None:
    answer = raw_http.request(
        served.url,
        "POST",
        "/v1/entries",
        {"Authorization": "Bearer lvx_nobody_x", "Content-Type": "application/json"},
        [b" " * (256 * 1024)] * 5,  # 1.25 MB, never ended
        chunked=True,
    )
    assert answer.status == 413, answer.body
    assert answer.json()["max_bytes"] == limits.ROUTE_BODY_LIMITS[("POST", "/v1/entries")]


def test_each_route_has_its_own_limit(client: httpx.Client) -> None:
    cash = open_account(client, "cash")
    sales = open_account(client, "sales", type="revenue")
    # 200 KB of spaces around a valid entry: over the default, within the entries' 1 MB.
    body = json.dumps(transfer_body(cash, sales, 5)) + " " * (200 * 1024)
    headers = {**idem(), "Content-Type": "application/json"}
    assert client.post("/v1/entries", content=body, headers=headers).status_code == 201
    account = json.dumps({"code": "big", "type": "asset", "currency": "USD"}) + " " * (65 * 1024)
    answer = client.post("/v1/accounts", content=account, headers=headers)
    assert answer.status_code == 413, answer.text


def test_json_nested_100000_deep_is_422_before_authentication(served: Served) -> None:
    for key in ("lvx_unknown_key", None):
        with served.client(key) as anyone:
            answer = anyone.post(
                "/v1/entries",
                content=b"[" * 100_000 + b"]" * 100_000,
                headers={**idem(), "Content-Type": "application/json"},
            )
        assert answer.status_code == 422, answer.text
        assert answer.json()["type"] == PROBLEMS + "json-too-deep"
        assert answer.json()["max_depth"] == MAX_JSON_DEPTH


def test_the_depth_limit_is_a_boundary(client: httpx.Client) -> None:
    cash = open_account(client, "cash")
    sales = open_account(client, "sales", type="revenue")

    def nested(depth: int) -> Any:
        # The entry's object and the metadata's are 2 levels; the rest are lists.
        value: Any = 1
        for _ in range(depth - 2):
            value = [value]
        return transfer_body(cash, sales, 5, metadata={"deep": value})

    assert post(client, "/v1/entries", nested(MAX_JSON_DEPTH)).status_code == 201
    refused = post(client, "/v1/entries", nested(MAX_JSON_DEPTH + 1))
    assert refused.status_code == 422
    assert refused.json()["type"] == PROBLEMS + "json-too-deep"
    # Brackets inside strings are text, not nesting.
    quoted = transfer_body(cash, sales, 5, description="[" * 900, metadata={"k": "{" * 400})
    assert post(client, "/v1/entries", quoted).status_code == 201


METADATA_REFUSED: dict[str, Any] = {
    "51 keys": {f"k{i}": "v" for i in range(51)},
    "100,000 keys": {f"k{i}": 1 for i in range(100_000)},
    "a key of 41 characters": {"k" * 41: "v"},
    "an empty key": {"": "v"},
    "a value of 501 characters": {"k": "v" * 501},
    "a nested value of 501 characters as JSON": {"k": {"n": "v" * 493}},
}


@pytest.mark.parametrize("case", list(METADATA_REFUSED))
def test_metadata_is_limited_as_stripe_limits_it(client: httpx.Client, case: str) -> None:
    cash = open_account(client, "cash")
    body = {"code": "m", "type": "asset", "currency": "USD", "metadata": METADATA_REFUSED[case]}
    for path, sent in (
        ("/v1/accounts", body),
        ("/v1/entries", transfer_body(cash, cash, 1, metadata=METADATA_REFUSED[case])),
    ):
        answer = client.post(
            path,
            content=json.dumps(sent, separators=(",", ":")),
            headers={**idem(), "Content-Type": "application/json"},
        )
        if case == "100,000 keys":  # 1.1 MB: over the limit before it is metadata
            assert answer.status_code == 413, answer.text
            continue
        assert answer.status_code == 422, (case, answer.text)
        assert answer.json()["field"].startswith("body.metadata"), answer.json()


def test_metadata_at_the_limits_is_taken(client: httpx.Client) -> None:
    metadata: dict[str, Any] = {f"{i:02d}" + "k" * 38: "v" * 500 for i in range(50)}
    metadata["00" + "k" * 38] = {"n": "v" * 492}  # 500 characters as JSON
    opened = ok(
        post(
            client,
            "/v1/accounts",
            {"code": "full", "type": "asset", "currency": "USD", "metadata": metadata},
        ),
        201,
    )
    assert opened["metadata"] == metadata


def test_the_limits_are_in_the_openapi_document() -> None:
    doc = openapi_document()
    posts = [(p, ops["post"]) for p, ops in doc["paths"].items() if "post" in ops]
    assert posts
    for path, operation in posts:
        assert operation[limits.BODY_LIMIT_EXTENSION] == limits.body_limit("POST", path).max_bytes
        assert operation[limits.DEPTH_LIMIT_EXTENSION] == MAX_JSON_DEPTH
        assert "413" in operation["responses"], path
    assert doc["paths"]["/v1/entries"]["post"][limits.BODY_LIMIT_EXTENSION] == 1024 * 1024
    types = {p["type"] for p in doc["info"]["x-problem-types"]}
    assert {PROBLEMS + "json-too-deep", PROBLEMS + "payload-too-large"} <= types
    schemas = doc["components"]["schemas"]
    metadata = schemas["OpenAccountRequest"]["properties"]["metadata"]
    assert metadata["maxProperties"] == 50
    assert metadata["propertyNames"]["maxLength"] == 40
    assert metadata["additionalProperties"]["maxLength"] == 500
    for name, schema in schemas.items():
        if not name.endswith("Request"):
            continue
        for field, prop in schema.get("properties", {}).items():
            for option in prop.get("anyOf", [prop]):
                bounded = {"enum", "const"} & set(option) or option.get("format") == "uuid"
                if option.get("type") == "string" and not bounded:
                    assert "maxLength" in option, (name, field)


@pytest.mark.parametrize(
    ("path", "methods"),
    [("/v1/accounts", {"GET", "POST"}), ("/v1/entries", {"GET", "POST"})],
)
def test_allow_names_every_method_of_the_path(served: Served, path: str, methods: set[str]) -> None:
    with served.client(None) as anyone:
        for method in ("OPTIONS", "DELETE", "PUT"):
            answer = anyone.request(method, path)
            assert answer.status_code == 405
            assert {m.strip() for m in answer.headers["allow"].split(",")} == methods
            assert answer.json()["type"] == PROBLEMS + "method-not-allowed"

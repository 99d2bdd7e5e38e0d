"""The API's documents by Stripe's conventions (issue 18 item 6): named, stable operationIds
(`ledger.post_entry`); `Location` documented on every 201; `/docs` and `/redoc` served with
every asset they reference from the API itself on 127.0.0.1 (nothing from a CDN); the
outgoing webhook events in the OpenAPI document's `webhooks`, each with its payload schema,
covering every message type the product registers and publishes."""

from __future__ import annotations

import ast
import json
import os
import re
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import urljoin, urlsplit

import httpx
import pytest

import escrow
import outbox
import ticketing_fsm
from liventix.api import openapi_document
from liventix.api.webhooks import catalog
from outbox import message_types
from tests.api.support import Served, new_org, ok, post

ROOT = Path(__file__).resolve().parents[2]
_SCHEMAS = "#/components/schemas/"
PRODUCT = ("ledger", "outbox", "escrow", "ticketing_fsm", "liventix")

# The names clients are generated with: changing one breaks every client's code.
STABLE = {
    ("post", "/v1/accounts"): "ledger.open_account",
    ("get", "/v1/accounts"): "ledger.list_accounts",
    ("get", "/v1/accounts/{account_id}"): "ledger.get_account",
    ("post", "/v1/accounts/{account_id}/close"): "ledger.close_account",
    ("get", "/v1/accounts/{account_id}/balance"): "ledger.get_balance",
    ("get", "/v1/accounts/{account_id}/statement"): "ledger.get_statement",
    ("post", "/v1/entries"): "ledger.post_entry",
    ("get", "/v1/entries"): "ledger.list_entries",
    ("post", "/v1/entries/batch"): "ledger.post_entry_batch",
    ("get", "/v1/entries/{entry_id}"): "ledger.get_entry",
    ("post", "/v1/entries/{entry_id}/reverse"): "ledger.reverse_entry",
    ("post", "/v1/holds"): "ledger.create_hold",
    ("get", "/v1/holds/{hold_id}"): "ledger.get_hold",
    ("post", "/v1/holds/{hold_id}/post"): "ledger.post_hold",
    ("post", "/v1/holds/{hold_id}/void"): "ledger.void_hold",
    ("get", "/v1/trial-balance"): "ledger.trial_balance",
    ("post", "/v1/events"): "tickets.create_event",
    ("get", "/v1/events/{event_id}"): "tickets.get_event",
    ("post", "/v1/events/{event_id}/ticket-types"): "tickets.add_ticket_type",
    ("post", "/v1/events/{event_id}/cancel"): "tickets.cancel_event",
    ("post", "/v1/checkouts"): "tickets.start_checkout",
    ("get", "/v1/orders/{order_id}"): "tickets.get_order",
    ("post", "/v1/orders/{order_id}/cancel"): "tickets.cancel_order",
    ("post", "/v1/orders/{order_id}/refunds"): "tickets.refund",
    ("get", "/v1/tickets/{ticket_id}"): "tickets.get_ticket",
    ("post", "/v1/tickets/{ticket_id}/transfer"): "tickets.transfer_ticket",
    ("post", "/v1/tickets/check-in"): "tickets.check_in",
    ("get", "/v1/escrows"): "escrow.list_escrows",
    ("get", "/v1/escrows/{escrow_id}"): "escrow.get_escrow",
    ("get", "/v1/escrows/{escrow_id}/transitions"): "escrow.transitions",
    ("post", "/v1/escrows/release-due"): "escrow.release_due",
    ("post", "/v1/webhook-endpoints"): "webhooks.register_endpoint",
    ("get", "/v1/webhook-endpoints"): "webhooks.list_endpoints",
    ("get", "/v1/webhook-endpoints/{endpoint_id}"): "webhooks.get_endpoint",
    ("post", "/v1/webhook-endpoints/{endpoint_id}/rotate-secret"): "webhooks.rotate_secret",
    ("post", "/v1/webhook-endpoints/{endpoint_id}/disable"): "webhooks.disable_endpoint",
    ("post", "/v1/webhook-endpoints/{endpoint_id}/enable"): "webhooks.enable_endpoint",
    ("post", "/v1/webhook-endpoints/{endpoint_id}/requeue"): "webhooks.requeue_endpoint",
    ("get", "/v1/deliveries"): "webhooks.list_deliveries",
    ("get", "/v1/deliveries/{delivery_id}"): "webhooks.get_delivery",
    ("get", "/v1/deliveries/{delivery_id}/attempts"): "webhooks.delivery_attempts",
    ("post", "/v1/deliveries/{delivery_id}/requeue"): "webhooks.requeue_delivery",
    ("get", "/v1/reports/trial-balance"): "reports.trial_balance_report",
    ("post", "/v1/reports/stripe-reconciliation"): "reports.stripe_reconciliation_report",
    ("post", "/v1/stripe/webhook"): "stripe.webhook",
    ("get", "/health"): "ops.health",
    ("get", "/ready"): "ops.ready",
    ("get", "/metrics"): "ops.metrics",
}


@pytest.fixture(scope="module")
def doc() -> dict[str, Any]:
    return openapi_document()


def operations(doc: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, item in doc["paths"].items():
        for method, operation in item.items():
            yield method, path, operation


def test_every_operation_is_named_and_the_names_are_stable(doc: dict[str, Any]) -> None:
    named = {(m, p): o.get("operationId") for m, p, o in operations(doc)}
    for (method, path), name in named.items():
        assert name and re.fullmatch(r"[a-z_]+\.[a-z_]+", name), (method, path, name)
    names = list(named.values())
    assert len(names) == len(set(names)), "an operationId is used twice"
    assert {k: named.get(k) for k in STABLE} == STABLE


def test_every_201_documents_location(doc: dict[str, Any]) -> None:
    created = [
        (m, p, o["responses"]["201"]) for m, p, o in operations(doc) if "201" in o["responses"]
    ]
    assert len(created) >= 10
    for method, path, response in created:
        assert "Location" in response.get("headers", {}), (method, path)


class _References(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for name, value in attrs:
            if name in ("src", "href", "spec-url") and value:
                self.urls.append(value)


@pytest.mark.parametrize(
    ("page", "kinds"),
    [
        ("/docs", {"javascript", "css", "png", "json"}),
        ("/redoc", {"javascript", "png", "json"}),
    ],
)
def test_the_documentation_pages_work_offline(served: Served, page: str, kinds: set[str]) -> None:
    with httpx.Client(base_url=served.url, timeout=30.0) as client:
        html = client.get(page)
        assert html.status_code == 200
        assert html.headers["content-type"].startswith("text/html")
        parser = _References()
        parser.feed(html.text)
        # Swagger UI names its document in its script: `url: '/openapi.json'`.
        parser.urls += re.findall(r"url: '([^']+)'", html.text)
        assert not re.search(r"https?://", html.text), "the page loads something from elsewhere"
        seen = set()
        for url in parser.urls:
            absolute = urljoin(served.url + page, url)
            assert urlsplit(absolute).netloc == urlsplit(served.url).netloc, url
            asset = client.get(absolute)
            assert asset.status_code == 200, url
            assert len(asset.content) > 100, url
            kind = asset.headers["content-type"]
            seen |= {k for k in ("javascript", "css", "png", "json") if k in kind}
        assert seen == kinds
        # Only the vendored files are served, not the module beside them.
        assert client.get("/docs/assets/swagger-ui/../__init__.py").status_code == 404
        assert client.get("/docs/assets/redoc/../README.md").status_code == 404


def _chromium() -> str:
    names = ("chromium", "chromium-browser")
    browser = next((shutil.which(b) for b in names if shutil.which(b)), None)
    if browser is None:
        # .ci/run installs Debian's chromium, so in CI its absence is a failure, not a skip.
        if os.environ.get("CI"):
            pytest.fail("CI runs without Chromium: .ci/run should have installed it")
        pytest.skip("Chromium is not installed (`which chromium` finds nothing)")
    return browser


@pytest.mark.parametrize(
    ("page", "drawn"),
    [
        ("/docs", ['class="opblock', "ledger.post_entry", "order.paid", "Post Entry"]),
        ("/redoc", ["api-content", "ledger.post_entry", "order.paid", "Post Entry"]),
    ],
)
def test_the_documentation_pages_draw_in_a_browser_with_no_other_host(
    served: Served, page: str, drawn: list[str]
) -> None:
    """Chromium with every host but 127.0.0.1 unresolvable draws the whole reference: the
    operations by name and the webhook events."""
    offline = "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1"
    shown = subprocess.run(
        [
            _chromium(),
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            offline,
            "--virtual-time-budget=20000",
            "--dump-dom",
            served.url + page,
        ],
        check=True,
        timeout=180,
        capture_output=True,
    ).stdout.decode()
    for text in drawn:
        assert text in shown, (page, text)


def test_the_vendored_assets_carry_their_licences() -> None:
    static = ROOT / "liventix" / "api" / "static"
    for package in ("swagger-ui", "redoc"):
        assert (static / package / "LICENSE").stat().st_size > 500
    assert "Apache License" in (static / "swagger-ui" / "LICENSE").read_text()
    assert "MIT License" in (static / "redoc" / "LICENSE").read_text()


def _refs(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str):
                yield value
            else:
                yield from _refs(value)
    elif isinstance(node, list):
        for value in node:
            yield from _refs(value)


def test_every_reference_of_the_document_resolves(doc: dict[str, Any]) -> None:
    schemas = doc["components"]["schemas"]
    refs = set(_refs(doc))
    assert "#/components/schemas/OrderPaidWebhook" in refs
    for ref in refs:
        assert ref.startswith("#/components/schemas/"), ref
        assert ref.removeprefix("#/components/schemas/") in schemas, ref


def test_the_webhook_events_are_in_the_document_with_their_payloads(
    doc: dict[str, Any],
) -> None:
    assert doc["openapi"].startswith("3.1")
    hooks = doc["webhooks"]
    assert list(hooks) == list(catalog.EVENT_TYPES)
    schemas = doc["components"]["schemas"]
    for event in catalog.catalog():
        operation = hooks[event.name]["post"]
        headers = {p["name"] for p in operation["parameters"] if p["in"] == "header"}
        assert headers == {"webhook-id", "webhook-timestamp", "webhook-signature"}
        ref = operation["requestBody"]["content"]["application/json"]["schema"]["$ref"]
        envelope = schemas[ref.removeprefix("#/components/schemas/")]
        assert envelope["properties"]["type"]["const"] == event.name
        assert envelope["required"] == ["type", "timestamp", "data"]
        payload = envelope["properties"]["data"]["$ref"].removeprefix("#/components/schemas/")
        assert set(schemas[payload]["properties"]) == set(event.model.model_fields)
        assert outbox.message_type(event.name) is event.model
    paid = schemas["OrderPaidWebhook"]["properties"]["data"]["$ref"]
    assert paid == "#/components/schemas/OrderEvent"
    assert set(schemas["OrderEvent"]["required"]) >= {"order_id", "amount", "currency"}


def test_every_message_type_the_product_registers_is_in_the_catalog() -> None:
    # In a process of its own: the registry is process-wide, and tests register types of
    # their own (the outbox's `test.*`) in whichever xdist process runs them.
    script = (
        "import json, liventix.api, liventix.wiring; from outbox import message_types; "
        "print(json.dumps(sorted(message_types._MODELS)))"
    )
    ran = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, cwd=ROOT
    )
    registered = set(json.loads(ran.stdout))
    assert len(registered) >= 17
    assert registered == set(catalog.EVENT_TYPES)
    assert set(catalog.EVENT_TYPES) <= set(message_types._MODELS)  # and here, as served


def _published_literals() -> set[str]:
    """Every `type="a.b"` literal in the product's calls (publish, Message, note helpers),
    and every name registered with a literal."""
    found: set[str] = set()
    for package in PRODUCT:
        for path in (ROOT / package).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text())):
                if not isinstance(node, ast.Call):
                    continue
                for keyword in node.keywords:
                    if keyword.arg in ("type", "kind") and isinstance(keyword.value, ast.Constant):
                        value = keyword.value.value
                        if isinstance(value, str) and re.fullmatch(r"[a-z_]+(\.[a-z_]+)+", value):
                            found.add(value)
                for arg in node.args:
                    if (
                        isinstance(arg, ast.Constant)
                        and isinstance(arg.value, str)
                        and re.fullmatch(r"(order|ticket)\.[a-z_]+", arg.value)
                    ):
                        found.add(arg.value)
    return found


def test_every_type_the_product_publishes_is_in_the_catalog() -> None:
    published = _published_literals()
    assert {"escrow.released", "stripe.refund.requested", "endpoint.disabled"} <= published
    assert {"order.paid", "ticket.issued"} <= published
    assert published <= set(catalog.EVENT_TYPES), published - set(catalog.EVENT_TYPES)


def test_the_webhooks_sent_are_the_ones_documented(served: Served, doc: dict[str, Any]) -> None:
    """What an endpoint receives is what the catalog says: the envelope's keys, the type, the
    payload's fields, the signature's headers."""
    org, key = new_org(served.engine, "Catalog")
    hook = f"catalog-{uuid.uuid4().hex[:8]}"
    with served.client(key) as client:
        ok(post(client, "/v1/webhook-endpoints", {"url": served.stripe.hook_url(hook)}), 201)
    sent = {
        "order.paid": ticketing_fsm.OrderEvent(
            order_id="o", event_id="e", status="paid", amount=100, refunded=0, currency="USD"
        ),
        "escrow.released": escrow.EscrowReleased(
            escrow_id="x", event_id="e", currency="USD", amount=100
        ),
        "endpoint.disabled": outbox.EndpointDisabled(endpoint_id="x", url="https://x", reason="r"),
    }
    with served.engine.begin() as conn:
        for name, payload in sent.items():
            outbox.publish(
                conn,
                type=name,
                payload=payload,
                aggregate_type="test",
                aggregate_id=name,
                org_id=org,
            )
    worker = outbox.Worker(
        served.engine,
        outbox.WorkerSettings(
            retry=outbox.RetryPolicy(schedule=()),
            request_timeout=5.0,
            webhook_allow=outbox.parse_allow("127.0.0.1/32"),
        ),
        handlers=served.handlers,
    )
    try:
        worker.deliver_once()
    finally:
        worker.close()
    received = served.stripe.requests("POST", f"/_hooks/{hook}")
    schemas = doc["components"]["schemas"]
    types = []
    for request in received:
        body = json.loads(request.body)
        operation = doc["webhooks"][body["type"]]["post"]
        for header in operation["parameters"]:
            assert request.header(header["name"]), header["name"]
        ref = operation["requestBody"]["content"]["application/json"]["schema"]["$ref"]
        envelope = schemas[ref.removeprefix("#/components/schemas/")]
        assert set(body) == set(envelope["properties"]) == set(envelope["required"])
        assert body["type"] == envelope["properties"]["type"]["const"]
        payload = schemas[envelope["properties"]["data"]["$ref"].removeprefix(_SCHEMAS)]
        assert set(body["data"]) == set(payload["properties"])
        assert body["data"] == sent[body["type"]].model_dump(mode="json")
        types.append(body["type"])
    assert sorted(types) == sorted(sent)

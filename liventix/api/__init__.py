"""The HTTP API (FastAPI, under /v1): the ledger, checkout and tickets, escrow, webhook
endpoints and deliveries, reports, Stripe's webhooks in, health, readiness and metrics.

Owns per-organization API keys, the per-request unit of work (one transaction under the
caller's PostgreSQL role, so row-level security bounds every handler), HTTP idempotency,
RFC 9457 problem details, the OpenAPI document and serving with uvicorn. Other code imports
only what is named here.
"""

from __future__ import annotations

from liventix.api.app import create_app, openapi_document, openapi_text, write_openapi
from liventix.api.keys import CreatedKey, KeyNotFound, Principal, create_key, revoke_key
from liventix.api.server import serve

__all__ = [
    "CreatedKey",
    "KeyNotFound",
    "Principal",
    "create_app",
    "create_key",
    "openapi_document",
    "openapi_text",
    "revoke_key",
    "serve",
    "write_openapi",
]

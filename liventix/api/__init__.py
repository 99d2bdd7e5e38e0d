"""The HTTP API (FastAPI, under /v1), sliced by area, each slice with its routes, schemas,
views and, where it reads other packages' tables itself, its declared read side:

- `ledger/`: accounts, entries (one by one and in batches), holds, balances, statements,
  the trial balance;
- `tickets/`: events, checkout, orders, tickets, refunds, event cancellation;
- `escrow/`: escrows, their audit trail, the release of the due ones;
- `webhooks/`: webhook endpoints and their deliveries;
- `reports/`: finance's reports;
- `stripe_webhook/`: Stripe's events in; `ops/`: health, readiness, metrics;
- `keys`: API keys (created and revoked by the CLI; checked by the database).

Around them, small pieces: `auth` (the bearer and the database's verdict), `idempotency`
(the Idempotency-Key and the answers stored under it), `unit_of_work` (the transaction a
handler opens with `with uow:` and commits with `uow.commit(answer)`), `failures` (what a
failed request is answered), `pipeline` and `routing` (a request's way to its handler),
`problems` (RFC 9457), `limits`, `metrics`, `app` (the application and its OpenAPI
document), `server` (uvicorn, one process or several). Other code imports only what is
named here.
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

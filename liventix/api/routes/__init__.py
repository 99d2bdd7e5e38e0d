"""The API's routers, one module per domain: ledger, ticketing, escrow, webhooks, reports,
Stripe's webhooks in, operations."""

"""Transitional: the routers moved into the API's slices (`liventix.api.<slice>.routes`).
Only `webhook_routes` is named here, for callers not yet moved; to be deleted."""

from __future__ import annotations

from liventix.api.webhooks import routes as webhook_routes

__all__ = ["webhook_routes"]

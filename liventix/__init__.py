"""Liventix, the application: settings, the database and its embedded server, the CLI.

The top of the house: it wires the ledger, the outbox, escrow and the ticket machines to
PostgreSQL, Stripe and HTTP. Other code imports only what is named here.
"""

from __future__ import annotations

from liventix.database import make_engine, prepare
from liventix.settings import Settings

__all__ = ["Settings", "make_engine", "prepare"]

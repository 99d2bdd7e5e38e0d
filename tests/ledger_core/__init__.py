"""Tests of the ledger core on a real PostgreSQL."""

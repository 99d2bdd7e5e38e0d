"""Robustness fixes of the outbox's and inbox's workers, on a real PostgreSQL."""

"""Tests of the outbox and inbox on a real PostgreSQL, HTTP and SMTP."""

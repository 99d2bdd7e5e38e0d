"""Tests of the HTTP API, through a real HTTP client against uvicorn on a real PostgreSQL."""

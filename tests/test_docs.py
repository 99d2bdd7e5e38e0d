"""The documents generated from the code are current (run `liventix docs` after a change):
the machines' and the escrow's documents, and docs/schema.sql, dumped here by the same
generator from a database migrated to head on the session's server."""

from __future__ import annotations

from liventix.docs import SCHEMA_HEADER, generate, normalize_dump


def test_generated_docs_are_current(pg_server_url: str) -> None:
    generated = generate(pg_server_url)
    assert {p.name for p in generated} == {"escrow.md", "ticketing.md", "schema.sql"}
    stale = [
        str(p) for p, content in generated.items() if not p.exists() or p.read_text() != content
    ]
    assert stale == [], f"regenerate with `liventix docs`: {stale}"


def test_the_schema_document_shows_the_schema_at_head(pg_server_url: str) -> None:
    (schema,) = [c for p, c in generate(pg_server_url).items() if p.name == "schema.sql"]
    assert schema.startswith(SCHEMA_HEADER)
    for name in ("payments.entries", "payments.lines", "ticketing.orders", "messaging.messages"):
        assert f"CREATE TABLE {name} (" in schema, name
    assert "CREATE FUNCTION payments." in schema
    assert "CREATE POLICY " in schema  # row-level security is part of the schema
    assert "alembic_version" in schema


def test_the_schema_document_leaves_out_what_varies_run_to_run() -> None:
    dump = "\n".join(
        [
            "-- Dumped from database version 18.6",
            "-- Dumped by pg_dump version 18.6",
            "\\restrict 3Xq9u0kLrandomkey",
            "SET statement_timeout = 0;",
            "SELECT pg_catalog.set_config('search_path', '', false);",
            "",
            "",
            "",
            "CREATE TABLE t (i integer);",
            "\\unrestrict 3Xq9u0kLrandomkey",
        ]
    )
    assert normalize_dump(dump) == SCHEMA_HEADER + "\nCREATE TABLE t (i integer);\n"


def test_escrow_doc_draws_every_state_and_recipe() -> None:
    (content,) = [c for p, c in generate(schema=False).items() if p.name == "escrow.md"]
    for state in ("collecting", "holding", "releasable", "release_requested", "released", "frozen"):
        assert f" as {state}" in content
    assert content.count("| account | owner | debit | credit |") == 15

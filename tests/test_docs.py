"""The documents generated from the code are current (run `liventix docs` after a change)."""

from __future__ import annotations

from liventix.docs import generate


def test_generated_docs_are_current() -> None:
    stale = [
        str(p) for p, content in generate().items() if not p.exists() or p.read_text() != content
    ]
    assert stale == [], f"regenerate with `liventix docs`: {stale}"


def test_escrow_doc_draws_every_state_and_recipe() -> None:
    (content,) = [c for p, c in generate().items() if p.name == "escrow.md"]
    for state in ("collecting", "holding", "releasable", "release_requested", "released", "frozen"):
        assert f" as {state}" in content
    assert content.count("| account | owner | debit | credit |") == 15

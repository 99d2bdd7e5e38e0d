"""`outbox.permanent` is the one way to ask whether a failure is permanent
(`outbox.PermanentFailure` is a plain mixin, no exception class: `except PermanentFailure`
raises TypeError as soon as an error reaches it). It is on outbox's public face, and no code
of the project catches the mixin by `except`. No database."""

from __future__ import annotations

import ast
from pathlib import Path

import outbox
import outbox.retries

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("ledger", "outbox", "escrow", "ticketing_fsm", "liventix", "pgdriver", "bench", "tests")


class NeverBookable(ValueError, outbox.PermanentFailure):
    """A package's own error, marked permanent."""


def _raised_from_a_permanent_one() -> RuntimeError:
    try:
        try:
            raise NeverBookable("no retry books this")
        except NeverBookable as exc:
            raise RuntimeError("translated") from exc
    except RuntimeError as outer:
        return outer


def test_permanent_is_on_the_face_and_reads_the_cause_chain() -> None:
    assert "permanent" in outbox.__all__
    assert outbox.permanent is outbox.retries.permanent
    assert outbox.permanent(NeverBookable("x"))
    assert outbox.permanent(_raised_from_a_permanent_one())
    assert not outbox.permanent(ValueError("try later"))
    # Raised while handling one (its __context__ only) is another failure, not permanent.
    try:
        try:
            raise NeverBookable("first")
        except NeverBookable:
            raise ValueError("another") from None
    except ValueError as exc:
        assert not outbox.permanent(exc)


def _catches_the_mixin(handler: ast.ExceptHandler) -> bool:
    if handler.type is None:
        return False
    return any(
        (isinstance(node, ast.Name) and node.id == "PermanentFailure")
        or (isinstance(node, ast.Attribute) and node.attr == "PermanentFailure")
        for node in ast.walk(handler.type)
    )


def test_no_code_catches_permanent_failure_by_except() -> None:
    """`except PermanentFailure` (alone or in a tuple) would raise TypeError when an error
    reaches it, in place of the handling meant: `outbox.permanent(exc)` asks instead."""
    found = []
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
            found += [
                f"{path.relative_to(ROOT)}:{node.lineno}"
                for node in ast.walk(tree)
                if isinstance(node, ast.ExceptHandler) and _catches_the_mixin(node)
            ]
    assert found == []


def test_the_scan_sees_such_a_handler() -> None:
    """The scan's control: it finds the handler it forbids, alone and in a tuple."""
    for source in (
        "try:\n    pass\nexcept outbox.PermanentFailure:\n    pass\n",
        "try:\n    pass\nexcept (ValueError, PermanentFailure):\n    pass\n",
    ):
        [handler] = [n for n in ast.walk(ast.parse(source)) if isinstance(n, ast.ExceptHandler)]
        assert _catches_the_mixin(handler)

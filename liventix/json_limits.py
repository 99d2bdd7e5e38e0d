"""Limits on JSON text checked before any parser reads it (no dependency: the API's request
limits and the Stripe webhook both use it).

`json_depth` finds how deep arrays and objects nest without parsing or recursing, so a body
nested 100,000 deep is refused before `json.loads` (whose C parser raises RecursionError on
it) or any recursive walk of the parsed value can fail on it.
"""

from __future__ import annotations

import itertools
import json
from array import array

MAX_JSON_DEPTH = 32
"""Arrays and objects nested in one another: the API's deepest body needs 4, Stripe's events
about 10."""

# Opening brackets become +1, closing ones -1 (as signed bytes); everything else is dropped.
_STEPS = bytes.maketrans(b"[{]}", b"\x01\x01\xff\xff")
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")


def json_depth(body: bytes | str) -> int:
    """The deepest nesting of arrays and objects a JSON parser would reach in `body`,
    brackets inside strings not counted. Linear and recursing into nothing: every step runs
    in C (`bytes.replace`, `split`, `translate`, `itertools.accumulate`).

    Exact up to the first syntax error of the body, which is as far as a parser goes."""
    if isinstance(body, str):
        data = body.encode("utf-8", "surrogatepass")
    else:
        encoding = json.detect_encoding(body)
        data = body
        if encoding not in ("utf-8", "utf-8-sig"):
            try:  # UTF-16 or UTF-32, as json.loads would read it
                data = body.decode(encoding, "surrogatepass").encode("utf-8", "surrogatepass")
            except UnicodeDecodeError:
                return 0  # no parser will read it
    # No byte of a multi-byte UTF-8 sequence is a quote, a backslash or a bracket. Escaped
    # backslashes go first, then escaped quotes (left to right, as a parser reads them):
    # what is left of the quotes opens and closes strings, so every second piece of the
    # body split at them lies outside the strings.
    data = data.replace(b"\\\\", b"").replace(b'\\"', b"")
    outside = b"".join(data.split(b'"')[0::2])
    steps = array("b", outside.translate(_STEPS, _NOT_BRACKETS))
    return max(itertools.accumulate(steps), default=0)


def too_deep(body: bytes | str, limit: int = MAX_JSON_DEPTH) -> bool:
    """Whether `body` nests deeper than `limit`."""
    # Nesting never goes deeper than the opening brackets there are. In any encoding a
    # parser reads (UTF-8, -16, -32) each `[` or `{` holds its ASCII byte, so counting those
    # bytes (strings and other characters' bytes included) can only count more: a body
    # with no more of them than `limit` is within it without the full scan.
    opening = body.encode("utf-8", "surrogatepass") if isinstance(body, str) else body
    if opening.count(b"[") + opening.count(b"{") <= limit:
        return False
    return json_depth(body) > limit

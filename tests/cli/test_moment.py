"""The CLI's moment parameter (`liventix.cli.common.Moment`): Unix seconds out of Python's range
are a usage error (click's one line), not a traceback (Review4's L3, session 39)."""

from __future__ import annotations

from datetime import UTC, datetime

import click
import pytest

from liventix.cli.common import Moment


@pytest.mark.parametrize("text", ["1000000000000", "99999999999999999999999"])
def test_seconds_out_of_range_are_a_usage_error(text: str) -> None:
    with pytest.raises(click.BadParameter, match="out of range"):
        Moment(seconds=True).convert(text, None, None)


def test_seconds_and_iso_times_still_read() -> None:
    moment = Moment(seconds=True)
    assert moment.convert("1764892800", None, None) == datetime(2025, 12, 5, tzinfo=UTC)
    assert moment.convert("2026-12-05T10:00", None, None) == datetime(2026, 12, 5, 10, tzinfo=UTC)

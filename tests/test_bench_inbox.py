"""bench.inbox runs end to end in a tiny configuration (the session's server, one API process,
one worker, a few events per case in two rounds), so it cannot rot: every event it posts is
handled, its JSON line carries the figures the issue reads, and finance's reports tie out. No
timing is asserted: the rates are whatever this machine gives."""

from __future__ import annotations

import json

import pytest

from bench import inbox


@pytest.mark.slow
def test_the_bench_drains_both_cases_and_ties_out(
    pg_server_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("DATABASE_URL", pg_server_url)  # a database of its own on it
    events = 6
    argv = ["--events", str(events), "--warmup", "2", "--workers", "1", "--processes", "1"]
    assert inbox.main(argv) == 0
    figures = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    for case in ("inbox_0", "inbox_250"):
        assert figures[f"{case}_handled"] == events
        assert figures[f"{case}_left"] == 0
        assert figures[f"{case}_capped"] is False
        assert figures[f"{case}_per_s"] > 0
    assert figures["p50_ms_250"] is not None
    assert figures["p99_ms_250"] >= figures["p50_ms_250"]
    assert figures["workers"] == 1
    assert figures["events"] == events
    assert figures["dead"] == 0
    assert figures["refunded_paid"] == 0
    assert figures["charged_without_ticket"] == 0
    assert figures["inbox_statuses"] == {"handled": 2 + 2 * events}
    assert figures["orders"] == {"paid": 2 + 2 * events}
    assert figures["differences"] == 0
    assert figures["inbox_latency_ratio"] > 0
    assert len(figures["inbox_latency_ratio_rounds"]) == figures["rounds"] == 2

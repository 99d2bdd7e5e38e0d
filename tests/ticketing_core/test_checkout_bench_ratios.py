"""bench.checkout's round ratios (`_round_ratios`): a round where a run completed nothing
(starved by the shared machine's other work) has no ratio, and the run's results are still
written, as one JSON object. Review 2, L9: 61dd23d divided by the bare posting's rate and by
the checkout's CPU, so such a round raised ZeroDivisionError and lost the whole run."""

from __future__ import annotations

import json
import math

from bench import checkout as bench
from bench.posting import Results


def _run(per_s: float, cpu_us: float) -> bench.Run:
    return bench.Run(
        name="",
        per_s=per_s,
        client_cpu_us=cpu_us,
        server_cpu_us=cpu_us,
        background_cpu_us=cpu_us,
        waits={},
        wal_bytes=cpu_us,
    )


_NOTHING = _run(0.0, math.nan)  # as `_run` reports a run that completed nothing


def test_a_round_where_a_run_completed_nothing_has_no_ratio() -> None:
    pairs = [
        (_run(1_000.0, 100.0), _run(300.0, 400.0)),
        (_NOTHING, _run(250.0, 500.0)),  # the bare posting completed nothing
        (_run(1_000.0, 100.0), _NOTHING),  # the checkout completed nothing
        (_run(800.0, 125.0), _run(200.0, 500.0)),
    ]
    found = bench._round_ratios(pairs)
    assert found["checkout_4_over_post_4_rounds"] == [0.3, None, 0.0, 0.25]
    assert found["checkout_4_over_post_4_median"] == 0.25
    assert found["checkout_4_over_post_4_by_cpu_rounds"] == [0.25, None, None, 0.25]
    assert found["checkout_4_over_post_4_by_cpu_median"] == 0.25
    results = Results()
    for name, value in found.items():
        results.put(name, value)
    json.dumps(results.figures, allow_nan=False)  # the run's last line stays JSON


def test_no_round_with_a_ratio_gives_no_median() -> None:
    found = bench._round_ratios([(_NOTHING, _NOTHING), (_NOTHING, _run(250.0, 500.0))])
    assert found == {
        "checkout_4_over_post_4_rounds": [None, None],
        "checkout_4_over_post_4_median": None,
        "checkout_4_over_post_4_by_cpu_rounds": [None, None],
        "checkout_4_over_post_4_by_cpu_median": None,
    }

"""bench.onsale --steps: the tracer it writes patches the modules it names when a process
imports them (a module renamed or moved would leave the trace silently empty), and the steps
are read back per case from what the processes dumped."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from bench.onsale import STEPS, _steps_of, _steps_tracer

PATCHED = """
import ticketing_fsm
from liventix.api import pipeline, routing, unit_of_work
from uvicorn.protocols.http import httptools_impl
patched = {
    "ask_for_intent": ticketing_fsm.ask_for_intent.__module__,
    "Runner.serve": pipeline.Runner.serve.__module__,
    "DirectRoutes.__call__": routing.DirectRoutes.__call__.__module__,
    "UnitOfWork._begin": unit_of_work.UnitOfWork._begin.__module__,
    "on_headers_complete": httptools_impl.HttpToolsProtocol.on_headers_complete.__module__,
}
print(json.dumps(patched))
"""


def test_the_tracer_patches_every_module_it_times(tmp_path: Path) -> None:
    out, env = _steps_tracer(tmp_path)
    done = subprocess.run(
        [sys.executable, "-c", "import json\n" + PATCHED],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    patched = json.loads(done.stdout.strip().splitlines()[-1])
    assert patched == dict.fromkeys(patched, "sitecustomize")
    # Without the environment nothing is patched.
    plain = subprocess.run(
        [sys.executable, "-c", "import json\n" + PATCHED],
        env={**os.environ, "PYTHONPATH": env["PYTHONPATH"]},
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    assert "sitecustomize" not in plain.stdout
    assert [p.name for p in out.iterdir() if p.suffix == ".json"]  # dumped at exit


def test_the_steps_are_read_back_per_case(tmp_path: Path) -> None:
    marks = [name for _, first, last in STEPS for name in (first, last)]
    one = {mark: 10.0 + n / 1000 for n, mark in enumerate(dict.fromkeys(marks))}
    other = {mark: t + 50.0 for mark, t in one.items()}
    (tmp_path / "1.json").write_text(json.dumps([one]))
    (tmp_path / "2.json").write_text(json.dumps([other]))
    (tmp_path / "3.json.tmp").write_text("half written")
    steps = _steps_of(tmp_path, {"first": (9.0, 11.0), "second": (59.0, 61.0)})
    assert set(steps) == {"first", "second"}
    assert steps["first"] == steps["second"]
    assert set(steps["first"]) == {name for name, _, _ in STEPS}
    first, last = "read", "written"
    assert steps["first"][STEPS[-1][0]] == round((one[last] - one[first]) * 1000, 2)

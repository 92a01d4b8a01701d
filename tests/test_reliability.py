"""Unattended runs: a run killed mid-Trainer completes when started again, from cache, and
two runs started together on one output root never share it."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pipeline.config import REPOSITORY_ROOT
from pipeline.metadata.store import open_store

pytestmark = pytest.mark.e2e
RUN_TIMEOUT_S = 600


def start_run(output_root: Path) -> subprocess.Popen:
    environment = {**os.environ, "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen(
        [sys.executable, "local_runner.py", f"--output_root={output_root}"],
        cwd=REPOSITORY_ROOT, env=environment, stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT, text=True, start_new_session=True)


def latest_summary(output_root: Path) -> dict:
    run = sorted((output_root / "runs").iterdir())[-1]
    return json.loads((run / "summary.json").read_text())


def test_a_run_killed_during_training_completes_on_restart_from_cache(tmp_path: Path) -> None:
    output_root = tmp_path / "output"
    process = start_run(output_root)
    assert process.stdout is not None
    seen = []
    for line in process.stdout:
        seen.append(line)
        if "Trainer" in line and "running" in line:
            time.sleep(3)  # well inside training, which takes about 10 s here
            os.killpg(process.pid, signal.SIGKILL)
            break
    process.wait(timeout=60)
    assert process.returncode == -signal.SIGKILL, "".join(seen[-20:])
    assert not (output_root / "serving").exists() or not os.listdir(output_root / "serving")

    store = open_store(output_root / "metadata.sqlite")  # still readable after the kill
    assert len(store.get_executions()) >= 7

    restarted = start_run(output_root)
    output, _ = restarted.communicate(timeout=RUN_TIMEOUT_S)
    assert restarted.returncode == 0, output[-3000:]
    states = {c["component"]: c["state"] for c in latest_summary(output_root)["components"]}
    assert {name: states[name] for name in ("ExampleGen", "StatisticsGen", "Transform")} == \
        {"ExampleGen": "cached", "StatisticsGen": "cached", "Transform": "cached"}
    assert states["Trainer"] == states["Evaluator"] == states["Pusher"] == "ran"
    [version] = os.listdir(output_root / "serving")
    assert (output_root / "serving" / version / "saved_model.pb").exists()


def test_two_runs_started_together_on_one_output_root(tmp_path: Path) -> None:
    output_root = tmp_path / "output"
    first, second = start_run(output_root), start_run(output_root)
    outputs = [process.communicate(timeout=RUN_TIMEOUT_S)[0] for process in (first, second)]
    codes = sorted(process.returncode for process in (first, second))
    assert codes == [0, 1], outputs
    refused = outputs[[first.returncode, second.returncode].index(1)]
    assert refused.strip().splitlines()[-1].startswith(
        f"Reason: Another run is using {output_root.resolve()} (pid ")
    [version] = os.listdir(output_root / "serving")
    assert (output_root / "serving" / version / "saved_model.pb").exists()
    assert len(list((output_root / "runs").iterdir())) == 1  # the refused run wrote nothing
    assert latest_summary(output_root)["pushed"] is True

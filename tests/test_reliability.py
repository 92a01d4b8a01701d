"""Unattended runs: a run killed mid-Trainer completes when started again, from cache, and
two runs started together on one output root never share it (the two are the restart)."""

from __future__ import annotations

import json
import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from ml_metadata.proto import metadata_store_pb2

from pipeline.metadata.store import component_of, open_store
from pipeline.settings import REPOSITORY_ROOT

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


PROGRESS_LINE = re.compile(r"^\[\s*\d+/\d+\] (\S+)\s+(\S+)")  # "[ 8/12] Trainer  running"
TRAINER_START_TIMEOUT_S = 300


def lines_of(process: subprocess.Popen) -> queue.Queue:
    """The process's output lines as they come (None at its end), read by a thread so the
    test can wait for a line with a deadline."""
    lines: queue.Queue = queue.Queue()

    def read() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            lines.put(line)
        lines.put(None)

    threading.Thread(target=read, daemon=True).start()
    return lines


@pytest.fixture(scope="module")
def killed_then_restarted_twice(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """A run killed inside run_fn, what it left, then two runs started together on the
    same output root: one completes the killed run from cache, the other is refused. (One
    pipeline run serves both tests below; each took a whole run of its own before.)"""
    output_root = tmp_path_factory.mktemp("reliability") / "output"
    process = start_run(output_root)
    lines = lines_of(process)
    seen: list[str] = []
    current = None  # the component whose "running" line came last
    deadline = time.monotonic() + TRAINER_START_TIMEOUT_S
    while True:
        try:
            line = lines.get(timeout=max(deadline - time.monotonic(), 0.01))
        except queue.Empty:
            os.killpg(process.pid, signal.SIGKILL)
            pytest.fail(f"run_fn did not start within {TRAINER_START_TIMEOUT_S} s: "
                        + "".join(seen[-20:]))
        if line is None:
            pytest.fail("The run ended before run_fn started: " + "".join(seen[-20:]))
        seen.append(line)
        if progress := PROGRESS_LINE.match(line):
            current = progress.group(1) if progress.group(2) == "running" else None
        # The Trainer's own news (run_fn logs the feature shapes, then epochs) says it is
        # inside run_fn, not merely scheduled: kill it there.
        elif current == "Trainer" and line.strip().startswith(("Feature shapes:", "epoch ")):
            os.killpg(process.pid, signal.SIGKILL)
            break
    process.wait(timeout=60)
    while (line := lines.get(timeout=60)) is not None:  # what was written before the kill
        seen.append(line)
    assert process.returncode == -signal.SIGKILL, "".join(seen[-20:])
    # What the kill left, read before the next runs change it.
    serving = output_root / "serving"
    store = open_store(output_root / "metadata.sqlite")  # still readable after the kill
    after_kill = {
        "executions": len(store.get_executions()),
        "trainer": [execution.last_known_state for execution in store.get_executions()
                    if component_of(store, execution.id) == "Trainer"],
        "live_types": {artifact.type for artifact in store.get_artifacts()
                       if artifact.state == metadata_store_pb2.Artifact.LIVE}}
    del store
    serving_after_kill = sorted(os.listdir(serving)) if serving.exists() else []
    runs = output_root / "runs"
    runs_before = len(list(runs.iterdir())) if runs.exists() else 0
    pair = [start_run(output_root), start_run(output_root)]
    outputs = [process.communicate(timeout=RUN_TIMEOUT_S)[0] for process in pair]
    return {"output_root": output_root, "seen": seen, "runs_before": runs_before,
            "serving_after_kill": serving_after_kill,
            "store_after_kill": after_kill,
            "codes": [process.returncode for process in pair], "outputs": outputs}


def test_a_run_killed_during_training_completes_on_restart_from_cache(
        killed_then_restarted_twice: dict) -> None:
    run = killed_then_restarted_twice
    output_root, seen = run["output_root"], run["seen"]
    # The kill came while the Trainer ran: it never finished, nothing after it started.
    states = [(match.group(1), match.group(2)) for line in seen
              if (match := PROGRESS_LINE.match(line))]
    assert states[-1] == ("Trainer", "running"), states
    assert run["serving_after_kill"] == [], run["serving_after_kill"]
    store = run["store_after_kill"]
    assert store["executions"] >= 7
    assert store["trainer"] == [metadata_store_pb2.Execution.RUNNING], store  # not done
    assert "Model" not in store["live_types"]

    assert 0 in run["codes"], run["outputs"][0][-3000:] + run["outputs"][1][-3000:]
    states = {c["component"]: c["state"] for c in latest_summary(output_root)["components"]}
    assert {name: states[name] for name in ("ExampleGen", "StatisticsGen", "Transform")} == \
        {"ExampleGen": "cached", "StatisticsGen": "cached", "Transform": "cached"}
    assert states["Trainer"] == states["Evaluator"] == states["Pusher"] == "ran"
    [version] = os.listdir(output_root / "serving")
    assert (output_root / "serving" / version / "saved_model.pb").exists()


def test_two_runs_started_together_on_one_output_root(killed_then_restarted_twice: dict
                                                      ) -> None:
    run = killed_then_restarted_twice
    output_root, codes, outputs = run["output_root"], run["codes"], run["outputs"]
    assert sorted(codes) == [0, 1], outputs
    refused = outputs[codes.index(1)]
    assert refused.strip().splitlines()[-1].startswith(
        f"Reason: Another run is using {output_root.resolve()} (pid ")
    [version] = os.listdir(output_root / "serving")
    assert (output_root / "serving" / version / "saved_model.pb").exists()
    # The refused run wrote nothing: one run record more, the run that completed.
    assert len(list((output_root / "runs").iterdir())) == run["runs_before"] + 1
    assert latest_summary(output_root)["pushed"] is True

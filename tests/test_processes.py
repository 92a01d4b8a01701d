"""Warm processes (pipeline/processes.py): forked from a server that imported their
modules, each still with its own arguments, environment, working directory, output files
and exit code. Each case runs in a fresh interpreter, whose fork server is its own."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from pipeline.settings import REPOSITORY_ROOT

# Run by path, as a runner script is: its top-level code notes each time it runs.
SCRIPT = """
import json, sys
with open(sys.argv[7], "a") as runs:
    runs.write("ran\\n")
from pipeline.processes import WarmProcess


def main():
    out, err, cwd, exit_code, sleep, kill = sys.argv[1:7]
    process = WarmProcess("tests.warm_probe", ["first", "second arg"],
                          {"PROBE": "set", "PROBE_EXIT": exit_code, "PROBE_SLEEP": sleep,
                           "PYTHONPATH": %r}, cwd, out, err, imports=["tests.warm_marker"])
    if kill == "kill":
        import time
        time.sleep(3)
        process.kill()
    print(json.dumps({"code": process.wait(), "pid": process.pid}))


if __name__ == "__main__":
    main()
"""


def _run(tmp_path: Path, exit_code: int = 0, sleep: float = 0.0, kill: bool = False
         ) -> tuple[dict, Path, Path]:
    out, err, runs = tmp_path / "out.txt", tmp_path / "err.txt", tmp_path / "runs.txt"
    work, script = tmp_path / "work", tmp_path / "runner.py"
    work.mkdir(exist_ok=True)
    script.write_text(SCRIPT % str(REPOSITORY_ROOT))
    runs.write_text("")
    finished = subprocess.run(
        [sys.executable, str(script), str(out), str(err), str(work), str(exit_code),
         str(sleep), "kill" if kill else "wait", str(runs)],
        cwd=REPOSITORY_ROOT, capture_output=True, text=True, timeout=120,
        env={**os.environ, "PYTHONPATH": str(REPOSITORY_ROOT)})
    assert finished.returncode == 0, finished.stderr[-3000:]
    # The runner's own script ran once: the child did not import it again.
    assert runs.read_text() == "ran\n"
    return json.loads(finished.stdout.splitlines()[-1]), out, err


def test_a_warm_process_runs_the_module_as_a_fresh_one_would(tmp_path: Path) -> None:
    result, out, err = _run(tmp_path)
    assert result["code"] == 0
    seen = json.loads(out.read_text())
    assert seen["argv"] == ["first", "second arg"] and seen["name"] == "__main__"
    # Its own environment only, and its own working directory.
    assert seen["probe"] == "set" and not seen["home"]
    assert seen["cwd"] == str(tmp_path / "work")
    assert seen["pid"] == result["pid"]
    # Forked from the server, which imported the warm module before the process started.
    assert seen["marker_pid"] is not None and seen["marker_pid"] != seen["pid"]
    assert err.read_text() == "to stderr\n"


def test_its_exit_code_and_a_kill_are_reported(tmp_path: Path) -> None:
    assert _run(tmp_path, exit_code=3)[0]["code"] == 3
    assert _run(tmp_path, sleep=60, kill=True)[0]["code"] == -9

"""The one command line (`python -m pipeline`): every task listed, each one reachable."""

from __future__ import annotations

import subprocess
import sys

from pipeline import cli
from pipeline.config import FIELDS, REPOSITORY_ROOT


def _cli(*arguments: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pipeline", *arguments], cwd=REPOSITORY_ROOT,
                          capture_output=True, text=True, timeout=120)


def test_help_lists_every_task_with_a_line_each() -> None:
    result = _cli("--help")
    assert result.returncode == 0
    listed = {line.split()[0] for line in result.stdout.splitlines() if line.startswith("  ")}
    assert listed == set(cli.TASKS)
    assert {"run", "train-all", "lineage", "vertex-compile", "vertex-submit",
            "vertex-schedule", "benchmark", "test", "build-images"} <= listed


def test_unknown_task_is_refused_with_the_listing() -> None:
    result = _cli("deploy")
    assert result.returncode == 2
    assert "Unknown task 'deploy'" in result.stderr and "train-all" in result.stderr


def test_settings_lists_every_setting_with_its_readers() -> None:
    result = _cli("settings")
    assert result.returncode == 0
    lines = {line.split()[0]: line for line in result.stdout.splitlines()}
    assert set(lines) == set(FIELDS)
    assert "read by trainer" in lines["epochs"]
    assert "read by evaluator" in lines["blessing_thresholds"]


def test_the_runner_files_are_tasks_of_the_command_line() -> None:
    for runner, expected in (("local_runner.py", "unknown setting 'epoch'"),
                             ("train_all.py", "unknown setting 'epoch'"),
                             ("vertex_runner.py", "unknown setting 'epoch'")):
        arguments = ["compile"] if runner == "vertex_runner.py" else []
        result = subprocess.run([sys.executable, runner, *arguments, "--epoch=3"],
                                cwd=REPOSITORY_ROOT, capture_output=True, text=True,
                                timeout=300)
        assert result.returncode == 2, (runner, result.stderr)
        assert expected in result.stderr, runner

"""The one command line (`python -m pipeline`): every task listed, each one reachable."""

from __future__ import annotations

import re
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from pipeline.settings import FIELDS, REPOSITORY_ROOT


def _cli(*arguments: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pipeline", *arguments], cwd=REPOSITORY_ROOT,
                          capture_output=True, text=True, timeout=120)


def _run(*command: str, timeout: int = 120) -> subprocess.CompletedProcess:
    return subprocess.run(list(command), cwd=REPOSITORY_ROOT, capture_output=True, text=True,
                          timeout=timeout)


def _in_parallel(commands: list[tuple[str, ...]]) -> list[subprocess.CompletedProcess]:
    """`_run` of each command, several at a time (each is a Python process that mostly
    imports), in the order given."""
    with ThreadPoolExecutor(max_workers=4) as pool:
        return list(pool.map(lambda command: _run(*command), commands))


@pytest.fixture(scope="module")
def listed() -> list[str]:
    """The tasks `python -m pipeline --help` prints, read from its output."""
    result = _cli("--help")
    assert result.returncode == 0, result.stderr
    return [line.split()[0] for line in result.stdout.splitlines() if line.startswith("  ")]


@pytest.fixture(scope="module")
def helps(listed: list[str]) -> dict[str, subprocess.CompletedProcess]:
    """`python -m pipeline TASK --help` of every listed task, asked once for the module's
    tests that compare them."""
    return dict(zip(listed, _in_parallel([(sys.executable, "-m", "pipeline", task, "--help")
                                          for task in listed]), strict=True))


def _runner_files() -> list[Path]:
    """The Python files at the repository root that run as programs."""
    return sorted(path for path in REPOSITORY_ROOT.glob("*.py")
                  if 'if __name__ == "__main__"' in path.read_text())


def test_help_lists_every_task_with_a_line_each(listed: list[str]) -> None:
    assert len(listed) == len(set(listed))
    assert {"run", "predict", "train-all", "lineage", "vertex-compile", "vertex-submit",
            "vertex-schedule", "benchmark", "test", "build-images", "settings"} <= set(listed)


def test_every_listed_task_answers_its_own_help(
        helps: dict[str, subprocess.CompletedProcess]) -> None:
    for task, result in helps.items():
        if task == "test" and result.returncode != 0:
            # scripts/test lints before pytest reads --help: a tree that does not lint
            # stops it there, with ruff's findings (the tree may be mid-edit, so ruff is
            # asked again rather than its earlier output compared).
            lint = _run(str(REPOSITORY_ROOT / ".venv" / "bin" / "ruff"), "check", ".")
            assert result.returncode == lint.returncode == 1, (result.stdout, result.stderr)
            assert re.search(r"^Found \d+ errors?\.", result.stdout, re.MULTILINE), task
            continue
        assert result.returncode == 0, (task, result.stdout, result.stderr)
        assert result.stdout.strip(), task
        if task == "test":
            assert "usage: " in result.stdout and "pytest" in result.stdout


def test_every_runner_file_reaches_a_listed_task(
        listed: list[str], helps: dict[str, subprocess.CompletedProcess]) -> None:
    runners = {path.name for path in _runner_files()}
    assert {"local_runner.py", "vertex_runner.py", "batch_predict.py", "train_all.py",
            "lineage.py"} <= runners
    # vertex_runner.py COMMAND is the vertex-COMMAND task, for every vertex task listed.
    vertex_tasks = [task for task in listed if task.startswith("vertex-")]
    assert len(vertex_tasks) >= 8
    others = sorted(runners - {"vertex_runner.py"})
    answers = _in_parallel(
        [(sys.executable, runner, "--help") for runner in others]
        + [(sys.executable, "vertex_runner.py", task.removeprefix("vertex-"), "--help")
           for task in vertex_tasks])
    reached = {}
    for runner, result in zip(others, answers[:len(others)], strict=True):
        assert result.returncode == 0, (runner, result.stderr)
        reached[runner] = [task for task, text in helps.items()
                           if text.stdout == result.stdout]
        assert len(reached[runner]) == 1, (runner, result.stdout)
    assert reached["local_runner.py"] == ["run"]
    assert reached["batch_predict.py"] == ["predict"]
    assert reached["train_all.py"] == ["train-all"]
    assert reached["lineage.py"] == ["lineage"]
    for task, result in zip(vertex_tasks, answers[len(others):], strict=True):
        assert (result.returncode, result.stdout) == (0, helps[task].stdout), \
            (task, result.stderr)


def test_every_script_is_a_listed_task_or_reaches_one(
        listed: list[str], helps: dict[str, subprocess.CompletedProcess]) -> None:
    scripts = sorted(path for path in (REPOSITORY_ROOT / "scripts").iterdir() if path.is_file())
    # A script the other scripts call (bootstrap.sh) is their set-up, not a task.
    set_up = {script.name for script in scripts
              if any(f"scripts/{script.name}" in other.read_text()
                     for other in scripts if other != script)}
    assert set_up == {"bootstrap.sh"}
    tasks = [script for script in scripts if script.name not in set_up]
    assert {"build-images", "test", "run-local"} <= {script.name for script in tasks}
    for script in tasks:
        if script.name in listed:
            # The task of the script's name runs the script: a refused setting comes back
            # from both the same way.
            through_task = _cli(script.name, "--epoch=3")
            direct = _run("bash", str(script), "--epoch=3")
            assert through_task.returncode == direct.returncode != 0, script.name
            assert (through_task.stdout, _without_set_up(through_task.stderr)) == \
                (direct.stdout, _without_set_up(direct.stderr)), script.name
        else:
            result = _run("bash", str(script), "--help")
            assert result.returncode == 0, (script.name, result.stderr)
            assert any(answer.stdout == result.stdout for answer in helps.values()), script.name


def _without_set_up(stderr: str) -> str:
    """`stderr` less bootstrap.sh's own lines (it speaks only when it installs something)."""
    return "".join(line for line in stderr.splitlines(keepends=True)
                   if not line.startswith("bootstrap:"))


def test_predict_without_a_table_to_score_is_refused_naming_the_setting(
        tmp_path: Path) -> None:
    result = _cli("predict", f"--output_root={tmp_path}")
    assert result.returncode == 2, result.stderr
    [message] = [line for line in result.stderr.splitlines()
                 if line.startswith("Configuration error:")]
    assert "scoring_data_path" in message
    assert list(tmp_path.iterdir()) == []  # refused before anything ran or was written


def test_predict_without_a_metadata_store_is_refused_naming_the_store(tmp_path: Path) -> None:
    rows = REPOSITORY_ROOT / "testdata" / "taxi_trips.jsonl"
    result = _run(sys.executable, "batch_predict.py", f"--scoring_data_path={rows}",
                  f"--output_root={tmp_path}", timeout=300)
    assert result.returncode == 2, result.stderr
    [message] = [line for line in result.stderr.splitlines()
                 if line.startswith("Configuration error:")]
    assert "ML Metadata store" in message and str(tmp_path) in message
    assert list(tmp_path.iterdir()) == []  # no store created, no run started


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

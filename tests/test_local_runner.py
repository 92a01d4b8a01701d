"""The command line: exit codes, and the reason of a failure in the last lines."""

from __future__ import annotations

import fcntl
import json
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from pipeline.orchestration.layout import LocalLayout
from pipeline.orchestration.local import (
    OutputRootBusyError,
    exclusive_output_root,
    failure_reason,
)
from pipeline.orchestration.run_summary import metrics_table
from pipeline.settings import REPOSITORY_ROOT
from tests.helpers import TESTDATA


def _run(*flags: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "local_runner.py", *flags], cwd=REPOSITORY_ROOT,
                          capture_output=True, text=True, timeout=600)


def test_configuration_error_exits_2_naming_the_key() -> None:
    result = _run("--epoch=3")
    assert result.returncode == 2
    assert "unknown setting 'epoch'. Did you mean 'epochs'?" in result.stderr


def test_failed_run_exits_1_with_the_reason_last(tmp_path: Path) -> None:
    bad = tmp_path / "trips.jsonl"
    bad.write_text(TESTDATA.read_text().splitlines()[0] + "\n{not json\n")
    result = _run(f"--data_path={bad}", f"--output_root={tmp_path / 'out'}")
    assert result.returncode == 1
    last_lines = result.stdout.strip().splitlines()[-2:]
    assert last_lines[0].startswith("RUN FAILED; nothing was pushed.")
    assert last_lines[1] == f"Reason: {bad}:2: malformed JSON (Expecting property name " \
                            "enclosed in double quotes at column 2)"
    assert not (tmp_path / "out" / "serving").exists()
    # The run started with a short block: only the settings that differ from the defaults,
    # and where the whole configuration was written.
    block = result.stdout.split("\n\n", 1)[0].splitlines()
    assert block[0].startswith("Variant 'default', output under ")
    assert block[1:-1] == [f"  data_path = \"{bad}\"",
                           f"  output_root = \"{tmp_path / 'out'}\""]
    config_path = Path(block[-1].removeprefix("Full configuration: "))
    assert json.loads(config_path.read_text())["data_path"] == str(bad)


def test_failure_reason_unwraps_beam_errors() -> None:
    from pipeline.components.example_gen import InputDataError

    try:
        try:
            raise InputDataError("/data/x.jsonl:7: malformed JSON")
        except InputDataError as inner:
            raise RuntimeError("InputDataError: /data/x.jsonl:7: malformed JSON "
                               "[while running 'InputToRecord/ReadAndConvert']") from inner
    except RuntimeError as error:
        assert failure_reason(error) == "/data/x.jsonl:7: malformed JSON"
    # Across a process boundary (multi-processing Beam) only the text survives.
    relayed = RuntimeError("Traceback ...\nInputDataError: /data/x.jsonl:7: malformed JSON "
                           "[while running 'InputToRecord/ReadAndConvert']")
    assert failure_reason(relayed) == "/data/x.jsonl:7: malformed JSON"
    assert failure_reason(ValueError("something else\nlast line")) == "last line"


def test_metrics_table_puts_overall_first_then_largest_slices() -> None:
    metrics = {
        "Overall": {"example_count": 100.0, "auc": 0.9},
        "company:A": {"example_count": 10.0, "auc": 0.8},
        "company:B": {"example_count": 60.0, "auc": float("nan")},
        "payment_type:Cash": {"example_count": 30.0, "auc": 0.7},
    }
    lines = metrics_table(metrics, slices_per_feature=1).splitlines()
    assert lines[1].split()[0] == "Overall"
    assert [line.split()[0] for line in lines[2:4]] == ["company:B", "payment_type:Cash"]
    assert lines[2].split()[2] == "-"  # NaN AUC shows as a dash
    assert lines[-1].strip() == "(1 smaller slices not shown)"


def test_a_run_refused_in_the_instant_the_lock_is_taken_still_names_the_holder(
        tmp_path: Path) -> None:
    """The holder takes the lock, then writes its line: a run that arrives between the two
    (as in tests/test_reliability.py's two runs started together) waits for that line
    instead of naming "another process"."""
    layout = LocalLayout(tmp_path)
    taken, release = threading.Event(), threading.Event()

    def hold() -> None:
        with open(layout.root / ".run.lock", "a+") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            taken.set()
            time.sleep(0.3)  # the line comes late
            handle.write("pid 4242 on here, started now\n")
            handle.flush()
            release.wait(10)

    holder = threading.Thread(target=hold)
    holder.start()
    try:
        taken.wait(10)
        with pytest.raises(OutputRootBusyError, match=r"\(pid 4242 on here, started now\)"):
            with exclusive_output_root(layout):
                pass
    finally:
        release.set()
        holder.join()

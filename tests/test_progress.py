"""Progress inside long steps: what a person watching a run of millions of rows sees."""

from __future__ import annotations

import io
import logging
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pipeline.orchestration.progress import ComponentProgress, bytes_read
from pipeline.settings import REPOSITORY_ROOT


def _record(message: str, name: str = "tfx", **extra: object) -> logging.LogRecord:
    record = logging.LogRecord(name, logging.INFO, __file__, 1, message, None, None)
    record.__dict__.update(extra)
    return record


def test_bytes_read_counts_what_this_process_reads(tmp_path: Path) -> None:
    path = tmp_path / "data.bin"
    path.write_bytes(b"x" * 3_000_000)
    before = bytes_read()
    assert path.read_bytes()
    assert bytes_read() - before >= 3_000_000


def test_a_silent_beam_step_reports_rows_read_while_it_runs(tmp_path: Path,
                                                            monkeypatch: pytest.MonkeyPatch
                                                            ) -> None:
    stream = io.StringIO()
    progress = ComponentProgress(["ExampleGen", "Transform"], stream)
    # ExampleGen's summary: 1,000 examples in 100,000 bytes on disk.
    progress.emit(_record("1,000 examples written", name="pipeline.components.example_gen",
                          examples=1000, bytes=100_000))
    monkeypatch.setattr("pipeline.orchestration.progress.PROGRESS_SECONDS", 0.05)
    progress.emit(_record("Component Transform is running."))
    path = tmp_path / "data.bin"
    path.write_bytes(b"x" * 2_000_000)
    path.read_bytes()  # 2 MB: about 20,000 rows at 100 bytes a row
    time.sleep(0.5)
    progress.emit(_record("Component Transform is finished."))
    lines = stream.getvalue().splitlines()
    assert lines[0].strip() == "1,000 examples written"
    assert "Transform" in lines[1] and "running" in lines[1]
    reading = [line for line in lines if "the data is 1,000 rows" in line]
    assert reading and int(reading[0].split("about ")[1].split(" rows")[0].replace(",", "")) \
        >= 20_000
    # Once nothing more is read, the step is working on what it read, and says so.
    assert "working on them" in [line for line in lines if "rows read" in line][-1]
    assert "ran" in lines[-1]
    count = len(stream.getvalue().splitlines())
    time.sleep(0.2)
    assert len(stream.getvalue().splitlines()) == count  # the ticker stopped with the step


def test_the_trainer_reports_steps_within_an_epoch(monkeypatch: pytest.MonkeyPatch,
                                                   caplog: pytest.LogCaptureFixture) -> None:
    from models import trainer
    from pipeline.settings import TrainingPhase

    monkeypatch.setattr(trainer, "PROGRESS_SECONDS", 0.0)
    recorder = trainer.EpochRecorder()
    recorder.start_phase(1, TrainingPhase(epochs=1, learning_rate=0.1, batch_size=64),
                         replicas=2)
    with caplog.at_level(logging.INFO, logger="models.trainer"):
        recorder.on_epoch_begin(0)
        time.sleep(0.01)
        recorder.on_train_batch_end(0)
        recorder.on_train_batch_end(1)
    lines = [record.getMessage() for record in caplog.records]
    assert lines[-1].startswith("epoch 1: step 2 (") and lines[-1].endswith("examples/s)")


@pytest.mark.e2e
def test_the_gpu_check_runs_on_cpu_with_small_data() -> None:
    result = subprocess.run(
        [sys.executable, "benchmarks/gpu_check.py", "--small"], cwd=REPOSITORY_ROOT,
        capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-2000:]
    lines = result.stdout.splitlines()
    assert lines[0].startswith("devices: ")
    assert any(line.startswith("epoch 1: ") and line.endswith("examples/s") for line in lines)
    assert lines[-1].startswith("input-bound ratio ")


@pytest.mark.e2e
def test_the_networks_train_from_a_shape_spec_without_a_pipeline(tmp_path: Path) -> None:
    """benchmarks/gpu_model_step.py's `measure`, as it runs on a machine with no
    TensorFlow, here on the TensorFlow backend: every architecture in both precisions."""
    from models.registry import architecture_names

    result = subprocess.run(
        [sys.executable, "benchmarks/gpu_model_step.py", "measure",
         "--spec=benchmarks/taxi_model_spec.json", "--batch_sizes=64", "--steps=3"],
        cwd=REPOSITORY_ROOT, capture_output=True, text=True, timeout=600,
        env={**os.environ, "KERAS_BACKEND": "tensorflow", "PYTHONPATH": str(REPOSITORY_ROOT)})
    assert result.returncode == 0, result.stderr[-2000:]
    rows = [line.split() for line in result.stdout.splitlines()
            if line.split()[:1] and line.split()[0] in architecture_names()]
    assert sorted((row[0], row[2]) for row in rows) == sorted(
        (name, precision) for name in architecture_names()
        for precision in ("float32", "mixed_bfloat16"))
    assert all(float(row[3].replace(",", "")) > 0 for row in rows)


def test_feature_shapes_survive_their_dictionary() -> None:
    from models.shapes import FeatureShapes

    shapes = FeatureShapes(numeric=("a",), categorical_cardinalities={"b": 5},
                           text={"c": (100, 20)}, task="multiclass", class_names=("x", "y"),
                           label_mean=1.5, label_std=2.0)
    assert FeatureShapes.from_dict(shapes.to_dict()) == shapes

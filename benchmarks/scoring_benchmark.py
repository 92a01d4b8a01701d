"""Batch scoring benchmark: BatchScorer's step (read, score, write JSON lines) in this process.

    .venv/bin/python benchmarks/scoring_benchmark.py --output_root=ROOT [--repeat=10]
        [--columns=company,trip_start_timestamp]

ROOT is an output root where `local_runner.py` pushed a model and `batch_predict.py`
scored a table (its ScoringExampleGen split). The split's files are read `--repeat`
times over, so 150K scored rows measure 1.5M. Prints rows, seconds and rows per second,
model loading included; never asserts.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import pipeline.keras_choice  # noqa: F401 - before anything imports TensorFlow
from pipeline.components.batch_scorer import example_files, prediction_batches
from pipeline.settings.loading import load_config
from tasks import task_named


def _latest(directory: Path) -> Path:
    entries = [entry for entry in directory.iterdir() if entry.name.isdigit()]
    if not entries:
        raise SystemExit(f"nothing under {directory}: run batch_predict.py first")
    return max(entries, key=lambda entry: int(entry.name))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--output_root", required=True, type=Path)
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--columns", default="company,trip_start_timestamp")
    options = parser.parse_args(argv)
    config = load_config([f"--output_root={options.output_root}"], environ={})
    examples = _latest(options.output_root / "pipeline" / "ScoringExampleGen" / "examples")
    model = _latest(options.output_root / "serving")
    files = example_files(str(examples)) * options.repeat
    columns = [name for name in options.columns.split(",") if name]
    started, rows = time.perf_counter(), 0
    with tempfile.TemporaryFile("w") as out:
        for lines in prediction_batches(files, str(model), task_named(config.task), columns):
            out.write("\n".join(lines) + "\n")
            rows += len(lines)
    seconds = time.perf_counter() - started
    print(f"BatchScorer step: {rows:,} rows in {seconds:.1f} s, {rows / seconds:,.0f} rows/s "
          f"(model {model}, examples {examples} x{options.repeat})")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Transform's fixed cost: the data steps on a small table with many features.

    .venv/bin/python benchmarks/transform_fixed_cost.py

The table is scikit-learn's breast-cancer data (569 rows, 30 numeric features, shipped
inside scikit-learn, a dev dependency), written as JSON lines into a temporary directory.
The data steps (ExampleGen to Transform: `create_pipeline` of the `DataOnly` kind) run
once, cold, in this process; each step's seconds come from ML Metadata. On so few rows
nearly all of Transform's time is tracing and building graphs, which grows with the analyzers the
preprocessing function asks for. Issue 13's target: Transform at most 10 s. Printed,
never asserted.
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path

import pipeline.keras_choice  # noqa: F401 - before anything imports TensorFlow

LABEL = "diagnosis"


def write_table(path: Path) -> list[str]:
    """The breast-cancer table as JSON lines; returns the feature names."""
    from sklearn.datasets import load_breast_cancer

    data = load_breast_cancer()
    names = [name.replace(" ", "_") for name in data.feature_names]
    with open(path, "w") as handle:
        for row, target in zip(data.data, data.target, strict=True):
            record = {name: float(value) for name, value in zip(names, row, strict=True)}
            handle.write(json.dumps({**record, LABEL: int(target)}) + "\n")
    return names


def main() -> int:
    from tfx.orchestration import metadata
    from tfx.orchestration.local.local_dag_runner import LocalDagRunner

    from pipeline.definition import create_pipeline
    from pipeline.kinds import DataOnly
    from pipeline.metadata.store import latest_run_context, open_store, run_executions
    from pipeline.settings.loading import load_config
    from pipeline.targets import local_target

    with tempfile.TemporaryDirectory(prefix="transform-fixed-cost-") as scratch:
        work = Path(scratch)
        names = write_table(work / "table.jsonl")
        config = load_config([
            f"--output_root={work / 'output'}", f"--data_path={work / 'table.jsonl'}",
            "--pipeline_name=breast-cancer", "--task=binary", f"--label_name={LABEL}",
            "--label_rule=", f"--numeric_features={','.join(names)}",
            "--categorical_features=", "--bucketized_features=", "--text_features=",
            "--slice_features=", "--drift_thresholds=", "--skew_thresholds=",
            "--schema_path="], environ={})
        started = time.monotonic()
        store_path = work / "output" / "metadata.sqlite"
        target = local_target(str(work / "output" / "pipeline"), metadata_connection_config=
            metadata.sqlite_metadata_connection_config(str(store_path)))
        LocalDagRunner().run(create_pipeline(config, target, DataOnly()))
        wall = time.monotonic() - started
        store = open_store(store_path)
        run = latest_run_context(store, DataOnly.pipeline_name(config))
        print(f"{len(names)} numeric features, 569 rows; data steps {wall:.1f} s in all")
        for step in run_executions(store, run.id):
            if step.seconds >= 0.05:
                print(f"  {step.component:<16} {step.seconds:6.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())

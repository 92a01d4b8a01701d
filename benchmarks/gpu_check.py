"""GPU check: the project's `run_fn` on every visible GPU, on the 1.5M-row table.

    .venv/bin/python benchmarks/gpu_check.py [--rows=1500000] [--epochs=1] [--small]

1. Derives the table (benchmarks/growth_benchmark.py's `derive_table`) and runs the data
   steps up to Transform (`create_pipeline` of the `DataOnly` kind) with the local runner;
2. trains with `run_fn` as TFX's Trainer calls it (`models/fn_args.py`): on every visible
   GPU through MirroredStrategy (`choose_strategy`), float16 compute where the GPUs run it
   fast (`mixed_precision=auto`);
3. prints the devices, the strategy, the precision, examples per second per epoch (from
   the model package's metrics.csv) and the input-bound ratio: the feeder's examples per
   second against the same model fed from memory (benchmarks/training_throughput.py).

`--small` runs the same on testdata/ (1,955 trips), on whatever devices are there (the
test suite runs it on CPU). Printed, never asserted. Sized to finish in 8 minutes on a
16-core GPU machine; `--rows` trades size for time.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import tempfile
import time
from pathlib import Path

import pipeline.keras_choice  # noqa: F401 - before anything imports TensorFlow

ROWS = 1_500_000


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=ROWS)
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--small", action="store_true", help="testdata/, for a quick check")
    options = parser.parse_args(argv)

    import tensorflow as tf
    from tfx.orchestration import metadata
    from tfx.orchestration.local.local_dag_runner import LocalDagRunner
    from training_throughput import input_bound_ratio, run_artifacts

    from models.distribution import choose_strategy, use_mixed_precision
    from models.fn_args import trainer_fn_args
    from models.package import PACKAGE_DIRECTORY
    from models.trainer import run_fn
    from pipeline.definition import create_pipeline
    from pipeline.kinds import DataOnly
    from pipeline.settings import TrainingSettings
    from pipeline.settings.loading import load_config
    from pipeline.targets import local_target

    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="gpu-check-") as scratch:
        work = Path(scratch)
        flags = [f"--output_root={work / 'output'}", f"--epochs={options.epochs}"]
        if not options.small:
            from growth_benchmark import derive_table

            (work / "data").mkdir()
            derive_table(options.rows, work / "data" / "trips.csv")
            flags.append(f"--data_path={work / 'data' / 'trips.csv'}")
        config = load_config(flags, environ={})
        target = local_target(str(work / "output" / "pipeline"), metadata_connection_config=
            metadata.sqlite_metadata_connection_config(str(work / "output" / "metadata.sqlite")))
        LocalDagRunner().run(create_pipeline(config, target, DataOnly()))
        data_seconds = time.monotonic() - started

        artifacts = run_artifacts(config, DataOnly.pipeline_name(config))
        settings = TrainingSettings.from_config(config)
        strategy = choose_strategy()
        precision = use_mixed_precision(settings.mixed_precision)
        print(f"devices: {[device.name for device in tf.config.list_logical_devices()]}")
        print(f"strategy: {type(strategy).__name__}, {strategy.num_replicas_in_sync} "
              f"replica(s); mixed precision: {'float16 compute' if precision else 'off'}")
        print(f"data steps (ExampleGen to Transform): {data_seconds:.0f} s")

        run_fn(trainer_fn_args({**artifacts, "model": str(work / "model"),
                                "model_run": str(work / "model_run"),
                                "training_settings": settings.to_dict()}))
        with open(work / "model" / PACKAGE_DIRECTORY / "metrics.csv") as handle:
            for row in csv.DictReader(handle):
                examples = int(row["steps"]) * int(row["batch_size"]) * \
                    strategy.num_replicas_in_sync
                print(f"epoch {row['epoch']}: {int(row['steps']):,} steps, "
                      f"{examples / float(row['seconds']):,.0f} examples/s")
        ratio = input_bound_ratio(config, artifacts, str(work / "throughput"))
        print(json.dumps({key: round(value, 3) if isinstance(value, float) else value
                          for key, value in ratio.items()}))
        print(f"input-bound ratio {ratio['ratio']:.2f} (1.0: the input never waits the "
              f"model); total {time.monotonic() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())

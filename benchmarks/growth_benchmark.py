"""Growth benchmark: the whole default pipeline as the table grows, step by step.

    .venv/bin/python benchmarks/growth_benchmark.py [--sizes=15000,150000,1500000]
        [--with-5m] [--skip-reference] [--skip-input-bound]

The tables are derived from the 15,000-trip sample in the tfx wheel, deterministically:
copy k of every trip has `trip_seconds` moved by k seconds (none below 0), so rows differ
and each size holds the smaller ones' rows. Each size runs `local_runner.py` cold, in its
own process and fresh directory, and prints, never asserts:
- per step (from ML Metadata's execution times): seconds, rows per second over the rows
  the step reads (ExampleGen, StatisticsGen, Transform: all; the Evaluator: the eval
  split), and the peak memory (both measures) of the whole process tree while the step ran;
- the whole run's wall time and peak memory, sampled every 0.2 s over every process (so
  Beam workers and the sandbox's model server count): summed RSS, and summed PSS, which
  counts once the pages processes share (TensorFlow's libraries; what the model server,
  forked from a process that imported TensorFlow, shares with it);
- TFX's own CsvExampleGen alone on the same CSV (the ingestion reference), same measure;
- the Trainer's examples per second with the real feeder against the same model fed from
  memory (benchmarks/training_throughput.py).
"""

from __future__ import annotations

import argparse
import csv
import os
import sys
import tempfile
from pathlib import Path

from pipeline_benchmark import sample_memory

import pipeline.keras_choice  # noqa: F401 - before anything imports TensorFlow
from pipeline.settings import REPOSITORY_ROOT, resolve_data_path

SAMPLE = "package://tfx/examples/chicago_taxi_pipeline/data/simple/data.csv"
SIZES = (15_000, 150_000, 1_500_000)
FIVE_MILLION = 5_000_000
READS_ALL = ("ExampleGen", "StatisticsGen", "Transform")

# TFX's CsvExampleGen alone, in a pipeline of its own: the ingestion reference.
REFERENCE = """
import sys
from tfx.components import CsvExampleGen
from tfx.orchestration import metadata, pipeline
from tfx.orchestration.local.local_dag_runner import LocalDagRunner
root = sys.argv[2]
LocalDagRunner().run(pipeline.Pipeline(
    pipeline_name="csv-reference", pipeline_root=root + "/pipeline",
    components=[CsvExampleGen(input_base=sys.argv[1])], enable_cache=False,
    metadata_connection_config=metadata.sqlite_metadata_connection_config(
        root + "/metadata.sqlite")))
"""


def derive_table(rows: int, path: Path) -> None:
    """`rows` trips: the sample's, then copies with trip_seconds moved by 1, 2, ... s."""
    with open(resolve_data_path(SAMPLE), newline="") as handle:
        reader = csv.DictReader(handle)
        header, trips = reader.fieldnames, list(reader)
    with path.open("w", newline="") as out:
        writer = csv.DictWriter(out, fieldnames=header)
        writer.writeheader()
        written, copy = 0, 0
        while written < rows:
            for trip in trips[:rows - written]:
                if copy and trip["trip_seconds"]:
                    trip = {**trip, "trip_seconds": str(int(float(trip["trip_seconds"])) + copy)}
                writer.writerow(trip)
            written = min(rows, written + len(trips))
            copy += 1


def measure(command: list[str], log_path: Path
            ) -> tuple[float, list[tuple[float, int, int]], int]:
    """Runs `command`: (wall seconds, [(wall-clock time, summed RSS, summed PSS)], exit
    code)."""
    seconds, samples, code = sample_memory(command, dict(os.environ), log_path,
                                           REPOSITORY_ROOT, interval=0.2)
    return seconds, [(at, total, proportional) for at, total, _, proportional in samples], code


def step_rows(output_root: Path, rows: int) -> list[dict]:
    """Per component of the run: seconds, rows/s and peak memory while it ran."""
    from pipeline.metadata.store import latest_run_context, open_store, run_executions
    from pipeline.settings.loading import load_config

    config = load_config([f"--output_root={output_root}"], environ={})
    store = open_store(output_root / "metadata.sqlite")
    run = latest_run_context(store, config.pipeline_name)
    steps = []
    for step in run_executions(store, run.id):
        execution = step.execution
        steps.append({"step": step.component,
                      "start": execution.create_time_since_epoch / 1000,
                      "end": execution.last_update_time_since_epoch / 1000,
                      "seconds": step.seconds,
                      "rows": rows if step.component in READS_ALL
                      else int(rows * config.eval_percent / 100)
                      if step.component == "Evaluator" else 0})
    return steps


def print_size(rows: int, wall: float, samples: list[tuple[float, int, int]],
               steps: list[dict], reference: tuple[float, int] | None,
               throughput: dict | None) -> None:
    peak = max((rss for _, rss, _ in samples), default=0)
    proportional = max((pss for _, _, pss in samples), default=0)
    print(f"\n{rows:,} rows: whole run {wall:.0f} s, peak memory {peak / 2**30:.2f} GiB "
          f"(summed RSS; {proportional / 2**30:.2f} GiB summed PSS, shared pages once)")
    print(f"  {'step':<32}{'seconds':>9}{'rows/s':>11}{'peak GiB':>10}{'PSS GiB':>9}")
    for step in steps:
        during = [(rss, pss) for at, rss, pss in samples
                  if step["start"] - 0.2 <= at <= step["end"] + 0.2]
        rate = f"{step['rows'] / step['seconds']:,.0f}" if step["rows"] and step["seconds"] else ""
        print(f"  {step['step']:<32}{step['seconds']:>9.1f}{rate:>11}"
              f"{max((rss for rss, _ in during), default=0) / 2**30:>10.2f}"
              f"{max((pss for _, pss in during), default=0) / 2**30:>9.2f}")
    if reference:
        seconds, reference_peak = reference
        print(f"  {'TFX CsvExampleGen (reference)':<32}{seconds:>9.1f}{rows / seconds:>11,.0f}"
              f"{reference_peak / 2**30:>10.2f}")
    if throughput:
        print(f"  Trainer input: {throughput['feeder_examples_per_second']:,.0f} examples/s "
              f"from the feeder, {throughput['memory_examples_per_second']:,.0f} from memory: "
              f"ratio {throughput['ratio']:.2f} (batch {throughput['batch_size']}); the feeder "
              f"alone, no model: {throughput['feeder_alone_examples_per_second']:,.0f}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default=",".join(str(size) for size in SIZES))
    parser.add_argument("--with-5m", action="store_true", help="also 5,000,000 rows")
    parser.add_argument("--skip-reference", action="store_true")
    parser.add_argument("--skip-input-bound", action="store_true")
    options = parser.parse_args(argv)
    sizes = [int(size) for size in options.sizes.split(",")] + (
        [FIVE_MILLION] if options.with_5m else [])
    with tempfile.TemporaryDirectory(prefix="growth-") as scratch:
        for rows in sizes:
            work = Path(scratch) / f"rows-{rows}"
            (work / "data").mkdir(parents=True)
            data = work / "data" / "trips.csv"
            derive_table(rows, data)
            print(f"{rows:,} rows: running the pipeline ...", file=sys.stderr, flush=True)
            wall, samples, code = measure(
                [sys.executable, "local_runner.py", f"--data_path={data}",
                 f"--output_root={work / 'output'}"], work / "pipeline.log")
            if code != 0:
                print(f"{rows:,} rows: the run failed; see {work / 'pipeline.log'}")
                continue
            reference = None
            if not options.skip_reference:
                print(f"{rows:,} rows: TFX's CsvExampleGen ...", file=sys.stderr, flush=True)
                seconds, reference_samples, code = measure(
                    [sys.executable, "-c", REFERENCE, str(data.parent), str(work / "ref")],
                    work / "reference.log")
                if code == 0:
                    reference = (seconds, max(rss for _, rss, _ in reference_samples))
            throughput = None
            if not options.skip_input_bound:
                from training_throughput import input_bound_ratio, run_artifacts

                from pipeline.settings.loading import load_config

                config = load_config([f"--output_root={work / 'output'}"], environ={})
                throughput = input_bound_ratio(config, run_artifacts(config),
                                               str(work / "throughput"))
            print_size(rows, wall, samples, step_rows(work / "output", rows), reference,
                       throughput)
            sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())

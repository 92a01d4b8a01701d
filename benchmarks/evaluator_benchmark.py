"""Evaluator benchmark: our Evaluator's executor (metrics on arrays) and, with --tfma, TFX's
own (TFMA's Beam evaluation) on the same models, eval examples and EvalConfig, in this
process.

    .venv/bin/python benchmarks/evaluator_benchmark.py --output_root=ROOT [--repeat=100]
        [--tfma] [--profile=N]

ROOT is an output root where `local_runner.py` ran at least twice (the latest Trainer
model is the candidate, the one before it the baseline). The eval split's files are read
`--repeat` times over, so testdata's 410 eval rows measure 41,000. Prints eval rows,
seconds and rows per second of each executor, and checks that both wrote the same
metrics; `--profile=N` prints the N largest cumulative times of ours; never asserts.
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import sys
import tempfile
import time
from pathlib import Path

import tensorflow as tf
import tensorflow_model_analysis as tfma
from tfx.components.evaluator import executor as tfx_executor
from tfx.types import standard_artifacts
from tfx.utils import json_utils, proto_utils

import pipeline.keras_choice  # noqa: F401 - before anything imports TensorFlow
from evaluation.results import metrics_by_slice
from evaluation.slices import eval_config_from
from pipeline.components.evaluator import Executor
from pipeline.settings import EVAL_SPLIT, EvaluatorSettings
from pipeline.settings.loading import load_config


def _numbered(directory: Path) -> list[Path]:
    return sorted((entry for entry in directory.iterdir() if entry.name.isdigit()),
                  key=lambda entry: int(entry.name))


def _examples(root: Path, repeat: int, scratch: Path) -> standard_artifacts.Examples:
    """The latest ExampleGen output's eval split, its files linked `repeat` times."""
    [*_, source] = _numbered(root / "pipeline" / "ExampleGen" / "examples")
    split = scratch / "examples" / f"Split-{EVAL_SPLIT}"
    split.mkdir(parents=True)
    for copy in range(repeat):
        for file in (source / f"Split-{EVAL_SPLIT}").iterdir():
            (split / f"{copy:05d}-{file.name}").symlink_to(file)
    artifact = standard_artifacts.Examples()
    artifact.uri = str(scratch / "examples")
    artifact.split_names = json_utils.dumps([EVAL_SPLIT])
    return artifact


def _model(path: Path) -> standard_artifacts.Model:
    artifact = standard_artifacts.Model()
    artifact.uri = str(path)
    return artifact


def run(executor: type, inputs: dict, eval_config: str, output: Path) -> tuple[str, float]:
    evaluation, blessing = standard_artifacts.ModelEvaluation(), \
        standard_artifacts.ModelBlessing()
    evaluation.uri, blessing.uri = str(output / "evaluation"), str(output / "blessing")
    tf.io.gfile.makedirs(blessing.uri)
    started = time.perf_counter()
    executor().Do(inputs, {"evaluation": [evaluation], "blessing": [blessing]},
                  {"eval_config": eval_config,
                   "example_splits": json_utils.dumps([EVAL_SPLIT])})
    return evaluation.uri, time.perf_counter() - started


def _largest_difference(ours: str, theirs: str) -> float:
    """The largest absolute difference between the two evaluations' metric values (NaN
    against NaN counts as equal; a metric or slice in one only, as infinity)."""
    import math

    mine, other = metrics_by_slice(ours), metrics_by_slice(theirs)
    if mine.keys() != other.keys():
        return math.inf
    largest = 0.0
    for name, values in other.items():
        if mine[name].keys() != values.keys():
            return math.inf
        for metric, value in values.items():
            if not (math.isnan(value) and math.isnan(mine[name][metric])):
                largest = max(largest, abs(value - mine[name][metric]))
    return largest


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--output_root", required=True, type=Path)
    parser.add_argument("--repeat", type=int, default=100)
    parser.add_argument("--tfma", action="store_true", help="also TFX's own executor")
    parser.add_argument("--profile", type=int, default=0)
    options = parser.parse_args(argv)
    config = load_config([f"--output_root={options.output_root}"], environ={})
    eval_config = proto_utils.proto_to_json(
        eval_config_from(EvaluatorSettings.from_config(config)))
    models = _numbered(options.output_root / "pipeline" / "Trainer" / "model")
    if len(models) < 2:
        raise SystemExit(f"{options.output_root}: run local_runner.py twice first")
    with tempfile.TemporaryDirectory(prefix="evaluator-") as scratch:
        examples = _examples(options.output_root, options.repeat, Path(scratch))
        rows = sum(1 for _ in tf.data.TFRecordDataset(
            sorted(tf.io.gfile.glob(f"{examples.uri}/Split-{EVAL_SPLIT}/*")),
            compression_type="GZIP"))
        inputs = {"examples": [examples], "model": [_model(models[-1])],
                  "baseline_model": [_model(models[-2])]}
        profile = cProfile.Profile() if options.profile else None
        if profile:
            profile.enable()
        ours, seconds = run(Executor, inputs, eval_config, Path(scratch) / "ours")
        if profile:
            profile.disable()
        print(f"Evaluator (arrays): {rows:,} eval rows in {seconds:.1f} s, "
              f"{rows / seconds:,.0f} rows/s, candidate and baseline")
        if profile:
            pstats.Stats(profile).sort_stats("cumulative").print_stats(options.profile)
        if options.tfma:
            theirs, seconds = run(tfx_executor.Executor, inputs, eval_config,
                                  Path(scratch) / "tfma")
            print(f"Evaluator (TFMA's Beam): {rows:,} eval rows in {seconds:.1f} s, "
                  f"{rows / seconds:,.0f} rows/s")
            print(f"Largest metric difference: {_largest_difference(ours, theirs):.2e} "
                  "over every slice; validation ok: "
                  f"{tfma.load_validation_result(ours).validation_ok} (arrays), "
                  f"{tfma.load_validation_result(theirs).validation_ok} (TFMA)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The project's one command line: `python -m pipeline TASK [--key=value ...]`.

`python -m pipeline --help` lists every task with a line each. The runner files at the
repository root (`local_runner.py`, `vertex_runner.py`, `train_all.py`, `lineage.py`) are
thin entry points into the tasks below, and the shell scripts in `scripts/` are tasks too.

Each task imports what it runs only once it runs: `--help` and a configuration error
answer in about a second, before TFX (about 14 s to import) loads.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import subprocess
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pipeline.keras_choice  # noqa: F401 - before anything imports TensorFlow
from pipeline.kinds import TRAINING, ContinuousEvaluation, PipelineKind, Scoring
from pipeline.orchestration import preflight
from pipeline.orchestration.layout import LocalLayout
from pipeline.settings import FIELDS, REPOSITORY_ROOT, TYPE_HINTS, PipelineConfig
from pipeline.settings.loading import load_config
from pipeline.settings.values import ConfigError, describe_type, parse_flags
from tasks import task_named


def run_task(argv: Sequence[str]) -> int:
    """Runs the pipeline locally; exits 1 when the run fails, 2 on a configuration error."""
    try:
        config = load_config(argv)
    except ConfigError as error:
        print(f"Configuration error: {error}", file=sys.stderr)
        return 2
    # Imported here, see the module's docstring.
    from pipeline.orchestration.local import run_local_pipeline
    from pipeline.orchestration.run_summary import print_run_summary

    result = run_local_pipeline(config)
    print_run_summary(config, LocalLayout.for_config(config), result)
    return 0 if result.succeeded else 1


def predict_task(argv: Sequence[str]) -> int:
    """Scores `--scoring_data_path` (or `--scoring_bigquery_table`) with the latest pushed
    model (`--scoring_model` names another) and writes one JSON line per row; exits 1 when
    the run fails, 2 on a configuration error."""
    try:
        config = load_config(argv)
        preflight.check_scoring(config)  # before the scoring run's imports: refused at once
        from pipeline.orchestration.scoring import print_scoring_result, run_batch_predictions

        result = run_batch_predictions(config)
    except ConfigError as error:
        print(f"Configuration error: {error}", file=sys.stderr)
        return 2
    print_scoring_result(result)
    return 0 if result.run.succeeded else 1


def evaluate_deployed_task(argv: Sequence[str]) -> int:
    """Judges the serving model (`--evaluation_model`, "latest" by default) on fresh labelled rows
    (`--evaluation_data_path`; with data_source=bigquery the table's last
    `--evaluation_window_days`, or `--evaluation_query`) against its blessing-time metrics
    and its training data, compares each of `--ab_models` with it, and with
    `--retrain_on_degradation=true` starts a training run when it degraded. Exits 0 when
    healthy, 3 when degraded (retrained or not), 1 when a run fails, 2 on a configuration
    error."""
    try:
        config = load_config(argv)
        preflight.check_evaluation(config)  # before the evaluation's imports: refused at once
        from pipeline.orchestration.monitoring import (
            print_evaluation_result,
            run_continuous_evaluation,
        )

        result = run_continuous_evaluation(config)
    except ConfigError as error:
        print(f"Configuration error: {error}", file=sys.stderr)
        return 2
    print_evaluation_result(config, result)
    if not result.run.succeeded or (result.retraining and not result.retraining.succeeded):
        return 1
    return 3 if result.degraded else 0


def train_all_task(argv: Sequence[str]) -> int:
    """Trains every model variant (`--variants=a,b` picks some) on one data preparation
    and compares them; the other flags configure the data steps and every variant."""
    from pipeline.orchestration import train_all

    try:
        flags = parse_flags(argv)
        only = [name.strip() for name in flags.pop("variants", "").split(",") if name.strip()]
        rest = [f"--{key}={value}" for key, value in flags.items()]
        base = load_config(rest)
        variants, skipped = train_all.model_variants(rest, only=only)
    except ConfigError as error:
        print(f"Configuration error: {error}", file=sys.stderr)
        return 2
    print(f"Training {len(variants)} variants on the data of variant {base.variant!r}: "
          f"{', '.join(variants)}")
    for name, reason in skipped.items():
        print(f"  left out {name}: {reason}")
    from pipeline.orchestration.local import run_local_train_all

    result = run_local_train_all(base, variants)
    if result.run_directory is None or not result.succeeded:
        print(f"\nTRAIN-ALL FAILED. Reason: {result.failure}\nLog: {result.log_path}")
        return 1
    layout = LocalLayout.for_config(base)
    rows = train_all.collect_comparison(base, layout, variants)
    train_all.record_comparison(layout, rows)
    task = task_named(base.task)
    paths = train_all.write_comparison(result.run_directory, rows, task)
    print(f"\nComparison on the same eval split (best {task.ranking_metric} first):")
    print(train_all.comparison_table(rows, task))
    print("\nReports:")
    for row in rows:
        print(f"  {row['variant']:<22} {row.get('report', '-')}")
    print(f"\nWritten: {paths['csv']}, {paths['png']}, {paths['json']}")
    return 0


def lineage_task(argv: Sequence[str]) -> int:
    """runs | show [MODEL] | diff RUN RUN | graph [MODEL] | reproduce RUN | predictions
    [FILE]: lineage from ML Metadata; --json for machine-readable output. Exits 1 on a bad
    id or store."""
    parser = argparse.ArgumentParser(prog="lineage", description=lineage_task.__doc__)
    parser.add_argument("command", choices=("runs", "show", "diff", "graph", "reproduce",
                                            "predictions"))
    parser.add_argument("ids", nargs="*", help="model or run ids, as the command needs")
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    parser.add_argument("--force", action="store_true",
                        help="reproduce even if the code, lock file or data changed")
    parser.add_argument("--format", choices=("svg", "png", "dot"), default="svg")
    parser.add_argument("--out", help="where graph writes (default: "
                        "OUTPUT_ROOT/lineage/model-ID.FORMAT)")
    options, settings = parser.parse_known_args(list(argv))
    # TFMA's metric reader logs TensorFlow deprecation notices that say nothing to a reader.
    logging.getLogger("tensorflow").setLevel(logging.ERROR)
    from pipeline.metadata.lineage import LineageError
    from pipeline.orchestration import lineage_report

    try:
        config = load_config(settings)
        result: Any = lineage_report.COMMANDS[options.command](config, options)
    except (ConfigError, LineageError) as error:
        print(f"lineage {options.command}: {error}", file=sys.stderr)
        return 1 if isinstance(error, LineageError) else 2
    if options.json:
        print(json.dumps(result.data, indent=2, sort_keys=True, default=str))
    else:
        print(result.text)
    return result.exit_code


DRY_RUN_STORAGE = ("emulator", "local")


def dry_run_options(argv: Sequence[str]) -> tuple[list[str], dict[str, Any]]:
    """The dry run's own flags (not settings): --storage=emulator|local (default: the
    Cloud Storage emulator, every artifact on gs://) and --cache (Vertex AI's cache)."""
    options: dict[str, Any] = {"storage": DRY_RUN_STORAGE[0], "cache": False}
    settings = []
    for argument in argv:
        if argument.startswith("--storage="):
            options["storage"] = argument.split("=", 1)[1]
            if options["storage"] not in DRY_RUN_STORAGE:
                raise ConfigError(f"--storage={options['storage']}: choose one of "
                                  f"{', '.join(DRY_RUN_STORAGE)}")
        elif argument == "--cache":
            options["cache"] = True
        else:
            settings.append(argument)
    return settings, options


# The module every compiled task's container runs (`python -m MODULE ...`: TFX's KubeflowV2
# compiler writes it; tests/test_vertex.py checks the compiled spec says so).
VERTEX_TASK_ENTRY_POINT = "tfx.orchestration.kubeflow.v2.container.kubeflow_v2_run_executor"


def vertex_task(command: str, argv: Sequence[str], kind: PipelineKind = TRAINING) -> int:
    """compile, submit, schedule, dry-run or images: the pipeline of `kind` (the production
    one, or batch predictions) on Vertex AI Pipelines. dry-run takes --storage=local (its
    artifacts on local paths instead of the Cloud Storage emulator's gs://) and --cache
    (Vertex AI's cache: reuse what an earlier dry run made from the same inputs)."""
    if command == "dry-run":
        # A dry run forks each task from a fork server that has imported the tasks' entry
        # point (pipeline/processes.py). Started first, its imports (TensorFlow, TFX, Beam:
        # 5-9 s) run beside the compile's own (about 12 s) instead of after them.
        from pipeline.processes import warm_up

        warm_up([VERTEX_TASK_ENTRY_POINT])
    from pipeline.orchestration import vertex

    try:
        options: dict[str, Any] = {}
        if command == "dry-run":
            argv, options = dry_run_options(argv)
        config = load_config(argv)
        if command == "images":
            for image, uri in vertex.image_uris(config).items():
                print(f"{image} {uri}")
            return 0
        if command == "schedule":
            vertex.check_schedulable(config, kind)
        template = vertex.template_path(config, kind)
        spec = vertex.compile_pipeline(config, template, kind)
        print(vertex.describe(config, spec))
        print(f"Compiled pipeline: {template}")
        if command == "compile":
            return 0
        if command == "dry-run":
            return _dry_run(config, spec, kind, **options)
        if isinstance(kind, ContinuousEvaluation) and config.retrain_on_degradation:
            print(f"Training pipeline for retraining: {vertex.upload_training_template(config)}")
        job = vertex.pipeline_job(config, template, kind=kind)
        if command == "submit":
            vertex.submit(config, job)
            print(f"Submitted: {job.resource_name}")
        else:
            created = vertex.schedule(config, job, kind)
            print(f"Scheduled ({config.schedule_cron}): {created.resource_name}")
    except ConfigError as error:
        print(f"Configuration error: {error}", file=sys.stderr)
        return 2
    return 0


def _dry_run(config: Any, spec: dict, kind: PipelineKind, storage: str, cache: bool) -> int:
    """Executes the compiled spec on this machine (pipeline/orchestration/vertex_dry_run.py),
    its artifacts on the Cloud Storage emulator's gs:// unless `storage` is "local"."""
    import contextlib
    import os

    from pipeline.orchestration import storage_emulator
    from pipeline.orchestration import vertex_dry_run as dry

    dry.check_dry_run(config)
    directory = Path(config.output_root) / "vertex-dry-run"
    on_storage = storage == "emulator"
    root = dry.artifact_root(spec, directory / kind.pipeline_name(config), on_storage)
    print(f"\nDry run of the compiled pipeline: artifacts under {root}"
          + (" on a Cloud Storage emulator" if on_storage else " (standing for the gs:// "
             "pipeline root)") + f", logs under {directory}"
          + ("; Vertex AI's cache on" if cache else "") + ":")
    with contextlib.ExitStack() as stack:
        environment = None
        if on_storage:
            bucket = root.split("/")[2]
            try:
                emulator = stack.enter_context(storage_emulator.StorageEmulator(
                    bucket, directory / "storage"))
            except storage_emulator.StorageEmulatorError as error:
                print(f"\nDRY RUN FAILED: {error}", file=sys.stderr)
                return 1
            environment = emulator.environment()
            os.environ.update(environment)  # this process reads the summary from gs://
            print(f"  storage: gs://{bucket} served at {emulator.endpoint}")
        try:
            result = dry.dry_run(spec, directory, os.environ.get(dry.ENDPOINT_VARIABLE),
                                 storage=environment, cache=cache)
        except dry.DryRunError as error:
            print(f"\nDRY RUN FAILED: {error}", file=sys.stderr)
            return 1
        print("\nSubstituted (what cannot run here):")
        for note in dict.fromkeys(result.substitutions):
            print(f"  {note}")
        print()
        print("\n".join(dry.summary_lines(result)))
    return 0


def settings_task(argv: Sequence[str]) -> int:
    """Prints every setting: its type, default and the steps that read it."""
    if argv:
        print("settings takes no arguments.", file=sys.stderr)
        return 2
    defaults = PipelineConfig().to_dict()
    width = max(len(name) for name in FIELDS)
    for name, field in FIELDS.items():
        readers = ", ".join(sorted(step.value for step in field.metadata["read_by"]))
        print(f"{name:<{width}}  {describe_type(TYPE_HINTS[name]):<26} "
              f"{json.dumps(defaults[name])[:40]:<42} read by {readers}")
    return 0


@dataclasses.dataclass(frozen=True)
class Task:
    summary: str
    run: Callable[[Sequence[str]], int]
    # The task answers --help itself (its own parser, or a script's), rather than with
    # this summary and its function's docstring.
    own_help: bool = False


def _script(summary: str, *command: str, own_help: bool = True) -> Task:
    """A task that runs a script of this repository with the arguments given (and, with
    `own_help`, --help too)."""
    def run(argv: Sequence[str]) -> int:
        return subprocess.call([*command, *argv], cwd=REPOSITORY_ROOT)
    return Task(summary, run, own_help=own_help)


def _vertex_tasks(suffix: str, kind: PipelineKind, what: str, note: str) -> dict[str, Task]:
    """The compile, submit, schedule and dry-run tasks of another kind of pipeline on
    Vertex AI (`vertex-compile<suffix>`, ...)."""
    summaries = {"compile": f"compile {what} for Vertex AI ({note})",
                 "submit": f"compile, then start one run of {what} on Vertex AI",
                 "schedule": f"compile, then schedule {what} on Vertex AI",
                 "dry-run": f"compile {what}, then execute it here, task by task"}
    return {f"vertex-{command}{suffix}": Task(
        summary, lambda argv, command=command: vertex_task(command, argv, kind))
        for command, summary in summaries.items()}


TASKS: dict[str, Task] = {
    "run": Task("run the pipeline locally on testdata/ or as configured (local_runner.py)",
                run_task),
    "predict": Task("batch predictions with the pushed model on a table (batch_predict.py)",
                    predict_task),
    "evaluate-deployed": Task("judge the serving model on fresh labelled rows; retrain "
                              "when it degraded", evaluate_deployed_task),
    "train-all": Task("train every model variant on one Transform output and compare them",
                      train_all_task),
    "lineage": Task("runs | show | diff | graph | reproduce | predictions: lineage from "
                    "ML Metadata",
                    lineage_task, own_help=True),
    "vertex-compile": Task("compile the Vertex AI pipeline JSON and say what runs where",
                           lambda argv: vertex_task("compile", argv)),
    "vertex-submit": Task("compile, then start one run on Vertex AI Pipelines",
                          lambda argv: vertex_task("submit", argv)),
    "vertex-schedule": Task("compile, then create the retraining schedule on Vertex AI",
                            lambda argv: vertex_task("schedule", argv)),
    "vertex-dry-run": Task("compile, then execute the compiled JSON here, task by task",
                           lambda argv: vertex_task("dry-run", argv)),
    **_vertex_tasks("-scoring", Scoring(), "batch predictions", "BigQuery in and out"),
    **_vertex_tasks("-evaluation", ContinuousEvaluation(), "continuous evaluation",
                    "retrains when the model degraded"),
    "vertex-images": Task("print the CPU and GPU image URIs the compiled pipeline names",
                          lambda argv: vertex_task("images", argv)),
    "build-images": _script("docker build and push the CPU and GPU images (scripts/build-images)",
                            "bash", "scripts/build-images", own_help=False),
    "benchmark": _script("this pipeline against TFX's taxi example: time, memory, AUC, speed",
                         sys.executable, "benchmarks/pipeline_benchmark.py"),
    "benchmark-train-all": _script("train-all against one full pipeline per model variant",
                                   sys.executable, "benchmarks/train_all_benchmark.py"),
    "benchmark-quality": _script("every dataset's model against a gradient-boosted tree",
                                 sys.executable, "benchmarks/quality_benchmark.py"),
    "benchmark-growth": _script("the whole pipeline at 15K, 150K and 1.5M rows, step by step",
                                sys.executable, "benchmarks/growth_benchmark.py"),
    "gpu-check": _script("run_fn on every visible GPU: examples/s and the input-bound ratio",
                         sys.executable, "benchmarks/gpu_check.py"),
    "test": _script("lint, then the whole test suite (scripts/test; arguments go to pytest)",
                    "bash", "scripts/test"),
    "settings": Task("list every setting with its type, default and the steps that read it",
                     settings_task),
}


# The commands of vertex_runner.py: the vertex-* tasks without their prefix.
VERTEX_COMMANDS = tuple(name.removeprefix("vertex-") for name in TASKS
                        if name.startswith("vertex-"))


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    width = max(len(name) for name in TASKS)
    listing = "\n".join(f"  {name:<{width}}  {task.summary}" for name, task in TASKS.items())
    usage = ("usage: python -m pipeline TASK [--key=value ...]\n\n"
             f"tasks:\n{listing}\n\nSettings (--key=value, --variant=NAME) are listed by the "
             "settings task; `python -m pipeline TASK --help` describes a task.")
    if not argv or argv[0] in ("-h", "--help", "help"):
        print(usage)
        return 0 if argv else 2
    name, rest = argv[0], argv[1:]
    if name not in TASKS:
        print(f"Unknown task {name!r}.\n\n{usage}", file=sys.stderr)
        return 2
    if rest[:1] in (["-h"], ["--help"]) and not TASKS[name].own_help:
        print(f"{name}: {TASKS[name].summary}\n{TASKS[name].run.__doc__ or ''}".rstrip())
        return 0
    return TASKS[name].run(rest)

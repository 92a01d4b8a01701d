"""Train-all: every model variant on one ExampleGen and Transform output, compared.

A model variant is an entry of variants.yaml that changes only settings read by the steps
that train and judge a model (`model_settings()`, derived from the declarations in
pipeline/settings/), so all of them can share the data steps. They run as one TFX
pipeline (pipeline/kinds.py `TrainAll`): the data steps once, then a Trainer, Evaluator
and report per variant on the same eval split. The comparison (metrics, training
time, model size, scoring speed) is read back from ML Metadata, printed, written as CSV,
JSON and PNG into the run directory, and stored on each Model artifact in ML Metadata.

TensorFlow, TFMA and matplotlib are imported inside the functions that measure and plot:
they take seconds to load, and a configuration error is reported before any of that.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import statistics
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from pipeline.kinds import Node, TrainAll
from pipeline.metadata.store import (
    custom_property,
    latest_run_context,
    open_store,
    run_executions,
)
from pipeline.orchestration.layout import LocalLayout
from pipeline.settings import (
    EVAL_SPLIT,
    MODEL_BRANCH_STEPS,
    PipelineConfig,
    settings_read_only_by,
)
from pipeline.settings.loading import load_config, load_variants
from pipeline.settings.values import ConfigError
from tasks import Task, task_named

COMPARISON_PROPERTY_PREFIX = "comparison."
SCORING_BATCH = 1024


def model_variants(argv: Sequence[str], environ: Mapping[str, str] | None = None,
                   only: Sequence[str] = ()) -> tuple[dict[str, PipelineConfig], dict[str, str]]:
    """The configs to compare (name -> config), and the variants left out with why.

    Each is the base configuration (`--variant` and the other flags) with one model
    variant layered over it; flags still win, so `--epochs=2` shortens every variant.
    """
    variants = load_variants()
    unknown = [name for name in only if name not in variants]
    if unknown:
        raise ConfigError(f"--variants: unknown variant {unknown[0]!r}; variants.yaml "
                          f"defines: {', '.join(variants)}.")
    model_settings = settings_read_only_by(MODEL_BRANCH_STEPS)
    configs: dict[str, PipelineConfig] = {}
    skipped: dict[str, str] = {}
    for name, settings in variants.items():
        if only and name not in only:
            continue
        other = sorted(set(settings) - model_settings)
        if other:
            skipped[name] = f"changes {', '.join(other)}, not only the model"
            continue
        configs[name] = load_config(argv, environ, model_variant=name)
    if not configs:
        raise ConfigError("No model variant to train: every selected variant changes more "
                          "than the model (settings read by the data steps or the runner).")
    return configs, skipped


# ---------------------------------------------------------------------- measuring
def directory_bytes(path: str) -> int:
    import tensorflow as tf

    return sum(tf.io.gfile.stat(os.path.join(directory, name)).length
               for directory, _, files in tf.io.gfile.walk(path) for name in files)


def scoring_speed(model_directory: str, records: Sequence[bytes]) -> dict[str, float]:
    """Throughput (examples/s, batches of SCORING_BATCH) and one-example latency (ms),
    each the median of repeated timings after a warm-up call."""
    import tensorflow as tf

    serve = tf.saved_model.load(model_directory).signatures["serving_default"]
    batch = tf.constant(list(records[:SCORING_BATCH]))
    single = tf.constant(list(records[:1]))
    serve(examples=batch)
    serve(examples=single)
    batch_seconds, single_seconds = [], []
    for _ in range(10):
        started = time.perf_counter()
        serve(examples=batch)
        batch_seconds.append(time.perf_counter() - started)
    for _ in range(30):
        started = time.perf_counter()
        serve(examples=single)
        single_seconds.append(time.perf_counter() - started)
    return {"examples_per_second": len(batch) / statistics.median(batch_seconds),
            "latency_ms": 1000 * statistics.median(single_seconds)}


def collect_comparison(config: PipelineConfig, layout: LocalLayout,
                       variants: Mapping[str, PipelineConfig]) -> list[dict[str, Any]]:
    """One row per variant of the latest train-all run, read through ML Metadata."""
    import tensorflow as tf

    from evaluation.report import read_examples
    from evaluation.results import metrics_by_slice
    from models.package import EXTRA_ASSETS_DIRECTORY, SERVING_DIRECTORY

    store = open_store(layout.metadata_target)
    run = latest_run_context(store, TrainAll.pipeline_name(config))
    if run is None:
        return []
    artifacts: dict[str, dict[str, Any]] = {}
    states: dict[str, str] = {}
    for step in run_executions(store, run.id):
        states[step.component] = step.state
        for artifact in step.outputs:
            artifacts.setdefault(step.component, {})[artifact.type] = artifact
    examples = artifacts.get(Node.EXAMPLE_GEN, {}).get("Examples")
    records: list[bytes] = []
    if examples is not None:
        eval_uri = os.path.join(examples.uri, f"Split-{EVAL_SPLIT}", "*")
        records = read_examples(eval_uri, SCORING_BATCH)

    rows = []
    for name, variant_config in variants.items():
        model = artifacts.get(f"Trainer_{name}", {}).get("Model")
        evaluation = artifacts.get(f"Evaluator_{name}", {}).get("ModelEvaluation")
        blessing = artifacts.get(f"Evaluator_{name}", {}).get("ModelBlessing")
        report = artifacts.get(f"ModelReportGen_{name}", {}).get("pipeline.ModelReport")
        row: dict[str, Any] = {"variant": name, "architecture": variant_config.architecture,
                               "state": states.get(f"Trainer_{name}", "not run")}
        if model is not None:
            serving = os.path.join(model.uri, SERVING_DIRECTORY)
            with tf.io.gfile.GFile(os.path.join(serving, EXTRA_ASSETS_DIRECTORY,
                                                "training.json")) as handle:
                training = json.load(handle)
            row.update(model_id=model.id, model_uri=model.uri,
                       training_seconds=training["seconds"], epochs=training["epochs"],
                       parameters=training.get("parameters"),
                       size_bytes=directory_bytes(serving))
            if records:
                row.update(scoring_speed(serving, records))
        if evaluation is not None:
            overall = metrics_by_slice(evaluation.uri).get("Overall", {})
            for metric in task_named(config.task).summary_metrics[1:]:
                value = overall.get(metric)  # NaN (e.g. no positive prediction): unknown
                row[metric] = None if value is None or math.isnan(value) else value
        if blessing is not None:
            row["blessed"] = bool(custom_property(blessing, "blessed"))
        if report is not None:
            row["report"] = f"{report.uri}/report.html"
        rows.append(row)
    return rows


def record_comparison(layout: LocalLayout, rows: list[dict[str, Any]]) -> None:
    """Stores each row on its Model artifact in ML Metadata (comparison.* properties)."""
    store = open_store(layout.metadata_target, read_only=False)
    ids = [row["model_id"] for row in rows if "model_id" in row]
    by_id = {artifact.id: artifact for artifact in store.get_artifacts_by_id(ids)}
    for row in rows:
        artifact = by_id.get(row.get("model_id"))
        if artifact is None:
            continue
        for key, value in row.items():
            if value is None or key in ("model_id", "model_uri"):
                continue
            target = artifact.custom_properties[COMPARISON_PROPERTY_PREFIX + key]
            if isinstance(value, bool):
                target.string_value = "yes" if value else "no"
            elif isinstance(value, (int, float)):
                target.double_value = float(value)
            else:
                target.string_value = str(value)
    store.put_artifacts(list(by_id.values()))


# ---------------------------------------------------------------------- presenting
def columns(task: Task) -> tuple[tuple[str, str, str], ...]:
    """(key, title, format) of the comparison's columns: the task's first two metrics
    (its ranking metric first), then the costs."""
    return (("variant", "variant", "{}"), ("architecture", "architecture", "{}"),
            *((name, name, "{:.3f}") for name in task.summary_metrics[1:3]),
            ("blessed", "blessed", "{}"), ("training_seconds", "train s", "{:.1f}"),
            ("parameters", "params", "{:,}"), ("size_bytes", "size MB", "{:.2f}"),
            ("examples_per_second", "scored/s", "{:,.0f}"), ("latency_ms", "1-ex ms", "{:.1f}"))


def best_first(rows: list[dict[str, Any]], task: Task) -> list[dict[str, Any]]:
    """The rows by the task's ranking metric, best first; rows without it last."""
    metric = task.ranking_metric
    sign = -1 if task.higher_is_better(metric) else 1
    return sorted(rows, key=lambda row: (row.get(metric) is None,
                                         sign * (row.get(metric) or 0)))


def comparison_table(rows: list[dict[str, Any]], task: Task) -> str:
    """The rows, best first by the task's ranking metric, as a fixed-width table."""
    table_columns = columns(task)
    def cell(row: dict[str, Any], key: str, template: str) -> str:
        value = row.get(key)
        if value is None:
            return "-"
        if key == "size_bytes":
            value = value / 1e6
        if key == "blessed":
            value = "yes" if value else "no"
        return template.format(value)

    ordered = best_first(rows, task)
    table = [[title for _, title, _ in table_columns]]
    table += [[cell(row, key, template) for key, _, template in table_columns] for row in ordered]
    widths = [max(len(line[index]) for line in table) for index in range(len(table_columns))]
    return "\n".join("  " + "  ".join(
        text.ljust(width) if index < 2 else text.rjust(width)
        for index, (text, width) in enumerate(zip(line, widths, strict=True)))
        for line in table)


def comparison_csv(rows: list[dict[str, Any]], task: Task) -> str:
    keys = list(dict.fromkeys([key for key, _, _ in columns(task)]
                              + list(task.summary_metrics[1:])
                              + ["epochs", "model_uri", "report"]))
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=keys, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue()


def comparison_png(rows: list[dict[str, Any]], task: Task) -> bytes:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    metric = task.ranking_metric
    panels = ((metric, f"eval {metric}"), ("training_seconds", "training time (s)"),
              ("size_bytes", "model size (MB)"), ("examples_per_second", "scored examples/s"))
    names = [row["variant"] for row in rows]
    figure, axes = plt.subplots(2, 2, figsize=(10, 1.2 + 0.9 * len(rows)))
    for axis, (key, title) in zip(axes.flat, panels, strict=True):
        values = [(row.get(key) or 0) / (1e6 if key == "size_bytes" else 1) for row in rows]
        axis.barh(names, values, color="#4c72b0")
        axis.invert_yaxis()  # first variant on top, as in the table's input order
        axis.set_title(title)
        if key == "auc" or key == "accuracy":
            axis.set_xlim(max(0.0, min(values, default=0) - 0.05), 1.0)
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100)
    plt.close(figure)
    return buffer.getvalue()


def write_comparison(run_directory: Path, rows: list[dict[str, Any]], task: Task
                     ) -> dict[str, Path]:
    paths = {"csv": run_directory / "comparison.csv", "json": run_directory / "comparison.json",
             "png": run_directory / "comparison.png"}
    paths["csv"].write_text(comparison_csv(rows, task))
    paths["json"].write_text(json.dumps(rows, indent=2, default=str) + "\n")
    paths["png"].write_bytes(comparison_png(rows, task))
    return paths

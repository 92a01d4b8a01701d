"""The per-run HTML report: where the model fails, not only its AUC.

One self-contained file (images embedded as data URIs, no script, no network) with:
- metrics per slice from the Evaluator (TFMA), the worst slices first by the task's
  ranking metric;
- the task's own sections (tasks/<name>/judge.py): binary, a calibration plot and the
  confusion matrix at the operating threshold; multiclass, the confusion matrix between
  every pair of classes and a table per class; regression, predicted against actual and
  the residuals;
- the eval examples the model gets most wrong (log loss of the true class, or absolute
  error), with their raw features;
- permutation feature importance: how much the task's ranking metric (AUC, accuracy, R²)
  worsens when one feature's values are shuffled across examples;
- the training curves from the model package, when the model has one;
- the hyperparameter search's trials, when the pipeline tuned.

Slices, calibration and the confusion matrix are the Evaluator's (TFMA's); the most-wrong
examples and importance come from one scoring of the raw eval examples by the exported
serving signature, so they describe exactly the model that would be pushed. Permutation
importance is our own loop rather than scikit-learn's, whose version needs an estimator
over a numeric matrix; ours shuffles whole tf.Example features, so it works on what
serving receives, whatever the feature's type.
"""

from __future__ import annotations

import base64
import dataclasses
import datetime
import html
import json
import os
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import tensorflow as tf

from evaluation.html import STYLE, cell_text, image, importance_png, search_png, table
from evaluation.results import metrics_by_slice
from models.package import (
    EXTRA_ASSETS_DIRECTORY,
    PACKAGE_DIRECTORY,
    SERVING_DIRECTORY,
    training_summary,
)
from tasks import task_named
from tasks.judge_parts import judge_part

SCORING_BATCH = 1024


@dataclasses.dataclass(frozen=True)
class ReportOptions:
    """How the report is drawn: what it reads of the run's `ModelReportSettings` (the
    label, the features, the threshold, the seed, the task), the model's classes, and the
    report's own sizes."""

    label_name: str
    feature_names: tuple[str, ...]
    decision_threshold: float
    seed: int
    max_examples: int = 5000  # eval examples scored (the first ones, in file order)
    most_wrong_count: int = 20
    importance_repeats: int = 3
    small_slice: int = 30  # slices with fewer examples are flagged as noisy
    task: str = "binary"
    class_names: tuple[str, ...] = ()  # a task with classes: the model's, in output order


# ---------------------------------------------------------------------- data and scoring
def read_examples(file_pattern: str, limit: int) -> list[bytes]:
    """Up to `limit` serialized tf.Examples from gzipped TFRecord files (ExampleGen's)."""
    files = sorted(tf.io.gfile.glob(file_pattern))
    if not files:
        raise FileNotFoundError(f"No examples match {file_pattern}.")
    dataset = tf.data.TFRecordDataset(files, compression_type="GZIP").take(limit)
    return [record.numpy() for record in dataset]


def feature_value(example: tf.train.Example, name: str) -> Any:
    """The first value of feature `name` (None when missing), decoded for display."""
    feature = example.features.feature.get(name)
    if feature is None:
        return None
    kind = feature.WhichOneof("kind")
    values = getattr(feature, kind).value if kind else []
    if not values:
        return None
    value = values[0]
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else value


def serving_scorer(model_directory: str, task: str = "binary"
                   ) -> Callable[[Sequence[bytes]], np.ndarray]:
    """The task's answer from the SavedModel's serving signature, in batches, shaped by
    the task's `answers`: one number per example (P(positive), or the value), or a row of
    class probabilities."""
    serve = tf.saved_model.load(model_directory).signatures["serving_default"]
    key = task_named(task).prediction_key
    answers = judge_part(task).answers

    def score(records: Sequence[bytes]) -> np.ndarray:
        parts = [serve(examples=tf.constant(list(records[start:start + SCORING_BATCH])))[key]
                 .numpy() for start in range(0, len(records), SCORING_BATCH)]
        if not parts:
            return np.zeros(0)
        return answers(np.concatenate(parts))

    return score


# ---------------------------------------------------------------------- the analyses
def most_wrong(examples: Sequence[tf.train.Example], labels: np.ndarray,
               predictions: np.ndarray, settings: ReportOptions) -> list[dict[str, Any]]:
    """The examples the model gets most wrong (the task's `example_losses`), with their
    raw features and the task's `answer_fields` (for binary: the probability and the log
    loss; multiclass: the true and the predicted class; regression: the error)."""
    task = judge_part(settings.task)
    losses = task.example_losses(labels, predictions)
    order = np.argsort(-losses, kind="stable")[:settings.most_wrong_count]
    rows = []
    for row in order:
        rows.append({"row": int(row), "features": {
            name: feature_value(examples[row], name) for name in settings.feature_names},
            **task.answer_fields(labels[row], predictions[row], losses[row],
                                 settings.class_names)})
    return rows


def permutation_importance(examples: Sequence[tf.train.Example], labels: np.ndarray,
                           score: Callable[[Sequence[bytes]], np.ndarray],
                           settings: ReportOptions) -> list[dict[str, float]]:
    """Per feature, the mean and spread of the drop in the task's ranking metric (AUC,
    accuracy, R²; key `<metric>_drop`) when its values are shuffled across the eval
    examples (every other feature left as it was); largest drop first."""
    key = f"{task_named(settings.task).ranking_metric}_drop"
    ranking_score = judge_part(settings.task).ranking_score
    baseline = ranking_score(labels, score([example.SerializeToString() for example in examples]))
    random = np.random.default_rng(settings.seed)
    rows = []
    for name in settings.feature_names:
        originals = []
        for example in examples:
            original = tf.train.Feature()
            if name in example.features.feature:
                original.CopyFrom(example.features.feature[name])
            originals.append(original)
        drops = []
        # The examples are edited in place, one feature at a time, and restored after:
        # copying whole examples per shuffle cost ten times more than scoring them.
        for _ in range(settings.importance_repeats):
            permutation = random.permutation(len(examples))
            shuffled = []
            for example, source in zip(examples, permutation, strict=True):
                example.features.feature[name].CopyFrom(originals[source])
                shuffled.append(example.SerializeToString())
            drops.append(baseline - ranking_score(labels, score(shuffled)))
        for example, original in zip(examples, originals, strict=True):
            if original.WhichOneof("kind"):
                example.features.feature[name].CopyFrom(original)
            else:
                del example.features.feature[name]
        rows.append({"feature": name, key: float(np.mean(drops)),
                     "spread": float(np.std(drops))})
    return sorted(rows, key=lambda row: -row[key])


# ---------------------------------------------------------------------- HTML
def render_html(title: str, facts: dict[str, str], metrics: dict[str, dict[str, float]],
                views: dict[str, Any], labels: np.ndarray, predictions: np.ndarray,
                examples: list[tf.train.Example],
                score: Callable[[Sequence[bytes]], np.ndarray], settings: ReportOptions,
                curves_png: bytes | None = None, trials: list[dict[str, Any]] | None = None
                ) -> str:
    """The whole report as one HTML string. `predictions` are the model's answers
    (`serving_scorer`); `views` are the Evaluator's views the task's sections draw (its
    `report_views`: binary, calibration and the confusion matrix; multiclass, the
    confusion between classes)."""
    task = task_named(settings.task)
    graph = judge_part(settings.task)
    metric = task.ranking_metric
    overall = metrics.get("Overall", {})
    parts = [f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(title)}"
             f"</title><style>{STYLE}</style></head><body><h1>{html.escape(title)}</h1>"]
    parts.append(table(("about", "value"), list(facts.items()), name_columns=2,
                       table_id="facts"))

    columns = task.slice_columns
    parts.append("<h2>Metrics per slice, worst first</h2>")
    parts.append(f"<p class='note'>Overall: {metric} {cell_text(overall.get(metric))} on "
                 f"{cell_text(overall.get('example_count'), 0)} eval examples. Slices are "
                 f"ordered by {metric} ({task.direction(metric)}){graph.SLICE_ORDER_NOTE}. "
                 f"Grey: fewer than {settings.small_slice} examples.</p>")
    slices = graph.worst_slices_first(metrics)
    parts.append(table(
        ("slice", "examples", *columns[1:]),
        [(name, int(values.get("example_count", 0)),
          *(values.get(column) for column in columns[1:])) for name, values in slices],
        row_classes=["noisy" if values.get("example_count", 0) < settings.small_slice else ""
                     for _, values in slices],
        table_id="slices"))
    parts += graph.report_sections(views, labels, predictions, settings)

    wrong = most_wrong(examples, labels, predictions, settings)
    answer_columns = task.answer_columns
    parts.append(f"<h2>The {len(wrong)} eval examples the model gets most wrong</h2>")
    parts.append(table(
        ("row", *(name.replace("_", " ") for name in answer_columns), *settings.feature_names),
        [(row["row"], *(row[name] for name in answer_columns),
          *(row["features"][name] for name in settings.feature_names)) for row in wrong],
        name_columns=0, table_id="most_wrong"))

    importance = permutation_importance(examples, labels, score, settings)
    parts.append("<h2>Permutation feature importance</h2>")
    parts.append(f"<p class='note'>{metric} drop on the eval split when one feature is "
                 f"shuffled across examples; mean and spread of {settings.importance_repeats} "
                 "shuffles.</p>")
    parts.append(image(importance_png(importance, metric), "permutation importance"))
    parts.append(table(("feature", f"{metric.upper() if metric == 'auc' else metric} drop",
                        "spread"),
                       [(row["feature"], row[f"{metric}_drop"], row["spread"])
                        for row in importance], table_id="importance"))

    if trials:
        names = sorted({key for trial in trials for key in trial} - {"trial_id", "score"})
        # keras-tuner's score is the objective as measured; lower is better for an error.
        lower = task.tuner_objective_lower_is_better
        best_first = sorted(trials, key=lambda trial: trial["score"] if lower
                            else -trial["score"])
        objective = task.tuner_objective
        parts.append(f"<h2>Hyperparameter search: {len(trials)} trials</h2>")
        parts.append("<p class='note'>The best trial's values were used to train this "
                     "model.</p>")
        parts.append(image(search_png(trials, objective, lower), "hyperparameter search"))
        parts.append(table(("trial", f"eval {'AUC' if objective == 'auc' else objective}",
                            *names),
                           [(trial["trial_id"], trial["score"],
                             *(trial.get(name) for name in names)) for trial in best_first],
                           table_id="search"))

    if curves_png:
        parts.append("<h2>Training curves</h2>")
        parts.append(image(base64.b64encode(curves_png).decode(), "training curves"))
    parts.append("</body></html>")
    return "\n".join(parts)


def build_report(settings: ReportOptions, eval_file_pattern: str, model_uri: str,
                 evaluation_uri: str, facts: dict[str, str],
                 trials: list[dict[str, Any]] | None = None) -> str:
    """Scores the eval examples with the model at `model_uri` and renders the report. The
    model's classes (a task with classes) come from its own assets (feature_shapes.json)."""
    serving = os.path.join(model_uri, SERVING_DIRECTORY)
    shapes_path = os.path.join(serving, EXTRA_ASSETS_DIRECTORY, "feature_shapes.json")
    if tf.io.gfile.exists(shapes_path):
        with tf.io.gfile.GFile(shapes_path) as handle:
            settings = dataclasses.replace(
                settings, class_names=tuple(json.load(handle).get("class_names", ())))
    graph = judge_part(settings.task)
    records = read_examples(eval_file_pattern, settings.max_examples)
    examples = [tf.train.Example.FromString(record) for record in records]
    labels = graph.report_labels([feature_value(example, settings.label_name)
                                  for example in examples], settings.class_names)
    score = serving_scorer(serving, settings.task)
    predictions = score(records)
    curves_path = os.path.join(model_uri, PACKAGE_DIRECTORY, "curves.png")
    curves = (tf.io.gfile.GFile(curves_path, "rb").read()
              if tf.io.gfile.exists(curves_path) else None)
    task = task_named(settings.task)
    metrics = metrics_by_slice(evaluation_uri, task.slice_columns)
    trained = training_summary(model_uri)
    facts = {**facts, "task": task.description, **({"training": trained} if trained else {}),
             "eval examples scored": str(len(records)),
             "written": datetime.datetime.now(datetime.timezone.utc).strftime(
                 "%Y-%m-%d %H:%M UTC")}
    views = graph.report_views(evaluation_uri, settings.class_names)
    return render_html("Model report", facts, metrics, views, labels, predictions, examples,
                       score, settings, curves, trials)

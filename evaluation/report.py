"""The per-run HTML report: where the model fails, not only its AUC.

One self-contained file (images embedded as data URIs, no script, no network) with:
- metrics per slice from the Evaluator (TFMA), the worst slices first by the task's
  ranking metric (pipeline/tasks.py);
- what the task needs: binary, a calibration plot and the confusion matrix at the
  operating threshold; multiclass, the confusion matrix between every pair of classes and
  a table per class; regression, predicted against actual and the residuals;
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
import io
import json
import os
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import tensorflow as tf
import tensorflow_model_analysis as tfma

from evaluation.results import metrics_by_slice, without_undefined_metrics
from models.package import EXTRA_ASSETS_DIRECTORY, PACKAGE_DIRECTORY, SERVING_DIRECTORY
from pipeline.tasks import LOWER_IS_BETTER_TRAINING_METRICS, task_named

SCORING_BATCH = 1024


@dataclasses.dataclass(frozen=True)
class ReportSettings:
    """What the report needs from the pipeline configuration."""

    label_name: str
    feature_names: tuple[str, ...]
    decision_threshold: float
    seed: int
    max_examples: int = 5000  # eval examples scored (the first ones, in file order)
    most_wrong_count: int = 20
    importance_repeats: int = 3
    small_slice: int = 30  # slices with fewer examples are flagged as noisy
    task: str = "binary"
    class_names: tuple[str, ...] = ()  # multiclass: the model's classes, in output order


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
    """The task's answer from the SavedModel's serving signature, in batches: one number
    per example (P(positive), or the value), or a row of class probabilities."""
    serve = tf.saved_model.load(model_directory).signatures["serving_default"]
    key = task_named(task).prediction_key

    def score(records: Sequence[bytes]) -> np.ndarray:
        parts = [serve(examples=tf.constant(list(records[start:start + SCORING_BATCH])))[key]
                 .numpy() for start in range(0, len(records), SCORING_BATCH)]
        if not parts:
            return np.zeros(0)
        scores = np.concatenate(parts)
        return scores if task == "multiclass" else scores.reshape(-1)

    return score


def ranking_score(labels: np.ndarray, predictions: np.ndarray, task: str) -> float:
    """The task's ranking metric on the examples: AUC, accuracy or R² (higher is better)."""
    if task == "multiclass":
        return float(np.mean(np.argmax(predictions, axis=1) == labels)) if len(labels) else 0.0
    if task == "regression":
        spread = float(np.sum((labels - labels.mean()) ** 2))
        residual = float(np.sum((labels - predictions) ** 2))
        return 1.0 - residual / spread if spread > 0 else float("nan")
    return auc(labels, predictions)


def example_losses(labels: np.ndarray, predictions: np.ndarray, task: str) -> np.ndarray:
    """How wrong each answer is: log loss of the true class, or the absolute error."""
    if task == "regression":
        return np.abs(predictions - labels)
    if task == "multiclass":
        true_class = predictions[np.arange(len(labels)), labels.astype(int)]
        return -np.log(np.clip(true_class, 1e-7, 1.0))
    clipped = np.clip(predictions, 1e-7, 1 - 1e-7)
    return -(labels * np.log(clipped) + (1 - labels) * np.log(1 - clipped))


def auc(labels: np.ndarray, probabilities: np.ndarray) -> float:
    """ROC AUC as the Mann-Whitney rank statistic (tied scores share their mean rank), or
    NaN when only one class is present. Our own few lines: scikit-learn stays out of what
    runs in a component."""
    positive = np.asarray(labels) > 0.5
    positives, negatives = int(positive.sum()), int((~positive).sum())
    if positives == 0 or negatives == 0:
        return float("nan")
    scores = np.asarray(probabilities, dtype=np.float64)
    values, inverse, counts = np.unique(scores, return_inverse=True, return_counts=True)
    mean_ranks = np.cumsum(counts) - (counts - 1) / 2.0  # 1-based, ties averaged
    ranks = mean_ranks[inverse]
    return float((ranks[positive].sum() - positives * (positives + 1) / 2)
                 / (positives * negatives))


# ---------------------------------------------------------------------- the analyses
def worst_slices_first(metrics: dict[str, dict[str, float]], task: str = "binary"
                       ) -> list[tuple[str, dict]]:
    """Slices ordered worst first by the task's ranking metric. Binary: by AUC where both
    classes occur, then the one-class slices by accuracy, their AUC removed. The overall
    slice is left out."""
    if task != "binary":
        metric = task_named(task).ranking_metric
        sign = 1 if task_named(task).higher_is_better(metric) else -1
        rows = [(name, values) for name, values in metrics.items() if name != "Overall"]
        return sorted(rows, key=lambda item: (metric not in item[1],
                                              sign * item[1].get(metric, 0.0)))
    rows = [(name, without_undefined_metrics(values)) for name, values in metrics.items()
            if name != "Overall"]
    return sorted(rows, key=lambda item: (
        "auc" not in item[1], item[1].get("auc", item[1].get("accuracy", 1.0))))


def multiclass_confusion(evaluation_uri: str, class_names: Sequence[str]) -> dict[str, Any]:
    """The overall slice's confusion matrix between classes (at the most probable class),
    as the Evaluator computed it: {"classes": names, "matrix": counts[actual][predicted]}."""
    size = len(class_names)
    matrix = [[0] * size for _ in range(size)]
    for entry in _overall_entries(tfma.load_plots(evaluation_uri), "plot_keys_and_values"):
        if entry.value.HasField("multi_class_confusion_matrix_at_thresholds"):
            [at_argmax] = entry.value.multi_class_confusion_matrix_at_thresholds.matrices
            for cell in at_argmax.entries:
                if 0 <= cell.actual_class_id < size and 0 <= cell.predicted_class_id < size:
                    matrix[cell.actual_class_id][cell.predicted_class_id] += int(
                        round(cell.num_weighted_examples))
    return {"classes": list(class_names), "matrix": matrix}


def _overall_entries(records: Any, field: str) -> Any:
    """The overall slice's candidate entries (it has no slice keys; with a baseline, TFMA
    also stores the baseline's values and the differences)."""
    return (entry for record in records if not record.slice_key.single_slice_keys
            for entry in getattr(record, field)
            if entry.key.model_name != "baseline"
            and not (field == "metric_keys_and_values" and entry.key.is_diff))


def evaluator_views(evaluation_uri: str) -> tuple[list[dict[str, float]], dict[str, int]]:
    """The overall slice's calibration buckets and confusion matrix at the operating
    threshold, as the Evaluator computed them (evaluation/slices.py asks TFMA for both)."""
    calibration = []
    for entry in _overall_entries(tfma.load_plots(evaluation_uri), "plot_keys_and_values"):
        for bucket in entry.value.calibration_histogram_buckets.buckets:
            count = bucket.num_weighted_examples.value
            if count > 0:
                calibration.append({
                    "low": max(0.0, bucket.lower_threshold_inclusive),
                    "high": min(1.0, bucket.upper_threshold_exclusive),
                    "count": int(round(count)),
                    "mean_prediction": bucket.total_weighted_refined_prediction.value / count,
                    "observed_rate": bucket.total_weighted_label.value / count})
    confusion: dict[str, int] = {}
    for entry in _overall_entries(tfma.load_metrics(evaluation_uri), "metric_keys_and_values"):
        if entry.value.HasField("confusion_matrix_at_thresholds"):
            [matrix] = entry.value.confusion_matrix_at_thresholds.matrices
            confusion = {"true_positive": int(matrix.true_positives),
                         "false_positive": int(matrix.false_positives),
                         "false_negative": int(matrix.false_negatives),
                         "true_negative": int(matrix.true_negatives)}
    return calibration, confusion


def most_wrong(examples: Sequence[tf.train.Example], labels: np.ndarray,
               probabilities: np.ndarray, settings: ReportSettings) -> list[dict[str, Any]]:
    """The examples the model gets most wrong (`example_losses`), with their raw features:
    binary, the probability; multiclass, the true and the predicted class and the true
    class's probability; regression, the prediction and its error."""
    losses = example_losses(labels, probabilities, settings.task)
    order = np.argsort(-losses, kind="stable")[:settings.most_wrong_count]
    rows = []
    for row in order:
        entry: dict[str, Any] = {"row": int(row), "features": {
            name: feature_value(examples[row], name) for name in settings.feature_names}}
        if settings.task == "regression":
            entry.update(label=float(labels[row]), prediction=float(probabilities[row]),
                         absolute_error=float(losses[row]))
        elif settings.task == "multiclass":
            names = settings.class_names
            entry.update(label=names[int(labels[row])],
                         predicted=names[int(np.argmax(probabilities[row]))],
                         probability=float(probabilities[row][int(labels[row])]),
                         log_loss=float(losses[row]))
        else:
            entry.update(label=int(labels[row]), probability=float(probabilities[row]),
                         log_loss=float(losses[row]))
        rows.append(entry)
    return rows


def permutation_importance(examples: Sequence[tf.train.Example], labels: np.ndarray,
                           score: Callable[[Sequence[bytes]], np.ndarray],
                           settings: ReportSettings) -> list[dict[str, float]]:
    """Per feature, the mean and spread of the drop in the task's ranking metric (AUC,
    accuracy, R²; key `<metric>_drop`) when its values are shuffled across the eval
    examples (every other feature left as it was); largest drop first."""
    task = settings.task
    key = f"{task_named(task).ranking_metric}_drop"
    baseline = ranking_score(
        labels, score([example.SerializeToString() for example in examples]), task)
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
            drops.append(baseline - ranking_score(labels, score(shuffled), task))
        for example, original in zip(examples, originals, strict=True):
            if original.WhichOneof("kind"):
                example.features.feature[name].CopyFrom(original)
            else:
                del example.features.feature[name]
        rows.append({"feature": name, key: float(np.mean(drops)),
                     "spread": float(np.std(drops))})
    return sorted(rows, key=lambda row: -row[key])


# ---------------------------------------------------------------------- pictures
def _png(figure: Any) -> str:
    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    figure.tight_layout()
    figure.savefig(buffer, format="png", dpi=90)
    plt.close(figure)
    return base64.b64encode(buffer.getvalue()).decode()


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def calibration_png(bins: list[dict[str, float]]) -> str:
    plt = _pyplot()
    figure, axis = plt.subplots(figsize=(4.5, 4.2))
    axis.plot([0, 1], [0, 1], color="grey", linestyle="--", label="perfect")
    axis.plot([row["mean_prediction"] for row in bins], [row["observed_rate"] for row in bins],
              marker="o", label="model")
    axis.set_xlabel("mean predicted probability")
    axis.set_ylabel("observed rate of positives")
    axis.set_xlim(0, 1)
    axis.set_ylim(0, 1)
    axis.legend()
    axis.set_title("Calibration (eval split)")
    return _png(figure)


def importance_png(rows: list[dict[str, float]], metric: str = "auc") -> str:
    plt = _pyplot()
    ordered = rows[::-1]
    figure, axis = plt.subplots(figsize=(6, 0.32 * len(rows) + 1))
    axis.barh([row["feature"] for row in ordered], [row[f"{metric}_drop"] for row in ordered],
              xerr=[row["spread"] for row in ordered], color="#4c72b0")
    axis.set_xlabel(f"{metric} drop when shuffled")
    axis.set_title("Permutation importance")
    return _png(figure)


def regression_png(labels: np.ndarray, predictions: np.ndarray) -> str:
    """Predicted against actual (the diagonal is perfect), and residuals against predicted
    (a trend or a funnel shows what the model misses)."""
    plt = _pyplot()
    figure, (left, right) = plt.subplots(1, 2, figsize=(9, 4.2))
    left.scatter(labels, predictions, s=6, alpha=0.5)
    low, high = float(min(labels.min(), predictions.min())), float(max(labels.max(),
                                                                        predictions.max()))
    left.plot([low, high], [low, high], color="grey", linestyle="--", label="perfect")
    left.set_xlabel("actual")
    left.set_ylabel("predicted")
    left.set_title("Predicted against actual (eval split)")
    left.legend()
    right.scatter(predictions, labels - predictions, s=6, alpha=0.5)
    right.axhline(0, color="grey", linestyle="--")
    right.set_xlabel("predicted")
    right.set_ylabel("actual - predicted")
    right.set_title("Residuals")
    return _png(figure)


def search_png(trials: list[dict[str, Any]], objective: str = "auc") -> str:
    """Each trial's score in the order tried, and the best score so far."""
    plt = _pyplot()
    ordered = sorted(trials, key=lambda trial: str(trial["trial_id"]))
    scores = [trial["score"] for trial in ordered]
    best = (np.minimum if objective in LOWER_IS_BETTER_TRAINING_METRICS else np.maximum)
    figure, axis = plt.subplots(figsize=(6, 3.6))
    axis.plot(range(1, len(scores) + 1), scores, "o", label="trial")
    axis.plot(range(1, len(scores) + 1), best.accumulate(scores), label="best so far")
    axis.set_xlabel("trial")
    axis.set_ylabel(f"eval {objective}")
    axis.set_title("Hyperparameter search")
    axis.legend()
    return _png(figure)


# ---------------------------------------------------------------------- HTML
_STYLE = """
body { font-family: sans-serif; margin: 2em; color: #222; max-width: 1200px; }
table { border-collapse: collapse; margin: 0.5em 0 1.5em; font-size: 0.9em; }
th, td { border: 1px solid #ccc; padding: 3px 8px; text-align: right; }
th { background: #f0f0f0; } td.name { text-align: left; }
tr.noisy td { color: #888; } .note { color: #555; font-size: 0.9em; }
"""


def _number(value: Any, digits: int = 3) -> str:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return "-"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return html.escape(str(value))


def _table(header: Sequence[str], rows: Sequence[Sequence[Any]], name_columns: int = 1,
           row_classes: Sequence[str] | None = None, table_id: str = "") -> str:
    head = "".join(f"<th>{html.escape(title)}</th>" for title in header)
    body = []
    for index, row in enumerate(rows):
        cells = "".join(
            f'<td class="name">{html.escape(str(cell))}</td>' if column < name_columns
            else f"<td>{_number(cell)}</td>" for column, cell in enumerate(row))
        css = f' class="{row_classes[index]}"' if row_classes and row_classes[index] else ""
        body.append(f"<tr{css}>{cells}</tr>")
    identifier = f' id="{table_id}"' if table_id else ""
    return f"<table{identifier}><tr>{head}</tr>{''.join(body)}</table>"


def _image(data: str, alt: str) -> str:
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{data}">'


SLICE_COLUMNS = ("example_count", "auc", "accuracy", "precision", "recall", "mean_label",
                 "mean_prediction")


def _binary_sections(calibration: list[dict[str, float]], confusion: dict[str, int],
                     settings: ReportSettings) -> list[str]:
    parts = ["<h2>Calibration</h2>", _image(calibration_png(calibration), "calibration plot"),
             _table(("bin", "examples", "mean prediction", "observed rate"),
                    [(f"{row['low']:.1f}-{row['high']:.1f}", row["count"],
                      row["mean_prediction"], row["observed_rate"]) for row in calibration],
                    table_id="calibration"),
             f"<h2>Confusion matrix at threshold {settings.decision_threshold:g}</h2>"]
    parts.append(_table(("", "predicted positive", "predicted negative"),
                        [("actual positive", confusion["true_positive"],
                          confusion["false_negative"]),
                         ("actual negative", confusion["false_positive"],
                          confusion["true_negative"])], table_id="confusion"))
    return parts


def _multiclass_sections(confusion: dict[str, Any]) -> list[str]:
    """The confusion matrix between classes, and precision and recall per class from it."""
    classes, matrix = confusion["classes"], np.array(confusion["matrix"], dtype=float)
    predicted, actual = matrix.sum(axis=0), matrix.sum(axis=1)
    correct = np.diag(matrix)
    per_class = [(name, int(actual[index]),
                  correct[index] / predicted[index] if predicted[index] else None,
                  correct[index] / actual[index] if actual[index] else None)
                 for index, name in enumerate(classes)]
    return ["<h2>Confusion matrix (rows: actual class, columns: predicted class)</h2>",
            _table(("actual \\ predicted", *classes),
                   [(name, *(int(count) for count in matrix[index]))
                    for index, name in enumerate(classes)], table_id="confusion"),
            "<h2>Per class</h2>",
            _table(("class", "examples", "precision", "recall"), per_class,
                   table_id="per_class")]


def render_html(title: str, facts: dict[str, str], metrics: dict[str, dict[str, float]],
                calibration: list[dict[str, float]], confusion: dict[str, Any],
                labels: np.ndarray, probabilities: np.ndarray, examples: list[tf.train.Example],
                score: Callable[[Sequence[bytes]], np.ndarray], settings: ReportSettings,
                curves_png: bytes | None = None, trials: list[dict[str, Any]] | None = None
                ) -> str:
    """The whole report as one HTML string. `probabilities` are the model's answers
    (`serving_scorer`); `calibration` and `confusion` are the Evaluator's views of the
    task (`evaluator_views`, `multiclass_confusion`; empty for regression)."""
    task = task_named(settings.task)
    metric = task.ranking_metric
    overall = metrics.get("Overall", {})
    parts = [f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(title)}"
             f"</title><style>{_STYLE}</style></head><body><h1>{html.escape(title)}</h1>"]
    parts.append(_table(("about", "value"), list(facts.items()), name_columns=2,
                        table_id="facts"))

    columns = SLICE_COLUMNS if task.name == "binary" else task.summary_metrics
    one_class_note = ("; slices holding one class only (where AUC means nothing) follow, "
                      "by accuracy" if task.name == "binary" else "")
    parts.append("<h2>Metrics per slice, worst first</h2>")
    parts.append(f"<p class='note'>Overall: {metric} {_number(overall.get(metric))} on "
                 f"{_number(overall.get('example_count'), 0)} eval examples. Slices are "
                 f"ordered by {metric} ({task.direction(metric)}){one_class_note}. Grey: "
                 f"fewer than {settings.small_slice} examples.</p>")
    slices = worst_slices_first(metrics, task.name)
    parts.append(_table(
        ("slice", "examples", *columns[1:]),
        [(name, int(values.get("example_count", 0)),
          *(values.get(column) for column in columns[1:])) for name, values in slices],
        row_classes=["noisy" if values.get("example_count", 0) < settings.small_slice else ""
                     for _, values in slices],
        table_id="slices"))

    if task.name == "binary":
        parts += _binary_sections(calibration, confusion, settings)
    elif task.name == "multiclass":
        parts += _multiclass_sections(confusion)
    else:
        parts.append("<h2>Predicted against actual</h2>")
        parts.append(_image(regression_png(labels, probabilities), "predicted against actual"))

    wrong = most_wrong(examples, labels, probabilities, settings)
    answer_columns = {"binary": ("label", "probability", "log_loss"),
                      "multiclass": ("label", "predicted", "probability", "log_loss"),
                      "regression": ("label", "prediction", "absolute_error")}[task.name]
    parts.append(f"<h2>The {len(wrong)} eval examples the model gets most wrong</h2>")
    parts.append(_table(
        ("row", *(name.replace("_", " ") for name in answer_columns), *settings.feature_names),
        [(row["row"], *(row[name] for name in answer_columns),
          *(row["features"][name] for name in settings.feature_names)) for row in wrong],
        name_columns=0, table_id="most_wrong"))

    importance = permutation_importance(examples, labels, score, settings)
    parts.append("<h2>Permutation feature importance</h2>")
    parts.append(f"<p class='note'>{metric} drop on the eval split when one feature is "
                 f"shuffled across examples; mean and spread of {settings.importance_repeats} "
                 "shuffles.</p>")
    parts.append(_image(importance_png(importance, metric), "permutation importance"))
    parts.append(_table(("feature", f"{metric.upper() if metric == 'auc' else metric} drop",
                         "spread"),
                        [(row["feature"], row[f"{metric}_drop"], row["spread"])
                         for row in importance], table_id="importance"))

    if trials:
        names = sorted({key for trial in trials for key in trial} - {"trial_id", "score"})
        # keras-tuner's score is the objective as measured; lower is better for an error.
        lower = task.tuner_objective in LOWER_IS_BETTER_TRAINING_METRICS
        best_first = sorted(trials, key=lambda trial: trial["score"] if lower
                            else -trial["score"])
        parts.append(f"<h2>Hyperparameter search: {len(trials)} trials</h2>")
        parts.append("<p class='note'>The best trial's values were used to train this "
                     "model.</p>")
        parts.append(_image(search_png(trials, task.tuner_objective), "hyperparameter search"))
        objective = task.tuner_objective
        parts.append(_table(("trial", f"eval {'AUC' if objective == 'auc' else objective}",
                             *names),
                            [(trial["trial_id"], trial["score"],
                              *(trial.get(name) for name in names)) for trial in best_first],
                            table_id="search"))

    if curves_png:
        parts.append("<h2>Training curves</h2>")
        parts.append(_image(base64.b64encode(curves_png).decode(), "training curves"))
    parts.append("</body></html>")
    return "\n".join(parts)


def build_report(settings: ReportSettings, eval_file_pattern: str, model_uri: str,
                 evaluation_uri: str, facts: dict[str, str],
                 trials: list[dict[str, Any]] | None = None) -> str:
    """Scores the eval examples with the model at `model_uri` and renders the report. A
    multi-class model's class names come from its own assets (feature_shapes.json)."""
    serving = os.path.join(model_uri, SERVING_DIRECTORY)
    if settings.task == "multiclass":
        with tf.io.gfile.GFile(os.path.join(serving, EXTRA_ASSETS_DIRECTORY,
                                            "feature_shapes.json")) as handle:
            settings = dataclasses.replace(
                settings, class_names=tuple(json.load(handle)["class_names"]))
    records = read_examples(eval_file_pattern, settings.max_examples)
    examples = [tf.train.Example.FromString(record) for record in records]
    raw_labels = [feature_value(example, settings.label_name) for example in examples]
    if settings.task == "multiclass":
        labels = np.array([settings.class_names.index(label) for label in raw_labels])
    else:
        labels = np.array([float(label or 0) for label in raw_labels])
    score = serving_scorer(serving, settings.task)
    predictions = score(records)
    curves_path = os.path.join(model_uri, PACKAGE_DIRECTORY, "curves.png")
    curves = (tf.io.gfile.GFile(curves_path, "rb").read()
              if tf.io.gfile.exists(curves_path) else None)
    columns = SLICE_COLUMNS if settings.task == "binary" else \
        task_named(settings.task).summary_metrics
    metrics = metrics_by_slice(evaluation_uri, columns)
    facts = {**facts, "task": task_named(settings.task).description,
             "eval examples scored": str(len(records)),
             "written": datetime.datetime.now(datetime.timezone.utc).strftime(
                 "%Y-%m-%d %H:%M UTC")}
    if settings.task == "binary":
        calibration, confusion = evaluator_views(evaluation_uri)
    elif settings.task == "multiclass":
        calibration, confusion = [], multiclass_confusion(evaluation_uri, settings.class_names)
    else:
        calibration, confusion = [], {}
    return render_html("Model report", facts, metrics, calibration, confusion, labels,
                       predictions, examples, score, settings, curves, trials)

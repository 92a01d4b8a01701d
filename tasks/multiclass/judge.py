"""How the multi-class task is judged: the Evaluator's accuracy, log loss and macro
averages, and the report's confusion matrix between classes."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import tensorflow_model_analysis as tfma

from evaluation.html import table
from evaluation.metric_configs import OUR_METRICS, metric_config
from evaluation.results import overall_entries
from tasks.multiclass.spec import TASK

SLICE_ORDER_NOTE = ""


def evaluator_metrics(settings: Any) -> list[tfma.MetricConfig]:
    """The metrics the Evaluator computes per slice, named as the spec's gating metrics."""
    return [
        metric_config("ExampleCount"),
        metric_config("MultiClassAccuracy", "accuracy", OUR_METRICS),
        metric_config("SparseCategoricalCrossEntropy", "log_loss", OUR_METRICS),
        metric_config("LogLossSkill", TASK.skill_metric, OUR_METRICS),
        metric_config("MacroPrecision", "macro_precision", OUR_METRICS),
        metric_config("MacroRecall", "macro_recall", OUR_METRICS),
        metric_config("MacroF1", "macro_f1", OUR_METRICS),
        # The report's confusion matrix between classes, at the most probable class.
        metric_config("MultiClassConfusionMatrixPlot"),
    ]


# ---------------------------------------------------------------------- the report
def report_labels(raw_labels: Sequence[Any], class_names: Sequence[str]) -> np.ndarray:
    """Each label's class id."""
    return np.array([list(class_names).index(label) for label in raw_labels])


def answers(scores: np.ndarray) -> np.ndarray:
    """A row of class probabilities per example."""
    return scores


def ranking_score(labels: np.ndarray, predictions: np.ndarray) -> float:
    """Accuracy at the most probable class."""
    return float(np.mean(np.argmax(predictions, axis=1) == labels)) if len(labels) else 0.0


def ranking_scores(labels: np.ndarray, predictions: np.ndarray, weights: np.ndarray
                   ) -> np.ndarray:
    """The accuracy with each example counted its weight's times, for each row of
    `weights` (resamples, rows)."""
    correct = (np.argmax(predictions, axis=1) == np.asarray(labels)).astype(np.float64)
    weights = np.asarray(weights, dtype=np.float64)
    totals = weights.sum(axis=1)
    return np.divide(weights @ correct, totals, out=np.zeros(len(weights)), where=totals > 0)


def example_losses(labels: np.ndarray, predictions: np.ndarray) -> np.ndarray:
    """The log loss of each example's true class."""
    true_class = predictions[np.arange(len(labels)), labels.astype(int)]
    return -np.log(np.clip(true_class, 1e-7, 1.0))


def answer_fields(label: float, prediction: np.ndarray, loss: float,
                  class_names: Sequence[str]) -> dict[str, Any]:
    """A most-wrong example's `answer_columns`: the true and the predicted class, and the
    true class's probability."""
    return {"label": class_names[int(label)],
            "predicted": class_names[int(np.argmax(prediction))],
            "probability": float(prediction[int(label)]), "log_loss": float(loss)}


worst_slices_first = TASK.slices_by_ranking_metric


def report_views(evaluation_uri: str, class_names: Sequence[str]) -> dict[str, Any]:
    """The overall slice's confusion matrix between classes (at the most probable class),
    as the Evaluator computed it: {"classes": names, "matrix": counts[actual][predicted]}."""
    size = len(class_names)
    matrix = [[0] * size for _ in range(size)]
    for entry in overall_entries(tfma.load_plots(evaluation_uri), "plot_keys_and_values"):
        if entry.value.HasField("multi_class_confusion_matrix_at_thresholds"):
            [at_argmax] = entry.value.multi_class_confusion_matrix_at_thresholds.matrices
            for cell in at_argmax.entries:
                if 0 <= cell.actual_class_id < size and 0 <= cell.predicted_class_id < size:
                    matrix[cell.actual_class_id][cell.predicted_class_id] += int(
                        round(cell.num_weighted_examples))
    return {"classes": list(class_names), "matrix": matrix}


def report_sections(views: Mapping[str, Any], labels: np.ndarray, predictions: np.ndarray,
                    settings: Any) -> list[str]:
    """The confusion matrix between classes, and precision and recall per class from it."""
    classes, matrix = views["classes"], np.array(views["matrix"], dtype=float)
    predicted, actual = matrix.sum(axis=0), matrix.sum(axis=1)
    correct = np.diag(matrix)
    per_class = [(name, int(actual[index]),
                  correct[index] / predicted[index] if predicted[index] else None,
                  correct[index] / actual[index] if actual[index] else None)
                 for index, name in enumerate(classes)]
    return ["<h2>Confusion matrix (rows: actual class, columns: predicted class)</h2>",
            table(("actual \\ predicted", *classes),
                  [(name, *(int(count) for count in matrix[index]))
                   for index, name in enumerate(classes)], table_id="confusion"),
            "<h2>Per class</h2>",
            table(("class", "examples", "precision", "recall"), per_class,
                  table_id="per_class")]

"""How the binary task is judged: the Evaluator's AUCs and rates at the operating
threshold, and the report's calibration and confusion matrix."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import tensorflow_model_analysis as tfma

from evaluation.html import calibration_png, image, table
from evaluation.metric_configs import OUR_METRICS, metric_config
from evaluation.results import overall_entries, without_undefined_metrics
from tasks.binary.spec import TASK

# The report's note on how slices are ordered.
SLICE_ORDER_NOTE = ("; slices holding one class only (where AUC means nothing) follow, "
                    "by accuracy")


def evaluator_metrics(settings: Any) -> list[tfma.MetricConfig]:
    """The metrics the Evaluator computes per slice, named as the spec's gating metrics."""
    # 1,000 thresholds put AUC within about 1e-3 of the exact value at a tenth of the
    # cost of TFMA's default 10,000, which dominated the Evaluator's time over 40 slices.
    curve_points = 1000
    at_threshold = {"thresholds": [settings.decision_threshold]}
    return [
        metric_config("ExampleCount"),
        metric_config("AUC", "auc", num_thresholds=curve_points),
        metric_config("AUC", "auc_precision_recall", curve="PR", num_thresholds=curve_points),
        metric_config("BinaryAccuracy", "accuracy", threshold=settings.decision_threshold),
        metric_config("LogLossSkill", TASK.skill_metric, OUR_METRICS),
        metric_config("Precision", "precision", **at_threshold),
        metric_config("Recall", "recall", **at_threshold),
        metric_config("MeanLabel"),
        metric_config("MeanPrediction"),
        metric_config("Calibration"),
        # Both feed the run's report: ten calibration buckets, and the confusion matrix at
        # the operating threshold only.
        metric_config("CalibrationPlot", num_buckets=10),
        metric_config("ConfusionMatrixAtThresholds", **at_threshold),
    ]


# ---------------------------------------------------------------------- the report
def report_labels(raw_labels: Sequence[Any], class_names: Sequence[str]) -> np.ndarray:
    return np.array([float(label or 0) for label in raw_labels])


def answers(scores: np.ndarray) -> np.ndarray:
    """One P(positive) per example."""
    return scores.reshape(-1)


def auc(labels: np.ndarray, probabilities: np.ndarray) -> float:
    """ROC AUC as the Mann-Whitney rank statistic (tied scores share their mean rank), or
    NaN when only one class is present. Our own few lines: scikit-learn stays out of what
    runs in a component."""
    return float(ranking_scores(labels, probabilities, np.ones((1, len(labels))))[0])


ranking_score = auc


def ranking_scores(labels: np.ndarray, probabilities: np.ndarray, weights: np.ndarray
                   ) -> np.ndarray:
    """The AUC with each example counted its weight's times, for each row of `weights`
    (resamples, rows): a bootstrap's scores from one sort. Per distinct score, the
    positives' weight times the negatives' weight below it (half of that tied with it),
    over positives times negatives; NaN for a row of weights holding one class."""
    positive = np.asarray(labels).reshape(-1) > 0.5
    scores = np.asarray(probabilities, dtype=np.float64).reshape(-1)
    _, inverse = np.unique(scores, return_inverse=True)
    groups = int(inverse.max()) + 1 if len(scores) else 0
    results = np.empty(len(weights))
    for index, row in enumerate(np.asarray(weights, dtype=np.float64)):
        positives = np.bincount(inverse, row * positive, minlength=groups)
        negatives = np.bincount(inverse, row * ~positive, minlength=groups)
        below = np.cumsum(negatives) - negatives
        pairs = positives.sum() * negatives.sum()
        results[index] = (float(np.dot(positives, below + negatives / 2.0)) / pairs
                          if pairs > 0 else float("nan"))
    return results


def example_losses(labels: np.ndarray, predictions: np.ndarray) -> np.ndarray:
    """Each example's log loss."""
    clipped = np.clip(predictions, 1e-7, 1 - 1e-7)
    return -(labels * np.log(clipped) + (1 - labels) * np.log(1 - clipped))


def answer_fields(label: float, prediction: float, loss: float,
                  class_names: Sequence[str]) -> dict[str, Any]:
    """A most-wrong example's `answer_columns`."""
    return {"label": int(label), "probability": float(prediction), "log_loss": float(loss)}


def worst_slices_first(metrics: Mapping[str, Mapping[str, float]]
                       ) -> list[tuple[str, Mapping[str, float]]]:
    """By AUC where both classes occur, then the one-class slices by accuracy, their AUC
    removed. The overall slice is left out."""
    rows = [(name, without_undefined_metrics(dict(values)))
            for name, values in metrics.items() if name != "Overall"]
    return sorted(rows, key=lambda item: (
        "auc" not in item[1], item[1].get("auc", item[1].get("accuracy", 1.0))))


def report_views(evaluation_uri: str, class_names: Sequence[str]) -> dict[str, Any]:
    """The overall slice's calibration buckets and confusion matrix at the operating
    threshold, as the Evaluator computed them (`evaluator_metrics` asks TFMA for both)."""
    calibration = []
    for entry in overall_entries(tfma.load_plots(evaluation_uri), "plot_keys_and_values"):
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
    for entry in overall_entries(tfma.load_metrics(evaluation_uri), "metric_keys_and_values"):
        if entry.value.HasField("confusion_matrix_at_thresholds"):
            [matrix] = entry.value.confusion_matrix_at_thresholds.matrices
            confusion = {"true_positive": int(matrix.true_positives),
                         "false_positive": int(matrix.false_positives),
                         "false_negative": int(matrix.false_negatives),
                         "true_negative": int(matrix.true_negatives)}
    return {"calibration": calibration, "confusion": confusion}


def report_sections(views: Mapping[str, Any], labels: np.ndarray, predictions: np.ndarray,
                    settings: Any) -> list[str]:
    """The calibration plot and table, and the confusion matrix at the threshold."""
    calibration, confusion = views["calibration"], views["confusion"]
    return [
        "<h2>Calibration</h2>", image(calibration_png(calibration), "calibration plot"),
        table(("bin", "examples", "mean prediction", "observed rate"),
              [(f"{row['low']:.1f}-{row['high']:.1f}", row["count"], row["mean_prediction"],
                row["observed_rate"]) for row in calibration], table_id="calibration"),
        f"<h2>Confusion matrix at threshold {settings.decision_threshold:g}</h2>",
        table(("", "predicted positive", "predicted negative"),
              [("actual positive", confusion["true_positive"], confusion["false_negative"]),
               ("actual negative", confusion["false_positive"], confusion["true_negative"])],
              table_id="confusion"),
    ]

"""How the regression task is judged: the Evaluator's R², MAE and RMSE, and the report's
predicted against actual."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import tensorflow_model_analysis as tfma

from evaluation.html import image, regression_png
from evaluation.metric_configs import OUR_METRICS, metric_config
from tasks.regression.spec import TASK

SLICE_ORDER_NOTE = ""


def evaluator_metrics(settings: Any) -> list[tfma.MetricConfig]:
    """The metrics the Evaluator computes per slice, named as the spec's gating metrics."""
    return [
        metric_config("ExampleCount"),
        metric_config("RSquared", "r2", OUR_METRICS),
        metric_config("MeanAbsoluteError", "mae"),
        metric_config("RootMeanSquaredError", "rmse", OUR_METRICS),
        metric_config("MeanLabel"),
        metric_config("MeanPrediction"),
    ]


# ---------------------------------------------------------------------- the report
def report_labels(raw_labels: Sequence[Any], class_names: Sequence[str]) -> np.ndarray:
    return np.array([float(label or 0) for label in raw_labels])


def answers(scores: np.ndarray) -> np.ndarray:
    """One value per example."""
    return scores.reshape(-1)


def ranking_score(labels: np.ndarray, predictions: np.ndarray) -> float:
    """R² (NaN when the labels do not vary)."""
    spread = float(np.sum((labels - labels.mean()) ** 2))
    residual = float(np.sum((labels - predictions) ** 2))
    return 1.0 - residual / spread if spread > 0 else float("nan")


def ranking_scores(labels: np.ndarray, predictions: np.ndarray, weights: np.ndarray
                   ) -> np.ndarray:
    """R² with each example counted its weight's times, for each row of `weights`
    (resamples, rows); NaN where the weighted labels do not vary."""
    labels = np.asarray(labels, dtype=np.float64).reshape(-1)
    predictions = np.asarray(predictions, dtype=np.float64).reshape(-1)
    weights = np.asarray(weights, dtype=np.float64)
    totals = weights.sum(axis=1)
    means = (weights @ labels) / np.maximum(totals, 1e-12)
    spread = weights @ (labels ** 2) - totals * means ** 2
    residual = weights @ ((labels - predictions) ** 2)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(spread > 1e-12 * np.maximum(totals, 1), 1.0 - residual / spread,
                        np.nan)


def example_losses(labels: np.ndarray, predictions: np.ndarray) -> np.ndarray:
    """Each example's absolute error."""
    return np.abs(predictions - labels)


def answer_fields(label: float, prediction: float, loss: float,
                  class_names: Sequence[str]) -> dict[str, Any]:
    """A most-wrong example's `answer_columns`."""
    return {"label": float(label), "prediction": float(prediction),
            "absolute_error": float(loss)}


worst_slices_first = TASK.slices_by_ranking_metric


def report_views(evaluation_uri: str, class_names: Sequence[str]) -> dict[str, Any]:
    """Nothing beyond the metrics: the pictures come from the scored examples."""
    return {}


def report_sections(views: Mapping[str, Any], labels: np.ndarray, predictions: np.ndarray,
                    settings: Any) -> list[str]:
    """Predicted against actual, and the residuals."""
    return ["<h2>Predicted against actual</h2>",
            image(regression_png(labels, predictions), "predicted against actual")]

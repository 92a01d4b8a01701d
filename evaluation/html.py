"""The report's building blocks: HTML tables and images, and the pictures (PNG, embedded as
data URIs). A leaf: the report (evaluation/report.py) and each task's report sections
(tasks/<name>/graph.py) draw with it."""

from __future__ import annotations

import base64
import html
import io
from collections.abc import Sequence
from typing import Any

import numpy as np


def png(figure: Any) -> str:
    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    figure.tight_layout()
    figure.savefig(buffer, format="png", dpi=90)
    plt.close(figure)
    return base64.b64encode(buffer.getvalue()).decode()


def pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def calibration_png(bins: list[dict[str, float]]) -> str:
    plt = pyplot()
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
    return png(figure)


def importance_png(rows: list[dict[str, float]], metric: str = "auc") -> str:
    plt = pyplot()
    ordered = rows[::-1]
    figure, axis = plt.subplots(figsize=(6, 0.32 * len(rows) + 1))
    axis.barh([row["feature"] for row in ordered], [row[f"{metric}_drop"] for row in ordered],
              xerr=[row["spread"] for row in ordered], color="#4c72b0")
    axis.set_xlabel(f"{metric} drop when shuffled")
    axis.set_title("Permutation importance")
    return png(figure)


def regression_png(labels: np.ndarray, predictions: np.ndarray) -> str:
    """Predicted against actual (the diagonal is perfect), and residuals against predicted
    (a trend or a funnel shows what the model misses)."""
    plt = pyplot()
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
    return png(figure)


def search_png(trials: list[dict[str, Any]], objective: str, lower_is_better: bool) -> str:
    """Each trial's score in the order tried, and the best score so far."""
    plt = pyplot()
    ordered = sorted(trials, key=lambda trial: str(trial["trial_id"]))
    scores = [trial["score"] for trial in ordered]
    best = np.minimum if lower_is_better else np.maximum
    figure, axis = plt.subplots(figsize=(6, 3.6))
    axis.plot(range(1, len(scores) + 1), scores, "o", label="trial")
    axis.plot(range(1, len(scores) + 1), best.accumulate(scores), label="best so far")
    axis.set_xlabel("trial")
    axis.set_ylabel(f"eval {objective}")
    axis.set_title("Hyperparameter search")
    axis.legend()
    return png(figure)


# ---------------------------------------------------------------------- HTML
STYLE = """
body { font-family: sans-serif; margin: 2em; color: #222; max-width: 1200px; }
table { border-collapse: collapse; margin: 0.5em 0 1.5em; font-size: 0.9em; }
th, td { border: 1px solid #ccc; padding: 3px 8px; text-align: right; }
th { background: #f0f0f0; } td.name { text-align: left; }
tr.noisy td { color: #888; } .note { color: #555; font-size: 0.9em; }
"""


def cell_text(value: Any, digits: int = 3) -> str:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return "-"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return html.escape(str(value))


def table(header: Sequence[str], rows: Sequence[Sequence[Any]], name_columns: int = 1,
           row_classes: Sequence[str] | None = None, table_id: str = "") -> str:
    head = "".join(f"<th>{html.escape(title)}</th>" for title in header)
    body = []
    for index, row in enumerate(rows):
        cells = "".join(
            f'<td class="name">{html.escape(str(cell))}</td>' if column < name_columns
            else f"<td>{cell_text(cell)}</td>" for column, cell in enumerate(row))
        css = f' class="{row_classes[index]}"' if row_classes and row_classes[index] else ""
        body.append(f"<tr{css}>{cells}</tr>")
    identifier = f' id="{table_id}"' if table_id else ""
    return f"<table{identifier}><tr>{head}</tr>{''.join(body)}</table>"


def image(data: str, alt: str) -> str:
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{data}">'

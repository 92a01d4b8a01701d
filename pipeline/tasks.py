"""The supervised tasks the pipeline learns, and what each one means for every step.

One table, read by the configuration checks, Transform, the models' heads and losses,
the serving signature, the Evaluator's metrics and blessing, the Tuner's objective, the
report, the run summary, train-all and `lineage.py`: a task is added or changed here and
nowhere else. This module imports nothing from the repository, so any layer may read it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping


@dataclasses.dataclass(frozen=True)
class Task:
    """What one kind of label asks of the pipeline."""

    name: str
    description: str
    # The serving signature's outputs: the key TFMA scores, then any others.
    prediction_key: str
    # Metrics the Evaluator computes on every slice -> True when higher is better. Only
    # these may gate blessing (`blessing_thresholds`, `change_thresholds`).
    gating_metrics: Mapping[str, bool]
    blessing_thresholds: Mapping[str, float]  # the defaults: metric -> floor or ceiling
    change_thresholds: Mapping[str, float]  # the defaults: metric -> worst change allowed
    # The metrics printed per slice in the run summary and `lineage.py show`, in order.
    summary_metrics: tuple[str, ...]
    # The metric train-all ranks variants by, and the report orders slices by.
    ranking_metric: str
    # The Keras metric the Tuner optimizes on the eval split, and its direction.
    tuner_objective: str
    # Whether TFMA must read the label through the model's `transform_features`
    # signature (class ids from Transform's label vocabulary) instead of the raw column.
    label_through_transform: bool = False

    def higher_is_better(self, metric: str) -> bool:
        return self.gating_metrics[metric]

    def direction(self, metric: str) -> str:
        return "higher is better" if self.gating_metrics[metric] else "lower is better"


BINARY = Task(
    name="binary",
    description="binary classification: a 0/1 label, the model gives P(label = 1)",
    prediction_key="probabilities",
    gating_metrics={"auc": True, "auc_precision_recall": True, "accuracy": True,
                    "precision": True, "recall": True},
    blessing_thresholds={"auc": 0.8},
    change_thresholds={"auc": 0.01},
    summary_metrics=("example_count", "auc", "accuracy", "precision", "recall", "calibration"),
    ranking_metric="auc",
    tuner_objective="auc",
)
MULTICLASS = Task(
    name="multiclass",
    description="multi-class classification: a string or integer class, the model gives "
                "a probability per class",
    prediction_key="probabilities",
    gating_metrics={"accuracy": True, "log_loss": False, "macro_precision": True,
                    "macro_recall": True, "macro_f1": True},
    blessing_thresholds={"accuracy": 0.5},
    change_thresholds={"accuracy": 0.02},
    summary_metrics=("example_count", "accuracy", "log_loss", "macro_precision",
                     "macro_recall", "macro_f1"),
    ranking_metric="accuracy",
    tuner_objective="accuracy",
    label_through_transform=True,
)
REGRESSION = Task(
    name="regression",
    description="regression: a number, the model gives its estimate",
    prediction_key="value",
    gating_metrics={"r2": True, "mae": False, "rmse": False},
    # R² is free of the label's scale, so one default suits every table: above 0 the
    # model beats predicting the mean.
    blessing_thresholds={"r2": 0.0},
    change_thresholds={"r2": 0.02},
    summary_metrics=("example_count", "r2", "mae", "rmse", "mean_label", "mean_prediction"),
    ranking_metric="r2",
    tuner_objective="rmse",
)
TASKS: dict[str, Task] = {task.name: task for task in (BINARY, MULTICLASS, REGRESSION)}
# The Keras metric names of `tuner_objective` that are better when lower.
LOWER_IS_BETTER_TRAINING_METRICS = frozenset({"rmse", "loss"})


def task_named(name: str) -> Task:
    """The task called `name`; KeyError naming the known ones otherwise."""
    try:
        return TASKS[name]
    except KeyError:
        raise KeyError(f"Unknown task {name!r}; known: {', '.join(TASKS)}.") from None

"""Binary classification: a 0/1 label; the model gives P(label = 1)."""

from __future__ import annotations

import dataclasses
from typing import Any

from pipeline.settings.values import InputDataError
from tasks.base import SKILL_MARGIN, Task


@dataclasses.dataclass(frozen=True)
class Binary(Task):
    def parse_label(self, value: Any, column: str, where: str) -> int:
        if isinstance(value, bool):
            return int(value)
        text = str(value).strip().lower()
        if text in ("1", "1.0", "true"):
            return 1
        if text in ("0", "0.0", "false"):
            return 0
        raise InputDataError(f"{where}: label column {column!r} should be 0 or 1 (or "
                             f"true/false) for task={self.name}, got {value!r}; for a label "
                             "written as two strings, name the one that means 1 with "
                             f"positive_class (e.g. --positive_class={value})")


TASK = Binary(
    name="binary",
    description="binary classification: a 0/1 label, the model gives P(label = 1)",
    prediction_key="probability",
    gating_metrics={"auc": True, "auc_precision_recall": True, "accuracy": True,
                    "precision": True, "recall": True, "log_loss_skill": True},
    skill_metric="log_loss_skill",
    blessing_thresholds={"log_loss_skill": SKILL_MARGIN},
    change_thresholds={"auc": 0.01},
    summary_metrics=("example_count", "auc", "log_loss_skill", "accuracy", "precision", "recall",
                     "calibration"),
    ranking_metric="auc",
    tuner_objective="auc",
    tuner_objective_lower_is_better=False,
    label_sql_type="INT64",
    label_rule_kind="comparison",
    prediction_columns=(("probability", "FLOAT64"),),
    slice_columns=("example_count", "auc", "accuracy", "precision", "recall", "mean_label",
                   "mean_prediction"),
    answer_columns=("label", "probability", "log_loss"),
    has_classes=True,
    has_positive_class=True,
)

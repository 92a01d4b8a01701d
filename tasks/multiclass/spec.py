"""Multi-class classification: a string or integer class; the model gives a probability
per class."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from pipeline.settings.values import InputDataError
from tasks.base import SKILL_MARGIN, Task


@dataclasses.dataclass(frozen=True)
class Multiclass(Task):
    def output_units(self, class_names: Sequence[str]) -> int:
        return len(class_names)

    def parse_label(self, value: Any, column: str, where: str) -> str:
        if isinstance(value, bool):
            return str(value).lower()
        if isinstance(value, int):
            return str(value)
        if isinstance(value, float) and math.isfinite(value) and value.is_integer():
            return str(int(value))  # 2.0 and 2 are one class, as BigQuery's CAST gives "2"
        if isinstance(value, str):
            return value
        raise InputDataError(f"{where}: label column {column!r} should be a class name (a "
                             f"string or an integer) for task={self.name}, got {value!r}")

    def prediction_batch(self, outputs: Mapping[str, np.ndarray]) -> list[dict[str, Any]]:
        classes = [[value.decode() for value in row] for row in outputs["classes"].tolist()]
        probabilities = outputs[self.prediction_key].tolist()
        best = outputs["class"].reshape(-1).tolist()
        return [{"class": chosen.decode(),
                 self.prediction_key: dict(zip(names, values, strict=True))}
                for chosen, names, values in zip(best, classes, probabilities, strict=True)]


TASK = Multiclass(
    name="multiclass",
    description="multi-class classification: a string or integer class, the model gives "
                "a probability per class",
    prediction_key="probabilities",
    gating_metrics={"accuracy": True, "log_loss": False, "macro_precision": True,
                    "macro_recall": True, "macro_f1": True, "log_loss_skill": True},
    skill_metric="log_loss_skill",
    blessing_thresholds={"log_loss_skill": SKILL_MARGIN},
    change_thresholds={"accuracy": 0.02},
    summary_metrics=("example_count", "accuracy", "log_loss", "macro_precision",
                     "macro_recall", "macro_f1"),
    ranking_metric="accuracy",
    tuner_objective="accuracy",
    tuner_objective_lower_is_better=False,
    label_sql_type="STRING",
    label_rule_kind="",
    prediction_columns=(("class", "STRING"), ("probabilities", "JSON")),
    slice_columns=("example_count", "accuracy", "log_loss", "macro_precision",
                   "macro_recall", "macro_f1"),
    answer_columns=("label", "predicted", "probability", "log_loss"),
    has_classes=True,
    label_through_transform=True,
)

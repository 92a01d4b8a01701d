"""Regression: a number; the model gives its estimate in the label's units."""

from __future__ import annotations

import dataclasses
import math
from typing import Any

from pipeline.settings.values import InputDataError
from tasks.base import SKILL_MARGIN, Task


@dataclasses.dataclass(frozen=True)
class Regression(Task):
    def parse_label(self, value: Any, column: str, where: str) -> float:
        problem = (f"{where}: label column {column!r} should be a number for "
                   f"task={self.name}, got {value!r}")
        if isinstance(value, bool) or not isinstance(value, (int, float, str)):
            raise InputDataError(problem)
        try:
            number = float(value)
        except ValueError:
            raise InputDataError(problem) from None
        if not math.isfinite(number):
            raise InputDataError(problem)
        return number


TASK = Regression(
    name="regression",
    description="regression: a number, the model gives its estimate",
    prediction_key="value",
    gating_metrics={"r2": True, "mae": False, "rmse": False},
    # R² is free of the label's scale, so one default suits every table: above 0 the
    # model beats predicting the mean; by SKILL_MARGIN, by more than noise.
    skill_metric="r2",
    blessing_thresholds={"r2": SKILL_MARGIN},
    change_thresholds={"r2": 0.02},
    summary_metrics=("example_count", "r2", "mae", "rmse", "mean_label", "mean_prediction"),
    ranking_metric="r2",
    tuner_objective="rmse",
    tuner_objective_lower_is_better=True,
    label_sql_type="FLOAT64",
    label_rule_kind="arithmetic",
    prediction_columns=(("value", "FLOAT64"),),
    slice_columns=("example_count", "r2", "mae", "rmse", "mean_label", "mean_prediction"),
    answer_columns=("label", "prediction", "absolute_error"),
    scales_label=True,
)

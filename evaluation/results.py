"""Reading the Evaluator's results (TFMA's metrics and validation files) for every reader:
the run summary, the HTML report, train-all's comparison and `lineage.py`.

Two rules live here so that all of them agree: which metrics summarize an evaluation (the
task's, tasks/), and that a binary slice whose examples all share one label has
no AUC (TFMA stores 0 or NaN there), so its AUCs are left out and every table prints "-"
for them.
"""

from __future__ import annotations

import math
from typing import Any

import tensorflow_model_analysis as tfma

from tasks import TASKS, Task

# Metrics that rank examples of both classes; meaningless in a slice that holds one.
RANKING_METRICS = ("auc", "auc_precision_recall")


def task_of_metrics(values: dict[str, float]) -> Task:
    """The task most of whose gating metrics an evaluation holds (each task's are mostly
    its own): how a reader that was not told the task (an old run's record) picks the
    columns to show. The first task when none matches."""
    def matched(task: Task) -> int:
        return sum(metric in values for metric in task.gating_metrics)

    return max(TASKS.values(), key=matched)


def has_one_class(values: dict[str, float]) -> bool:
    """True for a slice whose examples all share one label (by its mean label, or, when
    that was not computed, by TFMA's NaN AUC)."""
    mean_label = values.get("mean_label")
    if mean_label is not None:
        return mean_label in (0.0, 1.0)
    auc = values.get("auc")
    return auc is not None and math.isnan(auc)


def without_undefined_metrics(values: dict[str, float]) -> dict[str, float]:
    """A slice's metrics, without the ranking metrics when the slice holds one class."""
    if not has_one_class(values):
        return values
    return {key: value for key, value in values.items() if key not in RANKING_METRICS}


def metrics_by_slice(evaluation_uri: str, names: tuple[str, ...] | None = None
                     ) -> dict[str, dict[str, float]]:
    """Metric values per slice ("Overall", "company:X", ...) of a ModelEvaluation: the
    metrics in `names`, or every scalar metric when `names` is None. One-class slices
    carry no AUC."""
    table: dict[str, dict[str, float]] = {}
    for record in tfma.load_metrics(evaluation_uri):
        slice_name = tfma.slicer.stringify_slice_key(
            tfma.slicer.deserialize_slice_key(record.slice_key)) or "Overall"
        values: dict[str, float] = {}
        for entry in record.metric_keys_and_values:
            # With a baseline, TFMA also stores the baseline's values and the differences;
            # only the candidate's own values belong here.
            if (entry.value.HasField("double_value") and not entry.key.HasField("sub_key")
                    and not entry.key.is_diff and entry.key.model_name != "baseline"):
                values[entry.key.name] = entry.value.double_value.value
        values = without_undefined_metrics(values)
        table[slice_name] = {key: value for key, value in values.items()
                             if names is None or key in names}
    return table


def overall_entries(records: Any, field: str) -> Any:
    """The overall slice's candidate entries of TFMA's metrics or plots records (the
    overall slice has no slice keys; with a baseline, TFMA also stores the baseline's
    values and the differences)."""
    return (entry for record in records if not record.slice_key.single_slice_keys
            for entry in getattr(record, field)
            if entry.key.model_name != "baseline"
            and not (field == "metric_keys_and_values" and entry.key.is_diff))


def blessing_failures(evaluation_uri: str) -> list[str]:
    """Why the Evaluator did not bless the candidate, one line per failed threshold."""
    result = tfma.load_validation_result(evaluation_uri)
    reasons = []
    for failure in result.metric_validations_per_slice:
        for metric in failure.failures:
            value = metric.metric_value.double_value.value
            reasons.append(f"{metric.metric_key.name} = {value:.4f} fails "
                           f"{threshold_text(metric.metric_threshold)}")
    return reasons


def threshold_text(threshold: Any) -> str:
    """A TFMA MetricThreshold in words."""
    if threshold.HasField("value_threshold"):
        return f"the minimum {threshold.value_threshold.lower_bound.value:g}"
    if threshold.HasField("change_threshold"):
        return (f"the allowed change {threshold.change_threshold.absolute.value:g} "
                "against the last blessed model")
    return "its threshold"

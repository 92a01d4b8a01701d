"""The Evaluator's TFMA config: slices, the task's metrics and the thresholds that gate
blessing.

Everything comes from the pipeline configuration: the task (its metrics are its
`evaluator_metrics`, tasks/<name>/judge.py), the label, the slice features, the decision
threshold (binary), and the blessing and change thresholds, each naming a metric the
task computes and gated in that metric's direction. On the first run there is no
baseline and only the blessing thresholds apply.

TFMA lacks R², a native RMSE, a log loss for class-id labels and macro-averaged
precision, recall and F1; evaluation/tfma_metrics.py adds them as TFMA metrics, so they
are computed per slice in the same pass and can gate blessing like TFMA's own.
"""

from __future__ import annotations

import tensorflow_model_analysis as tfma

from evaluation.metric_configs import metric_name
from pipeline.settings import EvaluatorSettings, blessing_thresholds, change_thresholds
from tasks import Task, task_named
from tasks.judge_parts import judge_part


def slicing_specs_from(settings: EvaluatorSettings) -> list[tfma.SlicingSpec]:
    """The overall slice, then one slice per configured feature."""
    return [tfma.SlicingSpec()] + [
        tfma.SlicingSpec(feature_keys=[name]) for name in settings.slice_features
    ]


def metric_threshold(task: Task, metric: str, settings: EvaluatorSettings
                     ) -> tfma.MetricThreshold | None:
    """The blessing threshold of `metric` (a floor when higher is better, a ceiling when
    lower is better) and its allowed change against the last blessed model, or None when
    neither names it."""
    value, change = blessing_thresholds(settings).get(metric), change_thresholds(settings).get(
        metric)
    if value is None and change is None:
        return None
    higher = task.higher_is_better(metric)
    threshold = tfma.MetricThreshold()
    if value is not None:
        bound = {"lower_bound" if higher else "upper_bound": {"value": value}}
        threshold.value_threshold.CopyFrom(tfma.GenericValueThreshold(**bound))
    if change is not None:
        threshold.change_threshold.CopyFrom(tfma.GenericChangeThreshold(
            direction=(tfma.MetricDirection.HIGHER_IS_BETTER if higher
                       else tfma.MetricDirection.LOWER_IS_BETTER),
            absolute={"value": -change if higher else change}))
    return threshold


def eval_config_from(settings: EvaluatorSettings) -> tfma.EvalConfig:
    """The EvalConfig the Evaluator runs: the task's metrics per slice and its gates."""
    task = task_named(settings.task)
    metrics = judge_part(settings.task).evaluator_metrics(settings)
    for metric in metrics:
        name = metric_name(metric)
        threshold = metric_threshold(task, name, settings) if name in task.gating_metrics \
            else None
        if threshold is not None:
            # Gate on the overall slice only: a small slice may lack a class, or an AUC.
            metric.per_slice_thresholds.append(tfma.PerSliceMetricThreshold(
                slicing_specs=[tfma.SlicingSpec()], threshold=threshold))
    model_spec = tfma.ModelSpec(signature_name="serving_default", label_key=settings.label_name,
                                prediction_key=task.prediction_key)
    if task.label_through_transform:
        # The raw label is a class name; the model's own Transform graph gives its class id
        # (the index of its probability), so TFMA and the model can never disagree on ids.
        # (models/export.py says why a signature of the label alone.)
        model_spec.preprocessing_function_names.append("label_id")
    return tfma.EvalConfig(
        model_specs=[model_spec],
        slicing_specs=slicing_specs_from(settings),
        metrics_specs=[tfma.MetricsSpec(metrics=metrics)],
    )

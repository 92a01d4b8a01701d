"""The Evaluator's TFMA config: slices, the task's metrics and the thresholds that gate
blessing.

Everything comes from the pipeline configuration: the task (pipeline/tasks.py), the
label, the slice features, the decision threshold (binary), and the blessing and change
thresholds, each naming a metric the task computes and gated in that metric's direction.
On the first run there is no baseline and only the blessing thresholds apply.

TFMA lacks R², a native RMSE, a log loss for class-id labels and macro-averaged
precision, recall and F1; evaluation/tfma_metrics.py adds them as TFMA metrics, so they
are computed per slice in the same pass and can gate blessing like TFMA's own.
"""

from __future__ import annotations

import json

import tensorflow_model_analysis as tfma

from pipeline.config import EvaluatorSettings, blessing_thresholds, change_thresholds
from pipeline.tasks import Task, task_named

OUR_METRICS = "evaluation.tfma_metrics"


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


def _metric(class_name: str, name: str | None = None, module: str = "", **config: object
            ) -> tfma.MetricConfig:
    values = {**({"name": name} if name else {}), **config}
    return tfma.MetricConfig(class_name=class_name, module=module,
                             config=json.dumps(values) if values else "")


def _task_metrics(settings: EvaluatorSettings) -> list[tfma.MetricConfig]:
    """The metrics of the task, named as pipeline/tasks.py names them."""
    if settings.task == "multiclass":
        return [
            _metric("ExampleCount"),
            _metric("MultiClassAccuracy", "accuracy", OUR_METRICS),
            _metric("SparseCategoricalCrossEntropy", "log_loss", OUR_METRICS),
            _metric("MacroPrecision", "macro_precision", OUR_METRICS),
            _metric("MacroRecall", "macro_recall", OUR_METRICS),
            _metric("MacroF1", "macro_f1", OUR_METRICS),
            # The report's confusion matrix between classes, at the most probable class.
            _metric("MultiClassConfusionMatrixPlot"),
        ]
    if settings.task == "regression":
        return [
            _metric("ExampleCount"),
            _metric("RSquared", "r2", OUR_METRICS),
            _metric("MeanAbsoluteError", "mae"),
            _metric("RootMeanSquaredError", "rmse", OUR_METRICS),
            _metric("MeanLabel"),
            _metric("MeanPrediction"),
        ]
    # 1,000 thresholds put AUC within about 1e-3 of the exact value at a tenth of the
    # cost of TFMA's default 10,000, which dominated the Evaluator's time over 40 slices.
    curve_points = 1000
    at_threshold = {"thresholds": [settings.decision_threshold]}
    return [
        _metric("ExampleCount"),
        _metric("AUC", "auc", num_thresholds=curve_points),
        _metric("AUC", "auc_precision_recall", curve="PR", num_thresholds=curve_points),
        _metric("BinaryAccuracy", "accuracy", threshold=settings.decision_threshold),
        _metric("Precision", "precision", **at_threshold),
        _metric("Recall", "recall", **at_threshold),
        _metric("MeanLabel"),
        _metric("MeanPrediction"),
        _metric("Calibration"),
        # Both feed the run's report (evaluation/report.py): ten calibration buckets, and
        # the confusion matrix at the operating threshold only.
        _metric("CalibrationPlot", num_buckets=10),
        _metric("ConfusionMatrixAtThresholds", **at_threshold),
    ]


def eval_config_from(settings: EvaluatorSettings) -> tfma.EvalConfig:
    """The EvalConfig the Evaluator runs: the task's metrics per slice and its gates."""
    task = task_named(settings.task)
    metrics = _task_metrics(settings)
    for metric in metrics:
        name = json.loads(metric.config or "{}").get("name", "")
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

"""The Evaluator's TFMA config: slices, metrics and the thresholds that gate blessing.

Everything comes from the pipeline configuration: the label, the slice features, the
decision threshold, the minimum AUC and the largest AUC drop allowed against the last
blessed model. On the first run there is no baseline and only the minimum AUC applies.
"""

from __future__ import annotations

import json

import tensorflow_model_analysis as tfma

from pipeline.config import EvaluatorSettings

GATING_METRIC = "auc"


def slicing_specs_from(settings: EvaluatorSettings) -> list[tfma.SlicingSpec]:
    """The overall slice, then one slice per configured feature."""
    return [tfma.SlicingSpec()] + [
        tfma.SlicingSpec(feature_keys=[name]) for name in settings.slice_features
    ]


def auc_threshold_from(settings: EvaluatorSettings) -> tfma.MetricThreshold:
    return tfma.MetricThreshold(
        value_threshold=tfma.GenericValueThreshold(lower_bound={"value": settings.min_auc}),
        change_threshold=tfma.GenericChangeThreshold(
            direction=tfma.MetricDirection.HIGHER_IS_BETTER,
            absolute={"value": -settings.max_auc_drop},
        ),
    )


def eval_config_from(settings: EvaluatorSettings) -> tfma.EvalConfig:
    """The EvalConfig the Evaluator runs: metrics per slice and the AUC gate."""
    at_threshold = json.dumps({"thresholds": [settings.decision_threshold]})
    # 1,000 thresholds put AUC within about 1e-3 of the exact value at a tenth of the
    # cost of TFMA's default 10,000, which dominated the Evaluator's time over 40 slices.
    curve_points = 1000
    metrics = [
        tfma.MetricConfig(class_name="ExampleCount"),
        # Gate on the overall slice only: a small slice holding one class has no AUC.
        tfma.MetricConfig(
            class_name="AUC",
            config=json.dumps({"name": GATING_METRIC, "num_thresholds": curve_points}),
            per_slice_thresholds=[tfma.PerSliceMetricThreshold(
                slicing_specs=[tfma.SlicingSpec()], threshold=auc_threshold_from(settings))],
        ),
        tfma.MetricConfig(class_name="AUC", config=json.dumps(
            {"name": "auc_precision_recall", "curve": "PR", "num_thresholds": curve_points})),
        tfma.MetricConfig(class_name="BinaryAccuracy", config=json.dumps(
            {"name": "accuracy", "threshold": settings.decision_threshold})),
        tfma.MetricConfig(class_name="Precision", config=at_threshold),
        tfma.MetricConfig(class_name="Recall", config=at_threshold),
        tfma.MetricConfig(class_name="MeanLabel"),
        tfma.MetricConfig(class_name="MeanPrediction"),
        tfma.MetricConfig(class_name="Calibration"),
        # Both feed the run's report (evaluation/report.py): ten calibration buckets, and
        # the confusion matrix at the operating threshold only.
        tfma.MetricConfig(class_name="CalibrationPlot", config=json.dumps({"num_buckets": 10})),
        tfma.MetricConfig(class_name="ConfusionMatrixAtThresholds", config=at_threshold),
    ]
    return tfma.EvalConfig(
        model_specs=[tfma.ModelSpec(signature_name="serving_default",
                                    label_key=settings.label_name,
                                    prediction_key="probabilities")],
        slicing_specs=slicing_specs_from(settings),
        metrics_specs=[tfma.MetricsSpec(metrics=metrics)],
    )

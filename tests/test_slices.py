"""The Evaluator's eval config, built from the pipeline configuration."""

from __future__ import annotations

import json

import tensorflow_model_analysis as tfma

from evaluation.slices import eval_config_from
from tests.configs import taxi_config


def test_slices_are_overall_then_each_configured_feature() -> None:
    config = taxi_config(slice_features=("payment_type", "company"))
    eval_config = eval_config_from(config)
    assert [list(spec.feature_keys) for spec in eval_config.slicing_specs] == [
        [], ["payment_type"], ["company"]]


def test_metrics_cover_quality_and_calibration() -> None:
    metrics = eval_config_from(taxi_config()).metrics_specs[0].metrics
    class_names = {metric.class_name for metric in metrics}
    assert {"ExampleCount", "AUC", "BinaryAccuracy", "Precision", "Recall", "Calibration",
            "CalibrationPlot", "ConfusionMatrixAtThresholds"} <= class_names
    # The report's confusion matrix is at the operating threshold, and nowhere else.
    [confusion] = [m for m in metrics if m.class_name == "ConfusionMatrixAtThresholds"]
    assert json.loads(confusion.config) == {"thresholds": [taxi_config().decision_threshold]}


def test_auc_gate_has_value_and_change_thresholds_on_the_overall_slice() -> None:
    config = taxi_config(blessing_thresholds={"auc": 0.77}, change_thresholds={"auc": 0.02})
    eval_config = eval_config_from(config)
    (gate,) = (m for m in eval_config.metrics_specs[0].metrics
               if m.class_name == "AUC" and json.loads(m.config)["name"] == "auc")
    (per_slice,) = gate.per_slice_thresholds
    assert list(per_slice.slicing_specs) == [tfma.SlicingSpec()]
    threshold = per_slice.threshold
    assert threshold.value_threshold.lower_bound.value == 0.77
    assert threshold.change_threshold.absolute.value == -0.02
    assert threshold.change_threshold.direction == tfma.MetricDirection.HIGHER_IS_BETTER


def test_decision_threshold_reaches_accuracy_precision_recall() -> None:
    metrics = eval_config_from(taxi_config(decision_threshold=0.4)).metrics_specs[0].metrics
    by_class = {m.class_name: json.loads(m.config or "{}") for m in metrics}
    assert by_class["BinaryAccuracy"]["threshold"] == 0.4
    assert by_class["Precision"]["thresholds"] == [0.4]
    assert by_class["Recall"]["thresholds"] == [0.4]


def test_label_and_prediction_keys_come_from_configuration() -> None:
    (model_spec,) = eval_config_from(taxi_config(label_name="tipped")).model_specs
    assert model_spec.label_key == "tipped"
    assert model_spec.signature_name == "serving_default"

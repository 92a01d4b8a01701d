"""The report's analyses on examples whose answers are known, and its HTML."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

from evaluation.report import (
    ReportOptions,
    most_wrong,
    permutation_importance,
    render_html,
)
from tasks.binary.judge import auc, worst_slices_first
from tests.helpers import read_report

SETTINGS = ReportOptions(label_name="label", feature_names=("signal", "noise", "city"),
                          decision_threshold=0.5, seed=1, most_wrong_count=5)


def make_examples(count: int = 400) -> tuple[list[tf.train.Example], np.ndarray]:
    """`label` is 1 exactly when `signal` > 0; `noise` and `city` carry nothing."""
    random = np.random.default_rng(0)
    examples, labels = [], []
    for _ in range(count):
        signal, noise = random.normal(), random.normal()
        label = int(signal > 0)
        example = tf.train.Example()
        features = example.features.feature
        features["signal"].float_list.value.append(signal)
        features["noise"].float_list.value.append(noise)
        features["city"].bytes_list.value.append(random.choice([b"a", b"b"]))
        features["label"].int64_list.value.append(label)
        examples.append(example)
        labels.append(label)
    return examples, np.array(labels, dtype=float)


def signal_scorer(records: Sequence[bytes]) -> np.ndarray:
    """A model that reads only `signal`."""
    values = [tf.train.Example.FromString(record).features.feature["signal"].float_list.value[0]
              for record in records]
    return 1 / (1 + np.exp(-4 * np.array(values)))


def test_permutation_importance_finds_the_only_feature_that_matters() -> None:
    examples, labels = make_examples()
    rows = permutation_importance(examples, labels, signal_scorer, SETTINGS)
    assert [row["feature"] for row in rows][0] == "signal"
    assert rows[0]["auc_drop"] > 0.4  # from 1.0 to about 0.5
    assert all(row["auc_drop"] == pytest.approx(0, abs=1e-9) for row in rows[1:])


def test_most_wrong_orders_by_log_loss_with_features() -> None:
    labels = np.array([0, 0, 1, 1, 1, 0], dtype=float)
    probabilities = np.array([0.05, 0.95, 0.85, 0.15, 0.55, 0.45])
    examples, _ = make_examples(6)
    wrong = most_wrong(examples, labels, probabilities, SETTINGS)
    assert [row["row"] for row in wrong[:2]] == [1, 3]  # 0.95 for a 0, 0.15 for a 1
    assert set(wrong[0]["features"]) == {"signal", "noise", "city"}


def test_worst_slices_first_puts_one_class_slices_last_without_auc() -> None:
    metrics = {
        "Overall": {"auc": 0.9},
        "city:a": {"auc": 0.8, "mean_label": 0.4, "accuracy": 0.7},
        "city:b": {"auc": 0.6, "mean_label": 0.5, "accuracy": 0.9},
        "city:c": {"auc": 0.0, "mean_label": 0.0, "accuracy": 0.95},
        "city:d": {"auc": float("nan"), "mean_label": 1.0, "accuracy": 0.5},
    }
    ordered = worst_slices_first(metrics)
    assert [name for name, _ in ordered] == ["city:b", "city:a", "city:d", "city:c"]
    assert "auc" not in ordered[2][1] and "auc" not in ordered[3][1]


def test_the_html_holds_every_section_and_no_external_reference(tmp_path: Path) -> None:
    examples, labels = make_examples(200)
    records = [example.SerializeToString() for example in examples]
    metrics = {"Overall": {"auc": 1.0, "example_count": 200.0},
               "city:a": {"auc": 0.99, "example_count": 10.0, "mean_label": 0.5}}
    calibration = [{"low": 0.0, "high": 0.5, "count": 120, "mean_prediction": 0.1,
                    "observed_rate": 0.05},
                   {"low": 0.5, "high": 1.0, "count": 80, "mean_prediction": 0.9,
                    "observed_rate": 0.95}]
    confusion = {"true_positive": 76, "false_positive": 4, "false_negative": 6,
                 "true_negative": 114}
    page = render_html("Model report", {"model": "<m&1>"}, metrics,
                       {"calibration": calibration, "confusion": confusion}, labels,
                       signal_scorer(records), examples, signal_scorer, SETTINGS)
    path = tmp_path / "report.html"
    path.write_text(page)
    report = read_report(path)
    assert report.images == 2 and report.external_references == []
    assert report.tables["facts"][0] == {"about": "model", "value": "<m&1>"}  # escaped
    assert report.tables["slices"][0]["slice"] == "city:a"
    assert len(report.tables["most_wrong"]) == 5
    assert report.tables["importance"][0]["feature"] == "signal"
    assert sum(int(row["examples"]) for row in report.tables["calibration"]) == 200
    assert report.tables["confusion"] == [
        {"": "actual positive", "predicted positive": "76", "predicted negative": "6"},
        {"": "actual negative", "predicted positive": "4", "predicted negative": "114"}]


def test_permutation_importance_leaves_the_examples_as_they_were() -> None:
    examples, labels = make_examples(50)
    del examples[3].features.feature["noise"]  # a missing value stays missing
    before = [example.SerializeToString() for example in examples]
    permutation_importance(examples, labels, signal_scorer, SETTINGS)
    assert [example.SerializeToString() for example in examples] == before


def test_auc_is_the_rank_statistic_with_ties_averaged() -> None:
    from sklearn.metrics import roc_auc_score  # the reference, in the tests only

    labels = np.array([0, 0, 1, 1, 0, 1, 1, 0])
    scores = np.array([0.1, 0.4, 0.35, 0.8, 0.4, 0.4, 0.9, 0.05])
    assert auc(labels, scores) == pytest.approx(roc_auc_score(labels, scores))
    assert auc(np.array([0, 1]), np.array([0.2, 0.7])) == 1.0
    assert np.isnan(auc(np.zeros(4), scores[:4]))  # one class: undefined

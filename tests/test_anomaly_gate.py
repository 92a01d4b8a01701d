"""The gate reads ExampleValidator's real output and stops on any anomaly, readably."""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
import pytest
import tensorflow_data_validation as tfdv
from tfx.types import artifact_utils, standard_artifacts

from pipeline.components.anomaly_gate import (
    SCHEMA_DIFF_FILE,
    STATISTICS_FILE,
    AcceptedStatistics,
    DataAnomaliesError,
    anomaly_lines,
    distribution_problems,
    label_problems,
    raise_on_anomalies,
)


def _anomalies_artifact(tmp_path: Path, frames: dict[str, pd.DataFrame],
                        schema_frame: pd.DataFrame) -> standard_artifacts.ExampleAnomalies:
    """Validates each split's statistics against a schema inferred from `schema_frame`,
    writing the reports where ExampleValidator writes them."""
    schema = tfdv.infer_schema(tfdv.generate_statistics_from_dataframe(schema_frame))
    artifact = standard_artifacts.ExampleAnomalies()
    artifact.uri = str(tmp_path)
    artifact.split_names = artifact_utils.encode_split_names(list(frames))
    for split, frame in frames.items():
        report = tfdv.validate_statistics(tfdv.generate_statistics_from_dataframe(frame), schema)
        directory = artifact_utils.get_split_uri([artifact], split)
        os.makedirs(directory, exist_ok=True)
        Path(directory, SCHEMA_DIFF_FILE).write_bytes(report.SerializeToString())
    return artifact


def test_clean_data_passes(tmp_path: Path) -> None:
    frame = pd.DataFrame({"payment_type": ["Cash", "Credit Card"] * 50,
                          "fare": [5.0, 7.5] * 50})
    raise_on_anomalies(_anomalies_artifact(tmp_path, {"train": frame, "eval": frame}, frame))


def test_anomalies_stop_the_run_naming_split_and_feature(tmp_path: Path) -> None:
    good = pd.DataFrame({"payment_type": ["Cash", "Credit Card"] * 50,
                         "fare": [5.0, 7.5] * 50})
    bad = pd.DataFrame({"payment_type": ["Bitcoin"] * 100, "fare": [5.0] * 100})
    artifact = _anomalies_artifact(tmp_path, {"train": good, "eval": bad}, good)
    with pytest.raises(DataAnomaliesError) as raised:
        raise_on_anomalies(artifact)
    message = str(raised.value)
    assert "the run stops before Transform" in message
    assert "eval: payment_type: Unexpected string values" in message
    assert "train:" not in message


def _statistics_artifact(directory: Path, frames: dict[str, pd.DataFrame]
                         ) -> standard_artifacts.ExampleStatistics:
    """Statistics of each split, where StatisticsGen writes them."""
    artifact = standard_artifacts.ExampleStatistics()
    artifact.uri = str(directory)
    artifact.split_names = artifact_utils.encode_split_names(list(frames))
    for split, frame in frames.items():
        split_directory = artifact_utils.get_split_uri([artifact], split)
        os.makedirs(split_directory, exist_ok=True)
        Path(split_directory, STATISTICS_FILE).write_bytes(
            tfdv.generate_statistics_from_dataframe(frame).SerializeToString())
    return artifact


def _accepted(directory: Path, frame: pd.DataFrame) -> AcceptedStatistics:
    """What DataAnomalyGate keeps of data it accepted: the train split's statistics."""
    directory.mkdir(parents=True)
    (directory / STATISTICS_FILE).write_bytes(
        tfdv.generate_statistics_from_dataframe(frame).SerializeToString())
    artifact = AcceptedStatistics()
    artifact.uri = str(directory)
    return artifact


def _schema_artifact(directory: Path, frame: pd.DataFrame) -> standard_artifacts.Schema:
    schema = tfdv.infer_schema(tfdv.generate_statistics_from_dataframe(frame))
    directory.mkdir(parents=True)
    tfdv.write_schema_text(schema, str(directory / "schema.pbtxt"))
    artifact = standard_artifacts.Schema()
    artifact.uri = str(directory)
    return artifact


def _trips(cash_share: float, count: int = 400) -> pd.DataFrame:
    cash = round(count * cash_share)
    return pd.DataFrame({"payment_type": ["Cash"] * cash + ["Credit Card"] * (count - cash),
                         "fare": [5.0 + (i % 40) for i in range(count)]})


THRESHOLDS = {"drift": {"payment_type": 0.1, "fare": 0.1}, "skew": {"payment_type": 0.1}}


def test_same_distributions_pass_and_a_first_run_has_no_drift_check(tmp_path: Path) -> None:
    schema = _schema_artifact(tmp_path / "schema", _trips(0.6))
    current = _statistics_artifact(tmp_path / "current", {"train": _trips(0.6),
                                                          "eval": _trips(0.62, 100)})
    assert distribution_problems(current, schema, None, THRESHOLDS) == []
    baseline = _accepted(tmp_path / "baseline", _trips(0.58))
    assert distribution_problems(current, schema, baseline, THRESHOLDS) == []


def test_drift_from_the_last_accepted_data_names_feature_and_distance(tmp_path: Path) -> None:
    schema = _schema_artifact(tmp_path / "schema", _trips(0.6))
    baseline = _accepted(tmp_path / "baseline", _trips(0.6))
    current = _statistics_artifact(tmp_path / "current", {"train": _trips(0.2),
                                                          "eval": _trips(0.2, 100)})
    [line] = distribution_problems(current, schema, baseline, THRESHOLDS)
    assert line.startswith("drift: payment_type: The Linfty distance between current and "
                           "previous")
    assert "0.4" in line and "0.1" in line  # the distance and the threshold


def test_train_eval_skew_and_an_empty_column_are_reported(tmp_path: Path) -> None:
    schema = _schema_artifact(tmp_path / "schema", _trips(0.6))
    eval_frame = _trips(0.1, 100)
    eval_frame["fare"] = [None] * 100
    current = _statistics_artifact(tmp_path / "current", {"train": _trips(0.6),
                                                          "eval": eval_frame})
    problems = distribution_problems(current, schema, None, THRESHOLDS)
    assert "eval: fare: no value in any example (the column is empty or all null)" in problems
    assert any(line.startswith("skew: payment_type: ") for line in problems)
    with pytest.raises(DataAnomaliesError, match="found 2 problem"):
        raise_on_anomalies(_anomalies_artifact(tmp_path / "anomalies", {
            "train": _trips(0.6)}, _trips(0.6)), problems)


def test_numeric_distance_ignores_one_outlier_but_sees_a_shift(tmp_path: Path) -> None:
    thresholds = {"drift": {"fare": 0.1}, "skew": {"fare": 0.1}}
    schema = _schema_artifact(tmp_path / "schema", _trips(0.6))
    train = _trips(0.6)
    train.loc[7, "fare"] = 700.0  # one long trip, as in the 15,000-trip sample
    current = _statistics_artifact(tmp_path / "current", {"train": train,
                                                          "eval": _trips(0.6, 100)})
    baseline = _accepted(tmp_path / "baseline", _trips(0.6))
    assert distribution_problems(current, schema, baseline, thresholds) == []

    doubled = _trips(0.6).assign(fare=lambda frame: frame["fare"] * 2)
    shifted = _statistics_artifact(tmp_path / "shifted", {"train": doubled,
                                                          "eval": doubled.head(100)})
    [line] = distribution_problems(shifted, schema, baseline, thresholds)
    assert line.startswith("drift: fare: The approximate Jensen-Shannon divergence")


def _labels(values: list) -> pd.DataFrame:
    return pd.DataFrame({"species": values, "mass": [float(i) for i in range(len(values))]})


def test_a_classification_label_must_hold_two_classes_and_eval_only_known_ones(
        tmp_path: Path) -> None:
    fine = _statistics_artifact(tmp_path / "fine", {
        "train": _labels(["Adelie", "Gentoo", "Chinstrap"] * 20),
        "eval": _labels(["Gentoo", "Adelie"] * 5)})
    assert label_problems(fine, "species", "multiclass") == []

    one_class = _statistics_artifact(tmp_path / "one", {
        "train": _labels(["Adelie"] * 30), "eval": _labels(["Adelie"] * 5)})
    assert label_problems(one_class, "species", "multiclass") == [
        "train: the label column 'species' holds a single class; task=multiclass needs "
        "examples of two or more"]

    unseen = _statistics_artifact(tmp_path / "unseen", {
        "train": _labels(["Adelie", "Gentoo"] * 20),
        "eval": _labels(["Adelie", "Emperor", "Gentoo"] * 3)})
    [line] = label_problems(unseen, "species", "multiclass")
    assert line.startswith("eval: the label column 'species' holds class(es) the train split "
                           "never shows: 'Emperor'")

    binary = _statistics_artifact(tmp_path / "binary", {
        "train": pd.DataFrame({"clicked": [0] * 40}), "eval": pd.DataFrame({"clicked": [0, 1]})})
    assert "holds a single class" in label_problems(binary, "clicked", "binary")[0]
    assert label_problems(one_class, "mass", "regression") == []  # a number: any values


def test_new_words_in_a_text_column_are_no_anomaly(tmp_path: Path) -> None:
    """SchemaGen infers a domain for a string column with few distinct values; for free
    text a value never seen before is normal, for a category it is an anomaly."""
    seen = pd.DataFrame({"title": ["great film", "dull plot"] * 50,
                         "genre": ["drama", "comedy"] * 50})
    new = pd.DataFrame({"title": ["a new title"] * 10, "genre": ["western"] * 10})
    artifact = _anomalies_artifact(tmp_path, {"eval": new}, seen)
    assert {line.split(": ")[1] for line in anomaly_lines(artifact)} == {"title", "genre"}
    [line] = anomaly_lines(artifact, free_text=["title"])
    assert line.startswith("eval: genre: Unexpected string values")

"""The gate reads ExampleValidator's real output and stops on any anomaly, readably."""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
import pytest
import tensorflow_data_validation as tfdv
from tfx.types import artifact_utils, standard_artifacts

from pipeline.anomaly_gate import SCHEMA_DIFF_FILE, DataAnomaliesError, raise_on_anomalies


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

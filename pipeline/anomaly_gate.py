"""Stops the pipeline before Transform when ExampleValidator found anomalies.

ExampleValidator records anomalies but lets the pipeline go on; training on data that
broke the schema is how bad models reach production. This component runs after it,
and Transform waits for it, so a run with anomalies fails with a readable summary while
the anomalies artifact stays recorded in ML Metadata for inspection.
"""

# No `from __future__ import annotations`: TFX reads this module's annotations at runtime.
import os

from tensorflow_metadata.proto.v0 import anomalies_pb2
from tfx.dsl.component.experimental.annotations import InputArtifact
from tfx.dsl.component.experimental.decorators import component
from tfx.types import artifact_utils
from tfx.types.standard_artifacts import ExampleAnomalies
from tfx.utils import io_utils

SCHEMA_DIFF_FILE = "SchemaDiff.pb"  # the file ExampleValidator writes per split


class DataAnomaliesError(RuntimeError):
    """The data broke the schema; the message lists each anomaly by split and feature."""


def anomaly_lines(anomalies: ExampleAnomalies) -> list[str]:
    """One line per anomaly, e.g. `eval: fare: Unexpected string values (...)`."""
    lines = []
    for split in artifact_utils.decode_split_names(anomalies.split_names):
        path = os.path.join(artifact_utils.get_split_uri([anomalies], split), SCHEMA_DIFF_FILE)
        report = anomalies_pb2.Anomalies()
        report.ParseFromString(io_utils.read_bytes_file(path))
        for feature, info in sorted(report.anomaly_info.items()):
            lines.append(f"{split}: {feature}: {info.short_description} ({info.description})")
        if report.HasField("dataset_anomaly_info"):
            info = report.dataset_anomaly_info
            lines.append(f"{split}: whole dataset: {info.short_description} ({info.description})")
    return lines


def raise_on_anomalies(anomalies: ExampleAnomalies) -> None:
    """Raises DataAnomaliesError listing every anomaly, if there is any."""
    lines = anomaly_lines(anomalies)
    if lines:
        raise DataAnomaliesError(
            f"ExampleValidator found {len(lines)} data anomalies; the run stops before "
            "Transform:\n  " + "\n  ".join(lines)
        )


@component
def DataAnomalyGate(anomalies: InputArtifact[ExampleAnomalies]) -> None:  # noqa: N802
    """Fails when `anomalies` holds any anomaly, listing them all."""
    raise_on_anomalies(anomalies)

"""Stops the pipeline before Transform when ExampleValidator found anomalies.

ExampleValidator records anomalies but lets the pipeline go on; training on data that
broke the schema is how bad models reach production. This component runs after it,
and Transform waits for it, so a run with anomalies fails with a readable summary while
the anomalies artifact stays recorded in ML Metadata for inspection.

It also checks what the task needs of the label, from the same statistics, so that a
table of millions of rows or a BigQuery source is checked without a pass of our own: a
classification label with a single class, and a multi-class eval split holding a class the
train split never shows (the model could not answer it).
"""

# No `from __future__ import annotations`: TFX reads this module's annotations at runtime.
# isort: off
import pipeline.keras_choice  # noqa: F401 - before anything imports TensorFlow
# isort: on
import json
import os
from collections.abc import Iterable
from typing import Any

from tensorflow_metadata.proto.v0 import anomalies_pb2, schema_pb2
from tfx.dsl.component.experimental.annotations import (
    InputArtifact,
    OutputArtifact,
    Parameter,
)
from tfx.dsl.component.experimental.decorators import component
from tfx.types import artifact_utils
from tfx.types.artifact import Artifact
from tfx.types.standard_artifacts import ExampleAnomalies, ExampleStatistics, Schema
from tfx.utils import io_utils

from pipeline.settings import EVAL_SPLIT, TRAIN_SPLIT, DataCheckSettings
from pipeline.settings.values import DataAnomaliesError
from tasks import task_named

SCHEMA_DIFF_FILE = "SchemaDiff.pb"  # the file ExampleValidator writes per split
STATISTICS_FILE = "FeatureStats.pb"  # the file StatisticsGen writes per split


class AcceptedStatistics(Artifact):
    """Train-split statistics of data that passed every check (one FeatureStats.pb): the
    baseline the next run's drift is measured against. A type of its own, so that a
    resolver finds the last accepted data, never that of a run the checks stopped."""

    TYPE_NAME = "pipeline.AcceptedStatistics"  # namespace.Title, as Vertex AI requires



def anomaly_lines(anomalies: ExampleAnomalies, free_text: Iterable[str] = ()) -> list[str]:
    """One line per anomaly, e.g. `eval: fare: Unexpected string values (...)`. A value
    never seen before is no anomaly for a `free_text` column (SchemaGen infers a domain of
    values for a string column with few distinct ones, which a text column may have)."""
    free_text = frozenset(free_text)
    lines = []
    for split in artifact_utils.decode_split_names(anomalies.split_names):
        path = os.path.join(artifact_utils.get_split_uri([anomalies], split), SCHEMA_DIFF_FILE)
        report = anomalies_pb2.Anomalies()
        report.ParseFromString(io_utils.read_bytes_file(path))
        for feature, info in sorted(report.anomaly_info.items()):
            if feature in free_text and {reason.type for reason in info.reason} <= {
                    anomalies_pb2.AnomalyInfo.ENUM_TYPE_UNEXPECTED_STRING_VALUES}:
                continue
            lines.append(f"{split}: {feature}: {info.short_description} ({info.description})")
        if report.HasField("dataset_anomaly_info"):
            info = report.dataset_anomaly_info
            lines.append(f"{split}: whole dataset: {info.short_description} ({info.description})")
    return lines


def set_distance(feature: schema_pb2.Feature, kind: str, threshold: float) -> None:
    """Sets `feature`'s drift or skew comparator (`kind`) to TFDV's distance for its type
    with `threshold`: L-infinity between category frequencies, Jensen-Shannon divergence
    between a number's quantile histograms."""
    comparator = getattr(feature, f"{kind}_comparator")
    if feature.type == schema_pb2.BYTES:
        comparator.infinity_norm.threshold = threshold
    else:
        comparator.jensen_shannon_divergence.threshold = threshold
        # On quantile histograms: TFDV's default, equal-width histograms, put one outlier's
        # range into the buckets, and a fair random split of the 15,000-trip sample (one
        # fare of 700 in train, none above 99 in eval) then measures 0.33 for fare; on
        # quantiles, 0.08.
        comparator.jensen_shannon_divergence.source.type = (
            schema_pb2.HistogramSelection.QUANTILES)


def distribution_problems(statistics: ExampleStatistics, schema_artifact: Schema,
                          baseline: AcceptedStatistics | None,
                          thresholds: dict[str, dict[str, float]]) -> list[str]:
    """Drift against `baseline` (the previous run's statistics), train/eval skew, and
    features with no value at all, each as one line naming the feature and the distance.

    TFDV measures both distances; its comparators are set here on a copy of the schema from
    `thresholds` ({"drift": {feature: threshold}, "skew": {...}}), so the curated schema
    file stays a description of the data, not of one run's tolerances.
    """
    import tensorflow_data_validation as tfdv

    schema = io_utils.SchemaReader().read(
        io_utils.get_only_uri_in_dir(schema_artifact.uri))
    features = {feature.name: feature for feature in schema.feature}
    for kind in ("drift", "skew"):
        for name, threshold in thresholds.get(kind, {}).items():
            set_distance(features[name], kind, threshold)

    def split_statistics(artifact: ExampleStatistics, split: str) -> Any:
        path = os.path.join(artifact_utils.get_split_uri([artifact], split), STATISTICS_FILE)
        return tfdv.load_stats_binary(path)

    lines = []
    splits = artifact_utils.decode_split_names(statistics.split_names)
    for split in splits:
        for dataset in split_statistics(statistics, split).datasets:
            for feature in dataset.features:
                common = (feature.num_stats.common_stats if feature.HasField("num_stats")
                          else feature.string_stats.common_stats)
                # An empty value list counts as present, so look at the values themselves.
                if dataset.num_examples and common.tot_num_values == 0:
                    lines.append(f"{split}: {feature.path.step[-1]}: no value in any "
                                 "example (the column is empty or all null)")
    train = split_statistics(statistics, TRAIN_SPLIT)
    anomalies = tfdv.validate_statistics(
        train, schema,
        previous_statistics=(tfdv.load_stats_binary(os.path.join(baseline.uri, STATISTICS_FILE))
                             if baseline else None),
        serving_statistics=(split_statistics(statistics, EVAL_SPLIT) if EVAL_SPLIT in splits
                            else None))
    for name, info in sorted(anomalies.anomaly_info.items()):
        for reason in info.reason:
            if reason.type in _DISTRIBUTION_ANOMALIES:
                # TFDV says "between current and previous" (drift) or "between training and
                # serving" (skew; here train against eval).
                kind = "drift" if "previous" in reason.description else "skew"
                lines.append(f"{kind}: {name}: {reason.description}")
    return lines


def label_problems(statistics: ExampleStatistics, label_name: str, task: str) -> list[str]:
    """What makes the label unusable for `task`, one line each, naming the label column."""
    import tensorflow_data_validation as tfdv

    def label_statistics(split: str) -> Any:
        path = os.path.join(artifact_utils.get_split_uri([statistics], split), STATISTICS_FILE)
        for dataset in tfdv.load_stats_binary(path).datasets:
            for feature in dataset.features:
                if feature.path.step and feature.path.step[-1] == label_name:
                    return feature
        return None

    if not task_named(task).has_classes:
        return []
    splits = artifact_utils.decode_split_names(statistics.split_names)
    classes: dict[str, set[str] | None] = {}
    for split in splits:
        feature = label_statistics(split)
        if feature is None:
            return [f"{split}: the label column {label_name!r} is not in the examples"]
        if feature.HasField("string_stats"):
            buckets = feature.string_stats.rank_histogram.buckets
            complete = len(buckets) >= feature.string_stats.unique
            classes[split] = {bucket.label for bucket in buckets} if complete else None
            count = feature.string_stats.unique
        else:
            numbers = feature.num_stats
            classes[split] = None
            count = 1 if numbers.min == numbers.max else 2
        if split == TRAIN_SPLIT and count < 2:
            return [f"train: the label column {label_name!r} holds a single class; task={task} "
                    "needs examples of two or more"]
    train = classes.get(TRAIN_SPLIT)
    for split in splits:
        other = classes.get(split)
        if split != TRAIN_SPLIT and train is not None and other is not None and other - train:
            unseen = ", ".join(repr(name) for name in sorted(other - train))
            return [f"{split}: the label column {label_name!r} holds class(es) the train split "
                    f"never shows: {unseen}; the model cannot predict them (more rows, or a "
                    "split that keeps rare classes in train)"]
    return []


_DISTRIBUTION_ANOMALIES = (
    anomalies_pb2.AnomalyInfo.COMPARATOR_L_INFTY_HIGH,
    anomalies_pb2.AnomalyInfo.COMPARATOR_JENSEN_SHANNON_DIVERGENCE_HIGH,
)


def raise_on_anomalies(anomalies: ExampleAnomalies, problems: list[str] = (),
                       free_text: Iterable[str] = ()) -> None:
    """Raises DataAnomaliesError listing every anomaly and distribution problem, if any."""
    lines = anomaly_lines(anomalies, free_text) + list(problems)
    if lines:
        raise DataAnomaliesError(
            f"The data checks found {len(lines)} problem(s); the run stops before "
            "Transform:\n  " + "\n  ".join(lines)
        )


@component
def DataAnomalyGate(  # noqa: N802
    anomalies: InputArtifact[ExampleAnomalies],
    statistics: InputArtifact[ExampleStatistics],
    schema: InputArtifact[Schema],
    settings: Parameter[str],
    code: Parameter[str],
    accepted_statistics: OutputArtifact[AcceptedStatistics],
    baseline_statistics: InputArtifact[AcceptedStatistics] = None,
) -> None:
    """Fails when ExampleValidator found anomalies, or a feature drifted from the last
    accepted data, is skewed between train and eval, or has no value at all, or the label
    does not fit the task, listing them all; otherwise records `statistics` as the accepted
    baseline for the next run. `settings`: the `DataCheckSettings` (thresholds, the label,
    the text features). `code` is the fingerprint of this module's code, so that editing
    it re-runs a cached gate."""
    checks = DataCheckSettings.from_dict(json.loads(settings), "DataAnomalyGate")
    raise_on_anomalies(anomalies, distribution_problems(
        statistics, schema, baseline_statistics,
        {"drift": checks.drift_thresholds, "skew": checks.skew_thresholds})
        + label_problems(statistics, checks.label_name, checks.task),
        free_text=checks.text_features)
    io_utils.copy_file(
        os.path.join(artifact_utils.get_split_uri([statistics], TRAIN_SPLIT), STATISTICS_FILE),
        os.path.join(accepted_statistics.uri, STATISTICS_FILE))

"""Continuous evaluation's verdicts: ModelHealthCheck (has the serving model degraded on
fresh labelled rows, has their data moved away from its training data) and ABComparison
(is a challenger serving beside it better, on the same rows).

ModelHealthCheck reads two evaluations of the same model with the same EvalConfig, the
one that blessed it and the Evaluator's on the fresh rows, and compares every slice's
thresholded metrics (evaluation/monitoring.py). It measures every feature's distance
between the fresh rows' statistics and the accepted statistics of the model's training
data with TFDV (its drift comparators, set as the data gate sets them,
pipeline/components/anomaly_gate.py). TFDV's skew comparator would measure the same
distances between the same two statistics, so one distance per feature is reported, as
drift from the training data. It never fails the run: a degraded model is a result to
record (a ModelHealth artifact, linked to the model, with `degraded` and the findings),
and what to do about it is the caller's (`retrain_on_degradation`).

ABComparison runs the champion and a challenger on the fresh rows (the Evaluator's array
path, evaluation/array_evaluation.py) and bootstraps the difference of the task's
ranking metric per slice. TFMA's own confidence intervals are per model, not of a paired
difference, and its Beam bootstrap evaluates every metric of every slice again per
resample; this reads the two models' predictions once.
"""

# No `from __future__ import annotations`: TFX reads this module's annotations at runtime.
# isort: off
import pipeline.keras_choice  # noqa: F401 - before anything imports TensorFlow
# isort: on
import json
import os
from typing import Any

from tfx.dsl.component.experimental.annotations import InputArtifact, OutputArtifact, Parameter
from tfx.dsl.component.experimental.decorators import component
from tfx.types.artifact import Artifact
from tfx.types.standard_artifacts import (
    Examples,
    ExampleStatistics,
    Model,
    ModelBlessing,
    ModelEvaluation,
    Schema,
)

from evaluation.monitoring import bootstrap_comparison, metric_changes
from pipeline.components.anomaly_gate import STATISTICS_FILE, AcceptedStatistics, set_distance
from pipeline.settings import EVAL_SPLIT, EvaluatorSettings, MonitoringSettings
from pipeline.settings.declarations import degradation_thresholds

HEALTH_FILE = "health.json"
COMPARISON_FILE = "comparison.json"


class ModelHealth(Artifact):
    """A serving model's verdict on fresh labelled rows (HEALTH_FILE): its metrics per
    slice against blessing time, its features' drift from its training data, and whether
    it degraded (the `degraded` property)."""

    TYPE_NAME = "pipeline.ModelHealth"  # namespace.Title, as Vertex AI requires


class ModelComparison(Artifact):
    """Two serving models compared on the same rows (COMPARISON_FILE)."""

    TYPE_NAME = "pipeline.ModelComparison"


def feature_drift(statistics_uri: str, training_statistics_uri: str, schema_uri: str,
                  thresholds: dict[str, float], default_threshold: float
                  ) -> list[dict[str, Any]]:
    """Each schema feature's distance between the fresh rows (`statistics_uri`, an
    ExampleStatistics' eval split) and the training data (`training_statistics_uri`, an
    AcceptedStatistics), with its threshold (`thresholds`, else `default_threshold`) and
    whether it passed it; largest distance first."""
    import tensorflow_data_validation as tfdv
    from tfx.utils import io_utils

    schema = io_utils.SchemaReader().read(io_utils.get_only_uri_in_dir(schema_uri))
    for feature in schema.feature:
        set_distance(feature, "drift", thresholds.get(feature.name, default_threshold))
    fresh = tfdv.load_stats_binary(os.path.join(statistics_uri, f"Split-{EVAL_SPLIT}",
                                                STATISTICS_FILE))
    training = tfdv.load_stats_binary(os.path.join(training_statistics_uri, STATISTICS_FILE))
    anomalies = tfdv.validate_statistics(fresh, schema, previous_statistics=training)
    rows = []
    for info in anomalies.drift_skew_info:
        for measurement in info.drift_measurements:
            rows.append({"feature": ".".join(info.path.step),
                         "distance": measurement.value, "threshold": measurement.threshold,
                         "measure": ("L-infinity" if measurement.type == measurement.L_INFTY
                                     else "Jensen-Shannon"),
                         "drifted": measurement.value > measurement.threshold})
    return sorted(rows, key=lambda row: -row["distance"])


def read_json(uri: str, name: str) -> dict[str, Any]:
    """A verdict's JSON file `name` under an artifact's `uri` (local or gs://)."""
    import tensorflow as tf  # gfile: the artifacts are gs:// paths on Vertex AI

    with tf.io.gfile.GFile(os.path.join(uri, name)) as handle:
        return json.loads(handle.read())


def _write_json(uri: str, name: str, value: Any) -> None:
    import tensorflow as tf  # gfile: the artifacts are gs:// paths on Vertex AI

    tf.io.gfile.makedirs(uri)
    with tf.io.gfile.GFile(os.path.join(uri, name), "w") as handle:
        handle.write(json.dumps(value, indent=2, sort_keys=True) + "\n")


@component
def ModelHealthCheck(  # noqa: N802
    model: InputArtifact[Model],
    evaluation: InputArtifact[ModelEvaluation],
    statistics: InputArtifact[ExampleStatistics],
    training_statistics: InputArtifact[AcceptedStatistics],
    schema: InputArtifact[Schema],
    settings: Parameter[str],
    code: Parameter[str],
    health: OutputArtifact[ModelHealth],
    reference_evaluation: InputArtifact[ModelEvaluation] = None,
    model_blessing: InputArtifact[ModelBlessing] = None,
) -> None:
    """Compares `evaluation` (the fresh rows) with the evaluation that blessed `model`
    (`reference_evaluation`, or the one `model_blessing` names) per slice, and
    `statistics` with `training_statistics` per feature; writes HEALTH_FILE and sets
    `degraded` (1 when a metric fell beyond `degradation_thresholds` or a feature drifted
    beyond its threshold) and `findings`. `settings`: the MonitoringSettings; `code` the
    fingerprint of this module's code."""
    from evaluation.results import metrics_by_slice
    from pipeline.components.evaluator import EVALUATION_URI_PROPERTY

    checks = MonitoringSettings.from_dict(json.loads(settings), "ModelHealthCheck")
    if reference_evaluation is not None:
        reference_uri = reference_evaluation.uri
    elif model_blessing is not None and model_blessing.has_custom_property(
            EVALUATION_URI_PROPERTY):
        reference_uri = model_blessing.get_string_custom_property(EVALUATION_URI_PROPERTY)
    else:
        raise ValueError("the judged model's blessing names no evaluation (it was blessed "
                         "before the Evaluator recorded one): retrain it with this version")
    thresholds = degradation_thresholds(checks)
    metrics, degradations = metric_changes(
        checks.task, metrics_by_slice(reference_uri), metrics_by_slice(evaluation.uri),
        thresholds, checks.degradation_min_slice_examples)
    drift = feature_drift(statistics.uri, training_statistics.uri, schema.uri,
                          dict(checks.drift_thresholds), checks.monitoring_drift_threshold)
    findings = [f"degraded: {degradation.line()}" for degradation in degradations] + [
        f"drift: {row['feature']}: {row['measure']} distance {row['distance']:.4f} from the "
        f"training data, above its threshold {row['threshold']:g}"
        for row in drift if row["drifted"]]
    _write_json(health.uri, HEALTH_FILE, {
        "model": model.uri, "at_blessing": reference_uri, "degraded": bool(findings),
        "findings": findings, "metrics": metrics, "drift": drift,
        "examples": next((row["examples_fresh"] for row in metrics
                          if row["slice"] == "Overall"), None)})
    health.set_int_custom_property("degraded", int(bool(findings)))
    health.set_string_custom_property("findings", json.dumps(findings))
    print(f"ModelHealthCheck: {len(findings)} finding(s)" + "".join(
        f"\n  {line}" for line in findings), flush=True)


@component
def ABComparison(  # noqa: N802
    examples: InputArtifact[Examples],
    model: InputArtifact[Model],
    challenger: InputArtifact[Model],
    challenger_name: Parameter[str],
    settings: Parameter[str],
    code: Parameter[str],
    comparison: OutputArtifact[ModelComparison],
) -> None:
    """`model` (A, the judged model) and `challenger` (B, named `challenger_name`) on the
    eval split of `examples`, per slice: each one's ranking metric, B - A and its bootstrap
    interval (evaluation/monitoring.py). Writes COMPARISON_FILE; sets `better` to the
    overall verdict ("A", "B" or "neither")."""
    import tensorflow as tf
    import tensorflow_model_analysis as tfma
    from tfx.utils import io_utils, path_utils

    from evaluation.array_evaluation import EvaluatedModel, predictions_by_slice
    from evaluation.slices import eval_config_from

    checks = MonitoringSettings.from_dict(json.loads(settings), "ABComparison")
    eval_config = eval_config_from(checks.narrowed(EvaluatorSettings))
    [spec] = eval_config.model_specs
    models = []
    for name, artifact in (("A", model), ("B", challenger)):
        named = tfma.ModelSpec()
        named.CopyFrom(spec)
        named.name = name
        models.append(EvaluatedModel(named, path_utils.serving_model_path(artifact.uri)))
    del eval_config.model_specs[:]
    eval_config.model_specs.extend(model.spec for model in models)
    split = os.path.join(examples.uri, f"Split-{EVAL_SPLIT}")
    files = sorted(tf.io.gfile.glob(io_utils.all_files_pattern(split)))
    if not files:
        raise ValueError(f"no fresh examples to compare the models on in {split}")
    arrays, slices = predictions_by_slice(eval_config, models, files)
    # A fixed seed: the same rows and models give the same interval on every run.
    rows = bootstrap_comparison(checks.task, arrays["A"], arrays["B"], slices,
                                checks.bootstrap_samples, seed=0)
    overall = rows[0]
    _write_json(comparison.uri, COMPARISON_FILE, {
        "A": model.uri, "B": challenger.uri, "B_name": challenger_name, "slices": rows})
    comparison.set_string_custom_property("better", overall["better"])
    comparison.set_string_custom_property("challenger", challenger_name)
    print(f"ABComparison: {overall['metric']} A {overall['A']:.4f}, B ({challenger_name}) "
          f"{overall['B']:.4f}, B - A {overall['difference']:+.4f} (95% "
          f"{overall['interval'][0]:+.4f} to {overall['interval'][1]:+.4f}): "
          f"{overall['better']}", flush=True)

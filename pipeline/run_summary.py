"""What a finished local run did, read from ML Metadata (never by guessing directories).

`collect_run_summary` returns a plain dict (also written as summary.json in the run
directory, for scripts); `print_run_summary` renders it for a person.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from ml_metadata.metadata_store import metadata_store
from ml_metadata.proto import metadata_store_pb2

from pipeline.config import PipelineConfig
from pipeline.local import LocalLayout, LocalRunResult

SUMMARY_METRICS = ("example_count", "auc", "accuracy", "precision", "recall", "calibration")
_STATES = {
    metadata_store_pb2.Execution.COMPLETE: "ran",
    metadata_store_pb2.Execution.CACHED: "cached",
    metadata_store_pb2.Execution.FAILED: "failed",
    metadata_store_pb2.Execution.RUNNING: "running",
    metadata_store_pb2.Execution.NEW: "new",
    metadata_store_pb2.Execution.CANCELED: "canceled",
}


def open_store(metadata_path: Path, read_only: bool = True) -> metadata_store.MetadataStore:
    """A store on the local SQLite file; read-only unless asked, so reports never write."""
    connection = metadata_store_pb2.ConnectionConfig()
    connection.sqlite.filename_uri = str(metadata_path)
    connection.sqlite.connection_mode = (
        metadata_store_pb2.SqliteMetadataSourceConfig.READONLY if read_only
        else metadata_store_pb2.SqliteMetadataSourceConfig.READWRITE_OPENCREATE
    )
    return metadata_store.MetadataStore(connection)


def custom_property(artifact: metadata_store_pb2.Artifact, key: str) -> Any:
    """The value of an ML Metadata custom property, whatever its type; None when unset."""
    if key not in artifact.custom_properties:
        return None
    value = artifact.custom_properties[key]
    return getattr(value, value.WhichOneof("value"))


def latest_run_context(store: metadata_store.MetadataStore, pipeline_name: str
                       ) -> metadata_store_pb2.Context | None:
    pipeline_context = store.get_context_by_type_and_name("pipeline", pipeline_name)
    if pipeline_context is None:
        return None
    runs = [context for context in store.get_children_contexts_by_context(pipeline_context.id)
            if context.type == "pipeline_run"]
    return max(runs, key=lambda context: (context.create_time_since_epoch, context.id),
               default=None)


def outputs_of(store: metadata_store.MetadataStore, execution_id: int
                ) -> list[metadata_store_pb2.Artifact]:
    """The artifacts `execution_id` produced."""
    events = store.get_events_by_execution_ids([execution_id])
    ids = [event.artifact_id for event in events
           if event.type == metadata_store_pb2.Event.OUTPUT]
    return store.get_artifacts_by_id(ids) if ids else []


def metrics_by_slice(evaluation_uri: str, names: tuple[str, ...] | None = SUMMARY_METRICS
                     ) -> dict[str, dict[str, float]]:
    """Metric values per slice ("Overall", "company:X", ...) of a ModelEvaluation: the
    metrics in `names`, or every scalar metric when `names` is None."""
    import tensorflow_model_analysis as tfma

    table: dict[str, dict[str, float]] = {}
    for record in tfma.load_metrics(evaluation_uri):
        slice_name = tfma.slicer.stringify_slice_key(
            tfma.slicer.deserialize_slice_key(record.slice_key)) or "Overall"
        values: dict[str, float] = {}
        for entry in record.metric_keys_and_values:
            # With a baseline, TFMA also stores the baseline's values and the differences;
            # only the candidate's own values belong here.
            if ((names is None or entry.key.name in names)
                    and entry.value.HasField("double_value")
                    and not entry.key.HasField("sub_key")
                    and not entry.key.is_diff and entry.key.model_name != "baseline"):
                values[entry.key.name] = entry.value.double_value.value
        table[slice_name] = values
    return table


def _blessing_failures(evaluation_uri: str) -> list[str]:
    import tensorflow_model_analysis as tfma

    result = tfma.load_validation_result(evaluation_uri)
    reasons = []
    for failure in result.metric_validations_per_slice:
        for metric in failure.failures:
            value = metric.metric_value.double_value.value
            reasons.append(f"{metric.metric_key.name} = {value:.4f} fails "
                           f"{_threshold_text(metric.metric_threshold)}")
    return reasons


def _threshold_text(threshold: Any) -> str:
    if threshold.HasField("value_threshold"):
        return f"the minimum {threshold.value_threshold.lower_bound.value:g}"
    if threshold.HasField("change_threshold"):
        return (f"the allowed change {threshold.change_threshold.absolute.value:g} "
                "against the last blessed model")
    return "its threshold"


def collect_run_summary(config: PipelineConfig, layout: LocalLayout) -> dict[str, Any]:
    """Components and their states, metrics per slice, blessing and push of the last run."""
    if not layout.metadata_path.exists():
        return {"components": []}
    store = open_store(layout.metadata_path)
    run = latest_run_context(store, config.pipeline_name)
    if run is None:
        return {"components": []}
    summary: dict[str, Any] = {"run_id": run.name, "components": []}
    executions = sorted(store.get_executions_by_context(run.id), key=lambda e: e.id)
    for execution in executions:
        nodes = [context.name for context in store.get_contexts_by_execution(execution.id)
                 if context.type == "node"]
        component = nodes[0].split(".", 1)[1] if nodes else execution.type
        seconds = (execution.last_update_time_since_epoch - execution.create_time_since_epoch)
        summary["components"].append({
            "component": component,
            "state": _STATES.get(execution.last_known_state, "unknown"),
            "seconds": round(seconds / 1000, 1),
        })
        for artifact in outputs_of(store, execution.id):
            if artifact.type == "ModelEvaluation":
                summary["evaluation_uri"] = artifact.uri
                summary["metrics"] = metrics_by_slice(artifact.uri)
            elif artifact.type == "ModelBlessing":
                summary["blessed"] = bool(custom_property(artifact, "blessed"))
            elif artifact.type == "PushedModel":
                summary["pushed"] = bool(custom_property(artifact, "pushed"))
                summary["pushed_model"] = custom_property(artifact, "pushed_destination")
            elif artifact.type == "Model":
                summary["model_uri"] = artifact.uri
                summary["model_package"] = f"{artifact.uri}/model_package.zip"
            elif artifact.type == "pipeline.ModelReport":
                summary["report"] = f"{artifact.uri}/report.html"
    if summary.get("blessed") is False and "evaluation_uri" in summary:
        summary["not_blessed_because"] = _blessing_failures(summary["evaluation_uri"])
    return summary


def _format(value: float | None, name: str) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    return f"{value:.0f}" if name == "example_count" else f"{value:.3f}"


def metrics_table(metrics: dict[str, dict[str, float]], slices_per_feature: int = 5) -> str:
    """Overall first, then the largest slices of each feature, as a fixed-width table."""
    by_feature: dict[str, list[tuple[str, dict[str, float]]]] = {}
    for name, values in metrics.items():
        if name != "Overall":
            by_feature.setdefault(name.split(":", 1)[0], []).append((name, values))
    rows = [("Overall", metrics.get("Overall", {}))]
    hidden = 0
    for entries in by_feature.values():
        entries.sort(key=lambda item: -item[1].get("example_count", 0))
        rows += entries[:slices_per_feature]
        hidden += max(0, len(entries) - slices_per_feature)
    width = min(44, max(len(name) for name, _ in rows))
    lines = [f"  {'slice':<{width}}" + "".join(f"{name:>14}" for name in SUMMARY_METRICS)]
    for name, values in rows:
        lines.append(f"  {name[:width]:<{width}}"
                     + "".join(f"{_format(values.get(m), m):>14}" for m in SUMMARY_METRICS))
    if hidden:
        lines.append(f"  ({hidden} smaller slices not shown)")
    return "\n".join(lines)


def print_run_summary(config: PipelineConfig, layout: LocalLayout, result: LocalRunResult
                      ) -> dict[str, Any]:
    """Prints the summary; the failure reason, if any, comes last."""
    if result.run_directory is None:
        print(f"\nRUN NOT STARTED; nothing was changed.\nReason: {result.failure}")
        return {"succeeded": False, "failure": result.failure}
    summary = collect_run_summary(config, layout)
    summary["succeeded"] = result.succeeded
    summary["failure"] = result.failure
    (result.run_directory / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")

    print("\nComponents:")
    for component in summary["components"]:
        print(f"  {component['component']:<28} {component['state']:<8} "
              f"{component['seconds']:7.1f} s")
    if "metrics" in summary:
        print(f"\nEvaluation on the eval split ({summary['evaluation_uri']}):")
        print(metrics_table(summary["metrics"]))
    if "blessed" in summary:
        verdict = "blessed" if summary["blessed"] else "NOT blessed"
        print(f"\nModel {summary.get('model_uri', '')}: {verdict}")
        for reason in summary.get("not_blessed_because", []):
            print(f"  because {reason}")
    if "report" in summary:
        print(f"Report (slices, calibration, errors, feature importance): {summary['report']}")
    if "model_package" in summary:
        print(f"Model package (SavedModel, curves, logs, config, dataset): "
              f"{summary['model_package']}")
    if summary.get("pushed"):
        print(f"Pushed model: {summary['pushed_model']}")
    elif result.succeeded:
        print("Nothing pushed: the model was not blessed. The serving directory "
              f"{layout.serving_directory} is unchanged.")
    print(f"Run record: {result.run_directory} (config.json, summary.json, pipeline.log)")
    if not result.succeeded:
        print(f"\nRUN FAILED; nothing was pushed. Full log: {result.log_path}")
        print(f"Reason: {result.failure}")
    return summary

"""What a finished local run did, read from ML Metadata (never by guessing directories).

`collect_run_summary` returns a plain dict (also written as summary.json in the run
directory, for scripts); `print_run_summary` renders it for a person.
"""

from __future__ import annotations

import json
import math
from typing import Any

from evaluation.results import blessing_failures, metrics_by_slice, task_of_metrics
from pipeline.components.pushed import ALREADY_SERVING
from pipeline.metadata.store import (
    custom_properties,
    custom_property,
    describe_sandbox,
    latest_run_context,
    open_store,
    run_executions,
)
from pipeline.orchestration.layout import LocalLayout
from pipeline.orchestration.local import LocalRunResult
from pipeline.settings import PipelineConfig
from tasks import task_named


def collect_run_summary(config: PipelineConfig, layout: LocalLayout) -> dict[str, Any]:
    """Components and their states, metrics per slice, blessing and push of the last run."""
    if not layout.has_metadata:
        return {"components": []}
    store = open_store(layout.metadata_target)
    run = latest_run_context(store, config.pipeline_name)
    if run is None:
        return {"components": []}
    summary: dict[str, Any] = {"run_id": run.name, "components": []}
    for step in run_executions(store, run.id):
        summary["components"].append({"component": step.component, "state": step.state,
                                      "seconds": round(step.seconds, 1)})
        for artifact in step.outputs:
            if artifact.type == "ModelEvaluation":
                summary["evaluation_uri"] = artifact.uri
                summary["metrics"] = metrics_by_slice(
                    artifact.uri, task_named(config.task).summary_metrics)
            elif artifact.type == "ModelBlessing":
                summary["blessed"] = bool(custom_property(artifact, "blessed"))
            elif artifact.type == "PushedModel":
                summary["pushed"] = bool(custom_property(artifact, "pushed"))
                summary["pushed_model"] = custom_property(artifact, "pushed_destination")
                summary["already_serving"] = custom_property(artifact, ALREADY_SERVING)
            elif artifact.type == "Model":
                summary["model_uri"] = artifact.uri
                summary["model_package"] = f"{artifact.uri}/model_package.zip"
            elif artifact.type == "InfraBlessing":
                summary["sandbox"] = custom_properties(artifact)
            elif artifact.type == "pipeline.ModelReport":
                summary["report"] = f"{artifact.uri}/report.html"
    if "model_uri" in summary:
        from models.package import training_summary  # TensorFlow: only once a model exists

        summary["training"] = training_summary(summary["model_uri"])
    if summary.get("blessed") is False and "evaluation_uri" in summary:
        summary["not_blessed_because"] = blessing_failures(summary["evaluation_uri"])
    return summary


def _format(value: float | None, name: str) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    return f"{value:.0f}" if name == "example_count" else f"{value:.3f}"


def metrics_table(metrics: dict[str, dict[str, float]], slices_per_feature: int = 5,
                  names: tuple[str, ...] | None = None) -> str:
    """Overall first, then the largest slices of each feature, as a fixed-width table of
    `names` (default: the summary metrics of the task the metrics belong to)."""
    names = names or task_of_metrics(metrics.get("Overall", {})).summary_metrics
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
    lines = [f"  {'slice':<{width}}" + "".join(f"{name:>16}" for name in names)]
    for name, values in rows:
        lines.append(f"  {name[:width]:<{width}}"
                     + "".join(f"{_format(values.get(m), m):>16}" for m in names))
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
        print(metrics_table(summary["metrics"], names=task_named(config.task).summary_metrics))
    if summary.get("training"):
        print(f"\nTraining: {summary['training']}")
    if "blessed" in summary:
        verdict = "blessed" if summary["blessed"] else "NOT blessed"
        print(f"\nModel {summary.get('model_uri', '')}: {verdict}")
        for reason in summary.get("not_blessed_because", []):
            print(f"  because {reason}")
    if "sandbox" in summary:
        print(f"Serving sandbox: {describe_sandbox(summary['sandbox'])}")
    if "report" in summary:
        print(f"Report (slices, the task's views, errors, feature importance): "
              f"{summary['report']}")
    if "model_package" in summary:
        print(f"Model package (SavedModel, curves, logs, config, dataset): "
              f"{summary['model_package']}")
    if summary.get("pushed"):
        print(f"Pushed model: {summary['pushed_model']}")
    elif result.succeeded and summary.get("already_serving"):
        print(f"Nothing pushed: this very model already serves as "
              f"{summary['already_serving']} (one version per distinct model).")
    elif result.succeeded:
        why = ("the serving sandbox blocked it" if summary.get("blessed")
               and summary.get("sandbox", {}).get("blessed") == 0 else "the model was not blessed")
        print(f"Nothing pushed: {why}. The serving directory "
              f"{layout.serving_directory} is unchanged.")
    print(f"Run record: {result.run_directory} (config.json, summary.json, pipeline.log)")
    if not result.succeeded:
        print(f"\nRUN FAILED; nothing was pushed. Full log: {result.log_path}")
        print(f"Reason: {result.failure}")
    return summary

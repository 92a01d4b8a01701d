"""Continuous evaluation on this machine (`python -m pipeline evaluate-deployed`): the
pushed model `evaluation_model` names ("latest": the one serving) judged on fresh labelled
rows by the continuous-evaluation pipeline (pipeline/kinds.py `ContinuousEvaluation`), in
the training runs' ML Metadata store, and, with `retrain_on_degradation`, a training run
started when it has degraded, linked to the verdict in ML Metadata both ways.

What the pipeline compares against is found here, in the store, from the model itself:
the Evaluator's output that blessed it, the accepted statistics of the data its run
trained on, and the schema its Trainer read.
"""

from __future__ import annotations

import dataclasses
import re
from typing import Any

from ml_metadata.proto import metadata_store_pb2

from pipeline.kinds import ContinuousEvaluation, ModelReference
from pipeline.metadata import lineage
from pipeline.metadata.store import (
    custom_property,
    latest_run_context,
    outputs_of,
    run_executions,
)
from pipeline.orchestration.local import (
    LocalRunResult,
    run_local_pipeline,
    trained_models_store,
)
from pipeline.orchestration.preflight import check_evaluation
from pipeline.settings import PipelineConfig
from pipeline.settings.values import ConfigError

HEALTH_TYPE, COMPARISON_TYPE = "pipeline.ModelHealth", "pipeline.ModelComparison"
STATISTICS_TYPE = "pipeline.AcceptedStatistics"
# On the verdict: the training run it started. On that run's context: the verdict.
RETRAINING_RUN_PROPERTY, TRIGGERED_BY_PROPERTY = "retraining_run", "triggered_by_health"


@dataclasses.dataclass
class EvaluationResult:
    run: LocalRunResult
    model_id: int
    model_uri: str
    pushed_version: str | None
    health_id: int | None = None
    health: dict[str, Any] | None = None  # HEALTH_FILE (pipeline/components/model_health.py)
    comparisons: dict[str, dict[str, Any]] = dataclasses.field(default_factory=dict)
    retraining: LocalRunResult | None = None
    retraining_run: str | None = None  # the training run's context name in ML Metadata

    @property
    def degraded(self) -> bool:
        return bool(self.health and self.health["degraded"])


def blessing_evaluation(store: Any, model: metadata_store_pb2.Artifact,
                        pushed: metadata_store_pb2.Artifact | None
                        ) -> metadata_store_pb2.Artifact | None:
    """The Evaluator's output that blessed `model`: for a pushed model, the one whose
    blessing its Pusher read; else its latest blessed evaluation in a training run."""
    if pushed is not None:
        pusher = lineage.producer_of(store, pushed.id)
        blessings = [artifact for artifact in lineage.inputs_of(store, pusher)
                     if artifact.type == "ModelBlessing"]
        if blessings and custom_property(blessings[0], "blessed"):
            evaluator = lineage.producer_of(store, blessings[0].id)
            return next((artifact for artifact in outputs_of(store, evaluator)
                         if artifact.type == "ModelEvaluation"), None)
    evaluation, blessing, _ = lineage.evaluation_of(store, model.id)
    return evaluation if blessing is not None and custom_property(blessing, "blessed") \
        else None


def model_reference(store: Any, model: metadata_store_pb2.Artifact,
                    pushed: metadata_store_pb2.Artifact | None) -> ModelReference:
    """What `model` was blessed on and trained from, from its lineage; ConfigError when it
    was never blessed (there is nothing to compare against)."""
    evaluation = blessing_evaluation(store, model, pushed)
    if evaluation is None:
        raise ConfigError(f"Model {model.id} was never blessed by the Evaluator: continuous "
                          "evaluation compares a model with the evaluation that blessed it.")
    trainer = lineage.producer_of(store, model.id)
    schema = next((artifact for artifact in lineage.inputs_of(store, trainer)
                   if artifact.type == "Schema"), None)
    statistics = None
    for context in store.get_contexts_by_execution(trainer):
        if context.type != "pipeline_run":
            continue
        for step in run_executions(store, context.id):
            statistics = step.output(STATISTICS_TYPE) or statistics
    if schema is None or statistics is None:
        raise ConfigError(f"Model {model.id}'s run recorded no schema or accepted training "
                          "statistics in ML Metadata; retrain it with this version.")
    return ModelReference(model.uri, evaluation.uri, statistics.uri, schema.uri)


def node_suffix(version: str) -> str:
    """A pushed version as the end of a node id (letters, digits and _ only)."""
    return re.sub(r"\W", "_", version)


def run_continuous_evaluation(config: PipelineConfig) -> EvaluationResult:
    """Judges the model `evaluation_model` names on `evaluation_data_path` (or BigQuery's last
    `evaluation_window_days`), compares each of `ab_models` with it, and retrains when it
    degraded and `retrain_on_degradation` is set."""
    check_evaluation(config)
    store = trained_models_store(config)
    try:
        model, pushed = lineage.find_model(store, [], config.evaluation_model)
        challengers = {}
        for version in config.ab_models:
            challenger, _ = lineage.find_model(store, [], version)
            if challenger.id == model.id:
                raise ConfigError(f"ab_models: {version!r} is the judged model itself.")
            challengers[node_suffix(version)] = challenger.uri
    except lineage.LineageError as error:
        raise ConfigError(f"evaluation_model / ab_models: {error}") from None
    reference = model_reference(store, model, pushed)
    result = EvaluationResult(
        run_local_pipeline(config, ContinuousEvaluation(reference, challengers)), model.id,
        model.uri, None if pushed is None else str(custom_property(pushed, "pushed_version")))
    if not result.run.succeeded:
        return result
    _read_verdicts(config, result)
    if result.degraded and config.retrain_on_degradation:
        print("\nThe model degraded and retrain_on_degradation is set: starting a training "
              "run.", flush=True)
        result.retraining = run_local_pipeline(config)
        _link_retraining(config, result)
    return result


def _read_verdicts(config: PipelineConfig, result: EvaluationResult) -> None:
    from pipeline.components.model_health import COMPARISON_FILE, HEALTH_FILE, read_json

    store = trained_models_store(config)
    run = latest_run_context(store, ContinuousEvaluation.pipeline_name(config))
    for step in run_executions(store, run.id):
        health = step.output(HEALTH_TYPE)
        if health is not None:
            result.health_id, result.health = health.id, read_json(health.uri, HEALTH_FILE)
        comparison = step.output(COMPARISON_TYPE)
        if comparison is not None:
            result.comparisons[str(custom_property(comparison, "challenger"))] = read_json(
                comparison.uri, COMPARISON_FILE)


def _link_retraining(config: PipelineConfig, result: EvaluationResult) -> None:
    """The training run a verdict started, recorded on both: the verdict's artifact names
    the run's context, and the run's context names the verdict."""
    from pipeline.kinds import TRAINING

    store = trained_models_store(config, read_only=False)
    run = latest_run_context(store, TRAINING.pipeline_name(config))
    [health] = store.get_artifacts_by_id([result.health_id])
    if run is None or run.create_time_since_epoch < health.create_time_since_epoch:
        return  # the training run failed before it started a step: nothing to link
    health.custom_properties[RETRAINING_RUN_PROPERTY].string_value = run.name
    run.custom_properties[TRIGGERED_BY_PROPERTY].int_value = health.id
    store.put_artifacts([health])
    store.put_contexts([run])
    result.retraining_run = run.name


def _number(value: float | None, sign: str = "") -> str:
    """A metric's value; "-" where it is undefined (an AUC of one class)."""
    return "-" if value is None or value != value else f"{value:{sign}.4f}"


def print_evaluation_result(config: PipelineConfig, result: EvaluationResult) -> None:
    pushed = f", pushed as version {result.pushed_version}" if result.pushed_version else ""
    print(f"\nModel {result.model_id}{pushed}: {result.model_uri}")
    if not result.run.succeeded:
        print(f"\nCONTINUOUS EVALUATION FAILED; nothing was recorded. Full log: "
              f"{result.run.log_path}\nReason: {result.run.failure}")
        return
    health = result.health or {}
    print(f"Fresh rows: {int(health.get('examples') or 0):,}")
    print("\nMetrics against blessing time (every metric overall; the thresholded ones on "
          f"slices of at least {config.degradation_min_slice_examples} rows both times):")
    print(f"  {'slice':<32} {'metric':<16} {'at blessing':>11} {'fresh':>9} {'change':>9} "
          f"{'allowed':>8}")
    for row in health.get("metrics", []):
        shown = row["slice"] == "Overall" or (row["judged"] and row["threshold"] is not None)
        if not shown or (row["at_blessing"] is None and row["fresh"] is None):
            continue
        change = (None if row["at_blessing"] is None or row["fresh"] is None
                  else row["fresh"] - row["at_blessing"])
        allowed = "-" if row["threshold"] is None else f"{row['threshold']:g}"
        print(f"  {row['slice']:<32} {row['metric']:<16} {_number(row['at_blessing']):>11} "
              f"{_number(row['fresh']):>9} {_number(change):>9} {allowed:>8}"
              + ("  DEGRADED" if row["degraded"] else ""))
    drift = health.get("drift", [])
    print("\nDrift from the training data (largest first):")
    for row in drift[:8]:
        print(f"  {row['feature']:<32} {row['measure']:<15} {row['distance']:.4f} "
              f"(threshold {row['threshold']:g})" + ("  DRIFTED" if row["drifted"] else ""))
    for name, comparison in result.comparisons.items():
        print(f"\nA/B: A = the judged model, B = {name} ({comparison['B']}); overall and "
              f"slices of at least {config.degradation_min_slice_examples} rows (all of them: "
              "the comparison's file in ML Metadata):")
        print(f"  {'slice':<32} {'metric':<10} {'rows':>7} {'A':>8} {'B':>8} {'B - A':>8} "
              f"{'95% interval':>20}  better")
        for row in comparison["slices"]:
            if row["slice"] != "Overall" and \
                    row["examples"] < config.degradation_min_slice_examples:
                continue
            low, high = row["interval"]
            print(f"  {row['slice']:<32} {row['metric']:<10} {row['examples']:>7,} "
                  f"{_number(row['A']):>8} {_number(row['B']):>8} "
                  f"{_number(row['difference'], '+'):>8} "
                  f"{_number(low, '+') + ' to ' + _number(high, '+'):>20}  "
                  f"{row['better']}")
    if result.degraded:
        print(f"\nDEGRADED (verdict {result.health_id} in ML Metadata):")
        for line in health["findings"]:
            print(f"  {line}")
    else:
        print(f"\nHEALTHY (verdict {result.health_id} in ML Metadata): no metric fell beyond "
              "its degradation threshold and no feature drifted beyond its threshold.")
    if result.retraining is not None:
        state = "succeeded" if result.retraining.succeeded else \
            f"FAILED ({result.retraining.failure})"
        print(f"\nRetraining run {result.retraining_run or '(not recorded)'}: {state}; "
              f"{result.retraining.run_directory}")
    elif result.degraded:
        print("\nNo retraining: set retrain_on_degradation=true to start one.")

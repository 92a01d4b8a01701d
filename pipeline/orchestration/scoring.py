"""Batch predictions on this machine: the scoring pipeline (pipeline/kinds.py `Scoring`) with
the model `scoring_model` names ("latest": the latest pushed), found in the same ML
Metadata store as the training runs, under the same lock, run record and progress lines
as a training run (pipeline/orchestration/local.py)."""

from __future__ import annotations

import dataclasses
import os
from typing import Any

from pipeline.kinds import Node, Scoring
from pipeline.metadata import lineage
from pipeline.metadata.store import custom_property, latest_run_context, open_store, run_executions
from pipeline.orchestration.layout import LocalLayout
from pipeline.orchestration.local import (
    LocalRunResult,
    run_local_pipeline,
    trained_models_store,
)
from pipeline.orchestration.preflight import check_scoring
from pipeline.settings import PipelineConfig
from pipeline.settings.values import ConfigError


@dataclasses.dataclass
class ScoringResult:
    run: LocalRunResult
    model_id: int
    model_uri: str
    pushed_version: str | None
    predictions: str | None = None  # the JSON-lines file
    rows: int = 0
    seconds: float = 0.0  # BatchScorer's, the scoring itself
    cached: bool = False  # BatchScorer's output came from cache (the same rows and model)


def scoring_model(config: PipelineConfig) -> tuple[Any, Any]:
    """(Model, PushedModel or None) that `scoring_model` names, from the local store."""
    store = trained_models_store(config)
    try:
        return lineage.find_model(store, [], config.scoring_model)
    except lineage.LineageError as error:
        raise ConfigError(f"scoring_model={config.scoring_model!r}: {error}") from None


def run_batch_predictions(config: PipelineConfig) -> ScoringResult:
    check_scoring(config)
    model, pushed = scoring_model(config)
    result = ScoringResult(run_local_pipeline(config, Scoring(model.uri)), model.id, model.uri,
                           None if pushed is None else
                           str(custom_property(pushed, "pushed_version")))
    if not result.run.succeeded:
        return result
    store = open_store(LocalLayout.for_config(config).metadata_target)
    run = latest_run_context(store, Scoring.pipeline_name(config))
    for step in run_executions(store, run.id):
        if step.component == Node.BATCH_SCORER:
            result.seconds, result.cached = step.seconds, step.state == "cached"
        for artifact in step.outputs:
            if artifact.type == "pipeline.Predictions":
                result.predictions = os.path.join(artifact.uri, "predictions.jsonl")
                result.rows = int(custom_property(artifact, "rows") or 0)
    return result


def print_scoring_result(result: ScoringResult) -> None:
    pushed = f", pushed as version {result.pushed_version}" if result.pushed_version else ""
    print(f"\nModel {result.model_id}{pushed}: {result.model_uri}")
    if not result.run.succeeded:
        print(f"\nSCORING FAILED; no predictions were written. Full log: {result.run.log_path}")
        print(f"Reason: {result.run.failure}")
        return
    how = ("BatchScorer's output from cache: the same rows and model" if result.cached else
           f"in {result.seconds:.1f} s ({result.rows / max(result.seconds, 1e-3):,.0f} rows/s)")
    print(f"Scored {result.rows:,} rows, {how}: {result.predictions}")
    print(f"Trace them: lineage.py predictions {result.predictions}")

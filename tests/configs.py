"""Configurations for tests: a shipped dataset's settings over the defaults, unvalidated,
so that a test can also build a configuration that `validate` must refuse."""

from __future__ import annotations

import dataclasses
from typing import Any

from pipeline.settings import PipelineConfig
from pipeline.settings.loading import dataset_config as unvalidated_dataset_config


def dataset_config(dataset: str, **overrides: Any) -> PipelineConfig:
    """`datasets/<dataset>.yaml` over the defaults, then `overrides` (typed values)."""
    return dataclasses.replace(unvalidated_dataset_config(dataset), **overrides)


def taxi_config(**overrides: Any) -> PipelineConfig:
    """The default dataset's configuration (the big-tipper taxi task) with `overrides`."""
    return dataset_config("taxi", **overrides)


# The production pipeline's nodes, as every test that builds or runs it expects them: the
# one list, with the schema's node as the dataset has it (a curated schema file, or
# SchemaGen inferring one).
TRAINING_NODES = frozenset({
    "ExampleGen", "StatisticsGen", "ExampleValidator", "LastAcceptedStatisticsResolver",
    "DataAnomalyGate", "Transform", "Trainer", "LatestBlessedModelResolver", "Evaluator",
    "ServingSandbox", "ModelReportGen", "Pusher"})
CURATED_SCHEMA_NODES = TRAINING_NODES | {"ImportCuratedSchema"}
INFERRED_SCHEMA_NODES = TRAINING_NODES | {"SchemaGen"}
# Compiled for Vertex AI, the baseline resolver is two tasks.
VERTEX_TASKS = (CURATED_SCHEMA_NODES - {"LatestBlessedModelResolver"}) | {
    "LatestBlessedModelResolver-model-resolver",
    "LatestBlessedModelResolver-model-blessing-resolver"}

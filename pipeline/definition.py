"""`create_pipeline`: the one pipeline definition, for every runner, local or cloud.

It names no dataset: features, label, slices and the data source all come from
`PipelineConfig`. Everything that depends on where it runs (paths, metadata store, Beam
arguments) is an argument, so the runners only gather those values and call it.
"""

from __future__ import annotations

import dataclasses
import datetime
import hashlib
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from ml_metadata.proto import metadata_store_pb2
from tfx.components import (
    Evaluator,
    ExampleValidator,
    Pusher,
    SchemaGen,
    StatisticsGen,
    Trainer,
    Transform,
)
from tfx.dsl.components.base.base_node import BaseNode
from tfx.dsl.components.common.resolver import Resolver
from tfx.dsl.input_resolution.strategies.latest_artifact_strategy import LatestArtifactStrategy
from tfx.dsl.input_resolution.strategies.latest_blessed_model_strategy import (
    LatestBlessedModelStrategy,
)
from tfx.orchestration import pipeline as tfx_pipeline
from tfx.proto import pusher_pb2, trainer_pb2
from tfx.types import Channel, standard_artifacts

from evaluation.slices import eval_config_from
from models.trainer import training_settings
from pipeline.anomaly_gate import AcceptedStatistics, DataAnomalyGate
from pipeline.atomic_pusher import AtomicPusher
from pipeline.bigquery import bigquery_query
from pipeline.config import REPOSITORY_ROOT, PipelineConfig
from pipeline.curated_schema import ImportCuratedSchema
from pipeline.example_gen import record_file_example_gen, split_config
from pipeline.model_report import ModelReportGen, report_settings
from preprocessing import preprocessing_spec

# Components get user code by module path, which TFX does not fingerprint for caching;
# a hash of the files each one runs goes into its properties, so editing the code
# invalidates exactly the components that run it.
_CODE_FILES = {
    "example_gen": ("pipeline/example_gen.py", "pipeline/label.py"),
    "transform": ("preprocessing.py",),
    "trainer": ("preprocessing.py", "models", "pipeline/config.py"),
    "report": ("evaluation/report.py", "pipeline/model_report.py", "models/package.py"),
}


def source_fingerprint(paths: Sequence[str]) -> str:
    """SHA-256 over the named files (and the .py files of named directories)."""
    digest = hashlib.sha256()
    for relative in paths:
        path = REPOSITORY_ROOT / relative
        files = sorted(path.rglob("*.py")) if path.is_dir() else [path]
        for file in files:
            digest.update(str(file.relative_to(REPOSITORY_ROOT)).encode())
            digest.update(Path(file).read_bytes())
    return digest.hexdigest()


class LatestOrNothingStrategy(LatestArtifactStrategy):
    """The latest artifact, or an empty input when there is none yet.

    TFX's LatestArtifactStrategy reports "no inputs" on a first run, which LocalDagRunner
    records as a failed execution; an empty list is the honest answer, and the input it
    feeds is optional.
    """

    def resolve_artifacts(self, store: Any, input_dict: dict[str, list[Any]]
                          ) -> dict[str, list[Any]]:
        return self._resolve(input_dict)


def create_pipeline(
    config: PipelineConfig,
    pipeline_root: str,
    serving_directory: str,
    metadata_connection_config: metadata_store_pb2.ConnectionConfig | None = None,
    beam_pipeline_args: Sequence[str] = (),
    vertex_training: Mapping[str, Any] | None = None,
    vertex_serving: Mapping[str, Any] | None = None,
    vertex_tuning: Mapping[str, Any] | None = None,
    window_end: datetime.date | None = None,
    kubeflow_v2: bool = False,
    model_variants: Mapping[str, PipelineConfig] | None = None,
) -> tfx_pipeline.Pipeline:
    """Builds the TFX pipeline for `config`; blessed models go to `serving_directory`.

    `vertex_training` (the Vertex AI Trainer's custom_config) moves training to Vertex AI
    Training; `vertex_serving` (the Vertex AI Pusher's) deploys to an endpoint instead of
    copying files; `vertex_tuning` (the Vertex AI Tuner's) runs search trials there, as
    many at once as `search_parallel_trials`. `pipeline/vertex.py` builds all three; None
    keeps everything in the step.
    `window_end` fixes the day a moving BigQuery window ends (a run built for one day);
    None leaves it to the query's run time (a compiled template that serves a schedule).
    `kubeflow_v2` builds for KubeflowV2DagRunner, whose resolvers take only TFX's own
    strategies. `model_variants` (name -> config) builds the train-all pipeline instead:
    the same data steps once, then a Trainer, Evaluator and report per variant, no Pusher.
    """
    if config.data_source == "bigquery":
        from tfx.extensions.google_cloud_big_query.example_gen.component import (
            BigQueryExampleGen,
        )

        example_gen = BigQueryExampleGen(query=bigquery_query(config, window_end),
                                         output_config=split_config(config))
    else:
        example_gen = record_file_example_gen(
            config, source_fingerprint(_CODE_FILES["example_gen"]))
    example_gen = example_gen.with_id("ExampleGen")

    statistics_gen = StatisticsGen(examples=example_gen.outputs["examples"])
    if config.schema_path:
        schema_gen = ImportCuratedSchema(
            schema_text=Path(config.resolved_schema_path()).read_text())
    else:
        # Feature shapes are not inferred: every raw feature stays optional (a sparse
        # tensor), so a column that is complete in one sample does not change the graph.
        schema_gen = SchemaGen(statistics=statistics_gen.outputs["statistics"],
                               infer_feature_shape=False)
    example_validator = ExampleValidator(statistics=statistics_gen.outputs["statistics"],
                                         schema=schema_gen.outputs["schema"])
    # Drift is measured against the last data that passed every check (none on a first run).
    last_accepted_statistics = Resolver(
        strategy_class=LatestArtifactStrategy if kubeflow_v2 else LatestOrNothingStrategy,
        statistics=Channel(type=AcceptedStatistics),
    ).with_id("LastAcceptedStatisticsResolver")
    anomaly_gate = DataAnomalyGate(
        anomalies=example_validator.outputs["anomalies"],
        statistics=statistics_gen.outputs["statistics"],
        schema=schema_gen.outputs["schema"],
        thresholds=json.dumps({"drift": config.drift_thresholds,
                               "skew": config.skew_thresholds}, sort_keys=True),
        baseline_statistics=last_accepted_statistics.outputs["statistics"],
    )

    transform = Transform(
        examples=example_gen.outputs["examples"],
        schema=schema_gen.outputs["schema"],
        preprocessing_fn="preprocessing.preprocessing_fn",
        # StatisticsGen already profiles the raw data; statistics of the transformed data
        # would double the Beam work of Transform for nothing the pipeline reads.
        disable_statistics=True,
        custom_config={**preprocessing_spec(config),
                       "code": source_fingerprint(_CODE_FILES["transform"])},
    )
    transform.add_upstream_node(anomaly_gate)
    front: list[BaseNode] = [example_gen, statistics_gen, schema_gen, example_validator,
                             last_accepted_statistics, anomaly_gate, transform]

    if model_variants:
        # Train-all: every variant trains on this one Transform output and is judged on the
        # same eval split; nothing is pushed, and no run becomes a baseline for another.
        branches = [_model_branch(variant_config, example_gen, schema_gen, transform, None,
                                  vertex_training, vertex_tuning, suffix=f"_{name}")
                    for name, variant_config in model_variants.items()]
        return tfx_pipeline.Pipeline(
            pipeline_name=comparison_pipeline_name(config),
            pipeline_root=pipeline_root,
            components=[*front, *(node for branch in branches for node in branch.nodes)],
            enable_cache=True,
            metadata_connection_config=metadata_connection_config,
            beam_pipeline_args=list(beam_pipeline_args),
        )

    baseline_resolver = Resolver(
        strategy_class=LatestBlessedModelStrategy,
        model=Channel(type=standard_artifacts.Model),
        model_blessing=Channel(type=standard_artifacts.ModelBlessing),
    ).with_id("LatestBlessedModelResolver")
    branch = _model_branch(config, example_gen, schema_gen, transform, baseline_resolver,
                           vertex_training, vertex_tuning)
    trainer_component, evaluator = branch.trainer, branch.evaluator

    if vertex_serving is None:
        # A local push is staged and renamed into place, so it appears whole or not at all;
        # object stores have no atomic rename, and there TFX's own Pusher writes
        # saved_model.pb last, the file model servers wait for.
        pusher_class = Pusher if "://" in serving_directory else AtomicPusher
        pusher = pusher_class(
            model=trainer_component.outputs["model"],
            model_blessing=evaluator.outputs["blessing"],
            push_destination=pusher_pb2.PushDestination(
                filesystem=pusher_pb2.PushDestination.Filesystem(
                    base_directory=serving_directory)),
        )
    else:
        from tfx.extensions.google_cloud_ai_platform.pusher import component as vertex_pusher

        pusher = vertex_pusher.Pusher(
            model=trainer_component.outputs["model"],
            model_blessing=evaluator.outputs["blessing"],
            custom_config=dict(vertex_serving),
        )
    pusher = pusher.with_id("Pusher")

    return tfx_pipeline.Pipeline(
        pipeline_name=config.pipeline_name,
        pipeline_root=pipeline_root,
        components=[*front, baseline_resolver, *branch.nodes, pusher],
        enable_cache=True,
        metadata_connection_config=metadata_connection_config,
        beam_pipeline_args=list(beam_pipeline_args),
    )


@dataclasses.dataclass
class ModelBranch:
    """The nodes that train, judge and report on one model configuration."""

    tuner: BaseNode | None
    trainer: BaseNode
    evaluator: BaseNode
    report: BaseNode

    @property
    def nodes(self) -> list[BaseNode]:
        return [node for node in (self.tuner, self.trainer, self.evaluator, self.report) if node]


def comparison_pipeline_name(config: PipelineConfig) -> str:
    """Train-all runs are a pipeline of their own in ML Metadata: their models are never
    the production pipeline's baseline, and its run history stays its own."""
    return f"{config.pipeline_name}-train-all"


def _model_branch(config: PipelineConfig, example_gen: BaseNode, schema_gen: BaseNode,
                  transform: BaseNode, baseline_resolver: BaseNode | None,
                  vertex_training: Mapping[str, Any] | None,
                  vertex_tuning: Mapping[str, Any] | None, suffix: str = "") -> ModelBranch:
    """Tuner (when searching), Trainer, Evaluator and report for `config`'s model; node ids
    end with `suffix`, so that several branches can share one pipeline."""
    # What the Tuner and the Trainer both read: Transform's output, split the same way.
    training_inputs = {
        "examples": transform.outputs["transformed_examples"],
        "transform_graph": transform.outputs["transform_graph"],
        "schema": schema_gen.outputs["schema"],
        "train_args": trainer_pb2.TrainArgs(splits=["train"]),
        "eval_args": trainer_pb2.EvalArgs(splits=["eval"]),
    }
    tuner = None
    if config.hyperparameter_search != "off":
        from tfx.components import Tuner
        from tfx.proto import tuner_pb2

        from models.tuning import search_settings

        tuner_class: type[Tuner] = Tuner
        if vertex_tuning is not None:
            from tfx.extensions.google_cloud_ai_platform.tuner import component as vertex_tuner

            tuner_class = vertex_tuner.Tuner
        tuner = tuner_class(
            tuner_fn="models.tuning.tuner_fn",
            **training_inputs,
            # TFX's local Tuner refuses TuneArgs; only the Vertex one runs trials at once.
            tune_args=(tuner_pb2.TuneArgs(num_parallel_trials=config.search_parallel_trials)
                       if vertex_tuning is not None else None),
            custom_config={
                "training_settings": training_settings(config),
                "search": search_settings(config),
                "code": source_fingerprint(_CODE_FILES["trainer"]),
                **(vertex_tuning or {}),
            },
        ).with_id(f"Tuner{suffix}")

    trainer_class: type[Trainer] = Trainer
    if vertex_training is not None:
        from tfx.extensions.google_cloud_ai_platform.trainer import component as vertex_trainer

        trainer_class = vertex_trainer.Trainer
    trainer_component = trainer_class(
        run_fn="models.trainer.run_fn",
        **training_inputs,
        hyperparameters=tuner.outputs["best_hyperparameters"] if tuner else None,
        custom_config={
            "training_settings": training_settings(config),
            "code": source_fingerprint(_CODE_FILES["trainer"]),
            **(vertex_training or {}),
        },
    ).with_id(f"Trainer{suffix}")

    evaluator = Evaluator(
        examples=example_gen.outputs["examples"],
        model=trainer_component.outputs["model"],
        baseline_model=baseline_resolver.outputs["model"] if baseline_resolver else None,
        eval_config=eval_config_from(config),
        example_splits=["eval"],
    ).with_id(f"Evaluator{suffix}")

    model_report = ModelReportGen(
        examples=example_gen.outputs["examples"],
        model=trainer_component.outputs["model"],
        evaluation=evaluator.outputs["evaluation"],
        blessing=evaluator.outputs["blessing"],
        settings=report_settings(config),
        code=source_fingerprint(_CODE_FILES["report"]),
        tuner_results=tuner.outputs["tuner_results"] if tuner else None,
    ).with_id(f"ModelReportGen{suffix}")
    return ModelBranch(tuner, trainer_component, evaluator, model_report)

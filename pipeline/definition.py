"""The pipeline definitions, for every runner, local or cloud: `create_pipeline` (the
production pipeline) and `create_train_all_pipeline` (model variants compared on one
data preparation). Both are built from the same two parts: the data steps, and a model
branch (Tuner, Trainer, Evaluator, report) per model.

They name no dataset: features, label, slices and the data source all come from
`PipelineConfig`, and each component receives exactly the settings its step reads (see
`Step` in pipeline/config.py). Everything that depends on where it runs (paths, metadata
store, Beam arguments) is an argument, so the runners only gather those values and call
one of them.
"""

from __future__ import annotations

import dataclasses
import datetime
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from ml_metadata.proto import metadata_store_pb2
from tfx.components import (
    BulkInferrer,
    Evaluator,
    ExampleValidator,
    SchemaGen,
    StatisticsGen,
    Trainer,
    Transform,
    Tuner,
)
from tfx.dsl.components.base import executor_spec
from tfx.dsl.components.base.base_node import BaseNode
from tfx.dsl.components.common.importer import Importer
from tfx.dsl.components.common.resolver import Resolver
from tfx.dsl.input_resolution.strategies.latest_artifact_strategy import LatestArtifactStrategy
from tfx.dsl.input_resolution.strategies.latest_blessed_model_strategy import (
    LatestBlessedModelStrategy,
)
from tfx.extensions.google_cloud_big_query.example_gen.component import BigQueryExampleGen
from tfx.orchestration import pipeline as tfx_pipeline
from tfx.proto import bulk_inferrer_pb2, pusher_pb2, trainer_pb2, tuner_pb2
from tfx.types import Channel, standard_artifacts

from evaluation.slices import eval_config_from
from pipeline.bigquery import bigquery_query, scoring_query
from pipeline.components.anomaly_gate import AcceptedStatistics, DataAnomalyGate
from pipeline.components.atomic_pusher import AtomicPusher, SandboxedPusher
from pipeline.components.bigquery_example_gen import BigQueryExecutor
from pipeline.components.curated_schema import ImportCuratedSchema
from pipeline.components.example_gen import (
    SCORING_SPLIT,
    record_file_example_gen,
    scoring_split_config,
    split_config,
)
from pipeline.components.model_report import ModelReportGen
from pipeline.components.prediction_writer import PredictionWriter
from pipeline.components.serving_sandbox import ServingSandbox
from pipeline.config import (
    EvaluatorSettings,
    ModelReportSettings,
    PipelineConfig,
    SandboxSettings,
    ScoringSettings,
    TrainingSettings,
    TransformSettings,
    TunerSettings,
    comparison_pipeline_name,
    scoring_pipeline_name,
)
from pipeline.fingerprint import code_fingerprint

# The user functions TFX loads by module path in the component's process.
PREPROCESSING_FN = "preprocessing.preprocessing_fn"
RUN_FN = "models.trainer.run_fn"
TUNER_FN = "models.tuning.tuner_fn"


# Every entry through which a component runs our code: a user function's path as TFX is
# given it ("module.function"), or our component's class or factory. Each component
# carries `code_of` its entry; the images must carry every module these import.
CODE_ENTRIES: tuple[Any, ...] = (
    PREPROCESSING_FN, RUN_FN, TUNER_FN, record_file_example_gen, ImportCuratedSchema,
    DataAnomalyGate, ModelReportGen, ServingSandbox, AtomicPusher, PredictionWriter)


def entry_module(entry: Any) -> str:
    """The module a code entry lives in."""
    return entry.rpartition(".")[0] if isinstance(entry, str) else entry.__module__


def code_of(entry: Any) -> str:
    """The code fingerprint (pipeline/fingerprint.py) of `entry`, one of CODE_ENTRIES."""
    if entry not in CODE_ENTRIES:
        raise ValueError(f"{entry!r} is not in CODE_ENTRIES; add it there.")
    return code_fingerprint(entry_module(entry))


class LatestOrNothingStrategy(LatestArtifactStrategy):
    """The latest artifact, or an empty input when there is none yet.

    TFX's LatestArtifactStrategy reports "no inputs" on a first run, which LocalDagRunner
    records as a failed execution; an empty list is the honest answer, and the input it
    feeds is optional.
    """

    def resolve_artifacts(self, store: Any, input_dict: dict[str, list[Any]]
                          ) -> dict[str, list[Any]]:
        return self._resolve(input_dict)


@dataclasses.dataclass
class DataSteps:
    """The nodes that read, check and transform the data, shared by every model branch."""

    example_gen: BaseNode
    schema_gen: BaseNode
    transform: BaseNode
    nodes: list[BaseNode]


def _data_steps(config: PipelineConfig, window_end: datetime.date | None,
                kubeflow_v2: bool) -> DataSteps:
    """ExampleGen, StatisticsGen, the schema, ExampleValidator, the data gate (with the last
    accepted statistics) and Transform."""
    if config.data_source == "bigquery":
        example_gen = BigQueryExampleGen(
            query=bigquery_query(config, window_end), output_config=split_config(config),
            custom_executor_spec=executor_spec.BeamExecutorSpec(BigQueryExecutor))
    else:
        example_gen = record_file_example_gen(config, code_of(record_file_example_gen))
    example_gen = example_gen.with_id("ExampleGen")

    statistics_gen = StatisticsGen(examples=example_gen.outputs["examples"])
    if config.schema_path:
        schema_gen = ImportCuratedSchema(
            schema_text=Path(config.resolved_schema_path()).read_text(),
            code=code_of(ImportCuratedSchema))
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
        label=json.dumps({"name": config.label_name, "task": config.task,
                          "text_features": list(config.text_features)}, sort_keys=True),
        code=code_of(DataAnomalyGate),
        baseline_statistics=last_accepted_statistics.outputs["statistics"],
    )

    transform = Transform(
        examples=example_gen.outputs["examples"],
        schema=schema_gen.outputs["schema"],
        preprocessing_fn=PREPROCESSING_FN,
        # StatisticsGen already profiles the raw data; statistics of the transformed data
        # would double the Beam work of Transform for nothing the pipeline reads.
        disable_statistics=True,
        custom_config={"settings": TransformSettings.from_config(config).to_dict(),
                       "code": code_of(PREPROCESSING_FN)},
    )
    transform.add_upstream_node(anomaly_gate)
    return DataSteps(example_gen, schema_gen, transform,
                     [example_gen, statistics_gen, schema_gen, example_validator,
                      last_accepted_statistics, anomaly_gate, transform])


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
) -> tfx_pipeline.Pipeline:
    """The production pipeline for `config`: data steps, one model branch judged against
    the last blessed model, and a Pusher that ships blessed models to `serving_directory`.

    `vertex_training` (the Vertex AI Trainer's custom_config) moves training to Vertex AI
    Training; `vertex_serving` (the Vertex AI Pusher's) deploys to an endpoint instead of
    copying files; `vertex_tuning` (the Vertex AI Tuner's) runs search trials there, as
    many at once as `search_parallel_trials`. `pipeline/orchestration/vertex.py` builds
    all three; None keeps everything in the step.
    `window_end` fixes the day a moving BigQuery window ends (a run built for one day);
    None leaves it to the query's run time (a compiled template that serves a schedule).
    `kubeflow_v2` builds for KubeflowV2DagRunner, whose resolvers take only TFX's own
    strategies.
    """
    data = _data_steps(config, window_end, kubeflow_v2)
    baseline_resolver = Resolver(
        strategy_class=LatestBlessedModelStrategy,
        model=Channel(type=standard_artifacts.Model),
        model_blessing=Channel(type=standard_artifacts.ModelBlessing),
    ).with_id("LatestBlessedModelResolver")
    branch = _model_branch(config, data, baseline_resolver, vertex_training, vertex_tuning,
                           sandbox=True)
    sandbox = branch.sandbox

    # Every Pusher here ships only what both the Evaluator and the sandbox passed, and
    # ships the sandbox's copy, which carries TF Serving's warmup requests.
    gates = {"model": branch.trainer.outputs["model"],
             "model_blessing": branch.evaluator.outputs["blessing"],
             "infra_blessing": sandbox.outputs["blessing"]}
    if vertex_serving is None:
        # A local push is staged and renamed into place, so it appears whole or not at all;
        # object stores have no atomic rename, and there TFX's own Pusher writes
        # saved_model.pb last, the file model servers wait for.
        local = "://" not in serving_directory
        pusher = (AtomicPusher if local else SandboxedPusher)(
            **gates,
            push_destination=pusher_pb2.PushDestination(
                filesystem=pusher_pb2.PushDestination.Filesystem(
                    base_directory=serving_directory)),
            custom_config={"code": code_of(AtomicPusher)},
        )
    else:
        # Imported here: aiplatform, under TFX's Vertex extensions, takes ~9 s to import
        # and only a cloud pipeline needs it.
        from pipeline.components.vertex_pusher import SandboxedVertexPusher

        pusher = SandboxedVertexPusher(**gates, custom_config=dict(vertex_serving))
    pusher = pusher.with_id("Pusher")
    # The push does not wait for the report: a report that fails cannot hold back a push
    # the Evaluator and the sandbox allowed.
    branch.report.add_upstream_node(pusher)

    return tfx_pipeline.Pipeline(
        pipeline_name=config.pipeline_name,
        pipeline_root=pipeline_root,
        components=[*data.nodes, baseline_resolver, *branch.nodes, pusher],
        enable_cache=True,
        metadata_connection_config=metadata_connection_config,
        beam_pipeline_args=list(beam_pipeline_args),
    )


def create_scoring_pipeline(
    config: PipelineConfig,
    model_uri: str | None,
    pipeline_root: str,
    metadata_connection_config: metadata_store_pb2.ConnectionConfig | None = None,
    beam_pipeline_args: Sequence[str] = (),
) -> tfx_pipeline.Pipeline:
    """Batch predictions (batch_predict.py): the table to score (`scoring_data_path`, or
    `scoring_bigquery_table` with data_source=bigquery) read without a label, TFX's
    BulkInferrer on the model, and PredictionWriter (JSON lines, and BigQuery when
    `predictions_bigquery_table` is set).

    The model: locally, `model_uri`, a pushed model's Model artifact found in ML Metadata
    by pipeline/orchestration/scoring.py, brought in by an Importer of that artifact's own
    URI, so that in the same store it is that artifact and a prediction file's lineage runs
    back to the Trainer, its data and code. Compiled for Vertex AI (`model_uri` None),
    where nothing can be looked up before the run, a resolver asks Vertex's metadata for
    the latest model the Evaluator blessed: the pushed one unless the serving sandbox
    blocked the latest blessed model."""
    if config.data_source == "bigquery":
        example_gen = BigQueryExampleGen(
            query=scoring_query(config), output_config=scoring_split_config(),
            custom_executor_spec=executor_spec.BeamExecutorSpec(BigQueryExecutor))
    else:
        example_gen = record_file_example_gen(config, code_of(record_file_example_gen),
                                              scoring=True)
    example_gen = example_gen.with_id("ScoringExampleGen")
    if model_uri is None:
        model_node = Resolver(
            strategy_class=LatestBlessedModelStrategy,
            model=Channel(type=standard_artifacts.Model),
            model_blessing=Channel(type=standard_artifacts.ModelBlessing),
        ).with_id("LatestBlessedModelResolver")
        model = model_node.outputs["model"]
    else:
        model_node = Importer(source_uri=model_uri, artifact_type=standard_artifacts.Model,
                              reimport=False).with_id("PushedModelImporter")
        model = model_node.outputs["result"]
    inferrer = BulkInferrer(
        examples=example_gen.outputs["examples"],
        model=model,
        data_spec=bulk_inferrer_pb2.DataSpec(example_splits=[SCORING_SPLIT]),
        model_spec=bulk_inferrer_pb2.ModelSpec(model_signature_name=["serving_default"]),
    )
    writer = PredictionWriter(
        inference_result=inferrer.outputs["inference_result"],
        settings=json.dumps(ScoringSettings.from_config(config).to_dict(), sort_keys=True),
        code=code_of(PredictionWriter),
    )
    return tfx_pipeline.Pipeline(
        pipeline_name=scoring_pipeline_name(config),
        pipeline_root=pipeline_root,
        components=[example_gen, model_node, inferrer, writer],
        enable_cache=True,
        metadata_connection_config=metadata_connection_config,
        beam_pipeline_args=list(beam_pipeline_args),
    )


def create_data_pipeline(
    config: PipelineConfig,
    pipeline_root: str,
    metadata_connection_config: metadata_store_pb2.ConnectionConfig | None = None,
    beam_pipeline_args: Sequence[str] = (),
) -> tfx_pipeline.Pipeline:
    """The data steps alone, up to Transform, for `config` (named `<pipeline>-data`, so its
    runs are no production run): what a training check on other hardware starts from
    (benchmarks/gpu_check.py)."""
    data = _data_steps(config, None, False)
    return tfx_pipeline.Pipeline(
        pipeline_name=f"{config.pipeline_name}-data",
        pipeline_root=pipeline_root,
        components=data.nodes,
        enable_cache=True,
        metadata_connection_config=metadata_connection_config,
        beam_pipeline_args=list(beam_pipeline_args),
    )


def create_train_all_pipeline(
    config: PipelineConfig,
    model_variants: Mapping[str, PipelineConfig],
    pipeline_root: str,
    metadata_connection_config: metadata_store_pb2.ConnectionConfig | None = None,
    beam_pipeline_args: Sequence[str] = (),
    vertex_training: Mapping[str, Any] | None = None,
    vertex_tuning: Mapping[str, Any] | None = None,
    window_end: datetime.date | None = None,
    kubeflow_v2: bool = False,
) -> tfx_pipeline.Pipeline:
    """Train-all: the data steps of `config` once, then a model branch per variant (name ->
    config), every one trained on the same Transform output and judged on the same eval
    split. It is a pipeline of its own (`comparison_pipeline_name`): nothing is pushed,
    and no variant becomes a baseline for another or for the production pipeline.
    Arguments as for `create_pipeline`."""
    data = _data_steps(config, window_end, kubeflow_v2)
    branches = [_model_branch(variant_config, data, None, vertex_training, vertex_tuning,
                              suffix=f"_{name}")
                for name, variant_config in model_variants.items()]
    return tfx_pipeline.Pipeline(
        pipeline_name=comparison_pipeline_name(config),
        pipeline_root=pipeline_root,
        components=[*data.nodes, *(node for branch in branches for node in branch.nodes)],
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
    sandbox: BaseNode | None = None

    @property
    def nodes(self) -> list[BaseNode]:
        return [node for node in (self.tuner, self.trainer, self.evaluator, self.sandbox,
                                  self.report) if node]


def _model_branch(config: PipelineConfig, data: DataSteps, baseline_resolver: BaseNode | None,
                  vertex_training: Mapping[str, Any] | None,
                  vertex_tuning: Mapping[str, Any] | None, suffix: str = "",
                  sandbox: bool = False) -> ModelBranch:
    """Tuner (when searching), Trainer, Evaluator, the serving sandbox (`sandbox`: a branch
    whose model may be pushed) and report for `config`'s model; node ids end with
    `suffix`, so that several branches can share one pipeline."""
    # What the Tuner and the Trainer both read: Transform's output, split the same way.
    training_inputs = {
        "examples": data.transform.outputs["transformed_examples"],
        "transform_graph": data.transform.outputs["transform_graph"],
        "schema": data.schema_gen.outputs["schema"],
        "train_args": trainer_pb2.TrainArgs(splits=["train"]),
        "eval_args": trainer_pb2.EvalArgs(splits=["eval"]),
    }
    tuner = None
    if config.hyperparameter_search != "off":
        tuner_class: type[Tuner] = Tuner
        if vertex_tuning is not None:
            # Imported here: aiplatform takes ~9 s to import; only cloud pipelines need it.
            from tfx.extensions.google_cloud_ai_platform.tuner import component as vertex_tuner

            tuner_class = vertex_tuner.Tuner
        tuner = tuner_class(
            tuner_fn=TUNER_FN,
            **training_inputs,
            # TFX's local Tuner refuses TuneArgs; only the Vertex one runs trials at once.
            tune_args=(tuner_pb2.TuneArgs(num_parallel_trials=config.search_parallel_trials)
                       if vertex_tuning is not None else None),
            custom_config={
                "tuner_settings": TunerSettings.from_config(config).to_dict(),
                "code": code_of(TUNER_FN),
                **(vertex_tuning or {}),
            },
        ).with_id(f"Tuner{suffix}")

    trainer_class: type[Trainer] = Trainer
    if vertex_training is not None:
        # Imported here: aiplatform takes ~9 s to import; only cloud pipelines need it.
        from tfx.extensions.google_cloud_ai_platform.trainer import component as vertex_trainer

        trainer_class = vertex_trainer.Trainer
    trainer_component = trainer_class(
        run_fn=RUN_FN,
        **training_inputs,
        hyperparameters=tuner.outputs["best_hyperparameters"] if tuner else None,
        custom_config={
            "training_settings": TrainingSettings.from_config(config).to_dict(),
            "code": code_of(RUN_FN),
            **(vertex_training or {}),
        },
    ).with_id(f"Trainer{suffix}")

    evaluator = Evaluator(
        examples=data.example_gen.outputs["examples"],
        model=trainer_component.outputs["model"],
        baseline_model=baseline_resolver.outputs["model"] if baseline_resolver else None,
        eval_config=eval_config_from(EvaluatorSettings.from_config(config)),
        example_splits=["eval"],
    ).with_id(f"Evaluator{suffix}")

    # The blessed candidate served from a fresh process before anything ships it.
    serving_sandbox = ServingSandbox(
        model=trainer_component.outputs["model"],
        model_blessing=evaluator.outputs["blessing"],
        examples=data.example_gen.outputs["examples"],
        settings=json.dumps(SandboxSettings.from_config(config).to_dict(), sort_keys=True),
        code=code_of(ServingSandbox),
    ).with_id(f"ServingSandbox{suffix}") if sandbox else None

    model_report = ModelReportGen(
        examples=data.example_gen.outputs["examples"],
        model=trainer_component.outputs["model"],
        evaluation=evaluator.outputs["evaluation"],
        blessing=evaluator.outputs["blessing"],
        settings=json.dumps(ModelReportSettings.from_config(config).to_dict(), sort_keys=True),
        code=code_of(ModelReportGen),
        tuner_results=tuner.outputs["tuner_results"] if tuner else None,
        sandbox=serving_sandbox.outputs["blessing"] if serving_sandbox else None,
    ).with_id(f"ModelReportGen{suffix}")
    return ModelBranch(tuner, trainer_component, evaluator, model_report, serving_sandbox)

"""The pipeline definition, for every runner, local or cloud: `create_pipeline(config,
target, kind)` builds a pipeline of `kind` (pipeline/kinds.py: training, train-all,
scoring, the data steps alone) for `target` (pipeline/targets.py: where it runs). The
kinds share their parts: the data steps, and a model branch (Tuner, Trainer, Evaluator,
sandbox, report) per model.

It names no dataset: features, label, slices and the data source all come from
`PipelineConfig`, and each component receives exactly the settings its step reads (a
typed view, see `Step` in pipeline/settings/). Everything that depends on where it runs
(paths, metadata store, Beam arguments, component classes, resolver strategies) is the
target's, so the runners only gather those values and call it.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tfx.components import ExampleValidator, SchemaGen
from tfx.dsl.components.base import executor_spec
from tfx.dsl.components.base.base_node import BaseNode
from tfx.dsl.components.common.importer import Importer
from tfx.dsl.components.common.resolver import Resolver
from tfx.dsl.input_resolution.strategies.latest_blessed_model_strategy import (
    LatestBlessedModelStrategy,
)
from tfx.extensions.google_cloud_big_query.example_gen.component import BigQueryExampleGen
from tfx.orchestration import pipeline as tfx_pipeline
from tfx.proto import trainer_pb2, transform_pb2, tuner_pb2
from tfx.types import Channel, standard_artifacts

from evaluation.slices import eval_config_from
from pipeline.components.anomaly_gate import AcceptedStatistics, DataAnomalyGate
from pipeline.components.atomic_pusher import AtomicPusher
from pipeline.components.batch_scorer import BatchScorer
from pipeline.components.bigquery_example_gen import BigQueryExecutor
from pipeline.components.curated_schema import ImportCuratedSchema
from pipeline.components.evaluator import Evaluator
from pipeline.components.example_gen import (
    one_split_config,
    record_file_example_gen,
    scoring_split_config,
    split_config,
)
from pipeline.components.model_health import ABComparison, ModelHealthCheck
from pipeline.components.model_report import ModelReportGen
from pipeline.components.retraining import RetrainingTrigger
from pipeline.components.statistics_gen import StatisticsGen
from pipeline.components.transform import Transform
from pipeline.fingerprint import code_fingerprint
from pipeline.kinds import (
    TRAINING,
    ContinuousEvaluation,
    DataOnly,
    Node,
    PipelineKind,
    Scoring,
    TrainAll,
    Training,
)
from pipeline.serving.sandbox import ServingSandbox
from pipeline.settings import (
    EVAL_SPLIT,
    TRAIN_SPLIT,
    VALIDATION_SPLIT,
    DataCheckSettings,
    EvaluatorSettings,
    IngestionSettings,
    ModelReportSettings,
    MonitoringSettings,
    PipelineConfig,
    SandboxSettings,
    ScoringIngestionSettings,
    ScoringSettings,
    StepSettings,
    TrainingSettings,
    TransformSettings,
    TunerSettings,
    resolve_data_path,
)
from pipeline.settings.bigquery import bigquery_query, evaluation_query, scoring_query
from pipeline.targets import Target

# The user functions TFX loads by module path in the component's process.
PREPROCESSING_FN = "preprocessing.preprocessing_fn"
RUN_FN = "models.trainer.run_fn"
TUNER_FN = "models.tuning.tuner_fn"

# The splits the Tuner and the Trainer read from Transform: they fit on the first and stop
# on the second; the eval split stays raw, for the Evaluator, which blesses on what they
# never chose by. Transform transforms these and no others.
FIT_SPLIT, STOP_SPLIT = TRAIN_SPLIT, VALIDATION_SPLIT


# Every entry through which a component runs our code: a user function's path as TFX is
# given it ("module.function"), or our component's class or factory. Each component
# carries `code_of` its entry; the images must carry every module these import.
CODE_ENTRIES: tuple[Any, ...] = (
    PREPROCESSING_FN, RUN_FN, TUNER_FN, record_file_example_gen, ImportCuratedSchema,
    StatisticsGen, DataAnomalyGate, Transform, Evaluator, ModelReportGen, ServingSandbox,
    AtomicPusher, BatchScorer, ModelHealthCheck, ABComparison, RetrainingTrigger)


def entry_module(entry: Any) -> str:
    """The module a code entry lives in."""
    return entry.rpartition(".")[0] if isinstance(entry, str) else entry.__module__


def code_of(entry: Any) -> str:
    """The code fingerprint (pipeline/fingerprint.py) of `entry`, one of CODE_ENTRIES."""
    if entry not in CODE_ENTRIES:
        raise ValueError(f"{entry!r} is not in CODE_ENTRIES; add it there.")
    return code_fingerprint(entry_module(entry))


@dataclasses.dataclass
class DataSteps:
    """The nodes that read, check and transform the data, shared by every model branch."""

    example_gen: BaseNode
    schema_gen: BaseNode
    transform: BaseNode
    nodes: list[BaseNode]


def _training_example_gen(config: PipelineConfig, target: Target) -> BaseNode:
    """The ExampleGen of the training data: BigQuery's window, or the files."""
    settings = IngestionSettings.from_config(config)
    if config.data_source == "bigquery":
        return BigQueryExampleGen(
            query=bigquery_query(config, target.window_end), output_config=split_config(settings),
            custom_executor_spec=executor_spec.BeamExecutorSpec(BigQueryExecutor))
    return record_file_example_gen(settings, config.resolved_data_path(),
                                   split_config(settings), code_of(record_file_example_gen))


def _data_steps(config: PipelineConfig, target: Target) -> DataSteps:
    """ExampleGen, StatisticsGen, the schema, ExampleValidator, the data gate (with the last
    accepted statistics) and Transform."""
    example_gen = _training_example_gen(config, target).with_id(Node.EXAMPLE_GEN)
    statistics_gen = StatisticsGen(
        examples=example_gen.outputs["examples"],
        code=code_of(StatisticsGen)).with_id(Node.STATISTICS_GEN)
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
        strategy_class=target.latest_strategy,
        statistics=Channel(type=AcceptedStatistics),
    ).with_id(Node.LAST_ACCEPTED_STATISTICS)
    anomaly_gate = DataAnomalyGate(
        anomalies=example_validator.outputs["anomalies"],
        statistics=statistics_gen.outputs["statistics"],
        schema=schema_gen.outputs["schema"],
        settings=_settings_text(DataCheckSettings, config),
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
        # Analyze the training split; transform only what the Trainer and the Tuner read.
        # The Evaluator, the sandbox and the scorer read raw examples through the serving
        # signature, so transforming and writing the eval split (its default) was a fifth
        # of the rows' Beam work for files nothing opens.
        splits_config=transform_pb2.SplitsConfig(analyze=[FIT_SPLIT],
                                                 transform=[FIT_SPLIT, STOP_SPLIT]),
        # The analyzer cache serves a run that passes the last run's cache back in as an
        # input, which no pipeline here does; writing it cost 115 Beam transforms a run
        # (docs/benchmarks.md#transform-fixed-cost).
        disable_analyzer_cache=True,
        # tf.Transform's TF1 graph mode: the same transform (vocabularies identical, values
        # equal to float32 rounding), built in about a quarter less time, because TF2 mode traces
        # preprocessing_fn as a tf.function again for each of its saved models; Transform
        # is fixed cost on every run (docs/benchmarks.md#transform-fixed-cost).
        force_tf_compat_v1=True,
        custom_config={"settings": TransformSettings.from_config(config).to_dict(),
                       # The preprocessing function's code and the executor's.
                       "code": {"preprocessing_fn": code_of(PREPROCESSING_FN),
                                "executor": code_of(Transform)}},
    ).with_id(Node.TRANSFORM)
    transform.add_upstream_node(anomaly_gate)
    return DataSteps(example_gen, schema_gen, transform,
                     [example_gen, statistics_gen, schema_gen, example_validator,
                      last_accepted_statistics, anomaly_gate, transform])


def _settings_text(view: type[StepSettings], config: PipelineConfig) -> str:
    """A step's settings as one JSON parameter, typed back on the step's side."""
    return json.dumps(view.from_config(config).to_dict(), sort_keys=True)


StepsBuilder = Callable[[PipelineConfig, Target, PipelineKind], list[BaseNode]]
_STEPS: dict[type[PipelineKind], StepsBuilder] = {}


def steps_of(kind: type[PipelineKind]) -> Callable[[StepsBuilder], StepsBuilder]:
    """Registers a function as the builder of `kind`'s steps."""
    def register(builder: StepsBuilder) -> StepsBuilder:
        _STEPS[kind] = builder
        return builder
    return register


def create_pipeline(config: PipelineConfig, target: Target,
                    kind: PipelineKind = TRAINING) -> tfx_pipeline.Pipeline:
    """The pipeline of `kind` (pipeline/kinds.py; the production pipeline by default) for
    `config`, built for `target` (pipeline/targets.py: where it runs)."""
    if type(kind) not in _STEPS:
        raise TypeError(f"No steps are registered for {type(kind).__name__}; decorate its "
                        "builder with @steps_of.")
    return tfx_pipeline.Pipeline(
        pipeline_name=kind.pipeline_name(config),
        pipeline_root=target.pipeline_root,
        components=_STEPS[type(kind)](config, target, kind),
        enable_cache=True,
        metadata_connection_config=target.metadata_connection_config,
        beam_pipeline_args=list(target.beam_pipeline_args),
    )


@steps_of(Training)
def _training_steps(config: PipelineConfig, target: Target, kind: PipelineKind
                    ) -> list[BaseNode]:
    """Data steps, one model branch judged against the last blessed model, and a Pusher
    that ships blessed models to the target's serving directory or endpoint."""
    data = _data_steps(config, target)
    baseline_resolver = Resolver(
        strategy_class=LatestBlessedModelStrategy,
        model=Channel(type=standard_artifacts.Model),
        model_blessing=Channel(type=standard_artifacts.ModelBlessing),
    ).with_id(Node.BASELINE_MODEL)
    branch = _model_branch(config, data, target, baseline_resolver, sandbox=True)
    # Every Pusher ships only what both the Evaluator and the sandbox passed, and ships
    # the sandbox's copy, which carries TF Serving's warmup requests.
    pusher = target.pusher({"model": branch.trainer.outputs["model"],
                            "model_blessing": branch.evaluator.outputs["blessing"],
                            "infra_blessing": branch.sandbox.outputs["blessing"]},
                           code_of(AtomicPusher)).with_id(Node.PUSHER)
    # The push does not wait for the report: a report that fails cannot hold back a push
    # the Evaluator and the sandbox allowed.
    branch.report.add_upstream_node(pusher)
    return [*data.nodes, baseline_resolver, *branch.nodes, pusher]


@steps_of(Scoring)
def _scoring_steps(config: PipelineConfig, target: Target, kind: Scoring) -> list[BaseNode]:
    """Batch predictions (batch_predict.py): the table to score (`scoring_data_path`, or
    `scoring_bigquery_table` with data_source=bigquery) read without a label, our
    BatchScorer (the model on whole batches, JSON lines, and BigQuery when
    `predictions_bigquery_table` is set; pipeline/components/batch_scorer.py says why not
    TFX's BulkInferrer).

    The model: `kind.model_uri`, a pushed model's Model artifact found in ML Metadata by
    pipeline/orchestration/scoring.py, brought in by an Importer of that artifact's own
    URI, so that in the same store it is that artifact and a prediction file's lineage runs
    back to the Trainer, its data and code. Compiled for Vertex AI (`model_uri` None),
    where nothing can be looked up before the run, a resolver asks Vertex's metadata for
    the latest model the Evaluator blessed: the pushed one unless the serving sandbox
    blocked the latest blessed model."""
    settings = ScoringIngestionSettings.from_config(config)
    if config.data_source == "bigquery":
        example_gen = BigQueryExampleGen(
            query=scoring_query(config), output_config=scoring_split_config(),
            custom_executor_spec=executor_spec.BeamExecutorSpec(BigQueryExecutor))
    else:
        example_gen = record_file_example_gen(
            settings, resolve_data_path(config.scoring_data_path), scoring_split_config(),
            code_of(record_file_example_gen))
    example_gen = example_gen.with_id(Node.SCORING_EXAMPLE_GEN)
    if kind.model_uri is None:
        model_node = Resolver(
            strategy_class=LatestBlessedModelStrategy,
            model=Channel(type=standard_artifacts.Model),
            model_blessing=Channel(type=standard_artifacts.ModelBlessing),
        ).with_id(Node.BASELINE_MODEL)
        model = model_node.outputs["model"]
    else:
        model_node = Importer(source_uri=kind.model_uri, artifact_type=standard_artifacts.Model,
                              reimport=False).with_id(Node.PUSHED_MODEL)
        model = model_node.outputs["result"]
    scorer = BatchScorer(
        examples=example_gen.outputs["examples"],
        model=model,
        settings=_settings_text(ScoringSettings, config),
        code=code_of(BatchScorer),
    ).with_id(Node.BATCH_SCORER)
    return [example_gen, model_node, scorer]


@steps_of(ContinuousEvaluation)
def _evaluation_steps(config: PipelineConfig, target: Target, kind: ContinuousEvaluation
                      ) -> list[BaseNode]:
    """Continuous evaluation (`python -m pipeline evaluate-deployed`): the fresh labelled
    rows (`evaluation_data_path`, or with data_source=bigquery the table's last
    `evaluation_window_days`, or `evaluation_query`) read into one eval split with the
    training data's label handling; their statistics; the Evaluator's metrics per slice
    for the judged model, with the EvalConfig of training; ModelHealthCheck against the
    evaluation that blessed it and the statistics of its training data (what they are,
    locally and on Vertex AI: `_judged_model_references`); an ABComparison with each
    challenger (`ab_models`, found locally); and on Vertex AI, with
    `retrain_on_degradation`, the RetrainingTrigger that submits the training pipeline
    when the verdict says degraded (locally the runner retrains itself)."""
    settings = IngestionSettings.from_config(config)
    if config.data_source == "bigquery":
        example_gen = BigQueryExampleGen(
            query=evaluation_query(config), output_config=one_split_config(EVAL_SPLIT),
            custom_executor_spec=executor_spec.BeamExecutorSpec(BigQueryExecutor))
    else:
        example_gen = record_file_example_gen(
            settings, resolve_data_path(config.evaluation_data_path),
            one_split_config(EVAL_SPLIT), code_of(record_file_example_gen))
    example_gen = example_gen.with_id(Node.EVALUATION_EXAMPLE_GEN)
    statistics_gen = StatisticsGen(
        examples=example_gen.outputs["examples"],
        code=code_of(StatisticsGen)).with_id(Node.FRESH_STATISTICS)
    references = _judged_model_references(kind, target)
    model = references["model"]
    evaluator = Evaluator(
        examples=example_gen.outputs["examples"],
        model=model,
        eval_config=eval_config_from(EvaluatorSettings.from_config(config)),
        example_splits=[EVAL_SPLIT],
        code=code_of(Evaluator),
    ).with_id(Node.FRESH_EVALUATOR)
    monitoring = _settings_text(MonitoringSettings, config)
    health = ModelHealthCheck(
        model=model,
        evaluation=evaluator.outputs["evaluation"],
        reference_evaluation=references.get("evaluation"),
        model_blessing=references.get("blessing"),
        statistics=statistics_gen.outputs["statistics"],
        training_statistics=references["statistics"],
        schema=references["schema"],
        settings=monitoring,
        code=code_of(ModelHealthCheck),
    ).with_id(Node.HEALTH_CHECK)
    nodes = [example_gen, statistics_gen, *references["nodes"], evaluator, health]
    if config.retrain_on_degradation and target.retraining_job is not None:
        nodes.append(RetrainingTrigger(
            health=health.outputs["health"], job=json.dumps(dict(target.retraining_job),
                                                              sort_keys=True),
            code=code_of(RetrainingTrigger)).with_id(Node.RETRAINING_TRIGGER))
    for name, uri in kind.challengers.items():
        challenger = Importer(source_uri=uri, artifact_type=standard_artifacts.Model,
                              reimport=False).with_id(f"{Node.CHALLENGER}_{name}")
        comparison = ABComparison(
            examples=example_gen.outputs["examples"],
            model=model,
            challenger=challenger.outputs["result"],
            challenger_name=name,
            settings=monitoring,
            code=code_of(ABComparison),
        ).with_id(f"{Node.AB_COMPARISON}_{name}")
        nodes += [challenger, comparison]
    return nodes


def _judged_model_references(kind: ContinuousEvaluation, target: Target) -> dict[str, Any]:
    """The judged model and what it is compared against, as channels ("model",
    "statistics", "schema", and "evaluation" or "blessing"), with the nodes that bring
    them in ("nodes").

    Locally (`kind.reference` found in ML Metadata): Importers of the model's own
    artifacts: the model, the evaluation that blessed it, its run's accepted training
    statistics and its schema. Compiled for Vertex AI, where nothing can be looked up
    before the run: the latest blessed model and its blessing (whose `evaluation_uri`
    names the evaluation that blessed it, pipeline/components/evaluator.py), and the
    latest accepted statistics and schema, which are the blessed model's own unless a
    later training run's data passed its checks and its model was not blessed."""
    reference = kind.reference
    if reference is None:
        model = Resolver(
            strategy_class=LatestBlessedModelStrategy,
            model=Channel(type=standard_artifacts.Model),
            model_blessing=Channel(type=standard_artifacts.ModelBlessing),
        ).with_id(Node.BASELINE_MODEL)
        statistics = Resolver(strategy_class=target.latest_strategy,
                              statistics=Channel(type=AcceptedStatistics)
                              ).with_id(Node.LAST_ACCEPTED_STATISTICS)
        schema = Resolver(strategy_class=target.latest_strategy,
                          schema=Channel(type=standard_artifacts.Schema)
                          ).with_id(Node.LATEST_SCHEMA)
        return {"model": model.outputs["model"], "blessing": model.outputs["model_blessing"],
                "statistics": statistics.outputs["statistics"],
                "schema": schema.outputs["schema"], "nodes": [model, statistics, schema]}

    def imported(uri: str, artifact_type: type, node_id: str) -> BaseNode:
        return Importer(source_uri=uri, artifact_type=artifact_type,
                        reimport=False).with_id(node_id)

    nodes = [imported(reference.model_uri, standard_artifacts.Model, Node.PUSHED_MODEL),
             imported(reference.evaluation_uri, standard_artifacts.ModelEvaluation,
                      Node.REFERENCE_EVALUATION),
             imported(reference.statistics_uri, AcceptedStatistics, Node.TRAINING_STATISTICS),
             imported(reference.schema_uri, standard_artifacts.Schema, Node.TRAINING_SCHEMA)]
    return {"model": nodes[0].outputs["result"], "evaluation": nodes[1].outputs["result"],
            "statistics": nodes[2].outputs["result"], "schema": nodes[3].outputs["result"],
            "nodes": nodes}


@steps_of(DataOnly)
def _data_only_steps(config: PipelineConfig, target: Target, kind: PipelineKind
                     ) -> list[BaseNode]:
    """The data steps alone, up to Transform."""
    return _data_steps(config, target).nodes


@steps_of(TrainAll)
def _train_all_steps(config: PipelineConfig, target: Target, kind: TrainAll
                     ) -> list[BaseNode]:
    """The data steps of `config` once, then a model branch per variant, every one trained
    on the same Transform output and judged on the same eval split."""
    data = _data_steps(config, target)
    branches = [_model_branch(variant_config, data, target, None, suffix=f"_{name}")
                for name, variant_config in kind.variants.items()]
    return [*data.nodes, *(node for branch in branches for node in branch.nodes)]


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


def _model_branch(config: PipelineConfig, data: DataSteps, target: Target,
                  baseline_resolver: BaseNode | None, suffix: str = "",
                  sandbox: bool = False) -> ModelBranch:
    """Tuner (when searching), Trainer, Evaluator, the serving sandbox (`sandbox`: a branch
    whose model may be pushed) and report for `config`'s model; node ids end with
    `suffix`, so that several branches can share one pipeline."""
    # What the Tuner and the Trainer both read: Transform's output, split the same way.
    training_inputs = {
        "examples": data.transform.outputs["transformed_examples"],
        "transform_graph": data.transform.outputs["transform_graph"],
        "schema": data.schema_gen.outputs["schema"],
        "train_args": trainer_pb2.TrainArgs(splits=[FIT_SPLIT]),
        # The Trainer stops, and the Tuner picks its best trial, on validation; eval
        # stays for the Evaluator, which then blesses what it never chose.
        "eval_args": trainer_pb2.EvalArgs(splits=[STOP_SPLIT]),
    }
    tuner = None
    if config.hyperparameter_search != "off":
        tuner = target.tuner_class(
            tuner_fn=TUNER_FN,
            **training_inputs,
            tune_args=(tuner_pb2.TuneArgs(num_parallel_trials=config.search_parallel_trials)
                       if target.parallel_trials else None),
            custom_config={
                "tuner_settings": TunerSettings.from_config(config).to_dict(),
                "code": code_of(TUNER_FN),
                **(target.tuner_config or {}),
            },
        ).with_id(f"{Node.TUNER}{suffix}")

    trainer_component = target.trainer_class(
        run_fn=RUN_FN,
        **training_inputs,
        # warm_start: the latest blessed model's weights (models/warm_start.py); as an
        # input, ML Metadata records which model the run started from.
        base_model=(baseline_resolver.outputs["model"]
                    if config.warm_start and baseline_resolver else None),
        hyperparameters=tuner.outputs["best_hyperparameters"] if tuner else None,
        custom_config={
            "training_settings": TrainingSettings.from_config(config).to_dict(),
            "code": code_of(RUN_FN),
            **target.trainer_config,
        },
    ).with_id(f"{Node.TRAINER}{suffix}")

    evaluator = Evaluator(
        examples=data.example_gen.outputs["examples"],
        model=trainer_component.outputs["model"],
        baseline_model=baseline_resolver.outputs["model"] if baseline_resolver else None,
        eval_config=eval_config_from(EvaluatorSettings.from_config(config)),
        example_splits=[EVAL_SPLIT],
        code=code_of(Evaluator),
    ).with_id(f"{Node.EVALUATOR}{suffix}")

    # The blessed candidate served from a fresh process before anything ships it.
    serving_sandbox = ServingSandbox(
        model=trainer_component.outputs["model"],
        model_blessing=evaluator.outputs["blessing"],
        examples=data.example_gen.outputs["examples"],
        settings=_settings_text(SandboxSettings, config),
        code=code_of(ServingSandbox),
    ).with_id(f"{Node.SANDBOX}{suffix}") if sandbox else None

    model_report = ModelReportGen(
        examples=data.example_gen.outputs["examples"],
        model=trainer_component.outputs["model"],
        evaluation=evaluator.outputs["evaluation"],
        blessing=evaluator.outputs["blessing"],
        settings=_settings_text(ModelReportSettings, config),
        code=code_of(ModelReportGen),
        tuner_results=tuner.outputs["tuner_results"] if tuner else None,
        sandbox=serving_sandbox.outputs["blessing"] if serving_sandbox else None,
    ).with_id(f"{Node.REPORT}{suffix}")
    return ModelBranch(tuner, trainer_component, evaluator, model_report, serving_sandbox)

"""The kinds of pipeline this project builds, each owning its name and what it reads:
training (the production pipeline), train-all (model variants compared on one data
preparation), scoring (batch predictions), continuous evaluation (the serving model on
fresh labelled rows) and the data steps alone.

Plain Python, so the runners and the command line can name a kind before TFX loads;
each kind's steps are registered for it in pipeline/definition.py (`steps_of`), and
`create_pipeline(config, target, kind)` builds any of them for any target.
"""

from __future__ import annotations

import dataclasses
import datetime
from collections.abc import Mapping
from typing import ClassVar

from pipeline.settings import PipelineConfig, resolve_data_path
from pipeline.settings.bigquery import bigquery_query, evaluation_query, scoring_query


class Node:
    """The ids of the pipeline's nodes, written once: the definition names its nodes by
    them, and the runners, summaries and lineage find their steps by them (a model
    branch of train-all appends `_<variant>`)."""

    EXAMPLE_GEN = "ExampleGen"
    STATISTICS_GEN = "StatisticsGen"
    LAST_ACCEPTED_STATISTICS = "LastAcceptedStatisticsResolver"
    TRANSFORM = "Transform"
    BASELINE_MODEL = "LatestBlessedModelResolver"
    TUNER = "Tuner"
    TRAINER = "Trainer"
    EVALUATOR = "Evaluator"
    SANDBOX = "ServingSandbox"
    REPORT = "ModelReportGen"
    PUSHER = "Pusher"
    SCORING_EXAMPLE_GEN = "ScoringExampleGen"
    PUSHED_MODEL = "PushedModelImporter"
    BATCH_SCORER = "BatchScorer"
    EVALUATION_EXAMPLE_GEN = "FreshExampleGen"
    FRESH_STATISTICS = "FreshStatisticsGen"
    FRESH_EVALUATOR = "FreshEvaluator"  # the Evaluator on fresh rows: not a blessing
    REFERENCE_EVALUATION = "BlessingTimeEvaluationImporter"
    TRAINING_STATISTICS = "TrainingStatisticsImporter"
    TRAINING_SCHEMA = "TrainingSchemaImporter"
    HEALTH_CHECK = "ModelHealthCheck"
    LATEST_SCHEMA = "LatestSchemaResolver"
    RETRAINING_TRIGGER = "RetrainingTrigger"
    AB_COMPARISON = "ABComparison"  # one per challenger: `ABComparison_<version>`
    CHALLENGER = "ChallengerImporter"  # `ChallengerImporter_<version>`


@dataclasses.dataclass(frozen=True)
class PipelineKind:
    """A kind of pipeline: a pipeline of its own in ML Metadata, named by `suffix`."""

    suffix: ClassVar[str] = ""
    # What a schedule of this kind is called on Vertex AI ("" : not scheduled).
    schedule_name: ClassVar[str] = ""
    # True: it reads a table to score (`scoring_data_path`, `scoring_bigquery_table`)
    # without a label; False: the training data (`data_path`, the BigQuery window).
    scores_rows: ClassVar[bool] = False

    @classmethod
    def pipeline_name(cls, config: PipelineConfig) -> str:
        return f"{config.pipeline_name}{cls.suffix}"

    # What it reads: the training data, unless a kind reads something else.
    @classmethod
    def data_path(cls, config: PipelineConfig) -> str:
        """The file or glob it reads (data_source=file), resolved."""
        return config.resolved_data_path()

    @classmethod
    def bigquery_table(cls, config: PipelineConfig) -> str:
        return config.bigquery_table

    @classmethod
    def query(cls, config: PipelineConfig, window_end: datetime.date | None) -> str:
        """The BigQuery query it reads (data_source=bigquery)."""
        return bigquery_query(config, window_end)

    # The node that reads its rows.
    example_gen_node: ClassVar[str] = Node.EXAMPLE_GEN

    @classmethod
    def window_moves(cls, config: PipelineConfig) -> bool:
        """Whether its BigQuery rows are a window that moves with the day the query runs
        (its text then stays the same while the rows change, so a cache must not serve
        it)."""
        return config.data_source == "bigquery" and bool(config.bigquery_window_days)


@dataclasses.dataclass(frozen=True)
class Training(PipelineKind):
    """The production pipeline: data steps, one model judged against the last blessed
    model, the serving sandbox, and the Pusher."""

    schedule_name: ClassVar[str] = "retraining"


@dataclasses.dataclass(frozen=True)
class TrainAll(PipelineKind):
    """Every model variant (name -> config) trained on one data preparation and judged on
    one eval split; nothing is pushed, and no variant becomes a baseline for another or
    for the production pipeline."""

    variants: Mapping[str, PipelineConfig] = dataclasses.field(default_factory=dict)
    suffix: ClassVar[str] = "-train-all"


@dataclasses.dataclass(frozen=True)
class Scoring(PipelineKind):
    """Batch predictions, in the training pipeline's store so their lineage reaches its
    models. `model_uri`: the Model artifact's URI to score with (found in ML Metadata
    locally); None, compiled for Vertex AI: the latest model the Evaluator blessed."""

    model_uri: str | None = None
    suffix: ClassVar[str] = "-scoring"
    schedule_name: ClassVar[str] = "scoring"
    scores_rows: ClassVar[bool] = True
    example_gen_node: ClassVar[str] = Node.SCORING_EXAMPLE_GEN

    @classmethod
    def window_moves(cls, config: PipelineConfig) -> bool:
        return False  # the whole table, every time

    @classmethod
    def data_path(cls, config: PipelineConfig) -> str:
        return resolve_data_path(config.scoring_data_path)

    @classmethod
    def bigquery_table(cls, config: PipelineConfig) -> str:
        return config.scoring_bigquery_table

    @classmethod
    def query(cls, config: PipelineConfig, window_end: datetime.date | None) -> str:
        """Every row of the table to score; it has no window."""
        return scoring_query(config)


@dataclasses.dataclass(frozen=True)
class ModelReference:
    """What a model was judged on and trained from, as artifact URIs in ML Metadata: the
    Evaluator's output that blessed it, the accepted statistics of its training data, and
    its schema."""

    model_uri: str
    evaluation_uri: str
    statistics_uri: str
    schema_uri: str


@dataclasses.dataclass(frozen=True)
class ContinuousEvaluation(PipelineKind):
    """The serving model judged on fresh labelled rows (`evaluation_data_path`, or with
    data_source=bigquery the last `evaluation_window_days` of the table): the Evaluator's
    metrics per slice compared with those it had when it was blessed, the rows' statistics
    with its training data's, and each A/B challenger compared with it on the same rows. In
    the training pipeline's store, so the verdict is linked to the model. `reference`: the
    judged model's URIs (found in ML Metadata locally); `challengers`: version -> Model URI."""

    reference: ModelReference | None = None
    challengers: Mapping[str, str] = dataclasses.field(default_factory=dict)
    suffix: ClassVar[str] = "-evaluation"
    schedule_name: ClassVar[str] = "evaluation"
    example_gen_node: ClassVar[str] = Node.EVALUATION_EXAMPLE_GEN

    @classmethod
    def window_moves(cls, config: PipelineConfig) -> bool:
        return config.data_source == "bigquery" and not config.evaluation_query

    @classmethod
    def data_path(cls, config: PipelineConfig) -> str:
        return resolve_data_path(config.evaluation_data_path)

    @classmethod
    def bigquery_table(cls, config: PipelineConfig) -> str:
        return ""

    @classmethod
    def query(cls, config: PipelineConfig, window_end: datetime.date | None) -> str:
        """The last `evaluation_window_days` of labelled rows, or `evaluation_query`."""
        return evaluation_query(config)


@dataclasses.dataclass(frozen=True)
class DataOnly(PipelineKind):
    """The data steps alone, up to Transform: what a training check on other hardware
    starts from (benchmarks/gpu_check.py)."""

    suffix: ClassVar[str] = "-data"


# The kind a runner builds unless told otherwise.
TRAINING = Training()


def kinds() -> tuple[type[PipelineKind], ...]:
    """Every kind declared here."""
    return tuple(value for value in globals().values()
                 if isinstance(value, type) and issubclass(value, PipelineKind)
                 and value is not PipelineKind)


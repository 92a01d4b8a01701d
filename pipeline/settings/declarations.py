"""Every setting of a run, declared once: its type, default, the steps that read it, and
its own limits. The machinery that types values and cuts per-step views from these
declarations is pipeline/settings/views.py.

The defaults are the fields of `PipelineConfig` below, and they name no dataset: a
dataset is one file, `datasets/<name>.yaml`, holding its columns by kind, label, task,
slices and thresholds. `pipeline/settings/loading.py` layers the chosen dataset's file, a variant
from `variants.yaml`, `TFX_PIPELINE_<KEY>` variables and `--key=value` flags over them.

Each field is declared with `setting(..., read_by=...)`, naming the steps (`Step`) that
read it. Everything else is derived from that one declaration: what each component
receives (`settings_view`: `TrainingSettings` is exactly what `run_fn` reads, typed), the
settings a search may try (`searchable`), the settings a train-all variant may change
(`settings_read_only_by`), and the range checks (`minimum`, `maximum`, `above`,
`choices`). A field declared without readers stops the import of this module.

Checks that need other modules (the label rule, the architecture registry, the search
space, the BigQuery query, the schema file) live one layer up, in `pipeline/settings/loading.py`.
"""

from __future__ import annotations

import dataclasses
import enum
import importlib.util
import json
import os
import re
import typing
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from pipeline.settings.values import AUTO, ConfigError, one_of
from tasks import TASKS, task_named

REPOSITORY_ROOT = Path(__file__).resolve().parent.parent.parent
PACKAGE_PATH_PREFIX = "package://"
# A scored row's origin ("file:line", or the BigQuery table), written into each example to
# score and copied to its prediction (batch_predict.py): a table needs no key of its own
# for its predictions to be traced back to its rows.
SOURCE_FEATURE = "__source__"
# The splits ExampleGen writes, by a hash of each example: train is learned from,
# validation chooses when training stops (and the Tuner's best trial), eval judges the
# model (the Evaluator, the sandbox, the report) and so never chooses it.
TRAIN_SPLIT, VALIDATION_SPLIT, EVAL_SPLIT = "train", "validation", "eval"


class Step(str, enum.Enum):
    """The parts of the system that read settings; each setting names those that read it."""

    RUN = "run"  # the runners: names, where outputs go, Beam, the metadata store
    EXAMPLE_GEN = "example_gen"  # the data source, the label, the train/eval split
    DATA_CHECKS = "data_checks"  # curated schema, ExampleValidator, DataAnomalyGate
    TRANSFORM = "transform"  # preprocessing_fn
    TUNER = "tuner"  # tuner_fn's own settings (its trials also read the Trainer's)
    TRAINER = "trainer"  # run_fn and the networks in models/
    EVALUATOR = "evaluator"  # the TFMA eval config: slices, metrics, blessing
    REPORT = "report"  # ModelReportGen
    SANDBOX = "sandbox"  # ServingSandbox: the candidate served before it may be pushed
    SCORING = "scoring"  # batch_predict.py: the table to score and where predictions go
    MONITORING = "monitoring"  # evaluate-deployed: the serving model on fresh labelled rows
    CLOUD = "cloud"  # vertex_runner.py: images, machines, Dataflow, the endpoint


# The steps that train and judge one model; a train-all variant may change only settings
# that nothing else reads, so that all variants share ExampleGen and Transform.
MODEL_BRANCH_STEPS = frozenset({Step.TUNER, Step.TRAINER, Step.EVALUATOR, Step.REPORT})


def setting(default: Any = dataclasses.MISSING, *, read_by: Iterable[Step],
            factory: Any = dataclasses.MISSING, minimum: float | None = None,
            maximum: float | None = None, above: float | None = None,
            choices: tuple[str, ...] = (), searchable: bool = False) -> Any:
    """Declares one setting: its default (or `factory` for a mutable one), the steps that
    read it, and its limits. For a list setting the limits apply to every entry.

    `minimum`/`maximum` are inclusive, `above` exclusive; `searchable` lets
    `search_space` try values for it (only for settings the Trainer reads)."""
    metadata = {"read_by": frozenset(read_by), "minimum": minimum, "maximum": maximum,
                "above": above, "choices": tuple(choices), "searchable": searchable}
    return dataclasses.field(default=default, default_factory=factory, metadata=metadata)


@dataclasses.dataclass(frozen=True)
class TrainingPhase:
    """One phase of the training schedule."""

    epochs: int
    learning_rate: float
    batch_size: int


RUN, EXAMPLE_GEN, DATA_CHECKS, TRANSFORM = (Step.RUN, Step.EXAMPLE_GEN, Step.DATA_CHECKS,
                                            Step.TRANSFORM)
TUNER, TRAINER, EVALUATOR, REPORT, CLOUD = (Step.TUNER, Step.TRAINER, Step.EVALUATOR,
                                            Step.REPORT, Step.CLOUD)
SANDBOX, SCORING, MONITORING = Step.SANDBOX, Step.SCORING, Step.MONITORING
# Feature lists: read where rows are typed, transformed, fed to the network and reported.
FEATURE_READERS = (EXAMPLE_GEN, TRANSFORM, TRAINER, REPORT)
# The task and the label: read wherever labels are typed, learned, judged or shown.
LABEL_READERS = (EXAMPLE_GEN, DATA_CHECKS, TRANSFORM, TRAINER, EVALUATOR, REPORT, SANDBOX,
                 SCORING)
# Settings that no longer exist, and what replaced them, for a readable refusal.
RETIRED_SETTINGS = {
    "min_auc": "blessing_thresholds (e.g. --blessing_thresholds=auc:0.8; the metric must be "
               "one the task computes)",
    "max_auc_drop": "change_thresholds (e.g. --change_thresholds=auc:0.01)",
}


@dataclasses.dataclass(frozen=True)
class PipelineConfig:
    """Every setting of a run. Field comments are the user documentation of each key."""

    # --- run ---
    # Names the ML Metadata context, output folders and the Vertex AI pipeline; lowercase
    # letters, digits and hyphens, as Vertex AI requires.
    pipeline_name: str = setting("tfx-pipeline", read_by=(RUN, CLOUD))
    # The dataset: datasets/<name>.yaml (or a path to any .yaml file) sets its data
    # source, columns, label, task, slices and thresholds; the variant, the environment
    # and flags override any of them.
    dataset: str = setting("taxi", read_by=(RUN,))
    # The name of the variants.yaml entry this config came from.
    variant: str = setting("default", read_by=(RUN,))
    # Pipeline artifacts, metadata store and pushed models.
    output_root: str = setting("output", read_by=(RUN,))
    seed: int = setting(42, read_by=(TUNER, TRAINER, REPORT))  # shuffling and initialisation
    # The ML Metadata store lineage.py reads: empty for OUTPUT_ROOT/metadata.sqlite, or
    # grpc://HOST:PORT, or mysql://USER@HOST:PORT/DATABASE (password in MLMD_MYSQL_PASSWORD),
    # or vertex: Vertex AI's metadata in gcp_project/gcp_region (`lineage.py show` only).
    metadata_connection: str = setting("", read_by=(RUN,))
    beam_direct_running_mode: str = setting(
        "in_memory", read_by=(RUN,), choices=("in_memory", "multi_threading", "multi_processing"))
    # Workers for multi_threading / multi_processing.
    beam_direct_num_workers: int = setting(1, read_by=(RUN,), minimum=1)

    # --- data ---
    data_source: str = setting("file", read_by=(EXAMPLE_GEN,), choices=("file", "bigquery"))
    # .jsonl/.json or .csv file, or a glob of them; relative to the repository root, or
    # package://<python package>/<path> for a file shipped inside an installed package.
    data_path: str = setting("", read_by=(EXAMPLE_GEN,))
    bigquery_table: str = setting("", read_by=(EXAMPLE_GEN,))  # project.dataset.table
    bigquery_timestamp_column: str = setting("", read_by=(EXAMPLE_GEN,))  # windows the rows
    bigquery_start_date: str = setting("2019-01-01", read_by=(EXAMPLE_GEN,))  # inclusive
    bigquery_end_date: str = setting("2019-02-01", read_by=(EXAMPLE_GEN,))  # exclusive
    # Share of rows kept, by a hash of the row key.
    bigquery_sample_percent: float = setting(100.0, read_by=(EXAMPLE_GEN,), above=0,
                                             maximum=100)
    bigquery_row_key: str = setting("", read_by=(EXAMPLE_GEN,))  # hashed to sample
    # When > 0: read the N whole days (UTC) before the day the query runs, instead of the
    # fixed start/end dates, so each scheduled retraining sees the newest data.
    bigquery_window_days: int = setting(0, read_by=(EXAMPLE_GEN,), minimum=0)
    # Features that are not plain columns of the table: name -> BigQuery SQL expression.
    bigquery_derived_columns: dict[str, str] = setting(read_by=(EXAMPLE_GEN,), factory=dict)
    # Share of rows hashed into the eval split: the rows the Evaluator judges the model on
    # and the sandbox serves, never seen in training.
    eval_percent: int = setting(20, read_by=(EXAMPLE_GEN,), minimum=1, maximum=98)
    # Share of rows hashed into the validation split: the rows the Trainer stops on and
    # picks its best epoch by (and the Tuner scores its trials on). The rest is train.
    validation_percent: int = setting(10, read_by=(EXAMPLE_GEN,), minimum=1, maximum=98)
    # Values that mean "missing" wherever they stand, in CSV cells and JSON strings alike
    # (the empty string always does); by default the tokens pandas reads as missing.
    # Each column's missing values are counted in ExampleGen's log.
    missing_values: tuple[str, ...] = setting(
        ("NA", "N/A", "n/a", "NaN", "nan", "-NaN", "-nan", "#N/A", "#N/A N/A", "#NA", "<NA>",
         "NULL", "null", "None", "-1.#IND", "-1.#QNAN", "1.#IND", "1.#QNAN"),
        read_by=(EXAMPLE_GEN,))
    # The curated schema ExampleValidator checks every run against (relative to the
    # repository root); empty: SchemaGen infers one from each run's own statistics.
    schema_path: str = setting("", read_by=(DATA_CHECKS,))

    # Distribution checks that stop a run before Transform, per feature: the L-infinity
    # distance (categorical) or Jensen-Shannon divergence (numeric) allowed between this
    # run's train split and the previous run's (drift), and between train and eval (skew).
    drift_thresholds: dict[str, float] = setting(read_by=(DATA_CHECKS, MONITORING), above=0,
                                                 maximum=1, factory=dict)
    skew_thresholds: dict[str, float] = setting(read_by=(DATA_CHECKS,), above=0, maximum=1,
                                                factory=dict)

    # --- task, features and label ---
    # binary | multiclass | regression (tasks/<name>/spec.py): the label's kind, the model's
    # head and loss, the serving outputs, the Evaluator's metrics and blessing.
    task: str = setting("binary", read_by=(RUN, *LABEL_READERS), choices=tuple(TASKS))
    numeric_features: tuple[str, ...] = setting((), read_by=FEATURE_READERS)
    bucketized_features: tuple[str, ...] = setting((), read_by=FEATURE_READERS)
    categorical_features: tuple[str, ...] = setting((), read_by=FEATURE_READERS)
    # Free text (a title, a review): lowercased, split into word tokens, each token an id
    # in a vocabulary; a bag of token embeddings for the MLPs, a token sequence for
    # feature_transformer. Missing or empty text is allowed.
    # The data checks read it too: a text's unseen words are no anomaly.
    text_features: tuple[str, ...] = setting((), read_by=(*FEATURE_READERS, DATA_CHECKS))
    # Tokens kept per text (the first ones); the Trainer sizes its inputs from it.
    text_max_length: int = setting(64, read_by=(TRANSFORM, TRAINER), minimum=1)
    # Most frequent tokens kept per text feature's vocabulary (approximate above the
    # maximum: tf.Transform's LARGE_VOCAB_TOP_K, the approximate vocabulary's own limit).
    text_vocabulary_top_k: int = setting(20_000, read_by=(TRANSFORM,), minimum=1,
                                         maximum=200_000)
    # Quantile buckets per bucketized feature (the Trainer sizes its embeddings from it).
    bucket_count: int = setting(10, read_by=(TRANSFORM, TRAINER), minimum=1)
    # How Transform hands a numeric feature to the network. standard: one z-scored value.
    # piecewise_linear: the value's piecewise-linear encoding over `numeric_bins`
    # quantile bins of the train split (Gorishniy et al., "On Embeddings for Numerical
    # Features in Tabular Deep Learning", 2022), plus the z-score and a missing flag:
    # robust to heavy tails and outliers, and a network can bend each feature anywhere.
    numeric_encoding: str = setting("piecewise_linear", read_by=(TRANSFORM, TRAINER),
                                    choices=("standard", "piecewise_linear"))
    numeric_bins: int = setting(16, read_by=(TRANSFORM, TRAINER), minimum=2, maximum=256)
    # Most frequent values kept per categorical feature (at most tf.Transform's
    # LARGE_VOCAB_TOP_K, as for text).
    vocabulary_top_k: int = setting(1000, read_by=(TRANSFORM,), minimum=1, maximum=200_000)
    # Hash buckets (at least 1) for categories and tokens outside the vocabulary.
    oov_buckets: int = setting(1, read_by=(TRANSFORM, TRAINER), minimum=1)
    # The label's name in the examples: an existing column of the table, or the name given
    # to the value of label_rule.
    label_name: str = setting("label", read_by=LABEL_READERS)
    # Empty: the label is the column label_name. Otherwise the label is computed from raw
    # numeric columns: one comparison for a binary task ("tips > 0.2 * fare"), arithmetic
    # for regression ("tips / fare"). It is rendered both as Python (local files) and as
    # SQL (BigQuery), so both sources label rows identically.
    label_rule: str = setting("", read_by=(EXAMPLE_GEN,))
    # A label column written as two strings (Yes/No, bad/good): the one that means 1, for
    # a task that has a positive class (binary). Empty: the label is 0/1 or true/false.
    positive_class: str = setting("", read_by=(EXAMPLE_GEN,))

    # --- model and training ---
    # A name registered in models/registry.py.
    architecture: str = setting("wide_and_deep", read_by=(TRAINER,), searchable=True)
    hidden_units: tuple[int, ...] = setting((64, 32), read_by=(TRAINER,), minimum=1,
                                            searchable=True)
    embedding_dim: int = setting(8, read_by=(TRAINER,), minimum=1, searchable=True)
    dropout: float = setting(0.1, read_by=(TRAINER,), minimum=0.0, maximum=0.99,
                             searchable=True)
    # deep_and_cross: cross layers (interaction degree + 1).
    cross_layers: int = setting(3, read_by=(TRAINER,), minimum=1, searchable=True)
    # feature_transformer: heads per attention layer.
    attention_heads: int = setting(2, read_by=(TRAINER,), minimum=1, searchable=True)
    # feature_transformer: attention + feed-forward blocks.
    transformer_blocks: int = setting(2, read_by=(TRAINER,), minimum=1, searchable=True)
    # auto (the defaults below): sized to the train split by models/sizing.py, and
    # recorded in training_settings.json, metrics.csv, the report and the run summary.
    # Adam's peak learning rate, reached after a warm-up and halved when the validation
    # loss stalls; auto: chosen from the batch size.
    learning_rate: float | str = setting(AUTO, read_by=(TRAINER,), above=0, searchable=True)
    # Examples per step; auto: grows with the train split (small tables, small batches).
    batch_size: int | str = setting(AUTO, read_by=(TRAINER,), minimum=1)
    # Passes over the train split; auto: until the validation loss has not improved for
    # `patience` epochs, within `training_example_budget`, keeping the best epoch's
    # weights. A number: exactly that many epochs, the last epoch's weights.
    epochs: int | str = setting(AUTO, read_by=(TRAINER,), minimum=1)
    patience: int = setting(8, read_by=(TRAINER,), minimum=1)
    # epochs=auto: the most training examples seen in all (epochs times train rows).
    training_example_budget: int = setting(4_000_000, read_by=(TRAINER,), minimum=1)
    shuffle_buffer: int = setting(10_000, read_by=(TRAINER,), minimum=1)
    # true: start from the weights of the latest blessed model of this pipeline when it is
    # the same network (architecture, task, layers; embedding rows matched by token when
    # a vocabulary changed), else from scratch, the run summary saying why (models/
    # warm_start.py). ML Metadata records the model a run started from.
    warm_start: bool = setting(False, read_by=(TRAINER,))
    # auto: float16 compute with float32 weights when a GPU that runs float16 fast
    # (compute capability 7.0 or newer) is visible; off: float32 everywhere.
    mixed_precision: str = setting("auto", read_by=(TRAINER,), choices=("auto", "off"))
    # Training in phases, one after another on the same feeder and model: phase i trains
    # schedule_epochs[i] epochs at learning_rate * schedule_learning_rate_factors[i] with
    # batches of batch_size * schedule_batch_size_factors[i] (raise the batch size as the
    # learning rate falls). The three lists have one entry per phase. Empty: one phase of
    # `epochs` epochs at learning_rate and batch_size.
    schedule_epochs: tuple[int, ...] = setting((), read_by=(TRAINER,), above=0)
    schedule_learning_rate_factors: tuple[float, ...] = setting((), read_by=(TRAINER,), above=0)
    schedule_batch_size_factors: tuple[int, ...] = setting((), read_by=(TRAINER,), above=0)

    # --- hyperparameter search (the Tuner step, before the Trainer) ---
    # off | random | bayesian | hyperband: keras-tuner searches search_space, and the best
    # values found replace the configured ones in the Trainer.
    hyperparameter_search: str = setting("off", read_by=(TUNER,),
                                         choices=("off", "random", "bayesian", "hyperband"))
    # setting -> "low..high" (" log" for a log scale) or "a | b | c" choices; the
    # searchable settings are those declared searchable above.
    search_space: dict[str, str] = setting(read_by=(TUNER,), factory=lambda: {
        "learning_rate": "0.0003..0.01 log", "hidden_units": "32 | 64,32 | 128,64",
        "embedding_dim": "4 | 8 | 16", "dropout": "0.0..0.3"})
    # Trials tried (random, bayesian); hyperband sizes its own rounds.
    search_trials: int = setting(6, read_by=(TUNER,), minimum=1)
    # Epochs per trial (hyperband: the most a trial gets).
    search_epochs: int = setting(2, read_by=(TUNER,), minimum=1)
    # Trials at once, each on its own Vertex AI Training machine (vertex_runner.py). Local
    # runs try one at a time: on a laptop's few cores, trials would only slow each other.
    search_parallel_trials: int = setting(1, read_by=(TUNER,), minimum=1)

    # --- evaluation ---
    # Categorical features whose every value is a slice of its own in the Evaluator.
    slice_features: tuple[str, ...] = setting((), read_by=(EVALUATOR,))
    # Metric -> the value a candidate must reach on the whole eval split to be blessed: a
    # floor for a metric where higher is better (auc, accuracy, r2, ...), a ceiling where
    # lower is better (log_loss, mae, rmse). The metric must be one the task computes
    # (tasks/<name>/spec.py). Every run also has its task's default gate: the skill score
    # (log_loss_skill for classification, r2 for regression: 0 is the trivial predictor)
    # of at least 0.02 (tasks/base.py's SKILL_MARGIN); naming the skill metric here sets
    # its margin instead.
    blessing_thresholds: dict[str, float] = setting(read_by=(EVALUATOR,), factory=dict)
    # Metric -> how much worse than the last blessed model a candidate may be. Empty: the
    # task's default.
    change_thresholds: dict[str, float] = setting(read_by=(EVALUATOR,), minimum=0.0,
                                                  factory=dict)
    # binary: the probability above which an example is called positive.
    decision_threshold: float = setting(0.5, read_by=(EVALUATOR, REPORT), minimum=0.01,
                                        maximum=0.99)

    # --- the serving sandbox: the blessed candidate, served from a fresh process ---
    # How long the sandbox sends requests, in all (half single examples, half batches).
    # 2 s: over five loads each of the testdata model (2 clients, one example a request),
    # 1 s of single requests gave p99 2.38-2.72 ms from 1,250-1,481 requests, and 2 s gave
    # 2.61-3.94 ms from 2,147-2,863: twice the time, no steadier (docs/benchmarks.md).
    sandbox_seconds: float = setting(2.0, read_by=(SANDBOX,), above=0.0)
    sandbox_clients: int = setting(2, read_by=(SANDBOX,), minimum=1)  # concurrent clients
    sandbox_batch_size: int = setting(64, read_by=(SANDBOX,), minimum=1)  # batch requests
    # Eval-split examples sent, checked against in-process answers and, a few of them,
    # written into the model as TF Serving's warmup requests.
    sandbox_examples: int = setting(256, read_by=(SANDBOX,), minimum=1)
    # The push is blocked when one example's 99th-percentile latency exceeds this...
    max_latency_p99_ms: float = setting(100.0, read_by=(SANDBOX,), above=0.0)
    # ...or the batch requests' throughput falls below this (examples per second).
    min_examples_per_second: float = setting(1000.0, read_by=(SANDBOX,), minimum=0.0)

    # --- batch predictions (batch_predict.py): the pushed model on a table to score ---
    # The rows to score, with the feature columns and no label: a .jsonl/.csv file or a
    # glob, as data_path (data_source=file); with data_source=bigquery, this table.
    scoring_data_path: str = setting("", read_by=(SCORING,))
    scoring_bigquery_table: str = setting("", read_by=(SCORING,))  # project.dataset.table
    # Columns copied from each row to its prediction: the row's keys, then any others.
    # Every prediction also names the row it came from ("source": file:line).
    key_columns: tuple[str, ...] = setting((), read_by=(SCORING,))
    passthrough_columns: tuple[str, ...] = setting((), read_by=(SCORING,))
    # Which pushed model scores: "latest", a pushed version, or a Model artifact id.
    scoring_model: str = setting("latest", read_by=(SCORING,))
    # Vertex AI: the BigQuery table (project.dataset.table) predictions are appended to.
    predictions_bigquery_table: str = setting("", read_by=(SCORING, CLOUD))

    # --- continuous evaluation (`python -m pipeline evaluate-deployed`): the serving model
    # judged on fresh labelled rows against what it measured when it was blessed ---
    # The fresh rows, with the label: a .jsonl/.csv file or a glob (data_source=file). With
    # data_source=bigquery: the training query's table, features and label rule over the
    # last `evaluation_window_days` days of `evaluation_timestamp_column` (empty: the
    # training data's timestamp column; name the column of when a label arrived), every
    # row; or `evaluation_query`, a query of your own returning the feature columns and
    # label_name.
    evaluation_data_path: str = setting("", read_by=(MONITORING,))
    evaluation_window_days: int = setting(7, read_by=(MONITORING,), minimum=1)
    evaluation_timestamp_column: str = setting("", read_by=(MONITORING,))
    evaluation_query: str = setting("", read_by=(MONITORING,))
    # Which pushed model is judged: "latest", a pushed version, or a Model artifact id.
    evaluation_model: str = setting("latest", read_by=(MONITORING,))
    # Metric -> how much worse than at blessing time it may get on the fresh rows (lower,
    # for a metric where higher is better), overall and on every slice of at least
    # `degradation_min_slice_examples` rows. Empty: the task's change_thresholds.
    degradation_thresholds: dict[str, float] = setting(read_by=(MONITORING,), minimum=0.0,
                                                       factory=dict)
    degradation_min_slice_examples: int = setting(200, read_by=(MONITORING,), minimum=1)
    # How far a feature of the fresh rows may move from the model's training data (TFDV's
    # distances: Jensen-Shannon on quantile histograms for numbers, L-infinity for
    # categories), unless drift_thresholds names the feature.
    monitoring_drift_threshold: float = setting(0.3, read_by=(MONITORING,), above=0, maximum=1)
    # Start a training run when the model has degraded or its data drifted.
    retrain_on_degradation: bool = setting(False, read_by=(MONITORING,))
    # Other pushed versions serving beside the judged one (an A/B split): each is compared
    # with it on the same fresh rows, per slice, by the task's ranking metric with a
    # bootstrap interval over the rows (`bootstrap_samples` resamples, 95%).
    ab_models: tuple[str, ...] = setting((), read_by=(MONITORING,))
    bootstrap_samples: int = setting(1000, read_by=(MONITORING,), minimum=10)

    # --- Google Cloud: read by vertex_runner.py only ---
    gcp_project: str = setting("", read_by=(CLOUD,))  # project that runs and pays
    # Vertex AI Pipelines, Training, Dataflow and endpoints.
    gcp_region: str = setting("us-central1", read_by=(CLOUD,))
    # gs://bucket[/prefix]: pipeline root, Beam temp files, GCS pushes.
    gcs_root: str = setting("", read_by=(CLOUD,))
    # E-mail the pipeline runs as; empty: the project's default.
    service_account: str = setting("", read_by=(CLOUD,))
    vertex_labels: dict[str, str] = setting(read_by=(CLOUD,), factory=dict)  # on the job
    # Reuse unchanged steps' outputs from earlier runs.
    vertex_enable_caching: bool = setting(True, read_by=(CLOUD,))
    # Retraining schedule, cron syntax ("TZ=Area/City ..." ok).
    schedule_cron: str = setting("0 6 * * 1", read_by=(CLOUD,))
    # Image every pipeline step runs in (docker/cpu.Dockerfile); empty: derived from the
    # project, region, pipeline name and a hash of the code and lock file.
    container_image: str = setting("", read_by=(CLOUD,))
    # Training image when an accelerator is set; same default.
    gpu_container_image: str = setting("", read_by=(CLOUD,))
    # direct | dataflow: where the Beam steps of a cloud run go.
    beam_runner: str = setting("direct", read_by=(CLOUD,), choices=("direct", "dataflow"))
    dataflow_machine_type: str = setting("n1-standard-4", read_by=(CLOUD,))
    dataflow_max_workers: int = setting(4, read_by=(CLOUD,), minimum=1)
    dataflow_disk_size_gb: int = setting(50, read_by=(CLOUD,), minimum=1)
    # Vertex AI Training machine, per replica.
    trainer_machine_type: str = setting("n1-standard-8", read_by=(CLOUD,))
    # E.g. NVIDIA_TESLA_T4, NVIDIA_L4; empty: no GPU.
    trainer_accelerator_type: str = setting("", read_by=(CLOUD,))
    trainer_accelerator_count: int = setting(0, read_by=(CLOUD,), minimum=0)  # per replica
    # 1: one machine; more: a chief plus workers.
    trainer_replica_count: int = setting(1, read_by=(CLOUD,), minimum=1)
    # filesystem (serving dir / gcs_root) | vertex_endpoint.
    push_destination: str = setting("filesystem", read_by=(CLOUD,),
                                    choices=("filesystem", "vertex_endpoint"))
    # Vertex AI endpoint the model is deployed to.
    serving_endpoint_name: str = setting("tfx-model", read_by=(CLOUD,))
    serving_container_image: str = setting(
        "us-docker.pkg.dev/vertex-ai/prediction/tf2-cpu.2-15:latest", read_by=(CLOUD,))
    serving_machine_type: str = setting("n1-standard-2", read_by=(CLOUD,))
    serving_min_replicas: int = setting(1, read_by=(CLOUD,), minimum=1)
    serving_max_replicas: int = setting(2, read_by=(CLOUD,), minimum=1)
    # Share of the endpoint's traffic the new model takes; the models already deployed
    # keep the rest, so below 100 the new model runs beside the current one (A/B).
    serving_traffic_percent: int = setting(100, read_by=(CLOUD,), minimum=1,
                                          maximum=100)

    # ------------------------------------------------------------------ derived values
    @property
    def raw_feature_names(self) -> tuple[str, ...]:
        """Every configured input feature: numeric, bucketized, categorical, then text."""
        return raw_feature_names(self)

    def resolved_data_path(self) -> str:
        """`data_path` as an absolute path or glob (package:// and relative paths resolved)."""
        return resolve_data_path(self.data_path)

    def resolved_schema_path(self) -> str:
        return str(REPOSITORY_ROOT / self.schema_path)

    def differences(self, other: PipelineConfig | None = None) -> dict[str, Any]:
        """The JSON-ready settings whose value differs from `other` (the defaults)."""
        base = (other or PipelineConfig()).to_dict()
        return {key: value for key, value in self.to_dict().items() if base[key] != value}

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready values (tuples become lists), for storing with the run."""
        return json.loads(json.dumps(dataclasses.asdict(self)))

    def to_json(self) -> str:
        """`to_dict()` as indented JSON, for printing and for the run record."""
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)

    # ------------------------------------------------------------------ own checks
    def check(self) -> PipelineConfig:
        """Checks each setting's declared limits and the relations between settings that
        need nothing but the settings; returns self. `pipeline.settings.loading.validate` adds the
        checks that need other modules."""
        if not re.match(r"^[a-z0-9][a-z0-9-]{0,127}$", self.pipeline_name):
            raise ConfigError(f"pipeline_name={self.pipeline_name!r} must be lowercase letters, "
                              "digits and hyphens (Vertex AI's rule), starting with a letter "
                              "or digit.")
        for field in dataclasses.fields(self):
            _check_limits(field, getattr(self, field.name))
        self._check_schedule()
        if not self.raw_feature_names:
            raise ConfigError("No features: set numeric_features, bucketized_features, "
                              "categorical_features or text_features (or dataset=).")
        seen: set[str] = set()
        for name in self.raw_feature_names:
            if name in seen:
                raise ConfigError(f"Feature {name!r} is listed twice across the feature lists.")
            seen.add(name)
        if self.label_name in seen:
            raise ConfigError(f"label_name {self.label_name!r} is also listed as a feature.")
        for key in ("drift_thresholds", "skew_thresholds"):
            for name in getattr(self, key):
                if name not in seen:
                    raise ConfigError(f"{key}: {name!r} is not a configured feature.")
                if name in self.text_features:
                    raise ConfigError(f"{key}: {name!r} is a text feature; distances between "
                                      "distributions of whole texts, which rarely repeat, "
                                      "measure nothing. Leave it out.")
        sliceable = (*self.categorical_features, *self.numeric_features,
                     *self.bucketized_features)
        for name in self.slice_features:
            if name not in sliceable:
                raise ConfigError(
                    f"slice_features: {name!r} is not a categorical or numeric feature "
                    f"({', '.join(sliceable)}).")
        if self.eval_percent + self.validation_percent >= 100:
            raise ConfigError(f"eval_percent ({self.eval_percent}) and validation_percent "
                              f"({self.validation_percent}) leave no rows to train on; "
                              "together they must stay below 100.")
        if self.positive_class and not task_named(self.task).has_positive_class:
            raise ConfigError(f"positive_class={self.positive_class!r}: a {self.task} label "
                              "has no positive class; leave positive_class empty.")
        if self.positive_class and self.label_rule:
            raise ConfigError("positive_class names a value of the label column; with "
                              "label_rule the rule gives 1 or 0 itself. Set one of them.")
        self._check_thresholds()
        return self

    def _check_thresholds(self) -> None:
        """Blessing metrics must be ones the task computes; a threshold for another
        task's metric is refused with this task's choices."""
        task = task_named(self.task)
        for key in ("blessing_thresholds", "change_thresholds", "degradation_thresholds"):
            for metric in getattr(self, key):
                if metric not in task.gating_metrics:
                    choices = ", ".join(f"{name} ({task.direction(name)})"
                                        for name in task.gating_metrics)
                    raise ConfigError(f"{key}: {metric!r} is not a metric of task={self.task}; "
                                      f"its metrics: {choices}.")

    def _check_schedule(self) -> None:
        keys = ("schedule_epochs", "schedule_learning_rate_factors",
                "schedule_batch_size_factors")
        lengths = {key: len(getattr(self, key)) for key in keys}
        if len(set(lengths.values())) > 1:
            raise ConfigError("The training schedule needs one entry per phase in each of "
                              + ", ".join(f"{key} ({count})" for key, count in lengths.items())
                              + ".")


def _check_limits(field: dataclasses.Field, value: Any) -> None:
    """A setting's declared choices and bounds; a list's or mapping's every entry."""
    meta = field.metadata
    if meta["choices"]:
        one_of(field.name, value, meta["choices"])
    if isinstance(value, dict):
        entries = [(f"{field.name}: {key}={item}", item) for key, item in value.items()]
    elif isinstance(value, tuple):
        entries = [(f"{field.name} entries", item) for item in value]
    elif value == AUTO:
        entries = []  # chosen by the step that reads it, within the limits
    else:
        entries = [(field.name, value)]
    low, high, above = meta["minimum"], meta["maximum"], meta["above"]
    for what, item in entries:
        if above is not None and high is not None and not above < item <= high:
            raise ConfigError(f"{what} must be in ({above:g}, {high:g}], got {item}."
                              if ":" not in what else f"{what} must be in ({above:g}, {high:g}].")
        if above is not None and high is None and not item > above:
            raise ConfigError(f"{what} must be positive, got {item}." if above == 0
                              else f"{what} must be above {above:g}, got {item}.")
        if low is not None and high is not None and not low <= item <= high:
            raise ConfigError(f"{what} must be between {low:g} and {high:g}, got {item}.")
        if low is not None and high is None and item < low:
            raise ConfigError(f"{what} must be at least {low:g}, got {item}.")


def raw_feature_names(settings: Any) -> tuple[str, ...]:
    """Every input feature of `settings` (a config or a view that reads the feature lists):
    numeric, bucketized, categorical, then text."""
    return (tuple(settings.numeric_features) + tuple(settings.bucketized_features)
            + tuple(settings.categorical_features) + tuple(settings.text_features))


def blessing_thresholds(settings: Any) -> dict[str, float]:
    """The blessing thresholds of `settings`: its task's default gate (the skill score
    above the trivial predictor's), with the configured thresholds added (a configured
    skill metric replaces the default's margin)."""
    return {**task_named(settings.task).blessing_thresholds, **settings.blessing_thresholds}


def change_thresholds(settings: Any) -> dict[str, float]:
    """The configured change thresholds of `settings`, or its task's defaults."""
    return dict(settings.change_thresholds or task_named(settings.task).change_thresholds)


def degradation_thresholds(settings: Any) -> dict[str, float]:
    """How much worse than at blessing time each metric may get on fresh rows: the
    configured degradation thresholds, or the change a candidate may show against the last
    blessed model (`change_thresholds`, its task's defaults when empty)."""
    return dict(settings.degradation_thresholds or change_thresholds(settings))


def training_phases(settings: Any) -> tuple[TrainingPhase, ...]:
    """The training schedule of `settings` (a config or TrainingSettings), one entry per
    phase: a single phase of `epochs` unless a schedule is configured."""
    if not settings.schedule_epochs:
        return (TrainingPhase(settings.epochs, settings.learning_rate, settings.batch_size),)
    return tuple(
        TrainingPhase(epochs, settings.learning_rate * rate_factor,
                      settings.batch_size * batch_factor)
        for epochs, rate_factor, batch_factor in zip(
            settings.schedule_epochs, settings.schedule_learning_rate_factors,
            settings.schedule_batch_size_factors, strict=True))


def split_percents(settings: Any) -> dict[str, int]:
    """Each split's share of the rows (percent), as `settings` (a config or the ExampleGen's
    view) sets them."""
    return {TRAIN_SPLIT: 100 - settings.eval_percent - settings.validation_percent,
            VALIDATION_SPLIT: settings.validation_percent, EVAL_SPLIT: settings.eval_percent}


def resolve_data_path(data_path: str) -> str:
    """Turns package://pkg/path and repository-relative paths into absolute ones."""
    if data_path.startswith(PACKAGE_PATH_PREFIX):
        package, _, inner = data_path[len(PACKAGE_PATH_PREFIX):].partition("/")
        spec = importlib.util.find_spec(package)
        if spec is None or not spec.submodule_search_locations:
            raise ConfigError(f"data_path={data_path!r}: package {package!r} is not installed.")
        return str(Path(next(iter(spec.submodule_search_locations))) / inner)
    if "://" in data_path or os.path.isabs(data_path):
        return data_path
    return str(REPOSITORY_ROOT / data_path)


# ---------------------------------------------------------------------- the declarations
FIELDS: dict[str, dataclasses.Field] = {
    field.name: field for field in dataclasses.fields(PipelineConfig)}
TYPE_HINTS: dict[str, Any] = typing.get_type_hints(PipelineConfig)


def check_declarations(settings_class: type) -> None:
    """Every setting names its readers, and a searchable one is read by the Trainer: a
    field added without them fails here, at import, not in a silently default-trained
    model."""
    for field in dataclasses.fields(settings_class):
        name = field.name
        if not field.metadata.get("read_by"):
            raise TypeError(f"PipelineConfig.{name} is declared without read_by: declare it "
                            "with setting(..., read_by=...).")
        if field.metadata.get("searchable") and Step.TRAINER not in field.metadata["read_by"]:
            raise TypeError(f"PipelineConfig.{name} is searchable but the Trainer does not "
                            "read it.")


check_declarations(PipelineConfig)

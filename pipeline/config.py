"""The single flat configuration of a pipeline run, in three layers.

1. Defaults: the fields of `PipelineConfig` below.
2. A named variant from `variants.yaml`, holding only the keys it overrides.
3. Per-run overrides: `TFX_PIPELINE_<KEY>` environment variables, then `--key=value` flags.

Every layer is validated against the dataclass: an unknown key or a value of the wrong
type raises `ConfigError` naming the key and what it accepts, before any component runs.
"""

from __future__ import annotations

import dataclasses
import difflib
import glob
import json
import math
import os
import re
import typing
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import yaml

REPOSITORY_ROOT = Path(__file__).resolve().parent.parent
VARIANTS_FILE = REPOSITORY_ROOT / "variants.yaml"
ENVIRONMENT_PREFIX = "TFX_PIPELINE_"
PACKAGE_PATH_PREFIX = "package://"


class ConfigError(ValueError):
    """A setting a user gave is unknown, of the wrong type or out of range."""


@dataclasses.dataclass(frozen=True)
class TrainingPhase:
    """One phase of the training schedule."""

    epochs: int
    learning_rate: float
    batch_size: int


_SCHEDULE_KEYS = ("schedule_epochs", "schedule_learning_rate_factors",
                  "schedule_batch_size_factors")


@dataclasses.dataclass(frozen=True)
class PipelineConfig:
    """Every setting of a run. Field comments are the user documentation of each key."""

    # --- run ---
    # Names the ML Metadata context, output folders and the Vertex AI pipeline; lowercase
    # letters, digits and hyphens, as Vertex AI requires.
    pipeline_name: str = "big-tipper"
    variant: str = "default"  # the name of the variants.yaml entry this config came from
    output_root: str = "output"  # pipeline artifacts, metadata store and pushed models
    seed: int = 42  # shuffling and weight initialisation
    # The ML Metadata store lineage.py reads: empty for OUTPUT_ROOT/metadata.sqlite, or
    # grpc://HOST:PORT, or mysql://USER@HOST:PORT/DATABASE (password in MLMD_MYSQL_PASSWORD),
    # or vertex: Vertex AI's metadata in gcp_project/gcp_region (`lineage.py show` only).
    metadata_connection: str = ""
    beam_direct_running_mode: str = "in_memory"  # in_memory | multi_threading | multi_processing
    beam_direct_num_workers: int = 1  # workers for multi_threading / multi_processing

    # --- data ---
    data_source: str = "file"  # file | bigquery
    # .jsonl/.json or .csv file, or a glob of them; relative to the repository root, or
    # package://<python package>/<path> for a file shipped inside an installed package.
    data_path: str = "testdata/taxi_trips.jsonl"
    bigquery_table: str = "bigquery-public-data.chicago_taxi_trips.taxi_trips"
    bigquery_timestamp_column: str = "trip_start_timestamp"
    bigquery_start_date: str = "2019-01-01"  # inclusive, YYYY-MM-DD
    bigquery_end_date: str = "2019-02-01"  # exclusive, YYYY-MM-DD
    bigquery_sample_percent: float = 100.0  # share of rows kept, by a hash of the row key
    bigquery_row_key: str = "unique_key"  # column hashed for sampling
    # When > 0: read the N whole days (UTC) before the day the query runs, instead of the
    # fixed start/end dates, so each scheduled retraining sees the newest data.
    bigquery_window_days: int = 0
    # Features that are not plain columns of the table: name -> BigQuery SQL expression.
    bigquery_derived_columns: dict[str, str] = dataclasses.field(
        default_factory=lambda: {
            "trip_start_hour": "EXTRACT(HOUR FROM trip_start_timestamp)",
            "trip_start_day": "EXTRACT(DAYOFWEEK FROM trip_start_timestamp)",
            "trip_start_month": "EXTRACT(MONTH FROM trip_start_timestamp)",
        }
    )
    eval_percent: int = 20  # share of rows hashed into the eval split
    # The curated schema ExampleValidator checks every run against (relative to the
    # repository root); empty: SchemaGen infers one from each run's own statistics.
    schema_path: str = "schemas/taxi_trips.pbtxt"

    # Distribution checks that stop a run before Transform, per feature: the L-infinity
    # distance (categorical) or Jensen-Shannon divergence (numeric) allowed between this
    # run's train split and the previous run's (drift), and between train and eval (skew).
    drift_thresholds: dict[str, float] = dataclasses.field(default_factory=lambda: {
        "payment_type": 0.2, "company": 0.3, "trip_start_hour": 0.2, "fare": 0.2,
        "trip_miles": 0.2})
    skew_thresholds: dict[str, float] = dataclasses.field(default_factory=lambda: {
        "payment_type": 0.2, "company": 0.3, "fare": 0.2})

    # --- features and label ---
    numeric_features: tuple[str, ...] = ("fare", "trip_miles", "trip_seconds")
    bucketized_features: tuple[str, ...] = (
        "pickup_latitude",
        "pickup_longitude",
        "dropoff_latitude",
        "dropoff_longitude",
    )
    categorical_features: tuple[str, ...] = (
        "payment_type",
        "company",
        "trip_start_hour",
        "trip_start_day",
        "trip_start_month",
        "pickup_community_area",
        "dropoff_community_area",
        "dropoff_census_tract",
    )
    bucket_count: int = 10  # quantile buckets per bucketized feature
    vocabulary_top_k: int = 1000  # most frequent values kept per categorical feature
    oov_buckets: int = 1  # hash buckets (at least 1) for values outside the vocabulary
    label_name: str = "big_tipper"
    # The label, as a comparison of arithmetic on raw columns. It is rendered both as
    # Python (local files) and as SQL (BigQuery), so both sources label rows identically.
    label_rule: str = "tips > 0.2 * fare"

    # --- model and training ---
    architecture: str = "wide_and_deep"  # a name registered in models/registry.py
    hidden_units: tuple[int, ...] = (64, 32)
    embedding_dim: int = 8
    dropout: float = 0.1
    cross_layers: int = 3  # deep_and_cross: cross layers (interaction degree + 1)
    attention_heads: int = 2  # feature_transformer: heads per attention layer
    transformer_blocks: int = 2  # feature_transformer: attention + feed-forward blocks
    learning_rate: float = 0.003
    batch_size: int = 256
    epochs: int = 4  # passes over the train split
    shuffle_buffer: int = 10_000
    # Training in phases, one after another on the same feeder and model: phase i trains
    # schedule_epochs[i] epochs at learning_rate * schedule_learning_rate_factors[i] with
    # batches of batch_size * schedule_batch_size_factors[i] (raise the batch size as the
    # learning rate falls). The three lists have one entry per phase. Empty: one phase of
    # `epochs` epochs at learning_rate and batch_size.
    schedule_epochs: tuple[int, ...] = ()
    schedule_learning_rate_factors: tuple[float, ...] = ()
    schedule_batch_size_factors: tuple[int, ...] = ()

    # --- hyperparameter search (the Tuner step, before the Trainer) ---
    # off | random | bayesian | hyperband: keras-tuner searches search_space, and the best
    # values found replace the configured ones in the Trainer.
    hyperparameter_search: str = "off"
    # setting -> "low..high" (" log" for a log scale) or "a | b | c" choices; see
    # pipeline/search_space.py for the searchable settings.
    search_space: dict[str, str] = dataclasses.field(default_factory=lambda: {
        "learning_rate": "0.0003..0.01 log", "hidden_units": "32 | 64,32 | 128,64",
        "embedding_dim": "4 | 8 | 16", "dropout": "0.0..0.3"})
    search_trials: int = 6  # trials tried (random, bayesian); hyperband sizes its own rounds
    search_epochs: int = 2  # epochs per trial (hyperband: the most a trial gets)
    # Trials at once, each on its own Vertex AI Training machine (vertex_runner.py). Local
    # runs try one at a time: on a laptop's few cores, trials would only slow each other.
    search_parallel_trials: int = 1

    # --- evaluation ---
    slice_features: tuple[str, ...] = ("payment_type", "company", "trip_start_hour")
    min_auc: float = 0.8  # a candidate below this AUC is never blessed
    max_auc_drop: float = 0.01  # nor one whose AUC is this much below the last blessed model
    decision_threshold: float = 0.5  # probability above which a trip is called a big tipper

    # --- Google Cloud: read by vertex_runner.py only ---
    gcp_project: str = ""  # project that runs and pays for the pipeline
    gcp_region: str = "us-central1"  # Vertex AI Pipelines, Training, Dataflow and endpoints
    gcs_root: str = ""  # gs://bucket[/prefix]: pipeline root, Beam temp files, GCS pushes
    service_account: str = ""  # e-mail the pipeline runs as; empty: the project's default
    vertex_labels: dict[str, str] = dataclasses.field(default_factory=dict)  # on the job
    vertex_enable_caching: bool = True  # reuse unchanged steps' outputs from earlier runs
    schedule_cron: str = "0 6 * * 1"  # retraining schedule, cron syntax ("TZ=Area/City ..." ok)
    # Image every pipeline step runs in (docker/cpu.Dockerfile); empty: derived from the
    # project, region, pipeline name and a hash of the code and lock file.
    container_image: str = ""
    gpu_container_image: str = ""  # training image when an accelerator is set; same default
    beam_runner: str = "direct"  # direct | dataflow: where the Beam steps of a cloud run go
    dataflow_machine_type: str = "n1-standard-4"
    dataflow_max_workers: int = 4
    dataflow_disk_size_gb: int = 50
    trainer_machine_type: str = "n1-standard-8"  # Vertex AI Training machine, per replica
    trainer_accelerator_type: str = ""  # e.g. NVIDIA_TESLA_T4, NVIDIA_L4; empty: no GPU
    trainer_accelerator_count: int = 0  # accelerators per replica
    trainer_replica_count: int = 1  # 1: one machine; more: a chief plus workers
    push_destination: str = "filesystem"  # filesystem (serving dir / gcs_root) | vertex_endpoint
    serving_endpoint_name: str = "big-tipper"  # Vertex AI endpoint the model is deployed to
    serving_container_image: str = "us-docker.pkg.dev/vertex-ai/prediction/tf2-cpu.2-15:latest"
    serving_machine_type: str = "n1-standard-2"
    serving_min_replicas: int = 1
    serving_max_replicas: int = 2
    # Share of the endpoint's traffic the new model takes; the models already deployed
    # keep the rest, so below 100 the new model runs beside the current one (A/B).
    serving_traffic_percent: int = 100

    # ------------------------------------------------------------------ derived values
    def training_phases(self) -> tuple[TrainingPhase, ...]:
        """The training schedule, one entry per phase (a single phase unless configured)."""
        if not self.schedule_epochs:
            return (TrainingPhase(self.epochs, self.learning_rate, self.batch_size),)
        return tuple(
            TrainingPhase(epochs, self.learning_rate * rate_factor, self.batch_size * batch_factor)
            for epochs, rate_factor, batch_factor in zip(
                self.schedule_epochs, self.schedule_learning_rate_factors,
                self.schedule_batch_size_factors, strict=True))

    @property
    def raw_feature_names(self) -> tuple[str, ...]:
        """Every configured input feature: numeric, then bucketized, then categorical."""
        return self.numeric_features + self.bucketized_features + self.categorical_features

    def resolved_data_path(self) -> str:
        """`data_path` as an absolute path or glob (package:// and relative paths resolved)."""
        return resolve_data_path(self.data_path)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready values (tuples become lists), for storing with the run."""
        return json.loads(json.dumps(dataclasses.asdict(self)))

    def to_json(self) -> str:
        """`to_dict()` as indented JSON, for printing and for the run record."""
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)

    @classmethod
    def from_dict(cls, values: Mapping[str, Any], source: str = "dict") -> PipelineConfig:
        """Rebuilds a config from `to_dict()` output, validating every key."""
        return _apply(cls(), values, source)

    # ------------------------------------------------------------------ validation
    def validate(self) -> PipelineConfig:
        """Checks the relations between settings; returns self so calls can chain."""
        if not re.match(r"^[a-z0-9][a-z0-9-]{0,127}$", self.pipeline_name):
            raise ConfigError(f"pipeline_name={self.pipeline_name!r} must be lowercase letters, "
                              "digits and hyphens (Vertex AI's rule), starting with a letter "
                              "or digit.")
        _one_of("data_source", self.data_source, ("file", "bigquery"))
        _one_of("hyperparameter_search", self.hyperparameter_search,
                ("off", "random", "bayesian", "hyperband"))
        _one_of("beam_runner", self.beam_runner, ("direct", "dataflow"))
        _one_of("push_destination", self.push_destination, ("filesystem", "vertex_endpoint"))
        _one_of(
            "beam_direct_running_mode",
            self.beam_direct_running_mode,
            ("in_memory", "multi_threading", "multi_processing"),
        )
        for key in ("beam_direct_num_workers", "bucket_count", "batch_size", "epochs",
                    "embedding_dim", "vocabulary_top_k", "shuffle_buffer", "oov_buckets",
                    "cross_layers", "attention_heads", "transformer_blocks", "search_trials",
                    "search_epochs", "search_parallel_trials"):
            if getattr(self, key) < 1:
                raise ConfigError(f"{key} must be at least 1, got {getattr(self, key)}.")
        self._check_schedule()
        if not 0 < self.eval_percent < 100:
            raise ConfigError(f"eval_percent must be between 1 and 99, got {self.eval_percent}.")
        if not 0 < self.bigquery_sample_percent <= 100:
            raise ConfigError(
                f"bigquery_sample_percent must be in (0, 100], got {self.bigquery_sample_percent}."
            )
        for key, low, high in (("dropout", 0.0, 0.99), ("decision_threshold", 0.01, 0.99),
                               ("min_auc", 0.0, 1.0), ("max_auc_drop", 0.0, 1.0)):
            if not low <= getattr(self, key) <= high:
                raise ConfigError(f"{key} must be between {low} and {high}, "
                                  f"got {getattr(self, key)}.")
        if self.learning_rate <= 0:
            raise ConfigError(f"learning_rate must be positive, got {self.learning_rate}.")
        if not self.raw_feature_names:
            raise ConfigError("No features: set numeric_features, bucketized_features "
                              "or categorical_features.")
        seen: set[str] = set()
        for name in self.raw_feature_names:
            if name in seen:
                raise ConfigError(f"Feature {name!r} is listed twice across the feature lists.")
            seen.add(name)
        if self.label_name in seen:
            raise ConfigError(f"label_name {self.label_name!r} is also listed as a feature.")
        for key in ("drift_thresholds", "skew_thresholds"):
            for name, threshold in getattr(self, key).items():
                if name not in seen:
                    raise ConfigError(f"{key}: {name!r} is not a configured feature.")
                if not 0 < threshold <= 1:
                    raise ConfigError(f"{key}: {name}={threshold} must be in (0, 1].")
        for name in self.slice_features:
            if name not in self.categorical_features:
                raise ConfigError(
                    f"slice_features: {name!r} is not one of categorical_features "
                    f"({', '.join(self.categorical_features)})."
                )
        from pipeline.label import LabelRule  # local import: label imports this module

        rule = LabelRule.parse(self.label_rule)
        categorical_in_rule = [c for c in rule.columns if c in self.categorical_features]
        if categorical_in_rule:
            raise ConfigError(f"label_rule reads {categorical_in_rule[0]!r}, a categorical "
                              "feature; the rule does arithmetic on numeric columns only.")
        from models.registry import architecture_names

        _one_of("architecture", self.architecture, architecture_names())
        if self.hyperparameter_search != "off":
            from pipeline.search_space import parse_search_space

            if not parse_search_space(self.search_space):
                raise ConfigError(f"hyperparameter_search={self.hyperparameter_search!r} "
                                  "needs a search_space.")
        if self.data_source == "file":
            path = self.resolved_data_path()
            if "://" not in path and not glob.glob(path):
                raise ConfigError(f"data_path={self.data_path!r}: no file matches {path}.")
        else:
            from pipeline.bigquery import bigquery_query

            bigquery_query(self)  # checks table, dates and names as SQL identifiers
        if self.schema_path:
            self._check_schema()
        return self

    def _check_schedule(self) -> None:
        lengths = {key: len(getattr(self, key)) for key in _SCHEDULE_KEYS}
        if len(set(lengths.values())) > 1:
            raise ConfigError("The training schedule needs one entry per phase in each of "
                              + ", ".join(f"{key} ({count})" for key, count in lengths.items())
                              + ".")
        for key in _SCHEDULE_KEYS:
            for value in getattr(self, key):
                if value <= 0:
                    raise ConfigError(f"{key} entries must be positive, got {value}.")

    def resolved_schema_path(self) -> str:
        return str(REPOSITORY_ROOT / self.schema_path)

    def _check_schema(self) -> None:
        """The curated schema must describe every configured feature and the label."""
        from google.protobuf import text_format
        from tensorflow_metadata.proto.v0 import schema_pb2

        path = Path(self.resolved_schema_path())
        try:
            schema = text_format.Parse(path.read_text(), schema_pb2.Schema())
        except FileNotFoundError:
            raise ConfigError(f"schema_path={self.schema_path!r}: no such file.") from None
        except text_format.ParseError as error:
            raise ConfigError(f"schema_path={self.schema_path!r}: not a valid schema "
                              f"({error}).") from None
        described = {feature.name for feature in schema.feature}
        missing = [n for n in (*self.raw_feature_names, self.label_name) if n not in described]
        if missing:
            raise ConfigError(f"schema_path={self.schema_path!r} does not describe "
                              f"{missing[0]!r}; add it or set schema_path= to infer one.")


def _one_of(key: str, value: str, allowed: Iterable[str]) -> None:
    allowed = tuple(allowed)
    if value not in allowed:
        raise ConfigError(f"{key}={value!r} is not allowed; choose one of: {', '.join(allowed)}.")


def resolve_data_path(data_path: str) -> str:
    """Turns package://pkg/path and repository-relative paths into absolute ones."""
    if data_path.startswith(PACKAGE_PATH_PREFIX):
        package, _, inner = data_path[len(PACKAGE_PATH_PREFIX):].partition("/")
        import importlib.util

        spec = importlib.util.find_spec(package)
        if spec is None or not spec.submodule_search_locations:
            raise ConfigError(f"data_path={data_path!r}: package {package!r} is not installed.")
        return str(Path(next(iter(spec.submodule_search_locations))) / inner)
    if "://" in data_path or os.path.isabs(data_path):
        return data_path
    return str(REPOSITORY_ROOT / data_path)


# ---------------------------------------------------------------------- value parsing
_FIELDS = {field.name: field for field in dataclasses.fields(PipelineConfig)}
_TYPE_HINTS = typing.get_type_hints(PipelineConfig)


def _describe(hint: Any) -> str:
    origin = typing.get_origin(hint)
    if origin is tuple:
        return f"a list of {typing.get_args(hint)[0].__name__}"
    if origin is dict:
        return f"a mapping of str to {typing.get_args(hint)[1].__name__}"
    return hint.__name__


def _coerce(key: str, value: Any, source: str) -> Any:
    """Converts `value` (from YAML, JSON or a string) to the type of field `key`."""
    if key not in _FIELDS:
        close = difflib.get_close_matches(key, _FIELDS, n=1)
        suggestion = f" Did you mean {close[0]!r}?" if close else ""
        raise ConfigError(
            f"{source}: unknown setting {key!r}.{suggestion} Known settings: "
            f"{', '.join(sorted(_FIELDS))}."
        )
    hint = _TYPE_HINTS[key]
    problem = f"{source}: {key}={value!r} is not {_describe(hint)}"
    origin = typing.get_origin(hint)
    if isinstance(value, str) and hint is not str:
        value = _parse_string(value, hint, problem)
    if origin is tuple:
        item_type = typing.get_args(hint)[0]
        if isinstance(value, (int, float, str)) and not isinstance(value, bool):
            value = (value,)  # --hidden_units=64 means a list of one
        if not isinstance(value, (list, tuple)):
            raise ConfigError(problem + ".")
        return tuple(_scalar(item, item_type, problem) for item in value)
    if origin is dict:
        if not isinstance(value, Mapping) or not all(isinstance(k, str) for k in value):
            raise ConfigError(problem + ".")
        value_type = typing.get_args(hint)[1]
        return {k: _scalar(v, value_type, problem) for k, v in value.items()}
    return _scalar(value, hint, problem)


def _scalar(value: Any, hint: Any, problem: str) -> Any:
    if hint is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if hint is float and isinstance(value, float) and not math.isfinite(value):
        raise ConfigError(problem.replace(" is not ", " is not a finite ") + ".")
    if isinstance(value, str) and hint is not str:
        value = _parse_string(value, hint, problem)
    if type(value) is not hint:  # noqa: E721 - bool must not pass as int
        raise ConfigError(problem + ".")
    return value


def _parse_string(text: str, hint: Any, problem: str) -> Any:
    """Parses a command-line or environment value: JSON, or a comma-separated list."""
    origin = typing.get_origin(hint)
    stripped = text.strip()
    if hint is bool:
        if stripped.lower() in ("true", "1", "yes"):
            return True
        if stripped.lower() in ("false", "0", "no"):
            return False
        raise ConfigError(problem + " (use true or false).")
    try:
        return json.loads(stripped)
    except json.JSONDecodeError:
        pass
    if origin is tuple:
        item_type = typing.get_args(hint)[0]
        items = [item.strip() for item in stripped.split(",") if item.strip()]
        return tuple(_parse_string(item, item_type, problem) if item_type is not str else item
                     for item in items)
    if hint in (int, float):
        raise ConfigError(problem + ".")
    return text


def _apply(config: PipelineConfig, overrides: Mapping[str, Any], source: str) -> PipelineConfig:
    coerced = {key: _coerce(key, value, source) for key, value in overrides.items()}
    return dataclasses.replace(config, **coerced)


# ---------------------------------------------------------------------- the three layers
def load_variants(path: Path = VARIANTS_FILE) -> dict[str, dict[str, Any]]:
    """Reads the variants file: a mapping of variant name to the keys it overrides."""
    try:
        variants = yaml.safe_load(path.read_text()) or {}
    except FileNotFoundError as error:
        raise ConfigError(f"Variants file {path} does not exist.") from error
    except yaml.YAMLError as error:
        raise ConfigError(f"Variants file {path} is not valid YAML: {error}") from error
    if not isinstance(variants, dict) or not all(
        isinstance(body, dict) or body is None for body in variants.values()
    ):
        raise ConfigError(f"Variants file {path} must map each variant name to its settings.")
    return {name: dict(body or {}) for name, body in variants.items()}


def parse_flags(argv: Iterable[str]) -> dict[str, str]:
    """Parses `--key=value` flags (also `--key value`); anything else is an error."""
    flags: dict[str, str] = {}
    arguments = list(argv)
    index = 0
    while index < len(arguments):
        argument = arguments[index]
        if not argument.startswith("--") or argument == "--":
            raise ConfigError(
                f"Unexpected argument {argument!r}; settings are given as --key=value.")
        key, equals, value = argument[2:].partition("=")
        if not equals:
            if index + 1 >= len(arguments):
                raise ConfigError(f"Flag --{key} needs a value: --{key}=VALUE.")
            index += 1
            value = arguments[index]
        flags[key.replace("-", "_")] = value
        index += 1
    return flags


def load_config(
    argv: Iterable[str] = (),
    environ: Mapping[str, str] | None = None,
    variants_file: Path = VARIANTS_FILE,
    model_variant: str | None = None,
) -> PipelineConfig:
    """Builds the effective configuration: defaults, then variant, env, then flags.

    `model_variant` (train-all) layers a second variant's settings over the first, before
    env and flags; the config is then named after it."""
    environ = os.environ if environ is None else environ
    from_environment = {
        name[len(ENVIRONMENT_PREFIX):].lower(): value
        for name, value in environ.items()
        if name.startswith(ENVIRONMENT_PREFIX)
    }
    from_flags = parse_flags(argv)
    variant = from_flags.get("variant", from_environment.get("variant", "default"))
    variants = load_variants(variants_file)
    if variant not in variants:
        raise ConfigError(
            f"Unknown variant {variant!r}; {variants_file.name} defines: {', '.join(variants)}."
        )
    config = PipelineConfig(variant=variant)
    variant_settings = variants[variant]
    if "variant" in variant_settings:
        raise ConfigError(f"{variants_file.name}: variant {variant!r} may not set 'variant'.")
    config = _apply(config, variant_settings, f"{variants_file.name} variant {variant!r}")
    if model_variant is not None:
        config = _apply(config, variants[model_variant],
                        f"{variants_file.name} variant {model_variant!r}")
    config = _apply(config, from_environment, "environment")
    config = _apply(config, from_flags, "command line")
    if model_variant is not None:
        config = dataclasses.replace(config, variant=(
            model_variant if variant == "default" else f"{variant}+{model_variant}"))
    return config.validate()

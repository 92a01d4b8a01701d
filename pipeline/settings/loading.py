"""Loading a configuration in three layers and checking it whole, before any component runs.

1. defaults: the fields of `PipelineConfig` (pipeline/settings/), which name no dataset;
2. the dataset: `datasets/<dataset>.yaml`, the table's columns, label, task, slices and
   thresholds (the `dataset` setting picks it, from any layer below);
3. a named variant from `variants.yaml`, holding only the keys it overrides;
4. per-run overrides: `TFX_PIPELINE_<KEY>` environment variables, then `--key=value` flags.

Every layer is typed against the declarations: an unknown key or a value of the wrong
type raises `ConfigError` naming the layer and the key.

`pipeline/settings/` checks each setting against its own declaration; the checks here
need other modules (the label rule's grammar, the architecture registry, the search
space, the BigQuery query, the data files and the schema), which in turn import the
settings, so they sit one layer above them and dependencies point one way.
"""

from __future__ import annotations

import dataclasses
import glob
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import yaml
from google.protobuf import text_format
from tensorflow_metadata.proto.v0 import schema_pb2

from models.registry import architecture_names
from pipeline.settings import REPOSITORY_ROOT, PipelineConfig, apply_overrides
from pipeline.settings.bigquery import bigquery_query
from pipeline.settings.label import LabelRule
from pipeline.settings.search_space import parse_search_space
from pipeline.settings.values import ConfigError, one_of, parse_flags

VARIANTS_FILE = REPOSITORY_ROOT / "variants.yaml"
DATASETS_DIRECTORY = REPOSITORY_ROOT / "datasets"
ENVIRONMENT_PREFIX = "TFX_PIPELINE_"


def validate(config: PipelineConfig) -> PipelineConfig:
    """Every check of `config`: its own (`PipelineConfig.check`), then those needing the
    modules above; raises ConfigError naming the setting; returns config."""
    config.check()
    if config.label_rule:
        rule = LabelRule.parse(config.label_rule, config.task)
        for kind in ("categorical", "text"):
            named = [c for c in rule.columns if c in getattr(config, f"{kind}_features")
                     and c not in rule.string_columns]
            if named:
                raise ConfigError(f"label_rule reads {named[0]!r}, a {kind} feature; the "
                                  "rule does arithmetic on numeric columns only (a string "
                                  f"comparison, {named[0]} == 'value', reads text).")
        numeric = config.numeric_features + config.bucketized_features
        compared = [c for c in rule.string_columns if c in numeric]
        if compared:
            raise ConfigError(f"label_rule compares {compared[0]!r}, a numeric feature, with "
                              "a string; compare it with a number.")
    if not config.label_name:
        raise ConfigError("label_name is empty: name the label column (or the rule's value).")
    one_of("architecture", config.architecture, architecture_names())
    if config.hyperparameter_search != "off" and not parse_search_space(config.search_space):
        raise ConfigError(f"hyperparameter_search={config.hyperparameter_search!r} "
                          "needs a search_space.")
    if config.data_source == "file":
        if not config.data_path:
            raise ConfigError("data_path is empty: choose a dataset (dataset=, one of "
                              f"{', '.join(dataset_names())}) or set data_path=.")
        path = config.resolved_data_path()
        if "://" not in path and not glob.glob(path):
            raise ConfigError(f"data_path={config.data_path!r}: no file matches {path}.")
    else:
        bigquery_query(config)  # checks table, dates and names as SQL identifiers
    if config.schema_path:
        _check_schema(config)
    return config


def _check_schema(config: PipelineConfig) -> None:
    """The curated schema must describe every configured feature and the label."""
    path = Path(config.resolved_schema_path())
    try:
        schema = text_format.Parse(path.read_text(), schema_pb2.Schema())
    except FileNotFoundError:
        raise ConfigError(f"schema_path={config.schema_path!r}: no such file.") from None
    except text_format.ParseError as error:
        raise ConfigError(f"schema_path={config.schema_path!r}: not a valid schema "
                          f"({error}).") from None
    described = {feature.name for feature in schema.feature}
    missing = [n for n in (*config.raw_feature_names, config.label_name) if n not in described]
    if missing:
        raise ConfigError(f"schema_path={config.schema_path!r} does not describe "
                          f"{missing[0]!r}; add it or set schema_path= to infer one.")


def dataset_names(directory: Path = DATASETS_DIRECTORY) -> tuple[str, ...]:
    """The datasets defined by files in `directory` (datasets/<name>.yaml)."""
    return tuple(sorted(path.stem for path in directory.glob("*.yaml")))


def dataset_file(name: str, directory: Path = DATASETS_DIRECTORY) -> Path:
    """Where dataset `name` is described: datasets/<name>.yaml, or `name` itself when it
    is a path to a .yaml file (a team's dataset file kept outside this repository)."""
    if name.endswith((".yaml", ".yml")):
        return Path(name).expanduser().resolve()
    return directory / f"{name}.yaml"


def load_dataset(name: str, directory: Path = DATASETS_DIRECTORY) -> dict[str, Any]:
    """The settings of dataset `name`: the mapping in datasets/<name>.yaml, or in the
    .yaml file `name` names."""
    path = dataset_file(name, directory)
    if not path.is_file():
        raise ConfigError(f"dataset={name!r}: no file {path}; datasets: "
                          f"{', '.join(dataset_names(directory)) or 'none'}.")
    settings = _read_yaml(path, "Dataset file")
    if not isinstance(settings, dict):
        raise ConfigError(f"Dataset file {path} must map setting names to values.")
    for key in ("dataset", "variant"):
        if key in settings:
            raise ConfigError(f"Dataset file {path} may not set {key!r}.")
    return settings


def dataset_config(name: str, directory: Path = DATASETS_DIRECTORY) -> PipelineConfig:
    """The defaults with dataset `name`'s file over them (not yet validated): what a run
    of that dataset starts from before its variant and overrides."""
    return apply_overrides(PipelineConfig(dataset=name), load_dataset(name, directory),
                           f"datasets/{name}.yaml")


def _read_yaml(path: Path, what: str) -> Any:
    try:
        return yaml.safe_load(path.read_text())
    except FileNotFoundError as error:
        raise ConfigError(f"{what} {path} does not exist.") from error
    except yaml.YAMLError as error:
        raise ConfigError(f"{what} {path} is not valid YAML: {error}") from error


def load_variants(path: Path = VARIANTS_FILE) -> dict[str, dict[str, Any]]:
    """Reads the variants file: a mapping of variant name to the keys it overrides."""
    variants = _read_yaml(path, "Variants file") or {}
    if not isinstance(variants, dict) or not all(
        isinstance(body, dict) or body is None for body in variants.values()
    ):
        raise ConfigError(f"Variants file {path} must map each variant name to its settings.")
    return {name: dict(body or {}) for name, body in variants.items()}


def load_config(
    argv: Iterable[str] = (),
    environ: Mapping[str, str] | None = None,
    variants_file: Path = VARIANTS_FILE,
    model_variant: str | None = None,
    datasets_directory: Path = DATASETS_DIRECTORY,
) -> PipelineConfig:
    """The effective configuration: defaults, the dataset's file, a variant, the
    environment, then flags, each value typed, the whole checked (`validate`).

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
    variant_settings = variants[variant]
    if "variant" in variant_settings:
        raise ConfigError(f"{variants_file.name}: variant {variant!r} may not set 'variant'.")
    # The dataset is chosen by the highest layer that names one; its file then sits
    # under the variant, the environment and the flags.
    dataset = PipelineConfig.dataset
    for layer in (variant_settings, *([variants[model_variant]] if model_variant else []),
                  from_environment, from_flags):
        dataset = str(layer.get("dataset", dataset))
    config = dataclasses.replace(dataset_config(dataset, datasets_directory), variant=variant)
    config = apply_overrides(config, variant_settings, f"{variants_file.name} variant {variant!r}")
    if model_variant is not None:
        config = apply_overrides(config, variants[model_variant],
                                 f"{variants_file.name} variant {model_variant!r}")
    config = apply_overrides(config, from_environment, "environment")
    config = apply_overrides(config, from_flags, "command line")
    if model_variant is not None:
        config = dataclasses.replace(config, variant=(
            model_variant if variant == "default" else f"{variant}+{model_variant}"))
    return validate(config)

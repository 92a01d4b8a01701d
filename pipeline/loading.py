"""Loading a configuration in three layers and checking it whole, before any component runs.

1. defaults: the fields of `PipelineConfig` (pipeline/config.py);
2. a named variant from `variants.yaml`, holding only the keys it overrides;
3. per-run overrides: `TFX_PIPELINE_<KEY>` environment variables, then `--key=value` flags.

Every layer is typed against the declarations: an unknown key or a value of the wrong
type raises `ConfigError` naming the layer and the key.

`pipeline/config.py` checks each setting against its own declaration; the checks here
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
from pipeline.bigquery import bigquery_query
from pipeline.config import REPOSITORY_ROOT, PipelineConfig, apply_overrides
from pipeline.label import LabelRule
from pipeline.search_space import parse_search_space
from pipeline.values import ConfigError, one_of, parse_flags

VARIANTS_FILE = REPOSITORY_ROOT / "variants.yaml"
ENVIRONMENT_PREFIX = "TFX_PIPELINE_"


def validate(config: PipelineConfig) -> PipelineConfig:
    """Every check of `config`: its own (`PipelineConfig.check`), then those needing the
    modules above; raises ConfigError naming the setting; returns config."""
    config.check()
    rule = LabelRule.parse(config.label_rule)
    categorical_in_rule = [c for c in rule.columns if c in config.categorical_features]
    if categorical_in_rule:
        raise ConfigError(f"label_rule reads {categorical_in_rule[0]!r}, a categorical "
                          "feature; the rule does arithmetic on numeric columns only.")
    one_of("architecture", config.architecture, architecture_names())
    if config.hyperparameter_search != "off" and not parse_search_space(config.search_space):
        raise ConfigError(f"hyperparameter_search={config.hyperparameter_search!r} "
                          "needs a search_space.")
    if config.data_source == "file":
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


def load_config(
    argv: Iterable[str] = (),
    environ: Mapping[str, str] | None = None,
    variants_file: Path = VARIANTS_FILE,
    model_variant: str | None = None,
) -> PipelineConfig:
    """The effective configuration: defaults, then a variant, the environment, then flags,
    each value typed, the whole checked (`validate`).

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

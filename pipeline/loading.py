"""Loading a configuration and checking it whole, before any component runs.

`pipeline/config.py` checks each setting against its own declaration; the checks here
need other modules (the label rule's grammar, the architecture registry, the search
space, the BigQuery query, the data files and the schema), which in turn import the
settings, so they sit one layer above them and dependencies point one way.
"""

from __future__ import annotations

import glob
from collections.abc import Iterable, Mapping
from pathlib import Path

from google.protobuf import text_format
from tensorflow_metadata.proto.v0 import schema_pb2

from models.registry import architecture_names
from pipeline.bigquery import bigquery_query
from pipeline.config import VARIANTS_FILE, PipelineConfig, layered_config
from pipeline.label import LabelRule
from pipeline.search_space import parse_search_space
from pipeline.values import ConfigError, one_of


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


def load_config(
    argv: Iterable[str] = (),
    environ: Mapping[str, str] | None = None,
    variants_file: Path = VARIANTS_FILE,
    model_variant: str | None = None,
) -> PipelineConfig:
    """The effective configuration (defaults, variant, environment, flags), checked whole.

    `model_variant` (train-all) layers a second variant's settings over the first, before
    env and flags; the config is then named after it."""
    return validate(layered_config(argv, environ, variants_file, model_variant))

"""The BigQuery query that feeds `BigQueryExampleGen`, generated from the feature configuration.

Columns come out with the same names and types the local ExampleGen writes: numeric and
bucketized features as FLOAT64, categorical and text features as STRING, the label as
the task's type from the same column or `label_rule` (pipeline/settings/label.py), so a model
trained on either source sees identical examples.

The functions used here (CAST, CASE, EXTRACT, SAFE_DIVIDE, TIMESTAMP, TIMESTAMP_TRUNC to
DAY, TIMESTAMP_SUB, CURRENT_TIMESTAMP, FARM_FINGERPRINT on STRING, MOD, ABS) are run
against bqemulator by tests/test_bigquery_emulator.py. Keep to them or test a new one
there: the emulator differs from BigQuery on e.g. CAST(FLOAT64 AS INT64) (half to even),
TIMESTAMP_TRUNC(.., WEEK) (weeks start on Monday) and FARM_FINGERPRINT of BYTES (fails).
"""

from __future__ import annotations

import dataclasses
import datetime
import re

from pipeline.settings import SOURCE_FEATURE, PipelineConfig
from pipeline.settings.label import Label
from pipeline.settings.values import ConfigError

_TABLE_PATTERN = re.compile(r"^[A-Za-z0-9_\-]+(\.[A-Za-z0-9_\-]+){1,2}$")
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def _column_source(config: PipelineConfig, name: str) -> str:
    return config.bigquery_derived_columns.get(name, name)


def _check_column_names(names: tuple[str, ...]) -> None:
    for name in names:
        if not _IDENTIFIER.match(name):
            raise ConfigError(f"{name!r} cannot be a BigQuery column name; use letters, "
                              "digits and underscores.")


def _feature_columns(config: PipelineConfig, text_columns: list[str] | tuple = ()
                     ) -> list[str]:
    """The SELECT entries of the features, typed as the file ExampleGen types them, plus
    `text_columns` as STRING."""
    numeric = config.numeric_features + config.bucketized_features
    return [
        f"CAST({_column_source(config, name)} AS FLOAT64) AS {name}" for name in numeric
    ] + [
        f"CAST({_column_source(config, name)} AS STRING) AS {name}"
        for name in (*config.categorical_features, *config.text_features, *text_columns)
    ]


def bigquery_query(config: PipelineConfig, window_end: datetime.date | None = None) -> str:
    """Renders the SELECT for `config`; raises ConfigError for a malformed table or window.

    A moving window (`bigquery_window_days`) ends at the start of `window_end` (UTC), or,
    when None, of the day the query runs.
    """
    if not _TABLE_PATTERN.match(config.bigquery_table):
        raise ConfigError(
            f"bigquery_table={config.bigquery_table!r} is not of the form project.dataset.table."
        )
    if not config.bigquery_window_days:
        for key in ("bigquery_start_date", "bigquery_end_date"):
            try:
                datetime.date.fromisoformat(getattr(config, key))
            except ValueError:
                raise ConfigError(f"{key}={getattr(config, key)!r} is not a YYYY-MM-DD "
                                  "date.") from None
        if config.bigquery_start_date >= config.bigquery_end_date:
            raise ConfigError("bigquery_start_date must come before bigquery_end_date.")
    names = (*config.raw_feature_names, config.label_name, config.bigquery_timestamp_column,
             config.bigquery_row_key)
    _check_column_names(names)
    selected = _feature_columns(config)
    label = Label.from_settings(config.label_name, config.label_rule, config.task,
                                config.positive_class)
    label_sql = label.to_sql(_column_source(config, config.label_name))
    selected.append(f"{label_sql} AS {config.label_name}")

    conditions = list(_date_window(config, window_end))
    conditions.append(f"{label_sql} IS NOT NULL")  # rows without a label are left out
    if config.bigquery_sample_percent < 100:
        # A hash of the row key, not RAND(), so the sample is the same on every run.
        basis_points = round(config.bigquery_sample_percent * 100)
        conditions.append(
            f"MOD(ABS(FARM_FINGERPRINT(CAST({config.bigquery_row_key} AS STRING))), 10000)"
            f" < {basis_points}"
        )
    select_list = ",\n  ".join(selected)
    where = "\n  AND ".join(conditions)
    return f"SELECT\n  {select_list}\nFROM `{config.bigquery_table}`\nWHERE {where}"


def _date_window(config: PipelineConfig, window_end: datetime.date | None
                 ) -> tuple[str, str]:
    """The two conditions on the timestamp column: fixed dates, or the last whole days."""
    timestamp = config.bigquery_timestamp_column
    if config.bigquery_window_days and window_end is not None:
        # Fixed for one run: the query text (and so the cache key) changes with the day.
        start = window_end - datetime.timedelta(days=config.bigquery_window_days)
        return (f"{timestamp} >= TIMESTAMP('{start.isoformat()}')",
                f"{timestamp} < TIMESTAMP('{window_end.isoformat()}')")
    if config.bigquery_window_days:
        # Evaluated when the query runs, not when the pipeline is compiled, so a schedule
        # compiled once still reads the newest days. Without a zone, TRUNC to DAY is UTC.
        today = "TIMESTAMP_TRUNC(CURRENT_TIMESTAMP(), DAY)"
        return (f"{timestamp} >= TIMESTAMP_SUB({today}, "
                f"INTERVAL {config.bigquery_window_days} DAY)",
                f"{timestamp} < {today}")
    return (f"{timestamp} >= TIMESTAMP('{config.bigquery_start_date}')",
            f"{timestamp} < TIMESTAMP('{config.bigquery_end_date}')")


def scoring_query(config: PipelineConfig) -> str:
    """The SELECT of a table to score (`scoring_bigquery_table`, batch_predict.py): the
    features typed as for training, the key and pass-through columns as STRING, the table's
    name as each row's origin, and no label: the rows need none."""
    table = config.scoring_bigquery_table
    if not _TABLE_PATTERN.match(table):
        raise ConfigError(f"scoring_bigquery_table={table!r} is not of the form "
                          "project.dataset.table.")
    features = set(config.raw_feature_names)
    copied = [name for name in dict.fromkeys(config.key_columns + config.passthrough_columns)
              if name not in features]
    _check_column_names((*config.raw_feature_names, *copied))
    selected = [*_feature_columns(config, copied), f"'{table}' AS {SOURCE_FEATURE}"]
    select_list = ",\n  ".join(selected)
    return f"SELECT\n  {select_list}\nFROM `{table}`"


def evaluation_query(config: PipelineConfig) -> str:
    """The fresh labelled rows of continuous evaluation: `evaluation_query` as written, or
    the training query (table, features, label rule) over the last
    `evaluation_window_days` whole days of `evaluation_timestamp_column` (the training
    data's timestamp column when empty), every row, the window taken when the query runs
    (so a schedule compiled once reads the newest days)."""
    if config.evaluation_query:
        return config.evaluation_query
    return bigquery_query(dataclasses.replace(
        config, bigquery_window_days=config.evaluation_window_days,
        bigquery_timestamp_column=(config.evaluation_timestamp_column
                                   or config.bigquery_timestamp_column),
        bigquery_sample_percent=100.0), window_end=None)
